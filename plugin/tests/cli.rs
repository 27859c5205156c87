//! The binary as users and the docker CLI run it, without an engine: the plugin protocol,
//! exit codes, stdout/stderr discipline. Engine-backed behaviour is covered by `tests/e2e`.

use std::path::Path;
use std::process::{Command, Output};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_docker-finetune"));
    // Keep the user's environment from steering the tests.
    for k in [
        "DOCKER_HOST",
        "DOCKER_CONTEXT",
        "COMPOSE_FILE",
        "COMPOSE_PROJECT_NAME",
        "COMPOSE_PROFILES",
        "FINETUNE_GPUS",
        "MLFLOW_TRACKING_URI",
        "MLFLOW_EXPERIMENT_NAME",
    ] {
        c.env_remove(k);
    }
    c.env("NO_COLOR", "1");
    c
}

fn run(dir: &Path, args: &[&str]) -> Output {
    bin().current_dir(dir).args(args).output().expect("runs")
}

fn project() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    // A model directory that passes `validate`'s file checks (not a trainable model).
    let m = p.join("models/m");
    std::fs::create_dir_all(&m).unwrap();
    let header = br#"{"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}"#;
    let weights = [&(header.len() as u64).to_le_bytes()[..], header, b"\0"].concat();
    let tokenizer = r#"{"version":"1.0","truncation":null,"padding":null,"added_tokens":[],"normalizer":null,"pre_tokenizer":null,"post_processor":null,"decoder":null,"model":{"type":"WordLevel","vocab":{"[UNK]":0},"unk_token":"[UNK]"}}"#;
    let config = br#"{"model_type":"bert"}"#;
    for (f, bytes) in [
        ("config.json", &config[..]),
        ("model.safetensors", &weights),
        ("tokenizer.json", tokenizer.as_bytes()),
    ] {
        std::fs::write(m.join(f), bytes).unwrap();
    }
    std::fs::create_dir_all(p.join("data")).unwrap();
    std::fs::write(
        p.join("data/train.jsonl"),
        "{\"text\":\"good\",\"label\":\"pos\"}\n{\"text\":\"bad\",\"label\":\"neg\"}\n",
    )
    .unwrap();
    std::fs::write(
        p.join("compose.yaml"),
        "services:\n  api: {image: x}\nx-finetune:\n  jobs:\n    sentiment:\n      model: ./models/m\n      data: {train: ./data/train.jsonl}\n      output: ./runs/s\n      resources: {gpus: 0, memory: 1g}\n",
    )
    .unwrap();
    d
}

#[test]
fn plugin_metadata_is_json_without_a_daemon() {
    let out = bin()
        .env("DOCKER_HOST", "unix:///nonexistent.sock")
        .arg("docker-cli-plugin-metadata")
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["SchemaVersion"], "0.1.0");
    assert_eq!(v["Vendor"], "docker-finetune");
    assert!(v["Version"].is_string() && v["ShortDescription"].is_string() && v["URL"].is_string());
}

