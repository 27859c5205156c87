//! Rendering: snapshots of the override, the Compose JSON schema, and the real
//! `docker compose config` when Compose v2 is installed.

mod common;

use common::{options, project, shared};
use finetune_compose::{load_project, render, RenderOptions};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

const STACK: &str = r#"name: demo
services:
  minio: {image: minio/minio}
  api:
    image: acme/api
    depends_on: [minio]
  tuned:
    depends_on: [minio]
    x-finetune:
      model: ./models/minilm
      data: {train: ./data/a/train.jsonl}
      output: ./runs/tuned
      resources: {gpus: auto}
x-finetune:
  defaults:
    resources: {memory: 8g, cpus: 4, shm_size: 2g}
  jobs:
    sentiment:
      model: ./models/minilm
      data: {train: ./data/a/train.jsonl, eval: ./data/b/eval.jsonl}
      method: {lora: {r: 8}}
      output: ./runs/sentiment
      cache: ./cache
      depends_on: [minio]
      environment: {HF_TOKEN: literal-token, MODE: fast, PASSTHRU: null}
      resources: {gpus: 2}
    cpu:
      model: ./models/minilm
      data: {train: ./data/a/train.jsonl, eval_split: 0.1}
      output: ./runs/cpu
      network: default
      resources: {gpus: 0}
"#;

fn opts() -> RenderOptions {
    RenderOptions {
        build_context: Some("/src/docker-finetune".into()),
        version: "0.1.0".into(),
        gpu_runtime: true,
        allocations: BTreeMap::from([(
            "sentiment".to_string(),
            vec!["2".to_string(), "3".to_string()],
        )]),
        ..Default::default()
    }
}

/// Snapshots are `tests/snapshots/render__*.snap` (insta). A mismatch fails the test; outside CI
/// insta also writes the new text next to it (`*.snap.new`) for `cargo insta review`, and with
/// `CI=true` it writes nothing. insta ignores trailing newlines, so they are asserted here.
fn snapshot(name: &str, actual: &str) {
    assert!(actual.ends_with('\n'), "{name} does not end with a newline");
    insta::assert_snapshot!(name, actual);
}

#[test]
fn renders_the_expected_override() {
    let dir = project(&[("compose.yaml", STACK)]);
    let p = load_project(&options(dir.path())).unwrap();
    // The one diagnostic: a warning about the literal secret, which is not rendered.
    assert!(
        p.diagnostics.len() == 1 && !p.diagnostics[0].is_error(),
        "{:#?}",
        p.diagnostics
    );
    assert_eq!(
        p.diagnostics[0].path,
        "x-finetune.jobs.sentiment.environment.HF_TOKEN"
    );
    let r = render(&p, &opts()).unwrap();
    let root = dir.path().to_string_lossy().to_string();
    snapshot("stack.yaml", &r.yaml().replace(&root, "<project>"));
    let job_json = &r.job_files["sentiment"];
    assert_eq!(
        job_json.host_path,
        dir.path().join("runs/sentiment/job.json")
    );
    snapshot(
        "sentiment.job.json",
        &job_json.content.replace(&root, "<project>"),
    );
    // Secrets never land in the rendered text.
    assert!(!r.yaml().contains("literal-token") && !r.json().contains("literal-token"));
    assert!(!job_json.content.contains("literal-token"));
    assert_eq!(
        r.env_refs["sentiment"],
        vec!["HF_TOKEN".to_string(), "PASSTHRU".to_string()]
    );
    // Without a GPU runtime, `auto` runs on CPU and `count` stays a count.
    let cpu = render(
        &p,
        &RenderOptions {
            gpu_runtime: false,
            allocations: BTreeMap::new(),
            ..opts()
        },
    )
    .unwrap();
    let v = cpu.value();
    assert!(v["services"]["tuned"]["deploy"]["resources"]["reservations"].is_null());
    assert_eq!(v["services"]["tuned"]["build"]["target"], "runtime");
    assert_eq!(
        v["services"]["sentiment"]["deploy"]["resources"]["reservations"]["devices"][0]["count"],
        2
    );
    assert!(render(
        &p,
        &RenderOptions {
            jobs: vec!["nope".into()],
            ..opts()
        }
    )
    .is_err());
}

