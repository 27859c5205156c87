//! Cluster export: the Kubernetes and Volcano manifests of a job, and the Volcano Job checked
//! against the `openAPIV3Schema` of Volcano's Job CRD (`../shared/schemas`), unknown fields
//! included (the API server would silently prune them).

mod common;

use common::{options, project, shared};
use finetune_compose::export::{self, ExportOptions, VolumeMode};
use finetune_compose::load_project;
use serde_json::Value;

const STACK: &str = "x-finetune:\n  jobs:\n    Sentiment_v2:\n      model: ./models/minilm\n      data: {train: ./data/train.jsonl, eval: ./data/eval.jsonl}\n      output: ./runs/s\n      cache: ./cache\n      environment: {HF_TOKEN: null, MODE: fast}\n      resources: {gpus: 2, memory: 8g, cpus: 1.5, shm_size: 2g}\n";

/// A small OpenAPI v3 (structural schema) checker: types, int-or-string, enums, required keys,
/// int32 ranges, and fields the schema does not declare.
fn check(schema: &Value, v: &Value, path: &str, errs: &mut Vec<String>) {
    if schema.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true)) {
        if !(v.is_i64() || v.is_u64() || v.is_string()) {
            errs.push(format!("{path}: expected int or string, found {v}"));
        }
        return;
    }
    if let Some(any) = schema.get("anyOf").and_then(Value::as_array) {
        if !any.iter().any(|s| {
            let mut e = Vec::new();
            check(s, v, path, &mut e);
            e.is_empty()
        }) {
            errs.push(format!("{path}: matches no anyOf branch"));
        }
    }
    let ty = schema.get("type").and_then(Value::as_str);
    let ok = match ty {
        Some("object") => v.is_object(),
        Some("array") => v.is_array(),
        Some("string") => v.is_string(),
        Some("integer") => v.is_i64() || v.is_u64(),
        Some("number") => v.is_number(),
        Some("boolean") => v.is_boolean(),
        _ => true,
    };
    if !ok {
        errs.push(format!("{path}: expected {}, found {v}", ty.unwrap_or("?")));
        return;
    }
    if schema.get("format").and_then(Value::as_str) == Some("int32") {
        if let Some(n) = v.as_i64() {
            if i32::try_from(n).is_err() {
                errs.push(format!("{path}: {n} is out of int32 range"));
            }
        }
    }
    if let Some(e) = schema.get("enum").and_then(Value::as_array) {
        if !e.contains(v) {
            errs.push(format!("{path}: {v} not in {e:?}"));
        }
    }
    if let Value::Object(m) = v {
        for r in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(r) = r.as_str() {
                if !m.contains_key(r) {
                    errs.push(format!("{path}: missing required `{r}`"));
                }
            }
        }
        let props = schema.get("properties").and_then(Value::as_object);
        let extra = schema.get("additionalProperties").filter(|a| a.is_object());
        let preserve =
            schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
        for (k, sub) in m {
            match (props.and_then(|p| p.get(k)), extra) {
                (Some(s), _) | (None, Some(s)) => check(s, sub, &format!("{path}.{k}"), errs),
                // An object that declares no fields (the root `metadata`) is open.
                (None, None) if preserve || props.is_none() => {}
                (None, None) => errs.push(format!("{path}.{k}: field not in the schema")),
            }
        }
    }
    if let (Value::Array(items), Some(s)) = (v, schema.get("items")) {
        for (i, item) in items.iter().enumerate() {
            check(s, item, &format!("{path}[{i}]"), errs);
        }
    }
}

fn job_project() -> (tempfile::TempDir, finetune_compose::Project) {
    let dir = project(&[("compose.yaml", STACK)]);
    let p = load_project(&options(dir.path())).unwrap();
    assert!(p.diagnostics.is_empty(), "{:#?}", p.diagnostics);
    (dir, p)
}

fn opts() -> ExportOptions {
    ExportOptions {
        image: "registry.example/trainer:0.1.0-cuda".into(),
        queue: Some("gpu".into()),
        min_available: Some(1),
        ..Default::default()
    }
}

