//! Helpers of the `serve` and `quantize` tests: classifier directories (the tiny random BERT,
//! or MiniLM with the head the loader gives it), the real `serve` binary on an ephemeral port,
//! and a minimal HTTP/1.1 client over std's TCP (no client crate, so requests can be malformed
//! on purpose).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use finetune_fixtures::TinyBert;
use finetune_spec::Method;
use finetune_trainer::backend::Cpu;
use finetune_trainer::model::{export_model, load_classifier};

use crate::common;

pub const LABELS: [&str; 2] = ["negative", "positive"];

/// An exported classifier built from the base model in `base` by the loader (seeded head).
pub fn classifier_from(base: &Path, out: &Path) -> PathBuf {
    let labels: Vec<String> = LABELS.map(String::from).to_vec();
    let loaded = load_classifier::<Cpu>(base, &labels, &Method::Full, 7, &Default::default())
        .expect("load the base model");
    export_model(&loaded.model, &loaded.config, &labels, base, out).expect("export");
    out.to_path_buf()
}

/// A tiny classifier ([`TinyBert::WORDS`]) under `dir/model`.
pub fn tiny_classifier(dir: &Path) -> PathBuf {
    let base = dir.join("base");
    TinyBert::WORDS.write(&base, 7).unwrap();
    classifier_from(&base, &dir.join("model"))
}

/// A running `finetune-trainer serve`; killed when dropped.
pub struct Server {
    pub child: Child,
    pub port: u16,
    /// Everything the server wrote to stderr so far.
    pub log: Arc<Mutex<String>>,
}

impl Server {
    /// Starts `serve --model model --port 0 args...` and waits for its `serving ... on` line.
    pub fn start(model: &Path, args: &[&str]) -> Server {
        let mut child = common::trainer()
            .args(["--threads", "2", "serve", "--host", "127.0.0.1", "--port", "0"])
            .arg("--model")
            .arg(model)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(addr) = line.split(" on ").nth(1).filter(|_| line.contains("serving")) {
                    let _ = tx.send(addr.trim().to_string());
                }
                let mut l = sink.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(120)) {
            Ok(a) => a,
            Err(_) => {
                let _ = child.kill();
                panic!("serve did not start: {}", log.lock().unwrap());
            }
        };
        let port = addr.rsplit(':').next().unwrap().parse().unwrap();
        Server { child, port, log }
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// `POST /predict` with a JSON body.
    pub fn predict(&self, body: &serde_json::Value) -> Response {
        request(
            self.port,
            "POST",
            "/predict",
            &[("Content-Type", "application/json")],
            body.to_string().as_bytes(),
        )
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP response: status and body.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub body: String,
}

impl Response {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.body))
    }
}

/// One HTTP/1.1 request on a fresh connection (`Connection: close`).
pub fn request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(300))).unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    // The server may answer (413) and close before reading all of a large body.
    let _ = s.write_all(body);
    read_response(&mut s)
}

/// Reads a whole `Connection: close` response (plain or chunked body).
pub fn read_response(s: &mut TcpStream) -> Response {
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {text:?}"));
    let body = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        dechunk(body)
    } else {
        body.to_string()
    };
    Response { status, body }
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        body = &rest[n + 2..];
    }
    out
}

/// `finetune-trainer predict --model dir texts...` as JSON values, one per text.
pub fn cli_predict(model: &Path, texts: &[String]) -> Vec<serde_json::Value> {
    let o = common::trainer()
        .args(["--threads", "2", "predict", "--model"])
        .arg(model)
        .args(texts)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Asserts that `/predict`'s ranked lists carry `predict`'s label and probabilities.
pub fn assert_same_predictions(served: &serde_json::Value, cli: &[serde_json::Value]) {
    let lists = served.as_array().unwrap();
    assert_eq!(lists.len(), cli.len());
    for (list, p) in lists.iter().zip(cli) {
        let list = list.as_array().unwrap();
        assert_eq!(list.len(), p["probabilities"].as_object().unwrap().len());
        assert_eq!(list[0]["label"], p["label"], "top label");
        let scores: Vec<f64> = list.iter().map(|e| e["score"].as_f64().unwrap()).collect();
        assert!(scores.windows(2).all(|w| w[0] >= w[1]), "sorted: {scores:?}");
        for e in list {
            let label = e["label"].as_str().unwrap();
            let want = p["probabilities"][label].as_f64().unwrap();
            assert_eq!(e["score"].as_f64().unwrap(), want, "{label}");
        }
    }
}

/// Sends SIGTERM to a child.
pub fn sigterm(child: &Child) {
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -TERM failed");
}
