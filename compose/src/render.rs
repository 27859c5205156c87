//! Rendering jobs as a Compose override: one service per job, next to the user's services.
//!
//! `docker compose -f <user files> -f <rendered> config` accepts the result. Each job service
//! (named after the job; for the service form that is the user's service, which the override
//! completes) gets:
//! - `image`: the job's `image`, else [`RenderOptions::trainer_image`], else
//!   `docker-finetune/trainer:<version>` (`-cuda` appended when the job gets GPUs); a `build:`
//!   section (`context` = [`RenderOptions::build_context`], `dockerfile: trainer/Dockerfile`,
//!   target `runtime` or `runtime-cuda`) unless the job names its own image;
//! - GPUs as `deploy.resources.reservations.devices` (driver `nvidia`, `capabilities: [gpu]`,
//!   exactly one of `count` and `device_ids`): `0` renders none, `N` `count: N`, `all`
//!   `count: all`, ids `device_ids`, `auto` all GPUs when [`RenderOptions::gpu_runtime`] else none.
//!   An allocation in [`RenderOptions::allocations`] replaces the request with `device_ids`, so
//!   concurrent jobs land on disjoint GPUs (a bare `count: N` always means GPUs `0..N`). Shared
//!   GPUs (`{device_ids: [...], shared: true}`) render their `device_ids` like explicit ids, so
//!   jobs sharing a device all name it; no `CUDA_MPS_*` variables are set (see docs/spec.md);
//! - `deploy.resources.limits` `cpus`/`memory`, `shm_size` (default `1g`: Docker's 64 MB breaks
//!   data loading), `ulimits` stack 64 MiB, and memlock -1 for GPU jobs (pinned memory);
//! - bind mounts: model read-only at `/model`, the directory holding the data files read-only at
//!   `/data`, output read-write at `/output`, cache read-write at `/cache`, and the job file
//!   read-only at `/run/finetune/job.json`. The job file is a file the caller writes (see
//!   [`JobFile`]), not a Compose `configs: content:` entry: Compose injects those by copying into the
//!   container, which a read-only root filesystem refuses, and it needs Compose 2.23+;
//! - hardening: `user` (default `65532:65532`; the caller creates the output and cache
//!   directories writable for that user), `read_only: true`, `tmpfs: [/tmp]`, `cap_drop: [ALL]`,
//!   `security_opt: [no-new-privileges:true]`, `network_mode: none` unless the job names a
//!   `network`, `restart: "no"`;
//! - `depends_on` the job's services; `environment`: literal values, and names without a value
//!   (or whose name looks secret: `*TOKEN*`, `*SECRET*`, `*PASSWORD*`, `*KEY*`) by reference
//!   only, so Compose takes them from the caller's environment; `FINETUNE_IMAGE`;
//! - `secrets: [<data.redact_key>]` when the job hashes redacted values: the user's top-level
//!   `file:` secret, mounted at `/run/secrets/<name>` (never the key itself);
//! - labels `com.docker.finetune.{project,job,spec-hash,version,output}`.
//!
//! A job whose `data.image` names a dataset image reads `/data` from a volume its init service
//! fills instead of a bind mount: see [`crate::data_image`].

use crate::project::{Job, Project};
use finetune_spec::contract;
use finetune_spec::{ByteSize, Gpus, JobSpec};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Label keys on every job container.
pub mod labels {
    pub const PROJECT: &str = "com.docker.finetune.project";
    pub const JOB: &str = "com.docker.finetune.job";
    pub const SPEC_HASH: &str = "com.docker.finetune.spec-hash";
    pub const VERSION: &str = "com.docker.finetune.version";
    pub const OUTPUT: &str = "com.docker.finetune.output";
    /// On a dataset image's init service and volume: the job they serve.
    pub const DATA_FOR: &str = "com.docker.finetune.data-for";
    /// On a dataset image (`data package`): its files as JSON, `{path: {sha256, rows?}}`.
    pub const DATA_FILES: &str = "com.docker.finetune.data.files";
}

