//! Experiment tracking on an MLflow server, from the host.
//!
//! The job container keeps `network_mode: none`: the plugin reads what the trainer writes in the
//! output directory (`status.json`, `metrics.jsonl`, `run.json`, `model/`) and sends it through
//! MLflow's REST API ([`client`]), mapped by [`map`], deduplicated by the state file of
//! [`state`], by the one function [`sync::Syncer::poll`] that `up` ([`live`]) and `runs --sync`
//! share. Where to track is the job's `tracking.mlflow`, else MLflow's own
//! `MLFLOW_TRACKING_URI` / `MLFLOW_EXPERIMENT_NAME` ([`target`]). A server that is down or slow
//! never fails a job: callers warn once ([`warn_once`]) and go on.

pub mod client;
pub mod live;
pub mod map;
pub mod state;
pub mod sync;

use finetune_spec::JobSpec;
use std::sync::atomic::{AtomicBool, Ordering};

/// Where one job is tracked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub uri: String,
    pub experiment: String,
    /// The `Authorization` header, from `MLFLOW_TRACKING_TOKEN` or `MLFLOW_TRACKING_USERNAME` /
    /// `MLFLOW_TRACKING_PASSWORD`, as MLflow's own clients read them.
    pub auth: Option<String>,
}

/// The tracking target of `spec`, in project `project`: the job's `tracking.mlflow`, else
/// `MLFLOW_TRACKING_URI` from `env`; the experiment is the job's, else `MLFLOW_EXPERIMENT_NAME`,
/// else the project's name. `None`: the job is not tracked.
pub fn target(
    spec: &JobSpec,
    project: &str,
    env: impl Fn(&str) -> Option<String>,
) -> Option<Target> {
    let set = |k: &str| env(k).filter(|v| !v.trim().is_empty());
    let own = spec.tracking.as_ref().and_then(|t| t.mlflow.as_ref());
    let uri = own
        .map(|m| m.uri.clone())
        .or_else(|| set("MLFLOW_TRACKING_URI"))?;
    let experiment = own
        .and_then(|m| m.experiment.clone())
        .or_else(|| set("MLFLOW_EXPERIMENT_NAME"))
        .unwrap_or_else(|| project.to_string());
    let auth = match (
        set("MLFLOW_TRACKING_TOKEN"),
        set("MLFLOW_TRACKING_USERNAME"),
    ) {
        (Some(token), _) => Some(format!("Bearer {token}")),
        (None, Some(user)) => {
            let pw = set("MLFLOW_TRACKING_PASSWORD").unwrap_or_default();
            Some(format!(
                "Basic {}",
                base64(format!("{user}:{pw}").as_bytes())
            ))
        }
        _ => None,
    };
    Some(Target {
        uri,
        experiment,
        auth,
    })
}

/// The target from the process environment.
pub fn target_from_env(spec: &JobSpec, project: &str) -> Option<Target> {
    target(spec, project, |k| std::env::var(k).ok())
}

static WARNED: AtomicBool = AtomicBool::new(false);

/// Says on stderr, once per process, that tracking failed and how to catch up; later failures
/// are silent (a server that is down would otherwise warn on every tick).
pub fn warn_once(e: &client::Error) {
    if !WARNED.swap(true, Ordering::SeqCst) {
        crate::ui::warn(format!(
            "MLflow tracking: {e}; nothing else fails: `docker finetune runs --sync` sends what is missing once it answers"
        ));
    }
}

/// Standard base64 with padding (for HTTP basic auth; not worth a dependency).
fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The MLflow server of the tests (`FINETUNE_TEST_MLFLOW_URI`, from `scripts/start-mlflow.sh`):
/// `None` skips the test, with a note, except under `CI=true` where it fails.
#[cfg(test)]
pub(crate) fn test_server() -> Option<String> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(tracking: &str) -> JobSpec {
        serde_yaml::from_str(&format!(
            "name: j\nmodel: /m\ndata: {{train: /t}}\noutput: /o\n{tracking}"
        ))
        .unwrap()
    }

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn the_job_wins_over_mlflows_environment_which_wins_over_nothing() {
        assert_eq!(target(&spec(""), "p", env(&[])), None);
        let from_env = target(
            &spec(""),
            "p",
            env(&[
                ("MLFLOW_TRACKING_URI", "http://e:5000"),
                ("MLFLOW_EXPERIMENT_NAME", "ex"),
            ]),
        )
        .unwrap();
        assert_eq!(
            (from_env.uri.as_str(), from_env.experiment.as_str()),
            ("http://e:5000", "ex")
        );
        let own = spec("tracking: {mlflow: {uri: 'http://j:5000'}}\n");
        let t = target(&own, "p", env(&[("MLFLOW_TRACKING_URI", "http://e:5000")])).unwrap();
        assert_eq!(
            (t.uri.as_str(), t.experiment.as_str()),
            ("http://j:5000", "p")
        );
        assert_eq!(t.auth, None);
        let t = target(&own, "p", env(&[("MLFLOW_EXPERIMENT_NAME", "ex")])).unwrap();
        assert_eq!(t.experiment, "ex");
    }

    #[test]
    fn credentials_come_from_mlflows_variables() {
        let own = spec("tracking: {mlflow: {uri: 'http://j:5000', experiment: x}}\n");
        let t = target(&own, "p", env(&[("MLFLOW_TRACKING_TOKEN", "tok")])).unwrap();
        assert_eq!(t.auth.as_deref(), Some("Bearer tok"));
        let t = target(
            &own,
            "p",
            env(&[
                ("MLFLOW_TRACKING_USERNAME", "Aladdin"),
                ("MLFLOW_TRACKING_PASSWORD", "open sesame"),
            ]),
        )
        .unwrap();
        assert_eq!(
            t.auth.as_deref(),
            Some("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==")
        );
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b"a"), "YQ==");
    }
}
