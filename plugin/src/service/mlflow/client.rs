//! A small, typed client of MLflow's REST API: the calls tracking needs, nothing more.
//!
//! There is no MLflow Rust SDK; the API is plain JSON over HTTP (`/api/2.0/mlflow/...`), and
//! artifacts go through the server's artifact proxy (`/api/2.0/mlflow-artifacts/artifacts/...`,
//! served by `mlflow server` by default since MLflow 2.x). Requests use `ureq` (blocking, small,
//! no async runtime of its own) with short timeouts: a tracking server that is down or slow must
//! cost the caller seconds, never minutes. Callers run it off the async runtime (a thread).

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Duration;

/// Connecting to the server: a down server answers at once, an unroutable one within this.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// A whole JSON request, answer included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Each socket read or write of an upload: a large model file may take long as a whole, but a
/// stalled transfer is given up after this.
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(30);

/// What can go wrong talking to MLflow, in one line each.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("tracking URI `{0}` is not an http:// or https:// server address")]
    Scheme(String),
    #[error("tracking URI `{0}` is https://, and this build of the plugin speaks plain HTTP (build it with `--features mlflow-https`)")]
    NoTls(String),
    #[error("cannot reach MLflow at {uri}: {reason}")]
    Unreachable { uri: String, reason: String },
    #[error("MLflow {call}: {status} {code}: {message}")]
    Api {
        call: String,
        status: u16,
        code: String,
        message: String,
    },
    #[error("MLflow {call}: unexpected answer: {reason}")]
    Answer { call: String, reason: String },
    #[error("reading {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

impl Error {
    /// MLflow's `RESOURCE_DOES_NOT_EXIST` (an unknown experiment name or run id).
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::Api { code, .. } if code == "RESOURCE_DOES_NOT_EXIST")
    }
    fn is_already_exists(&self) -> bool {
        matches!(self, Error::Api { code, .. } if code == "RESOURCE_ALREADY_EXISTS")
    }
}

/// One MLflow run as `runs/get` and `runs/create` return it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Run {
    pub info: RunInfo,
    pub data: RunData,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct RunInfo {
    pub run_id: String,
    pub experiment_id: String,
    pub status: String,
    pub artifact_uri: String,
    pub lifecycle_stage: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct RunData {
    pub params: Vec<KeyValue>,
    pub tags: Vec<KeyValue>,
}

/// A param or a tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyValue {
    pub key: String,
    pub value: String,
}

/// One metric value at a step. `timestamp` is in milliseconds since the epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metric {
    pub key: String,
    pub value: f64,
    pub timestamp: i64,
    #[serde(default)]
    pub step: i64,
}

/// `runs/log-batch`: at most 1000 metrics, 100 params and 100 tags per call.
#[derive(Debug, Default, Serialize)]
pub struct Batch {
    pub metrics: Vec<Metric>,
    pub params: Vec<KeyValue>,
    pub tags: Vec<KeyValue>,
}

pub const MAX_METRICS_PER_BATCH: usize = 1000;
pub const MAX_PARAMS_TAGS_PER_BATCH: usize = 100;

#[derive(Deserialize)]
struct ExperimentAnswer {
    experiment: Experiment,
}
#[derive(Deserialize)]
struct Experiment {
    experiment_id: String,
}
#[derive(Deserialize)]
struct CreatedExperiment {
    experiment_id: String,
}
#[derive(Deserialize)]
struct RunAnswer {
    run: Run,
}
#[derive(Deserialize)]
struct HistoryPage {
    #[serde(default)]
    metrics: Vec<Metric>,
    #[serde(default)]
    next_page_token: Option<String>,
}
/// MLflow's error body.
#[derive(Deserialize, Default)]
#[serde(default)]
struct ApiError {
    error_code: String,
    message: String,
}

/// A tracking server.
pub struct Client {
    base: String,
    agent: ureq::Agent,
    auth: Option<String>,
}

impl Client {
    /// A client of the server at `uri` (`http://host:port`, maybe with a path prefix). `auth` is a
    /// whole `Authorization` header value, as [`super::target`] reads it.
    pub fn new(uri: &str, auth: Option<String>) -> Result<Client, Error> {
        if uri.starts_with("https://") && !cfg!(feature = "mlflow-https") {
            return Err(Error::NoTls(uri.to_string()));
        }
        if !(uri.starts_with("http://") || uri.starts_with("https://")) {
            return Err(Error::Scheme(uri.to_string()));
        }
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(CONNECT_TIMEOUT)
            .timeout_read(TRANSFER_TIMEOUT)
            .timeout_write(TRANSFER_TIMEOUT)
            .build();
        Ok(Client {
            base: uri.trim_end_matches('/').to_string(),
            agent,
            auth,
        })
    }

