//! One job as cluster manifests: a Kubernetes `batch/v1` Job or a Volcano
//! `batch.volcano.sh/v1alpha1` Job, each preceded by a ConfigMap holding `job.json`.
//!
//! The pod mirrors the Compose service: the same image and container paths, `job.json` from the
//! ConfigMap at `/run/finetune/job.json`, a memory-backed `emptyDir` at `/dev/shm` sized from
//! `shm_size`, an `emptyDir` at `/tmp`, `nvidia.com/gpu` limits, cpu/memory limits, and a
//! restricted security context (non-root uid 65532, read-only root filesystem, no privilege
//! escalation, all capabilities dropped). Volumes are `hostPath` (the host paths of the spec) or
//! PVCs named by the caller. GPUs: a count exports as that many, a list of ids as its length (a
//! cluster cannot pin ids), `auto` as one GPU, `0` as none; `all` has no cluster meaning and is
//! refused. Secrets (environment names without a value, or that look secret) come from a Secret
//! (`<job>-env` unless named) by `secretKeyRef`, never inline; a `data.redact_key` from a Secret
//! of that name (key = the name), mounted at `/run/secrets/<name>` as Compose mounts it.

use crate::project::Job;
use crate::render::{data_root, is_secret, job_json};
use finetune_spec::contract;
use finetune_spec::{ByteSize, Gpus, JobSpec};
use serde_json::{json, Value};
use std::path::Path;

/// Where the job's directories come from on the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum VolumeMode {
    /// `hostPath` volumes at the spec's host paths (single-node clusters, kind, k3s).
    #[default]
    HostPath,
    /// PersistentVolumeClaims, by claim name; each is mounted whole at its container path.
    Pvc {
        model: String,
        data: String,
        output: String,
        cache: Option<String>,
    },
}

/// Export settings (the `export` command's flags).
#[derive(Debug, Clone, Default)]
pub struct ExportOptions {
    pub namespace: Option<String>,
    /// Volcano queue (default `default`).
    pub queue: Option<String>,
    /// Volcano `minAvailable` (default 1).
    pub min_available: Option<u32>,
    /// The trainer image (a registry image the cluster can pull).
    pub image: String,
    pub volumes: VolumeMode,
    /// The Secret holding environment values passed by reference (default `<job>-env`).
    pub secret_name: Option<String>,
}

/// Why a job cannot be exported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExportError {
    #[error("job `{0}` asks for `gpus: all`, which has no meaning on a cluster: set `resources.gpus` to a count")]
    AllGpus(String),
    #[error("job `{job}` has a cache directory but no PVC was named for it: pass a cache claim")]
    NoCacheClaim { job: String },
    #[error("job `{job}` reads its data from the image `{image}`, which has no host path: pass a data claim holding the image's files")]
    DataImageNeedsClaim { job: String, image: String },
}

/// A DNS-1123 name from a job name (lowercase, `[a-z0-9-]`, at most 63 characters).
pub fn k8s_name(name: &str) -> String {
    let s: String = name
        .to_ascii_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() {
                c
            } else {
                '-'
            }
        })
        .collect();
    let s = s.trim_matches('-');
    let s = if s.len() > 63 { &s[..63] } else { s };
    let s = s.trim_end_matches('-');
    if s.is_empty() {
        "job".into()
    } else {
        s.to_string()
    }
}

/// A byte size as a Kubernetes quantity (`8Gi`, `512Mi`, bytes otherwise).
pub fn quantity(b: ByteSize) -> String {
    for (unit, mult) in [
        ("Ti", 1u64 << 40),
        ("Gi", 1 << 30),
        ("Mi", 1 << 20),
        ("Ki", 1 << 10),
    ] {
        if b.0 >= mult && b.0.is_multiple_of(mult) {
            return format!("{}{unit}", b.0 / mult);
        }
    }
    b.0.to_string()
}

/// GPUs the job takes on a cluster.
pub fn gpu_count(spec: &JobSpec) -> Result<u64, ExportError> {
    Ok(match &spec.resources.gpus {
        Gpus::Auto => 1,
        Gpus::All => return Err(ExportError::AllGpus(spec.name.clone())),
        Gpus::Count(n) => u64::from(*n),
        // A cluster hands out whole `nvidia.com/gpu`s; sharing one is the NVIDIA device
        // plugin's configuration (time-slicing or MPS replicas), not the pod's.
        Gpus::Ids(ids) | Gpus::Shared(ids) => ids.len() as u64,
    })
}

