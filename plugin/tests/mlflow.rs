//! `runs --sync` against a real MLflow server (`scripts/start-mlflow.sh`, found through
//! `FINETUNE_TEST_MLFLOW_URI`; without it the tests skip, except under `CI=true` where they fail).
//!
//! No trainer and no engine: the output directories are written by hand as the trainer writes
//! them (`status.json`, `metrics.jsonl`, `run.json`, `model/`), the built plugin sends them, and
//! everything is read back through MLflow's REST API. The server is reached through a TCP relay
//! the test can take down and bring back on the same port: a real outage, seen by the plugin
//! exactly as a stopped server, without stopping the server other tests share.

use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

fn server() -> Option<String> {
    match std::env::var("FINETUNE_TEST_MLFLOW_URI") {
        Ok(u) if !u.is_empty() => Some(u.trim_end_matches('/').to_string()),
        _ if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("FINETUNE_TEST_MLFLOW_URI is unset under CI=true: scripts/test.sh starts MLflow")
        }
        _ => {
            eprintln!("skipped: FINETUNE_TEST_MLFLOW_URI is unset (run scripts/start-mlflow.sh)");
            None
        }
    }
}

/// A TCP relay from 127.0.0.1:`port` to the server, which can be taken down and brought back.
struct Relay {
    port: u16,
    upstream: String,
    up: Arc<AtomicBool>,
}

impl Relay {
    fn new(uri: &str) -> Relay {
        let upstream = uri.trim_start_matches("http://").to_string();
        let mut r = Relay {
            port: 0,
            upstream,
            up: Arc::new(AtomicBool::new(false)),
        };
        r.start();
        r
    }

    fn start(&mut self) {
        let l = TcpListener::bind(("127.0.0.1", self.port)).expect("relay port");
        self.port = l.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        self.up = up.clone();
        let upstream = self.upstream.clone();
        std::thread::spawn(move || {
            for conn in l.incoming() {
                if !up.load(Ordering::SeqCst) {
                    return; // The listener is dropped: the port refuses connections.
                }
                let (Ok(client), Ok(server)) = (conn, TcpStream::connect(&upstream)) else {
                    continue;
                };
                pipe(client.try_clone().unwrap(), server.try_clone().unwrap());
                pipe(server, client);
            }
        });
    }