#[test]
fn volcano_job_validates_against_the_crd() {
    let Some(shared) = shared() else { return };
    let crd: Value = serde_yaml::from_str(
        &std::fs::read_to_string(shared.join("schemas/volcano-batch-job-crd.yaml")).unwrap(),
    )
    .unwrap();
    let version = crd["spec"]["versions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "v1alpha1")
        .unwrap();
    let schema = &version["schema"]["openAPIV3Schema"];
    let (_dir, p) = job_project();
    let job = p.job("Sentiment_v2").unwrap();
    for volumes in [
        VolumeMode::HostPath,
        VolumeMode::Pvc {
            model: "models".into(),
            data: "data".into(),
            output: "runs".into(),
            cache: Some("cache".into()),
        },
    ] {
        let v = export::volcano_job(&p.name, job, &ExportOptions { volumes, ..opts() }).unwrap();
        let mut errs = Vec::new();
        check(schema, &v, "", &mut errs);
        assert!(errs.is_empty(), "{}", errs.join("\n"));
    }
    // The checker can fail: an undeclared field and a wrong type are caught.
    let mut bad = export::volcano_job(&p.name, job, &opts()).unwrap();
    bad["spec"]["minAvailable"] = Value::String("one".into());
    bad["spec"]["tasks"][0]["template"]["spec"]["containers"][0]["gpu"] = Value::Bool(true);
    let mut errs = Vec::new();
    check(schema, &bad, "", &mut errs);
    assert_eq!(errs.len(), 2, "{errs:#?}");
}

#[test]
fn manifests_carry_gpus_shm_security_and_secrets_by_reference() {
    let (_dir, p) = job_project();
    let job = p.job("Sentiment_v2").unwrap();
    let text = export::volcano(&p.name, job, &opts()).unwrap();
    let docs: Vec<Value> = text
        .split("---\n")
        .map(|d| serde_yaml::from_str(d).unwrap())
        .collect();
    assert_eq!(docs[0]["kind"], "ConfigMap");
    let spec_json: Value =
        serde_json::from_str(docs[0]["data"]["job.json"].as_str().unwrap()).unwrap();
    assert_eq!(spec_json["model"], "/model");
    assert_eq!(spec_json["data"]["eval"], "/data/eval.jsonl");
    let j = &docs[1];
    assert_eq!(j["apiVersion"], "batch.volcano.sh/v1alpha1");
    assert_eq!(j["metadata"]["name"], "sentiment-v2");
    assert_eq!(j["spec"]["queue"], "gpu");
    let pod = &j["spec"]["tasks"][0]["template"]["spec"];
    let c = &pod["containers"][0];
    assert_eq!(c["resources"]["limits"]["nvidia.com/gpu"], "2");
    assert_eq!(c["resources"]["limits"]["memory"], "8Gi");
    assert_eq!(c["resources"]["limits"]["cpu"], "1500m");
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
    assert_eq!(c["securityContext"]["capabilities"]["drop"][0], "ALL");
    let shm = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "dshm")
        .unwrap();
    assert_eq!(
        shm["emptyDir"],
        serde_json::json!({"medium": "Memory", "sizeLimit": "2Gi"})
    );
    let token = c["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "HF_TOKEN")
        .unwrap();
    assert_eq!(
        token["valueFrom"]["secretKeyRef"]["name"],
        "sentiment-v2-env"
    );
    let k8s = export::kubernetes(
        &p.name,
        job,
        &ExportOptions {
            volumes: VolumeMode::Pvc {
                model: "m".into(),
                data: "d".into(),
                output: "o".into(),
                cache: None,
            },
            ..opts()
        },
    );
    assert!(matches!(k8s, Err(export::ExportError::NoCacheClaim { .. })));
    let k8s = export::kubernetes(&p.name, job, &opts()).unwrap();
    let kd: Vec<Value> = k8s
        .split("---\n")
        .map(|d| serde_yaml::from_str(d).unwrap())
        .collect();
    assert_eq!(kd[1]["apiVersion"], "batch/v1");
    assert_eq!(kd[1]["spec"]["template"]["spec"]["restartPolicy"], "Never");
    assert_eq!(
        kd[1]["spec"]["template"]["spec"]["securityContext"]["runAsUser"],
        65532
    );
}

/// A dataset image has no host path: host-path export refuses it, a data claim carries it.
#[test]
fn a_dataset_image_job_exports_with_a_data_claim_only() {
    let y = "x-finetune:\n  jobs:\n    j: {model: ./m, data: {image: \"acme/tweets:v1\", train: train.jsonl}, output: ./o, resources: {gpus: 1}}\n";
    let dir = project(&[("compose.yaml", y)]);
    let p = load_project(&options(dir.path())).unwrap();
    assert!(p.diagnostics.is_empty(), "{:#?}", p.diagnostics);
    let job = p.job("j").unwrap();
    let e = export::kubernetes(&p.name, job, &opts()).unwrap_err();
    assert!(e.to_string().contains("`acme/tweets:v1`"), "{e}");
    let claims = ExportOptions {
        volumes: VolumeMode::Pvc {
            model: "m".into(),
            data: "tweets-v1".into(),
            output: "o".into(),
            cache: None,
        },
        ..opts()
    };
    let text = export::kubernetes(&p.name, job, &claims).unwrap();
    assert!(text.contains("claimName: tweets-v1"), "{text}");
    assert!(text.contains("/data/train.jsonl"), "{text}");
}