fn labels(project: &str, spec: &JobSpec) -> Value {
    json!({
        "app.kubernetes.io/name": "docker-finetune",
        "com.docker.finetune.project": k8s_name(project),
        "com.docker.finetune.job": k8s_name(&spec.name),
    })
}

/// The spec hash is 64 hex digits, one more than a label value holds: it goes in an annotation.
fn annotations(spec: &JobSpec) -> Value {
    json!({ "com.docker.finetune.spec-hash": spec.config_hash() })
}

fn config_map(project: &str, spec: &JobSpec, opts: &ExportOptions) -> Value {
    let text = serde_json::to_string_pretty(&job_json(spec)).unwrap_or_default();
    let mut meta = json!({ "name": format!("{}-spec", k8s_name(&spec.name)), "labels": labels(project, spec) });
    if let Some(ns) = &opts.namespace {
        meta["namespace"] = json!(ns);
    }
    json!({ "apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": { "job.json": text } })
}

/// The pod template shared by both exports.
fn pod_template(project: &str, spec: &JobSpec, opts: &ExportOptions) -> Result<Value, ExportError> {
    let gpus = gpu_count(spec)?;
    let name = k8s_name(&spec.name);
    let mut limits = serde_json::Map::new();
    if let Some(c) = spec.resources.cpus.map(|c| c.get()) {
        limits.insert(
            "cpu".into(),
            json!(format!("{}m", (c * 1000.0).round() as u64)),
        );
    }
    if let Some(m) = spec.resources.memory {
        limits.insert("memory".into(), json!(quantity(m)));
    }
    if gpus > 0 {
        limits.insert("nvidia.com/gpu".into(), json!(gpus.to_string()));
    }
    let secret = opts
        .secret_name
        .clone()
        .unwrap_or_else(|| format!("{name}-env"));
    let mut env = vec![json!({ "name": "FINETUNE_IMAGE", "value": opts.image })];
    for (k, v) in &spec.environment {
        env.push(match v {
            Some(v) if !is_secret(k) => json!({ "name": k, "value": v }),
            _ => {
                json!({ "name": k, "valueFrom": { "secretKeyRef": { "name": secret, "key": k } } })
            }
        });
    }
    let mut mounts = vec![
        json!({ "name": "model", "mountPath": contract::MODEL_DIR, "readOnly": true }),
        json!({ "name": "data", "mountPath": contract::DATA_DIR, "readOnly": true }),
        json!({ "name": "output", "mountPath": contract::OUTPUT_DIR }),
        json!({ "name": "job-spec", "mountPath": contract::JOB_FILE, "subPath": "job.json", "readOnly": true }),
        json!({ "name": "dshm", "mountPath": "/dev/shm" }),
        json!({ "name": "tmp", "mountPath": "/tmp" }),
    ];
    let root = data_root(spec);
    let host =
        |p: &Path, kind: &str| json!({ "hostPath": { "path": p.to_string_lossy(), "type": kind } });
    let claim =
        |c: &str, ro: bool| json!({ "persistentVolumeClaim": { "claimName": c, "readOnly": ro } });
    if let (Some(image), VolumeMode::HostPath) = (&spec.data.image, &opts.volumes) {
        return Err(ExportError::DataImageNeedsClaim {
            job: spec.name.clone(),
            image: image.clone(),
        });
    }
    let mut vols: Vec<(String, Value)> = match &opts.volumes {
        VolumeMode::HostPath => vec![
            ("model".into(), host(&spec.model, "Directory")),
            ("data".into(), host(&root, "Directory")),
            ("output".into(), host(&spec.output, "DirectoryOrCreate")),
        ],
        VolumeMode::Pvc {
            model,
            data,
            output,
            ..
        } => vec![
            ("model".into(), claim(model, true)),
            ("data".into(), claim(data, true)),
            ("output".into(), claim(output, false)),
        ],
    };
    if let Some(cache) = &spec.cache {
        mounts.push(json!({ "name": "cache", "mountPath": contract::CACHE_DIR }));
        vols.push((
            "cache".into(),
            match &opts.volumes {
                VolumeMode::HostPath => host(cache, "DirectoryOrCreate"),
                VolumeMode::Pvc { cache: Some(c), .. } => claim(c, false),
                VolumeMode::Pvc { cache: None, .. } => {
                    return Err(ExportError::NoCacheClaim {
                        job: spec.name.clone(),
                    })
                }
            },
        ));
    }
    let shm = quantity(
        spec.resources
            .shm_size
            .unwrap_or(crate::render::DEFAULT_SHM),
    );
    let mut volumes: Vec<Value> = vols
        .into_iter()
        .map(|(n, mut v)| {
            v["name"] = json!(n);
            v
        })
        .collect();
    // The redaction key: a Secret of the Compose secret's name, mounted where Compose mounts it
    // (`/run/secrets/<name>`), read-only and readable by the trainer's group alone.
    if let Some(key) = &spec.data.redact_key {
        mounts.push(json!({
            "name": "redact-key", "mountPath": format!("{}/{key}", contract::SECRETS_DIR),
            "subPath": key, "readOnly": true
        }));
        volumes.push(json!({
            "name": "redact-key",
            "secret": { "secretName": k8s_name(key), "defaultMode": 0o440, "items": [{ "key": key, "path": key }] }
        }));
    }
    volumes.push(json!({ "name": "job-spec", "configMap": { "name": format!("{name}-spec") } }));
    volumes.push(json!({ "name": "dshm", "emptyDir": { "medium": "Memory", "sizeLimit": shm } }));
    volumes.push(json!({ "name": "tmp", "emptyDir": {} }));
    let mut container = json!({
        "name": "trainer",
        "image": opts.image,
        "env": env,
        "volumeMounts": mounts,
        "securityContext": {
            "runAsNonRoot": true, "runAsUser": 65532, "runAsGroup": 65532,
            "readOnlyRootFilesystem": true, "allowPrivilegeEscalation": false,
            "capabilities": { "drop": ["ALL"] }
        }
    });
    if !limits.is_empty() {
        container["resources"] = json!({ "limits": limits });
    }
    Ok(json!({
        "metadata": { "labels": labels(project, spec), "annotations": annotations(spec) },
        "spec": {
            "restartPolicy": "Never",
            "securityContext": { "runAsNonRoot": true, "runAsUser": 65532, "runAsGroup": 65532, "fsGroup": 65532 },
            "containers": [container],
            "volumes": volumes
        }
    }))
}