    fn stop(&self) {
        self.up.store(false, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag and drops the listener.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        std::thread::sleep(std::time::Duration::from_millis(200));
    }

    fn uri(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 || to.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
}

fn get(uri: &str, path: &str) -> Value {
    ureq::get(&format!("{uri}{path}"))
        .call()
        .unwrap()
        .into_json()
        .unwrap()
}

fn post(uri: &str, path: &str, body: Value) -> Value {
    ureq::post(&format!("{uri}{path}"))
        .send_json(body)
        .unwrap()
        .into_json()
        .unwrap()
}

/// The steps and values of one metric of a run.
fn history(uri: &str, run: &str, key: &str) -> Vec<(i64, f64)> {
    let v = get(
        uri,
        &format!("/api/2.0/mlflow/metrics/get-history?run_id={run}&metric_key={key}"),
    );
    let mut out: Vec<(i64, f64)> = v["metrics"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|m| {
            (
                m["step"].as_i64().unwrap_or(0),
                m["value"].as_f64().unwrap(),
            )
        })
        .collect();
    out.sort_by_key(|(s, _)| *s);
    out
}

fn steps(h: &[(i64, f64)]) -> Vec<i64> {
    h.iter().map(|(s, _)| *s).collect()
}

fn run_info(uri: &str, run: &str) -> Value {
    get(uri, &format!("/api/2.0/mlflow/runs/get?run_id={run}"))["run"].clone()
}

fn kv(run: &Value, what: &str, key: &str) -> Option<String> {
    run["data"][what]
        .as_array()?
        .iter()
        .find(|p| p["key"] == key)
        .map(|p| p["value"].as_str().unwrap_or_default().to_string())
}

fn sync(dir: &Path) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_docker-finetune"))
        .current_dir(dir)
        .args(["runs", "--sync"])
        .env("NO_COLOR", "1")
        .env_remove("MLFLOW_TRACKING_URI")
        .env_remove("MLFLOW_EXPERIMENT_NAME")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn run_id(dir: &Path, job: &str) -> String {
    let state: Value = serde_json::from_slice(
        &std::fs::read(dir.join(format!("runs/{job}/.finetune/mlflow.json"))).unwrap(),
    )
    .unwrap();
    state["run_id"].as_str().unwrap().to_string()
}

/// A project of two tracked jobs (through `defaults`) on `uri`, in experiment `exp`.
fn project(uri: &str, exp: &str) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    std::fs::create_dir_all(p.join("models/m")).unwrap();
    std::fs::create_dir_all(p.join("data")).unwrap();
    std::fs::write(
        p.join("data/train.jsonl"),
        "{\"text\":\"a\",\"label\":\"x\"}\n",
    )
    .unwrap();
    std::fs::write(
        p.join("compose.yaml"),
        format!(
            "name: mlt\nx-finetune:\n  defaults:\n    tracking: {{mlflow: {{uri: '{uri}', experiment: '{exp}'}}}}\n    resources: {{gpus: 0}}\n  jobs:\n    a:\n      model: ./models/m\n      data: {{train: ./data/train.jsonl}}\n      output: ./runs/a\n      environment: {{HF_TOKEN: hf_very_secret, PLAIN: plain_value}}\n    b: {{model: ./models/m, data: {{train: ./data/train.jsonl}}, output: ./runs/b}}\n"
        ),
    )
    .unwrap();
    d
}

fn status(out: &Path, job: &str, state: &str, started: &str, resumed: Option<u64>) {
    std::fs::create_dir_all(out).unwrap();
    let s = json!({"state": state, "job": job, "pid": 1, "total_steps": 60, "steps_per_epoch": 20,
        "epochs": 3, "step": 0, "resumed_from_step": resumed, "started_at": started, "updated_at": started});
    std::fs::write(out.join("status.json"), s.to_string()).unwrap();
}

fn train(step: u64, loss: f64) -> String {
    json!({"step": step, "epoch": step as f64 / 20.0, "loss": loss, "lr": 1e-5, "samples_per_s": 30.0}).to_string()
}

fn eval(step: u64, acc: f64) -> String {
    let class = |f1: f64| json!({"precision": f1, "recall": f1, "f1": f1, "support": 5});
    json!({"step": step, "epoch": step as f64 / 20.0, "eval": {"loss": 0.5, "accuracy": acc,
        "macro_f1": acc, "samples": 10, "per_class": {"negative": class(acc), "very positive": class(0.25)}}})
    .to_string()
}

fn append(out: &Path, lines: &[String]) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(out.join("metrics.jsonl"))
        .unwrap();
    for l in lines {
        writeln!(f, "{l}").unwrap();
    }
}

fn record(out: &Path, job: &str, started: &str, reason: &str, resumed: Option<u64>) {
    let r = json!({"job": job, "trainer_version": "0.1.0-test", "image": "sha256:feedface",
        "config_hash": "c0ffee", "dataset_sha256": {"train": "da7a"}, "seed": 42, "backend": "cpu",
        "started_at": started, "finished_at": "2026-12-06T10:05:00Z", "duration_s": 300.0, "steps": 60,
        "epochs": 3.0, "resumed_from_step": resumed, "exit_reason": reason,
        "spec": {"name": job, "model": "/model", "data": {"train": "/data/t.jsonl"}, "output": "/output"}});
    std::fs::write(out.join("run.json"), r.to_string()).unwrap();
}