#[test]
fn the_plugin_word_and_docker_global_flags_are_accepted() {
    let d = project();
    // As `docker -l debug finetune validate` runs us.
    let out = run(d.path(), &["-l", "debug", "finetune", "validate"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(d.path(), &["finetune", "--help"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("doctor"));
}

#[test]
fn validate_exit_codes_and_positions() {
    let d = project();
    assert_eq!(run(d.path(), &["validate"]).status.code(), Some(0));
    std::fs::write(
        d.path().join("bad.yaml"),
        "x-finetune:\n  jobs:\n    j:\n      model: ./models/m\n      data: {train: ./data/train.jsonl}\n      output: ./runs/j\n      train: {epochz: 3}\n",
    )
    .unwrap();
    let out = run(d.path(), &["-f", "bad.yaml", "validate"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("bad.yaml:7:"), "{text}");
    let json = run(
        d.path(),
        &["-f", "bad.yaml", "validate", "--format", "json"],
    );
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["valid"], false);
    assert!(v["diagnostics"][0]["line"].as_u64().unwrap() > 0);
}

#[test]
fn validate_data_reports_bad_rows_with_their_line() {
    let d = project();
    std::fs::write(
        d.path().join("data/train.jsonl"),
        "{\"text\":\"good\",\"label\":\"pos\"}\n{\"txt\":\"bad\",\"label\":\"neg\"}\n{\"text\":\"ok\",\"label\":\"neg\"}\n",
    )
    .unwrap();
    assert_eq!(run(d.path(), &["validate"]).status.code(), Some(0));
    let out = run(d.path(), &["validate", "--data"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("train.jsonl:2:"), "{text}");
}

#[test]
fn config_prints_only_yaml_on_stdout() {
    let d = project();
    let out = run(d.path(), &["config"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_yaml::Value = serde_yaml::from_slice(&out.stdout).unwrap();
    assert!(v["services"]["sentiment"]["image"].is_string());
    let json = run(d.path(), &["config", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(
        v["services"]["sentiment"]["labels"]["com.docker.finetune.job"],
        "sentiment"
    );
    assert_eq!(run(d.path(), &["config", "nope"]).status.code(), Some(1));
}

#[test]
fn usage_errors_exit_2() {
    let d = project();
    assert_eq!(
        run(d.path(), &["up", "--no-such-flag"]).status.code(),
        Some(2)
    );
    assert_eq!(
        run(d.path(), &["export", "--to", "swarm", "sentiment"])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn an_unreachable_engine_is_exit_3_with_one_error_line() {
    let d = project();
    let out = run(d.path(), &["-H", "unix:///nonexistent/docker.sock", "ps"]);
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("error: cannot reach the Docker engine at unix:///nonexistent/docker.sock"),
        "{err}"
    );
    assert!(err.contains("hint: "));
    assert!(out.stdout.is_empty());
    let out = run(d.path(), &["-H", "unix:///x.sock", "--context", "c", "ps"]);
    assert_eq!(out.status.code(), Some(3));
}

#[test]
fn provider_metadata_and_errors_are_json_lines() {
    let d = project();
    let out = run(d.path(), &["compose", "metadata"]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["up"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["name"] == "model"));
    let out = run(d.path(), &["compose", "--project-name=p", "frobnicate"]);
    assert!(!out.status.success());
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["type"], "error");
    }
}

#[test]
fn runs_lists_run_records_as_json() {
    let d = project();
    let out = run(d.path(), &["runs", "--format", "json"]);
    assert!(out.status.success());
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap(),
        serde_json::json!([])
    );
}

#[test]
fn runs_sync_without_a_tracked_job_says_how_to_track_one() {
    let d = project();
    let out = run(d.path(), &["runs", "--sync"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no selected job is tracked"), "{err}");
    assert!(err.contains("MLFLOW_TRACKING_URI"), "{err}");
    // MLflow's own variable is enough; a server that is not there is a warning, not a failure,
    // and nothing is written for a job that has not run.
    let out = bin()
        .current_dir(d.path())
        .args(["runs", "--sync"])
        .env("MLFLOW_TRACKING_URI", "http://127.0.0.1:1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not started yet"), "{err}");
    assert!(!d.path().join("runs/s/.finetune").exists());
}

#[test]
fn ps_needs_only_a_project_name_not_a_compose_file() {
    let empty = tempfile::tempdir().unwrap();
    // No compose file: without -p it is an invalid-spec error, with -p it gets to the engine.
    let out = run(
        empty.path(),
        &["-H", "unix:///nonexistent/docker.sock", "ps"],
    );
    assert_eq!(out.status.code(), Some(1));
    let out = run(
        empty.path(),
        &["-H", "unix:///nonexistent/docker.sock", "-p", "demo", "ps"],
    );
    assert_eq!(out.status.code(), Some(3));
}

#[test]
fn config_gives_gpu_jobs_disjoint_device_ids_without_an_inventory() {
    let d = project();
    std::fs::write(
        d.path().join("compose.yaml"),
        "services:\n  api: {image: x}\nx-finetune:\n  jobs:\n    a:\n      model: ./models/m\n      data: {train: ./data/train.jsonl}\n      output: ./runs/a\n      resources: {gpus: 1}\n    b:\n      model: ./models/m\n      data: {train: ./data/train.jsonl}\n      output: ./runs/b\n      resources: {gpus: 2}\n",
    )
    .unwrap();
    let no_engine = ["-H", "unix:///nonexistent/docker.sock", "config"];
    let out = run(d.path(), &no_engine);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("# no GPU inventory: device ids assumed 0..2"),
        "{text}"
    );
    let v: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    assert_eq!(device_ids(&v, "a"), ["0"]);
    assert_eq!(device_ids(&v, "b"), ["1", "2"]);
    assert!(gpu_device(&v, "a")["count"].is_null());

    // Asked for: the requests as written.
    let out = run(d.path(), &[no_engine.as_slice(), &["--gpu-count"]].concat());
    let v: serde_yaml::Value = serde_yaml::from_slice(&out.stdout).unwrap();
    assert_eq!(gpu_device(&v, "b")["count"], 2);
    assert!(device_ids(&v, "b").is_empty());

    // With an inventory: the queue's ids, and the comment says so.
    let out = bin()
        .current_dir(d.path())
        .env("FINETUNE_GPUS", "4,5,6")
        .args(["config"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("# device ids from the engine's GPU inventory (4,5,6)"),
        "{text}"
    );
    let v: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    assert_eq!(device_ids(&v, "a"), ["4"]);
    assert_eq!(device_ids(&v, "b"), ["5", "6"]);
}

/// The GPU device request of a rendered job service.
fn gpu_device(rendered: &serde_yaml::Value, job: &str) -> serde_yaml::Value {
    rendered["services"][job]["deploy"]["resources"]["reservations"]["devices"][0].clone()
}

/// Its `device_ids`, empty when it has none.
fn device_ids(rendered: &serde_yaml::Value, job: &str) -> Vec<String> {
    gpu_device(rendered, job)["device_ids"]
        .as_sequence()
        .map(|s| {
            s.iter()
                .filter_map(|i| i.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}