fn metadata(project: &str, spec: &JobSpec, opts: &ExportOptions) -> Value {
    let mut meta = json!({ "name": k8s_name(&spec.name), "labels": labels(project, spec), "annotations": annotations(spec) });
    if let Some(ns) = &opts.namespace {
        meta["namespace"] = json!(ns);
    }
    meta
}

fn documents(docs: &[Value]) -> String {
    docs.iter()
        .map(|d| serde_yaml::to_string(d).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("---\n")
}

/// A Kubernetes `batch/v1` Job (after its ConfigMap), as multi-document YAML.
pub fn kubernetes(project: &str, job: &Job, opts: &ExportOptions) -> Result<String, ExportError> {
    let spec = &job.spec;
    let job_doc = json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata(project, spec, opts),
        "spec": { "backoffLimit": 0, "template": pod_template(project, spec, opts)? }
    });
    Ok(documents(&[config_map(project, spec, opts), job_doc]))
}

/// The Volcano Job value alone (tests validate it against the CRD).
pub fn volcano_job(project: &str, job: &Job, opts: &ExportOptions) -> Result<Value, ExportError> {
    let spec = &job.spec;
    let min = opts.min_available.unwrap_or(1);
    Ok(json!({
        "apiVersion": "batch.volcano.sh/v1alpha1",
        "kind": "Job",
        "metadata": metadata(project, spec, opts),
        "spec": {
            "schedulerName": "volcano",
            "queue": opts.queue.clone().unwrap_or_else(|| "default".into()),
            "minAvailable": min,
            "maxRetry": 0,
            "tasks": [{
                "name": "trainer",
                "replicas": min.max(1),
                "template": pod_template(project, spec, opts)?,
                "policies": [{ "event": "TaskCompleted", "action": "CompleteJob" }]
            }]
        }
    }))
}

/// A Volcano `batch.volcano.sh/v1alpha1` Job (after its ConfigMap), as multi-document YAML.
pub fn volcano(project: &str, job: &Job, opts: &ExportOptions) -> Result<String, ExportError> {
    Ok(documents(&[
        config_map(project, &job.spec, opts),
        volcano_job(project, job, opts)?,
    ]))
}