/// The default trainer image repository.
pub const TRAINER_REPOSITORY: &str = "docker-finetune/trainer";
/// The default non-root user of job containers (distroless `nonroot`).
pub const DEFAULT_USER: &str = "65532:65532";
/// The default `/dev/shm` size.
pub const DEFAULT_SHM: ByteSize = ByteSize(1 << 30);
/// The trainer's Dockerfile, relative to the build context.
pub const DOCKERFILE: &str = "trainer/Dockerfile";
/// Name of the job file the caller writes in each job's output directory.
pub const JOB_FILE_NAME: &str = "job.json";

/// How to render.
#[derive(Debug, Clone, Default)]
pub struct RenderOptions {
    /// The jobs to render; empty renders every job that is not a provider service.
    pub jobs: Vec<String>,
    /// The trainer build context (the repository holding `trainer/Dockerfile`); `None` renders
    /// no `build:` section.
    pub build_context: Option<PathBuf>,
    /// Override the build target (default `runtime`, or `runtime-cuda` for GPU jobs), e.g.
    /// `runtime-prebuilt`.
    pub build_target: Option<String>,
    /// Whether the host has an NVIDIA runtime (decides `gpus: auto`).
    pub gpu_runtime: bool,
    /// Explicit GPU device ids per job, from the caller's allocation.
    pub allocations: BTreeMap<String, Vec<String>>,
    /// Trainer image for jobs that name none (default `docker-finetune/trainer:<version>`).
    pub trainer_image: Option<String>,
    /// The plugin's version (labels, default image tag).
    pub version: String,
    /// Container user (default `65532:65532`).
    pub user: Option<String>,
    /// Dataset image reference (`data.image`) → its image id, as the engine has it (names the
    /// data volume, and goes to `run.json`); a reference without one renders without the id.
    pub data_images: BTreeMap<String, String>,
}

/// Why rendering failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    #[error("no job named `{name}` in this project; jobs: {known}")]
    UnknownJob { name: String, known: String },
}

/// The job file a job service mounts: the caller writes `content` to `host_path` (mode 0644)
/// before `docker compose up`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobFile {
    pub host_path: PathBuf,
    pub content: String,
}

/// The rendered override.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    value: Value,
    /// Job name → the job file to write.
    pub job_files: BTreeMap<String, JobFile>,
    /// Job name → its Compose service name.
    pub services: BTreeMap<String, String>,
    /// Job name → the init service filling its data volume, for jobs with `data.image`: start
    /// it with the job (the job waits for it to exit 0).
    pub init_services: BTreeMap<String, String>,
    /// Job name → environment names passed by reference. The caller runs `docker compose` with
    /// each of them set: to the job's literal value when the spec has one (a secret-looking name
    /// written in the compose file), else from its own environment.
    pub env_refs: BTreeMap<String, Vec<String>>,
    /// Job name → whether it got GPUs.
    pub gpus: BTreeMap<String, bool>,
}

impl Rendered {
    /// The override as a JSON value (`{"services": {...}}`).
    pub fn value(&self) -> &Value {
        &self.value
    }
    /// The override as YAML, with every string that a YAML 1.1 reader (Compose v1, PyYAML)
    /// would take for a boolean, number or date (`no`, `65532:65532`) quoted; see [`crate::emit`].
    pub fn yaml(&self) -> String {
        crate::emit::to_yaml(&self.value)
    }
    pub fn json(&self) -> String {
        serde_json::to_string_pretty(&self.value).unwrap_or_default()
    }
}

