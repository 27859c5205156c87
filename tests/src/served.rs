//! Model images under test: running one with a published port, waiting for its health endpoint,
//! asking it for predictions, reading its labels, and removing what a test made (containers and
//! images) when dropped, also when the test panics.

use crate::env::DockerEnv;
use crate::http;
use anyhow::{bail, Context, Result};
use std::cell::RefCell;
use std::path::Path;

/// Containers and images removed when dropped.
pub struct Cleanup<'a> {
    env: &'a DockerEnv,
    containers: RefCell<Vec<String>>,
    images: RefCell<Vec<String>>,
}

impl<'a> Cleanup<'a> {
    pub fn new(env: &'a DockerEnv) -> Cleanup<'a> {
        Cleanup {
            env,
            containers: RefCell::new(Vec::new()),
            images: RefCell::new(Vec::new()),
        }
    }

    pub fn image(&self, reference: &str) {
        self.images.borrow_mut().push(reference.to_string());
    }

    pub fn container(&self, id: &str) {
        self.containers.borrow_mut().push(id.to_string());
    }
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        for c in self.containers.borrow().iter() {
            self.env.docker(["rm", "-f", c]);
        }
        for i in self.images.borrow().iter() {
            self.env.docker(["rmi", "-f", i]);
        }
    }
}

/// A model image's container with its port published on 127.0.0.1.
pub struct Served {
    pub id: String,
    /// `127.0.0.1:PORT`.
    pub addr: String,
}

/// `docker run -d -p 127.0.0.1::8080 IMAGE`, then wait until `/health` answers 200.
pub fn serve(env: &DockerEnv, cleanup: &Cleanup, image: &str) -> Result<Served> {
    let run = env.docker([
        "run",
        "-d",
        "--read-only",
        "--cap-drop",
        "ALL",
        "-p",
        "127.0.0.1::8080",
        image,
    ]);
    if !run.success() {
        bail!("{run}");
    }
    let id = run.stdout.trim().to_string();
    cleanup.container(&id);
    let port = env.docker(["port", &id, "8080/tcp"]);
    let addr = port
        .stdout
        .lines()
        .find(|l| l.starts_with("127.0.0.1:"))
        .with_context(|| format!("no published port: {port}"))?
        .trim()
        .to_string();
    let end = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        match http::get(&addr, "/health") {
            Ok(r) if r.status == 200 => return Ok(Served { id, addr }),
            _ if std::time::Instant::now() > end => {
                let logs = env.docker(["logs", &id]);
                bail!("{image} did not become healthy on {addr} in 120 s: {logs}");
            }
            _ => std::thread::sleep(std::time::Duration::from_millis(200)),
        }
    }
}

/// The top label of each text from `POST /predict` with `{"inputs": [...]}` (TEI's shape: per
/// input, a list of `{label, score}`; a single object per input is read too).
pub fn predict(addr: &str, texts: &[&str]) -> Result<Vec<String>> {
    let r = http::post_json(addr, "/predict", &serde_json::json!({ "inputs": texts }))?;
    if r.status != 200 {
        bail!("POST /predict answered {}: {}", r.status, r.body);
    }
    let v = r.json()?;
    let items = v.as_array().with_context(|| format!("not a list: {v}"))?;
    items
        .iter()
        .map(|item| top_label(item).with_context(|| format!("no label in {item}")))
        .collect()
}

fn top_label(item: &serde_json::Value) -> Option<String> {
    let best = match item.as_array() {
        Some(scores) => scores.iter().max_by(|a, b| {
            let s = |x: &serde_json::Value| x["score"].as_f64().unwrap_or(f64::MIN);
            s(a).total_cmp(&s(b))
        })?,
        None => item,
    };
    best["label"].as_str().map(String::from)
}

/// The labels `finetune-trainer predict` gives the texts, on the model directory `model_dir`, in
/// `trainer_image` (a locked-down one-shot container).
pub fn trainer_predict(
    env: &DockerEnv,
    trainer_image: &str,
    model_dir: &Path,
    texts: &[&str],
) -> Result<Vec<String>> {
    let mount = format!("{}:/m:ro", model_dir.display());
    let mut args = vec![
        "run",
        "--rm",
        "--network",
        "none",
        "--read-only",
        "-v",
        &mount,
        trainer_image,
        "predict",
        "--model",
        "/m",
    ];
    args.extend_from_slice(texts);
    let run = env.docker(args);
    if !run.success() {
        bail!("{run}");
    }
    run.stdout
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l)?;
            v["label"]
                .as_str()
                .map(String::from)
                .with_context(|| format!("no label in {l}"))
        })
        .collect()
}

/// An image's labels.
pub fn labels(env: &DockerEnv, image: &str) -> Result<serde_json::Map<String, serde_json::Value>> {
    let r = env.docker(["image", "inspect", "-f", "{{json .Config.Labels}}", image]);
    if !r.success() {
        bail!("{r}");
    }
    let v: serde_json::Value = serde_json::from_str(r.stdout.trim())?;
    v.as_object().cloned().context("labels are not an object")
}

/// One `docker image inspect -f FORMAT` value.
pub fn inspect(env: &DockerEnv, image: &str, format: &str) -> String {
    env.docker(["image", "inspect", "-f", format, image])
        .stdout
        .trim()
        .to_string()
}
