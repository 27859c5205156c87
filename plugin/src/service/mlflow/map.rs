//! What a run becomes in MLflow: the spec flattened into params, each `metrics.jsonl` record
//! into metrics at its step, the run record into tags, its end into a run status.
//!
//! Pure functions over the spec and contract types, so the mapping is tested without a server.
//! MLflow's limits are applied here: keys of at most 250 characters from a safe set, param values
//! of at most 6000 characters, and no secrets: the spec's `environment` and `tracking` are never
//! params, nor is anything whose name or value looks like a credential.

use super::client::{KeyValue, Metric};
use finetune_compose::env::is_secret;
use finetune_spec::contract::{ExitReason, MetricsRecord, RunRecord};
use finetune_spec::JobSpec;
use std::collections::BTreeSet;

/// MLflow's longest param, metric or tag key.
const MAX_KEY: usize = 250;
/// MLflow 3's longest param value.
const MAX_PARAM_VALUE: usize = 6000;
/// Spec keys that are never params: values by reference or secret, the tracker itself, and the
/// name (a tag).
const NOT_PARAMS: &[&str] = &["environment", "tracking", "name"];

/// A key MLflow accepts: characters outside `[A-Za-z0-9_.-]` become `_` (MLflow also allows
/// `/`, `:` and spaces, but `/` makes keys paths on its side and `:` is refused on Windows
/// servers), at most 250 of them.
pub fn sanitize_key(key: &str) -> String {
    let mut out: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '_'
            }
        })
        .take(MAX_KEY)
        .collect();
    // `..` alone (or `.`) would be a path that resolves elsewhere.
    if out.chars().all(|c| c == '.') {
        out = out.replace('.', "_");
    }
    out
}

/// The spec as `train.learning_rate = 5e-05`, `data.train = /p/data/train.jsonl`, ...: scalar
/// leaves by their dotted path, lists as JSON text.
pub fn params(spec: &JobSpec) -> Vec<KeyValue> {
    let mut out = Vec::new();
    if let Ok(serde_json::Value::Object(top)) = serde_json::to_value(spec) {
        for (k, v) in top {
            if !NOT_PARAMS.contains(&k.as_str()) {
                flatten(&k, &v, &mut out);
            }
        }
    }
    out
}

fn flatten(path: &str, v: &serde_json::Value, out: &mut Vec<KeyValue>) {
    use serde_json::Value;
    if path.split('.').any(is_secret) {
        return;
    }
    let text = match v {
        Value::Object(m) => {
            for (k, v) in m {
                flatten(&format!("{path}.{k}"), v, out);
            }
            return;
        }
        Value::Null => return,
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if looks_like_credentials(&text) {
        return;
    }
    out.push(KeyValue {
        key: sanitize_key(path),
        value: text.chars().take(MAX_PARAM_VALUE).collect(),
    });
}

/// A URL with a user or password in it (`https://user:pw@host`).
fn looks_like_credentials(v: &str) -> bool {
    v.split_once("://")
        .map(|(_, rest)| rest.split('/').next().unwrap_or("").contains('@'))
        .unwrap_or(false)
}

/// The two kinds of `metrics.jsonl` records that carry metrics, for "sent up to step N" per kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Train,
    Eval,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Train => "train",
            Kind::Eval => "eval",
        }
    }
    /// A metric every record of this kind has, whose history says which steps were sent.
    pub fn probe_key(self) -> &'static str {
        match self {
            Kind::Train => "loss",
            Kind::Eval => "eval_loss",
        }
    }
}