/// Render the selected jobs of `project`.
pub fn render(project: &Project, opts: &RenderOptions) -> Result<Rendered, RenderError> {
    let jobs: Vec<&Job> = if opts.jobs.is_empty() {
        project
            .jobs
            .iter()
            .filter(|j| !matches!(j.source, crate::project::JobSource::Provider(_)))
            .collect()
    } else {
        opts.jobs
            .iter()
            .map(|n| {
                project.job(n).ok_or_else(|| RenderError::UnknownJob {
                    name: n.clone(),
                    known: project
                        .jobs
                        .iter()
                        .map(|j| j.spec.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                })
            })
            .collect::<Result<_, _>>()?
    };
    let mut services = Map::new();
    let mut volumes = Map::new();
    let mut out = Rendered {
        value: Value::Null,
        job_files: BTreeMap::new(),
        services: BTreeMap::new(),
        init_services: BTreeMap::new(),
        env_refs: BTreeMap::new(),
        gpus: BTreeMap::new(),
    };
    for job in jobs {
        let spec = &job.spec;
        let (service, gpus) = service(project, spec, opts);
        services.insert(spec.name.clone(), service);
        if let Some(d) = crate::data_image::render(&project.name, spec, opts) {
            out.init_services
                .insert(spec.name.clone(), d.init.0.clone());
            services.insert(d.init.0, d.init.1);
            volumes.insert(d.volume.0, d.volume.1);
        }
        out.services.insert(spec.name.clone(), spec.name.clone());
        out.gpus.insert(spec.name.clone(), gpus);
        out.env_refs.insert(
            spec.name.clone(),
            spec.environment
                .iter()
                .filter(|(k, v)| v.is_none() || is_secret(k))
                .map(|(k, _)| k.clone())
                .collect(),
        );
        out.job_files.insert(
            spec.name.clone(),
            JobFile {
                host_path: job_file_path(spec),
                content: serde_json::to_string_pretty(&job_json(spec)).unwrap_or_default() + "\n",
            },
        );
    }
    out.value = if volumes.is_empty() {
        json!({ "services": services })
    } else {
        json!({ "services": services, "volumes": volumes })
    };
    Ok(out)
}

/// Where the caller writes a job's job file: `<output>/job.json`, so a run directory keeps the
/// spec it ran with.
pub fn job_file_path(spec: &JobSpec) -> PathBuf {
    spec.output.join(JOB_FILE_NAME)
}

pub use crate::env::is_secret;

/// The deepest directory holding every data file of the job (mounted at `/data`). For a dataset
/// image the paths are already relative to its `/data`, and this is the empty path.
pub fn data_root(spec: &JobSpec) -> PathBuf {
    let parent = |p: &Path| {
        p.parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("/"))
    };
    let mut root = parent(&spec.data.train);
    if let Some(eval) = &spec.data.eval {
        while !eval.starts_with(&root) {
            if !root.pop() {
                break;
            }
        }
    }
    root
}

/// The spec as the trainer sees it (`job.json`): container paths, secrets by reference, and no
/// `tracking`: the plugin tracks from the host, and a tracking URI may carry credentials.
pub fn job_json(spec: &JobSpec) -> JobSpec {
    let mut j = spec.clone();
    j.tracking = None;
    let root = data_root(spec);
    let in_data = |p: &Path| Path::new(contract::DATA_DIR).join(p.strip_prefix(&root).unwrap_or(p));
    j.model = contract::MODEL_DIR.into();
    j.data.train = in_data(&spec.data.train);
    j.data.eval = spec.data.eval.as_deref().map(in_data);
    j.output = contract::OUTPUT_DIR.into();
    j.cache = spec.cache.as_ref().map(|_| contract::CACHE_DIR.into());
    for (k, v) in j.environment.iter_mut() {
        if is_secret(k) {
            *v = None;
        }
    }
    j
}

/// The GPU request after `auto` and the caller's allocation: `None` for CPU.
pub fn effective_gpus(spec: &JobSpec, opts: &RenderOptions) -> Option<Gpus> {
    if let Some(ids) = opts
        .allocations
        .get(&spec.name)
        .filter(|ids| !ids.is_empty())
    {
        if !spec.resources.gpus.is_none() && (spec.resources.gpus != Gpus::Auto || opts.gpu_runtime)
        {
            return Some(Gpus::Ids(ids.clone()));
        }
    }
    match &spec.resources.gpus {
        g if g.is_none() => None,
        Gpus::Auto if opts.gpu_runtime => Some(Gpus::All),
        Gpus::Auto => None,
        g => Some(g.clone()),
    }
}