    fn request(&self, method: &str, path: &str) -> ureq::Request {
        let r = self.agent.request(method, &format!("{}{path}", self.base));
        match &self.auth {
            Some(a) => r.set("Authorization", a),
            None => r,
        }
    }

    /// Sends a JSON call and reads the JSON answer.
    fn call<T: DeserializeOwned>(
        &self,
        call: &str,
        req: ureq::Request,
        body: Option<serde_json::Value>,
    ) -> Result<T, Error> {
        let req = req.timeout(REQUEST_TIMEOUT);
        let res = match body {
            Some(b) => req.send_json(b),
            None => req.call(),
        };
        let res = res.map_err(|e| self.error(call, e))?;
        res.into_json::<T>().map_err(|e| Error::Answer {
            call: call.to_string(),
            reason: e.to_string(),
        })
    }

    fn error(&self, call: &str, e: ureq::Error) -> Error {
        match e {
            ureq::Error::Status(status, res) => {
                let body: ApiError = res.into_json().unwrap_or_default();
                Error::Api {
                    call: call.to_string(),
                    status,
                    code: body.error_code,
                    message: body.message.lines().next().unwrap_or_default().to_string(),
                }
            }
            // The kind and the cause (`Connection Failed: Connection refused (os error 111)`),
            // without the request URL that ureq's own text repeats.
            ureq::Error::Transport(t) => Error::Unreachable {
                uri: self.base.clone(),
                reason: match std::error::Error::source(&t) {
                    Some(cause) if cause.to_string().starts_with(&t.kind().to_string()) => {
                        cause.to_string()
                    }
                    Some(cause) => format!("{}: {cause}", t.kind()),
                    None => t
                        .message()
                        .map_or_else(|| t.kind().to_string(), |m| format!("{}: {m}", t.kind())),
                },
            },
        }
    }

    fn post<T: DeserializeOwned>(&self, call: &str, body: serde_json::Value) -> Result<T, Error> {
        let path = format!("/api/2.0/mlflow/{call}");
        self.call(call, self.request("POST", &path), Some(body))
    }

    /// The experiment's id, creating the experiment when it does not exist.
    pub fn experiment_id(&self, name: &str) -> Result<String, Error> {
        let get = || {
            let req = self
                .request("GET", "/api/2.0/mlflow/experiments/get-by-name")
                .query("experiment_name", name);
            self.call::<ExperimentAnswer>("experiments/get-by-name", req, None)
                .map(|a| a.experiment.experiment_id)
        };
        match get() {
            Err(e) if e.is_not_found() => {}
            other => return other,
        }
        let created: Result<CreatedExperiment, Error> =
            self.post("experiments/create", serde_json::json!({ "name": name }));
        match created {
            Ok(c) => Ok(c.experiment_id),
            // Another client created it in between.
            Err(e) if e.is_already_exists() => get(),
            Err(e) => Err(e),
        }
    }

    pub fn create_run(
        &self,
        experiment_id: &str,
        run_name: &str,
        start_time_ms: i64,
        tags: &[KeyValue],
    ) -> Result<Run, Error> {
        let body = serde_json::json!({
            "experiment_id": experiment_id,
            "run_name": run_name,
            "start_time": start_time_ms,
            "tags": tags,
        });
        Ok(self.post::<RunAnswer>("runs/create", body)?.run)
    }

    pub fn get_run(&self, run_id: &str) -> Result<Run, Error> {
        let req = self
            .request("GET", "/api/2.0/mlflow/runs/get")
            .query("run_id", run_id);
        Ok(self.call::<RunAnswer>("runs/get", req, None)?.run)
    }

    pub fn log_batch(&self, run_id: &str, batch: &Batch) -> Result<(), Error> {
        let mut body = serde_json::to_value(batch).map_err(|e| Error::Answer {
            call: "runs/log-batch".into(),
            reason: e.to_string(),
        })?;
        body["run_id"] = run_id.into();
        self.post::<serde_json::Value>("runs/log-batch", body)
            .map(|_| ())
    }

    /// Sets the run's status (`RUNNING`, `FINISHED`, `FAILED`, `KILLED`); a terminal one with
    /// its end time.
    pub fn update_run(&self, run_id: &str, status: &str, end_ms: Option<i64>) -> Result<(), Error> {
        let mut body = serde_json::json!({ "run_id": run_id, "status": status });
        if let Some(t) = end_ms {
            body["end_time"] = t.into();
        }
        self.post::<serde_json::Value>("runs/update", body)
            .map(|_| ())
    }