#[test]
fn runs_sync_sends_everything_once_and_catches_up_after_an_outage() {
    let Some(real) = server() else { return };
    let mut relay = Relay::new(&real);
    let uri = relay.uri();
    let exp = format!(
        "finetune-test-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let d = project(&uri, &exp);
    let (a, b) = (d.path().join("runs/a"), d.path().join("runs/b"));
    let t1 = "2026-12-06T10:00:00Z";

    // 1. A running job: params, tags and the metrics written so far.
    status(&a, "a", "running", t1, None);
    append(&a, &[train(10, 0.9), train(20, 0.8), eval(20, 0.6)]);
    sync(d.path());
    let run = run_id(d.path(), "a");
    let info = run_info(&real, &run);
    assert_eq!(info["info"]["status"], "RUNNING");
    assert_eq!(info["info"]["start_time"], 1_796_551_200_000i64);
    assert_eq!(
        kv(&info, "params", "train.batch_size").as_deref(),
        Some("16")
    );
    assert!(kv(&info, "params", "data.train")
        .unwrap()
        .ends_with("data/train.jsonl"));
    assert_eq!(kv(&info, "params", "method").as_deref(), Some("full"));
    let all = info["data"].to_string();
    for secret in ["hf_very_secret", "plain_value", "HF_TOKEN", "tracking"] {
        assert!(!all.contains(secret), "{secret} sent: {all}");
    }
    assert_eq!(kv(&info, "tags", "finetune.job").as_deref(), Some("a"));
    assert_eq!(
        kv(&info, "tags", "finetune.project").as_deref(),
        Some("mlt")
    );
    assert_eq!(kv(&info, "tags", "finetune.config_hash").unwrap().len(), 64);
    assert_eq!(steps(&history(&real, &run, "loss")), [10, 20]);
    assert_eq!(history(&real, &run, "eval_f1_very_positive"), [(20, 0.25)]);

    // 2. The server goes away while the jobs go on: one warning for both jobs, exit 0.
    relay.stop();
    append(&a, &[train(30, 0.7), train(40, 0.6), eval(40, 0.7)]);
    status(&b, "b", "running", t1, None);
    append(
        &b,
        &[
            train(10, 1.0),
            train(20, 0.9),
            train(30, 0.85),
            train(40, 0.8),
        ],
    );
    let t = std::time::Instant::now();
    let out = sync(d.path());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.matches("MLflow tracking").count(), 1, "{err}");
    assert!(err.contains("runs --sync"), "{err}");
    assert!(t.elapsed().as_secs() < 15, "{:?}", t.elapsed());

    // 3. Back: only what is missing is sent, and the ended run is closed with its artifacts.
    relay.start();
    assert_eq!(relay.uri(), uri);
    record(&a, "a", t1, "completed", None);
    status(&a, "a", "finished", t1, None);
    std::fs::create_dir_all(a.join("model")).unwrap();
    std::fs::write(a.join("model/config.json"), "{\"model_type\":\"bert\"}").unwrap();
    std::fs::write(a.join("model/model.safetensors"), vec![7u8; 3000]).unwrap();
    let out = sync(d.path());
    assert!(String::from_utf8_lossy(&out.stderr).contains("status FINISHED"));
    assert_eq!(run_id(d.path(), "a"), run);
    assert_eq!(steps(&history(&real, &run, "loss")), [10, 20, 30, 40]);
    assert_eq!(steps(&history(&real, &run, "eval_accuracy")), [20, 40]);
    let info = run_info(&real, &run);
    assert_eq!(info["info"]["status"], "FINISHED");
    assert_eq!(
        kv(&info, "tags", "finetune.image").as_deref(),
        Some("sha256:feedface")
    );
    assert_eq!(
        kv(&info, "tags", "finetune.trainer_version").as_deref(),
        Some("0.1.0-test")
    );
    assert_eq!(
        kv(&info, "tags", "finetune.dataset_sha256.train").as_deref(),
        Some("da7a")
    );
    assert_eq!(
        kv(&info, "tags", "finetune.config_hash").as_deref(),
        Some("c0ffee")
    );
    let root = get(
        &real,
        &format!("/api/2.0/mlflow/artifacts/list?run_id={run}"),
    );
    let top: Vec<&str> = root["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(top, ["model", "run.json"]);
    let model = get(
        &real,
        &format!("/api/2.0/mlflow/artifacts/list?run_id={run}&path=model"),
    );
    assert_eq!(model["files"].as_array().unwrap().len(), 2, "{model}");
    let exp_id = info["info"]["experiment_id"].as_str().unwrap().to_string();
    let weights = ureq::get(&format!("{real}/api/2.0/mlflow-artifacts/artifacts/{exp_id}/{run}/artifacts/model/model.safetensors")).call().unwrap();
    let mut bytes = Vec::new();
    weights.into_reader().read_to_end(&mut bytes).unwrap();
    assert_eq!(bytes, vec![7u8; 3000]);
    assert_eq!(
        steps(&history(&real, &run_id(d.path(), "b"), "loss")),
        [10, 20, 30, 40]
    );

    // 4. Nothing new: nothing sent.
    let out = sync(d.path());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr)
            .matches("up to date")
            .count(),
        2
    );
    assert_eq!(steps(&history(&real, &run, "loss")), [10, 20, 30, 40]);
    let runs = post(
        &real,
        "/api/2.0/mlflow/runs/search",
        json!({"experiment_ids": [exp_id]}),
    );
    assert_eq!(
        runs["runs"].as_array().unwrap().len(),
        2,
        "one MLflow run per job"
    );
}