/// One record's metrics at its step: `(kind, step, metrics)`; `None` for records that carry none
/// (any kind other than a training or an evaluation line). Non-finite values are left out: JSON
/// cannot carry them. Two labels that sanitise to the same key keep the first.
pub fn metrics(rec: &MetricsRecord, timestamp: i64) -> Option<(Kind, u64, Vec<Metric>)> {
    let (kind, step, values): (Kind, u64, Vec<(String, f64)>) = match rec {
        MetricsRecord::Train(t) => (
            Kind::Train,
            t.step,
            vec![
                ("loss".into(), t.loss),
                ("lr".into(), t.lr),
                ("samples_per_s".into(), t.samples_per_s),
                // Only here: an evaluation at the same step would log `epoch` twice at one step.
                ("epoch".into(), t.epoch),
            ],
        ),
        MetricsRecord::Eval { step, eval, .. } => {
            let mut v = vec![
                ("eval_loss".into(), eval.loss),
                ("eval_accuracy".into(), eval.accuracy),
            ];
            v.extend(eval.macro_f1.map(|f| ("eval_macro_f1".into(), f)));
            v.extend(eval.perplexity.map(|p| ("eval_perplexity".into(), p)));
            for (label, m) in &eval.per_class {
                v.push((sanitize_key(&format!("eval_f1_{label}")), m.f1));
            }
            (Kind::Eval, *step, v)
        }
        #[allow(unreachable_patterns)]
        _ => return None,
    };
    let mut seen = BTreeSet::new();
    let metrics = values
        .into_iter()
        .filter(|(k, v)| v.is_finite() && seen.insert(k.clone()))
        .map(|(key, value)| Metric {
            key,
            value,
            timestamp,
            step: step as i64,
        })
        .collect();
    Some((kind, step, metrics))
}

/// The run's tags: job and project from the spec, and what the run record adds once written.
pub fn tags(spec: &JobSpec, project: &str, record: Option<&RunRecord>) -> Vec<(String, String)> {
    let mut t = vec![
        ("finetune.job".to_string(), spec.name.clone()),
        ("finetune.project".to_string(), project.to_string()),
        ("finetune.config_hash".to_string(), spec.config_hash()),
        (
            "mlflow.source.name".to_string(),
            "docker-finetune".to_string(),
        ),
    ];
    if let Some(r) = record {
        t[2].1 = r.config_hash.clone();
        t.push(("finetune.trainer_version".into(), r.trainer_version.clone()));
        for (role, sha) in &r.dataset_sha256 {
            t.push((
                sanitize_key(&format!("finetune.dataset_sha256.{role}")),
                sha.clone(),
            ));
        }
        if let Some(image) = &r.image {
            t.push(("finetune.image".into(), image.clone()));
        }
        if let Some(d) = &r.data_image {
            t.push(("finetune.data_image".into(), d.reference.clone()));
            if let Some(id) = &d.id {
                t.push(("finetune.data_image_id".into(), id.clone()));
            }
        }
        if let Some(s) = r.resumed_from_step {
            t.push(("finetune.resumed_from_step".into(), s.to_string()));
        }
        t.push(("finetune.exit_reason".into(), exit_reason(r.exit_reason)));
    }
    t
}

fn exit_reason(r: ExitReason) -> String {
    serde_json::to_value(r)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default()
}

/// MLflow's status of a run that ended this way.
pub fn run_status(r: ExitReason) -> &'static str {
    match r {
        ExitReason::Completed | ExitReason::EarlyStopped | ExitReason::MaxSteps => "FINISHED",
        ExitReason::Interrupted => "KILLED",
        ExitReason::Failed => "FAILED",
    }
}