#[test]
fn rendered_services_match_the_compose_schema() {
    let Some(shared) = shared() else { return };
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(shared.join("schemas/compose-spec.json")).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).expect("compose schema compiles");
    let dir = project(&[("compose.yaml", STACK)]);
    let p = load_project(&options(dir.path())).unwrap();
    for o in [
        opts(),
        RenderOptions {
            gpu_runtime: false,
            build_context: None,
            ..opts()
        },
    ] {
        let r = render(&p, &o).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(r.value())
            .map(|e| format!("{}: {e}", e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{}", errors.join("\n"));
    }
    // The check can fail: a service with both `count` and `device_ids` is rejected.
    let mut bad = render(&p, &opts()).unwrap().value().clone();
    bad["services"]["sentiment"]["ulimits"] = serde_json::json!(["memlock"]);
    assert!(!validator.is_valid(&bad));
}

/// Whether Compose v2 runs here; `false` with a printed reason, except under `CI=true`, where its
/// absence fails the test.
fn compose_v2() -> bool {
    let ok = Command::new("docker")
        .args(["compose", "version"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("`docker compose` (v2) is required in CI: run scripts/install-compose.sh");
        }
        eprintln!("skipping: `docker compose` (v2) is not installed (scripts/install-compose.sh installs it)");
    }
    ok
}

/// `docker compose -f compose.yaml -f rendered.yaml config` in `dir`, as JSON.
fn compose_config(dir: &Path) -> serde_json::Value {
    let out = Command::new("docker")
        .current_dir(dir)
        .args("compose -f compose.yaml -f rendered.yaml config --format json".split(' '))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `docker compose -f user -f rendered config` accepts the override (needs Compose v2).
#[test]
fn docker_compose_config_accepts_the_override() {
    if !compose_v2() {
        return;
    }
    let dir = project(&[("compose.yaml", STACK)]);
    let p = load_project(&options(dir.path())).unwrap();
    let r = render(&p, &opts()).unwrap();
    std::fs::write(dir.path().join("rendered.yaml"), r.yaml()).unwrap();
    let v = compose_config(dir.path());
    let s = &v["services"]["sentiment"];
    assert_eq!(s["network_mode"], "none");
    assert_eq!(
        s["deploy"]["resources"]["reservations"]["devices"][0]["device_ids"],
        serde_json::json!(["2", "3"])
    );
    assert_eq!(
        v["services"]["tuned"]["depends_on"]["minio"]["condition"],
        "service_started"
    );
}

/// Strings that YAML 1.1 readers take for booleans, numbers or null are quoted, so environment
/// values and labels stay strings, for `serde_yaml` and for `docker compose config` alike.
#[test]
fn yaml11_lookalike_strings_stay_strings() {
    const VALUES: &[(&str, &str)] = &[
        ("A", "on"),
        ("B", "off"),
        ("C", "yes"),
        ("D", "n"),
        ("E", "~"),
        ("F", "0755"),
        ("G", "1e3"),
        ("H", "1_000"),
        ("I", "12:30"),
        ("J", "2024-01-01"),
        ("K", "null"),
    ];
    let env: Vec<String> = VALUES
        .iter()
        .map(|(k, v)| format!("{k}: \"{v}\""))
        .collect();
    let compose = format!(
        "name: demo\nx-finetune:\n  jobs:\n    yes:\n      model: ./m\n      data: {{train: ./d/t.jsonl}}\n      output: ./o\n      environment: {{{}}}\n",
        env.join(", ")
    );
    let dir = project(&[("compose.yaml", &compose)]);
    let p = load_project(&options(dir.path())).unwrap();
    assert!(!p.has_errors(), "{:#?}", p.diagnostics);
    let r = render(
        &p,
        &RenderOptions {
            version: "0755".into(),
            ..opts()
        },
    )
    .unwrap();
    let text = r.yaml();
    assert!(text.contains("\n  \"yes\":\n"), "{text}");
    assert!(text.contains("      A: \"on\"\n"), "{text}");
    assert!(
        text.contains("      com.docker.finetune.version: \"0755\"\n"),
        "{text}"
    );
    let check = |service: &serde_json::Value| {
        for (k, v) in VALUES {
            assert_eq!(service["environment"][k], *v, "{k}");
        }
        assert_eq!(service["labels"]["com.docker.finetune.version"], "0755");
    };
    let back: serde_json::Value = serde_yaml::from_str(&text).unwrap();
    check(&back["services"]["yes"]);
    if !compose_v2() {
        return;
    }
    std::fs::write(dir.path().join("rendered.yaml"), &text).unwrap();
    let out = compose_config(dir.path());
    check(&out["services"]["yes"]);
}

const DATA_IMAGE: &str = r#"name: demo
services:
  minio: {image: minio/minio}
x-finetune:
  jobs:
    tweets:
      model: ./models/minilm
      data: {image: "acme/tweets:v1", train: train.jsonl, eval: splits/eval.jsonl}
      output: ./runs/tweets
      depends_on: [minio]
      resources: {gpus: 0}
"#;

const DATA_IMAGE_ID: &str =
    "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// A job whose data are an image: an init service fills a volume named after the image id, the
/// job mounts it read-only at /data and waits for the init service to exit 0.
#[test]
fn a_dataset_image_renders_an_init_service_and_its_volume() {
    let dir = project(&[("compose.yaml", DATA_IMAGE)]);
    let p = load_project(&options(dir.path())).unwrap();
    assert!(p.diagnostics.is_empty(), "{:#?}", p.diagnostics);
    let mut o = opts();
    o.data_images
        .insert("acme/tweets:v1".into(), DATA_IMAGE_ID.into());
    let r = render(&p, &o).unwrap();
    let root = dir.path().to_string_lossy().to_string();
    snapshot("data_image.yaml", &r.yaml().replace(&root, "<project>"));
    assert_eq!(r.init_services["tweets"], "tweets-data");
    let v = r.value();
    let job = &v["services"]["tweets"];
    assert_eq!(
        job["depends_on"]["tweets-data"]["condition"],
        "service_completed_successfully"
    );
    assert_eq!(job["volumes"][1]["source"], "tweets-data-0123456789ab");
    assert_eq!(job["volumes"][1]["read_only"], true);
    assert_eq!(job["environment"]["FINETUNE_DATA_IMAGE_ID"], DATA_IMAGE_ID);
    assert_eq!(v["services"]["tweets-data"]["image"], "acme/tweets:v1");
    assert!(v["volumes"]["tweets-data-0123456789ab"].is_object());
    let spec: finetune_spec::JobSpec =
        serde_json::from_str(&r.job_files["tweets"].content).unwrap();
    assert_eq!(spec.data.train, Path::new("/data/train.jsonl"));
    assert_eq!(
        spec.data.eval.as_deref(),
        Some(Path::new("/data/splits/eval.jsonl"))
    );
    // Without the id (no engine asked), the volume has the plain name and no id goes to run.json.
    let plain = render(&p, &opts()).unwrap();
    let job = &plain.value()["services"]["tweets"];
    assert_eq!(job["volumes"][1]["source"], "tweets-data");
    assert!(job["environment"].get("FINETUNE_DATA_IMAGE_ID").is_none());

    if let Some(shared) = shared() {
        let schema: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(shared.join("schemas/compose-spec.json")).unwrap(),
        )
        .unwrap();
        let validator = jsonschema::validator_for(&schema).expect("compose schema compiles");
        let errors: Vec<String> = validator
            .iter_errors(v)
            .map(|e| format!("{}: {e}", e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{}", errors.join("\n"));
    }
    if compose_v2() {
        std::fs::write(dir.path().join("rendered.yaml"), r.yaml()).unwrap();
        let merged = compose_config(dir.path());
        let job = &merged["services"]["tweets"];
        assert_eq!(job["depends_on"]["minio"]["condition"], "service_started");
        assert_eq!(
            job["depends_on"]["tweets-data"]["condition"],
            "service_completed_successfully"
        );
        assert_eq!(
            merged["volumes"]["tweets-data-0123456789ab"]["name"],
            "demo_tweets-data-0123456789ab"
        );
    }
}

const SHARED: &str = r#"name: demo
x-finetune:
  defaults:
    model: ./models/minilm
    data: {train: ./data/a/train.jsonl}
  jobs:
    small-a:
      output: ./runs/small-a
      resources: {gpus: {device_ids: [0], shared: true}, gpu_memory: 6g}
    small-b:
      output: ./runs/small-b
      resources: {gpus: {device_ids: [0], shared: true}, gpu_memory: 10g}
    big:
      output: ./runs/big
      resources: {gpus: 1}
"#;

/// Jobs sharing a GPU render the same `device_ids` (and nothing else of the sharing); the
/// exclusive job next to them keeps its allocation. The snapshot holds each service's image,
/// build target, `deploy` and `environment`.
#[test]
fn jobs_sharing_a_gpu_render_the_same_device_ids() {
    let dir = project(&[("compose.yaml", SHARED)]);
    let p = load_project(&options(dir.path())).unwrap();
    assert!(!p.has_errors(), "{:#?}", p.diagnostics);
    let o = RenderOptions {
        allocations: BTreeMap::from([("big".to_string(), vec!["1".to_string()])]),
        ..opts()
    };
    let r = render(&p, &o).unwrap();
    let v = r.value();
    let mut focus = serde_json::Map::new();
    for (name, s) in v["services"].as_object().unwrap() {
        focus.insert(
            name.clone(),
            serde_json::json!({
                "image": s["image"],
                "build": {"target": s["build"]["target"]},
                "deploy": s["deploy"],
                "environment": s["environment"],
            }),
        );
    }
    let devices = |job: &str| &v["services"][job]["deploy"]["resources"]["reservations"]["devices"];
    assert_eq!(devices("small-a"), devices("small-b"));
    assert_eq!(
        devices("small-a")[0]["device_ids"],
        serde_json::json!(["0"])
    );
    assert!(r.gpus["small-a"] && r.gpus["small-b"]);
    snapshot(
        "shared.yaml",
        &serde_yaml::to_string(&serde_json::Value::Object(focus)).unwrap(),
    );
    // The job file keeps the request, so the trainer (and `ps`) see that it shares.
    let job: serde_json::Value = serde_json::from_str(&r.job_files["small-a"].content).unwrap();
    assert_eq!(
        job["resources"],
        serde_json::json!({"gpus": {"device_ids": ["0"], "shared": true}, "gpu_memory": "6g"})
    );
    if compose_v2() {
        std::fs::write(dir.path().join("rendered.yaml"), r.yaml()).unwrap();
        let c = compose_config(dir.path());
        for job in ["small-a", "small-b"] {
            assert_eq!(
                c["services"][job]["deploy"]["resources"]["reservations"]["devices"][0]
                    ["device_ids"],
                serde_json::json!(["0"])
            );
        }
    }
}