/// The image a job runs.
pub fn image(spec: &JobSpec, opts: &RenderOptions, gpus: bool) -> String {
    spec.image
        .clone()
        .or_else(|| opts.trainer_image.clone())
        .unwrap_or_else(|| trainer_image(&opts.version, gpus))
}

/// The default trainer image of a version: `docker-finetune/trainer:<version>`, `-cuda` for the
/// CUDA variant. The plugin's `build` tags the same name.
pub fn trainer_image(version: &str, cuda: bool) -> String {
    let suffix = if cuda { "-cuda" } else { "" };
    format!("{TRAINER_REPOSITORY}:{version}{suffix}")
}

fn bind(source: &Path, target: &str, read_only: bool) -> Value {
    json!({ "type": "bind", "source": source.to_string_lossy(), "target": target, "read_only": read_only })
}

fn service(project: &Project, spec: &JobSpec, opts: &RenderOptions) -> (Value, bool) {
    let gpus = effective_gpus(spec, opts);
    let image = image(spec, opts, gpus.is_some());
    let mut s = Map::new();
    s.insert("image".into(), json!(image));
    if let (Some(ctx), None) = (&opts.build_context, &spec.image) {
        let target = opts.build_target.clone().unwrap_or_else(|| {
            if gpus.is_some() {
                "runtime-cuda".into()
            } else {
                "runtime".into()
            }
        });
        s.insert(
            "build".into(),
            json!({ "context": ctx.to_string_lossy(), "dockerfile": DOCKERFILE, "target": target }),
        );
    }
    let mut resources = Map::new();
    let mut limits = Map::new();
    if let Some(c) = spec.resources.cpus {
        limits.insert("cpus".into(), json!(c));
    }
    if let Some(m) = spec.resources.memory {
        limits.insert("memory".into(), json!(m.to_string()));
    }
    if !limits.is_empty() {
        resources.insert("limits".into(), Value::Object(limits));
    }
    if let Some(g) = &gpus {
        let mut dev = Map::new();
        dev.insert("driver".into(), json!("nvidia"));
        dev.insert("capabilities".into(), json!(["gpu"]));
        match g {
            // A shared job renders the same `device_ids` as the jobs it shares them with: the
            // sharing itself is the queue's (admission by declared memory), not Compose's.
            Gpus::Ids(ids) | Gpus::Shared(ids) => dev.insert("device_ids".into(), json!(ids)),
            Gpus::Count(n) => dev.insert("count".into(), json!(n)),
            _ => dev.insert("count".into(), json!("all")),
        };
        resources.insert(
            "reservations".into(),
            json!({ "devices": [Value::Object(dev)] }),
        );
    }
    if !resources.is_empty() {
        s.insert("deploy".into(), json!({ "resources": resources }));
    }
    s.insert(
        "shm_size".into(),
        json!(spec.resources.shm_size.unwrap_or(DEFAULT_SHM).to_string()),
    );
    // Unlimited memlock is only needed to pin host memory for GPU transfers, and engines whose
    // own hard limit is lower refuse to start the container with it, so CPU jobs go without.
    let ulimits = if gpus.is_some() {
        json!({ "memlock": -1, "stack": 67108864 })
    } else {
        json!({ "stack": 67108864 })
    };
    s.insert("ulimits".into(), ulimits);
    let data = crate::data_image::mount(spec, opts)
        .unwrap_or_else(|| bind(&data_root(spec), contract::DATA_DIR, true));
    let mut volumes = vec![
        bind(&spec.model, contract::MODEL_DIR, true),
        data,
        bind(&spec.output, contract::OUTPUT_DIR, false),
    ];
    if let Some(c) = &spec.cache {
        volumes.push(bind(c, contract::CACHE_DIR, false));
    }
    volumes.push(bind(&job_file_path(spec), contract::JOB_FILE, true));
    s.insert("volumes".into(), Value::Array(volumes));
    s.insert(
        "user".into(),
        json!(opts.user.clone().unwrap_or_else(|| DEFAULT_USER.into())),
    );
    s.insert("read_only".into(), json!(true));
    s.insert("tmpfs".into(), json!(["/tmp"]));
    s.insert("cap_drop".into(), json!(["ALL"]));
    s.insert("security_opt".into(), json!(["no-new-privileges:true"]));
    match &spec.network {
        Some(n) => s.insert("networks".into(), json!([n])),
        None => s.insert("network_mode".into(), json!("none")),
    };
    if !spec.depends_on.is_empty() || spec.data.image.is_some() {
        s.insert("depends_on".into(), crate::data_image::depends_on(spec));
    }
    s.insert("restart".into(), json!("no"));
    let mut env = Map::new();
    for (k, v) in &spec.environment {
        let value = match v {
            Some(v) if !is_secret(k) => json!(v),
            _ => Value::Null,
        };
        env.insert(k.clone(), value);
    }
    env.insert("FINETUNE_IMAGE".into(), json!(image));
    // The hash key of `data.redact`: a top-level `file:` secret the user declared, which Compose
    // mounts at `/run/secrets/<name>` (contract::SECRETS_DIR). Only its name is written here.
    if let Some(key) = &spec.data.redact_key {
        s.insert("secrets".into(), json!([key]));
    }
    env.extend(crate::data_image::environment(spec, opts));
    s.insert("environment".into(), Value::Object(env));
    s.insert(
        "labels".into(),
        json!({
            labels::PROJECT: project.name,
            labels::JOB: spec.name,
            labels::SPEC_HASH: spec.config_hash(),
            labels::VERSION: opts.version,
            labels::OUTPUT: spec.output.to_string_lossy(),
        }),
    );
    (Value::Object(s), gpus.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(gpus: Gpus) -> JobSpec {
        let mut s: JobSpec = serde_json::from_value(json!({
            "name": "j", "model": "/p/m", "data": {"train": "/p/d/a/t.jsonl", "eval": "/p/d/b/e.jsonl"}, "output": "/p/o"
        }))
        .unwrap();
        s.resources.gpus = gpus;
        s
    }

    #[test]
    fn gpu_requests_resolve_auto_and_allocations() {
        let mut o = RenderOptions::default();
        assert_eq!(effective_gpus(&spec(Gpus::Auto), &o), None);
        assert_eq!(effective_gpus(&spec(Gpus::Count(0)), &o), None);
        assert_eq!(
            effective_gpus(&spec(Gpus::Count(2)), &o),
            Some(Gpus::Count(2))
        );
        o.gpu_runtime = true;
        assert_eq!(effective_gpus(&spec(Gpus::Auto), &o), Some(Gpus::All));
        o.allocations.insert("j".into(), vec!["3".into()]);
        assert_eq!(
            effective_gpus(&spec(Gpus::Count(1)), &o),
            Some(Gpus::Ids(vec!["3".into()]))
        );
        assert_eq!(effective_gpus(&spec(Gpus::Count(0)), &o), None);
    }

    #[test]
    fn job_json_uses_container_paths_under_the_common_data_dir() {
        let mut s = spec(Gpus::Auto);
        s.environment.insert("API_KEY".into(), Some("v".into()));
        s.environment.insert("MODE".into(), Some("x".into()));
        assert_eq!(data_root(&s), PathBuf::from("/p/d"));
        let j = job_json(&s);
        assert_eq!(j.model, PathBuf::from("/model"));
        assert_eq!(j.data.train, PathBuf::from("/data/a/t.jsonl"));
        assert_eq!(j.data.eval, Some(PathBuf::from("/data/b/e.jsonl")));
        assert_eq!(j.output, PathBuf::from("/output"));
        assert_eq!(j.environment["API_KEY"], None);
        assert_eq!(j.environment["MODE"], Some("x".into()));
        assert_eq!(j.config_hash(), s.config_hash());
    }
}