#[test]
fn a_resumed_run_continues_the_same_mlflow_run() {
    let Some(real) = server() else { return };
    let exp = format!("finetune-resume-{}", std::process::id());
    let d = project(&real, &exp);
    let b = d.path().join("runs/b");
    let (t1, t2) = ("2026-12-06T10:00:00Z", "2026-12-06T11:00:00Z");
    status(&b, "b", "running", t1, None);
    append(
        &b,
        &[
            train(10, 1.0),
            train(20, 0.9),
            train(30, 0.8),
            train(40, 0.7),
        ],
    );
    // Interrupted at 40, with a checkpoint at 20.
    record(&b, "b", t1, "interrupted", None);
    status(&b, "b", "interrupted", t1, None);
    sync(d.path());
    let run = run_id(d.path(), "b");
    assert_eq!(run_info(&real, &run)["info"]["status"], "KILLED");
    assert_eq!(steps(&history(&real, &run, "loss")), [10, 20, 30, 40]);

    // Resumed from step 20: the trainer truncates metrics.jsonl to it and appends again; the
    // old run.json stays until the new run ends.
    status(&b, "b", "running", t2, Some(20));
    std::fs::write(
        b.join("metrics.jsonl"),
        format!("{}\n{}\n", train(10, 1.0), train(20, 0.9)),
    )
    .unwrap();
    append(&b, &[train(30, 0.55), train(40, 0.5), train(50, 0.4)]);
    sync(d.path());
    assert_eq!(run_id(d.path(), "b"), run);
    assert_eq!(run_info(&real, &run)["info"]["status"], "RUNNING");
    let h = history(&real, &run, "loss");
    assert_eq!(steps(&h), [10, 20, 30, 40, 50], "no step twice");
    assert_eq!(h[2].1, 0.8, "a step already sent is not replaced");

    append(&b, &[train(60, 0.3)]);
    record(&b, "b", t2, "completed", Some(20));
    status(&b, "b", "finished", t2, Some(20));
    sync(d.path());
    let info = run_info(&real, &run);
    assert_eq!(info["info"]["status"], "FINISHED");
    assert_eq!(
        kv(&info, "tags", "finetune.resumed_from_step").as_deref(),
        Some("20")
    );
    assert_eq!(
        steps(&history(&real, &run, "loss")),
        [10, 20, 30, 40, 50, 60]
    );

    // Trained again from scratch in the same directory: a new MLflow run.
    let t3 = "2026-12-06T12:00:00Z";
    std::fs::remove_file(b.join("run.json")).unwrap();
    status(&b, "b", "running", t3, None);
    std::fs::write(b.join("metrics.jsonl"), format!("{}\n", train(10, 2.0))).unwrap();
    sync(d.path());
    let fresh = run_id(d.path(), "b");
    assert_ne!(fresh, run);
    assert_eq!(history(&real, &fresh, "loss"), [(10, 2.0)]);
    assert_eq!(run_info(&real, &run)["info"]["status"], "FINISHED");
}