    /// Every logged value of one metric, all pages.
    pub fn metric_history(&self, run_id: &str, key: &str) -> Result<Vec<Metric>, Error> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut req = self
                .request("GET", "/api/2.0/mlflow/metrics/get-history")
                .query("run_id", run_id)
                .query("metric_key", key);
            if let Some(t) = &token {
                req = req.query("page_token", t);
            }
            let page: HistoryPage = self.call("metrics/get-history", req, None)?;
            out.extend(page.metrics);
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(t) => token = Some(t),
                None => return Ok(out),
            }
        }
    }

    /// Uploads `file` as `rel` (slash-separated) under the run's artifact root, through the
    /// artifact proxy. `root` is the root's path on the proxy (`<experiment>/<run>/artifacts`).
    pub fn upload(&self, root: &str, rel: &str, file: &Path) -> Result<(), Error> {
        let io = |source| Error::Io {
            path: file.display().to_string(),
            source,
        };
        let f = std::fs::File::open(file).map_err(io)?;
        let len = f.metadata().map_err(io)?.len();
        let path = format!(
            "/api/2.0/mlflow-artifacts/artifacts/{}/{}",
            root.trim_matches('/'),
            encode_path(rel)
        );
        self.request("PUT", &path)
            .set("Content-Type", "application/octet-stream")
            .set("Content-Length", &len.to_string())
            .send(f)
            .map(|_| ())
            .map_err(|e| self.error("artifacts upload", e))
    }
}

/// Percent-encodes each segment of a slash-separated path (file names may hold spaces and more).
fn encode_path(rel: &str) -> String {
    let mut out = String::new();
    for b in rel.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The artifact root's path on the proxy, from a run's `artifact_uri`
/// (`mlflow-artifacts:/1/<run>/artifacts` or `mlflow-artifacts://host:port/1/<run>/artifacts`);
/// `None` when the server stores artifacts elsewhere (`s3://...`, a local path) and does not
/// proxy them.
pub fn proxied_root(artifact_uri: &str) -> Option<String> {
    let rest = artifact_uri.strip_prefix("mlflow-artifacts:")?;
    let path = match rest.strip_prefix("//") {
        Some(with_host) => &with_host[with_host.find('/')?..],
        None => rest,
    };
    Some(path.trim_matches('/').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifact_roots_and_paths() {
        assert_eq!(
            proxied_root("mlflow-artifacts:/1/abc/artifacts").as_deref(),
            Some("1/abc/artifacts")
        );
        assert_eq!(
            proxied_root("mlflow-artifacts://mlflow:5000/7/abc/artifacts").as_deref(),
            Some("7/abc/artifacts")
        );
        assert_eq!(proxied_root("s3://bucket/1/abc/artifacts"), None);
        assert_eq!(proxied_root("/srv/mlruns/1/abc/artifacts"), None);
        assert_eq!(
            encode_path("model/my file#1.json"),
            "model/my%20file%231.json"
        );
    }

    #[test]
    fn only_http_uris_are_accepted_and_a_dead_port_is_unreachable() {
        assert!(matches!(
            Client::new("file:///tmp/mlruns", None),
            Err(Error::Scheme(_))
        ));
        let https = Client::new("https://mlflow.example", None);
        assert_eq!(https.is_ok(), cfg!(feature = "mlflow-https"));
        // A port nothing listens on: refused at once, as one clear line.
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let c = Client::new(&format!("http://127.0.0.1:{port}/"), None).unwrap();
        let started = std::time::Instant::now();
        let e = c.experiment_id("x").unwrap_err();
        assert!(matches!(e, Error::Unreachable { .. }), "{e}");
        let text = e.to_string();
        let head = format!("cannot reach MLflow at http://127.0.0.1:{port}: Connection Failed: ");
        assert!(text.starts_with(&head), "{text}");
        // The cause, once: not ureq's repetition of the request URL.
        assert!(
            text.contains("refused") && !text.contains("/api/"),
            "{text}"
        );
        assert!(started.elapsed() < CONNECT_TIMEOUT + Duration::from_secs(1));
    }

    #[test]
    fn a_server_that_never_answers_is_given_up_on_after_the_request_timeout() {
        // Connections complete in the kernel's backlog; nothing ever reads or answers them.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let c = Client::new(&format!("http://{}", l.local_addr().unwrap()), None).unwrap();
        let started = std::time::Instant::now();
        let e = c.update_run("r", "FINISHED", None).unwrap_err();
        let took = started.elapsed();
        assert!(matches!(e, Error::Unreachable { .. }), "{e}");
        assert!(
            took >= REQUEST_TIMEOUT - Duration::from_millis(500),
            "{took:?}"
        );
        assert!(took < REQUEST_TIMEOUT + Duration::from_secs(2), "{took:?}");
    }
}