/// MLflow's status of a run whose container exited with `code` and left no record of this run:
/// stopped (SIGTERM, SIGKILL, SIGINT, or the trainer's own "interrupted") is `KILLED`, anything
/// else but 0 `FAILED`.
pub fn exit_status(code: i64) -> &'static str {
    use finetune_spec::contract::exit_code;
    match code {
        0 => "FINISHED",
        c if c == exit_code::INTERRUPTED as i64 => "KILLED",
        130 | 137 | 143 => "KILLED",
        _ => "FAILED",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> JobSpec {
        serde_yaml::from_str(
            "name: tweets\nmodel: /p/m\ndata: {train: /p/d/train.jsonl, labels: [neg, pos]}\n\
             output: /p/runs/t\nmethod: {lora: {r: 4}}\n\
             environment: {HF_TOKEN: hf_secret, MODE: fast}\nimage: 'https://u:pw@reg/x'\n\
             tracking: {mlflow: {uri: 'http://u:pw@mlflow:5000'}}\n",
        )
        .unwrap()
    }

    #[test]
    fn params_are_the_flattened_spec_without_secrets() {
        let p = params(&spec());
        let get = |k: &str| p.iter().find(|kv| kv.key == k).map(|kv| kv.value.as_str());
        assert_eq!(get("train.learning_rate"), Some("0.00005"));
        assert_eq!(get("train.batch_size"), Some("16"));
        assert_eq!(get("data.train"), Some("/p/d/train.jsonl"));
        assert_eq!(get("data.labels"), Some(r#"["neg","pos"]"#));
        assert_eq!(get("method.lora.r"), Some("4"));
        assert_eq!(get("train.schedule"), Some("linear"));
        let all = serde_json::to_string(&p).unwrap();
        for secret in ["hf_secret", "fast", "pw@", "mlflow:5000", "HF_TOKEN"] {
            assert!(!all.contains(secret), "{secret} in {all}");
        }
        assert!(get("name").is_none() && get("image").is_none());
        // Every key is one MLflow takes, and no key comes twice.
        let keys: BTreeSet<&str> = p.iter().map(|kv| kv.key.as_str()).collect();
        assert_eq!(keys.len(), p.len());
        assert!(p.iter().all(|kv| sanitize_key(&kv.key) == kv.key));
        assert!(p.len() > 20 && p.len() <= 100, "{}", p.len());
    }

    #[test]
    fn keys_are_sanitised_and_values_bounded() {
        assert_eq!(
            sanitize_key("eval_f1_very good/bad:x"),
            "eval_f1_very_good_bad_x"
        );
        assert_eq!(sanitize_key("eval_f1_négatif"), "eval_f1_n_gatif");
        assert_eq!(sanitize_key(".."), "__");
        assert_eq!(sanitize_key(&"k".repeat(300)).len(), 250);
        let mut s = spec();
        s.data.labels = Some((0..2000).map(|i| format!("label{i}")).collect());
        let p = params(&s);
        let labels = p.iter().find(|kv| kv.key == "data.labels").unwrap();
        assert_eq!(labels.value.chars().count(), 6000);
    }

    #[test]
    fn records_become_metrics_at_their_step() {
        let train: MetricsRecord = serde_json::from_str(
            r#"{"step":10,"epoch":0.5,"loss":0.7,"lr":2e-5,"samples_per_s":31.5,"total_steps":40}"#,
        )
        .unwrap();
        let (kind, step, m) = metrics(&train, 1).unwrap();
        assert_eq!((kind, step), (Kind::Train, 10));
        let keys: Vec<&str> = m.iter().map(|m| m.key.as_str()).collect();
        assert_eq!(keys, ["loss", "lr", "samples_per_s", "epoch"]);
        assert!(m.iter().all(|m| m.step == 10 && m.timestamp == 1));
        let eval: MetricsRecord = serde_json::from_str(
            r#"{"step":20,"epoch":1.0,"eval":{"loss":0.5,"accuracy":0.8,"macro_f1":0.75,"samples":40,
               "per_class":{"very good":{"precision":1,"recall":0.5,"f1":0.667,"support":2},
                            "very/good":{"precision":0,"recall":0,"f1":0.1,"support":2}}}}"#,
        )
        .unwrap();
        let (kind, step, m) = metrics(&eval, 1).unwrap();
        assert_eq!((kind, step), (Kind::Eval, 20));
        let got: Vec<(&str, f64)> = m.iter().map(|m| (m.key.as_str(), m.value)).collect();
        assert_eq!(
            got,
            [
                ("eval_loss", 0.5),
                ("eval_accuracy", 0.8),
                ("eval_macro_f1", 0.75),
                // Two labels, one sanitised key: the first is kept, never two values at a step.
                ("eval_f1_very_good", 0.667)
            ]
        );
        let mut nan = train.clone();
        if let MetricsRecord::Train(t) = &mut nan {
            t.loss = f64::NAN;
        }
        assert_eq!(metrics(&nan, 1).unwrap().2.len(), 3);
    }

    #[test]
    fn statuses_and_tags() {
        assert_eq!(run_status(ExitReason::EarlyStopped), "FINISHED");
        assert_eq!(run_status(ExitReason::Interrupted), "KILLED");
        assert_eq!(run_status(ExitReason::Failed), "FAILED");
        assert_eq!(exit_status(0), "FINISHED");
        assert_eq!(exit_status(137), "KILLED");
        assert_eq!(exit_status(5), "KILLED");
        assert_eq!(exit_status(4), "FAILED");
        let s = spec();
        let t = tags(&s, "demo", None);
        assert!(t.contains(&("finetune.project".into(), "demo".into())));
        assert!(t.contains(&("finetune.config_hash".into(), s.config_hash())));
    }
}
