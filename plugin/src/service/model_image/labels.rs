//! A model image's name and labels, from the run record: pure functions, so what lands in an
//! image (and what must never: secrets, the spec's paths) is tested without an engine.
//!
//! - The default tag follows the scheme `<project>/<job>:v<run>-<model>-<yyyymmdd>` (UTC date),
//!   each part folded into the reference grammar.
//! - `org.opencontainers.image.*`: title, version, created, source, description, base.name.
//! - `io.docker-finetune.*`: project, job, run, config hash, each dataset's sha256, the eval
//!   metrics, the base model, the trainer version, and with quantization the report's figures.
//!
//! Only named values go in: no spec, no environment, no path; a secret's value is never in a run
//! record, and its name is not needed here.

use finetune_spec::contract::RunRecord;
use finetune_spec::serving::QuantizationReport;
use std::collections::BTreeMap;

/// Our own label prefix.
pub const PREFIX: &str = "io.docker-finetune.";
const OCI: &str = "org.opencontainers.image.";

/// What the labels are made of.
pub struct Inputs<'a> {
    pub project: &'a str,
    pub job: &'a str,
    pub run: u32,
    pub record: &'a RunRecord,
    /// The base model's name (its directory's name, as in the tag).
    pub base_model: &'a str,
    /// The trainer image the model image is built `FROM`.
    pub trainer_image: &'a str,
    pub tag: &'a str,
    /// RFC 3339 UTC.
    pub created: &'a str,
    pub quantization: Option<&'a QuantizationReport>,
}

/// Fold `text` into one component of a repository path: lowercase letters and digits, runs of
/// anything else become one `-`, none at either end. Empty when nothing is left.
pub fn component(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_string()
}

/// `yyyymmdd` of an RFC 3339 timestamp.
pub fn date(rfc3339: &str) -> String {
    rfc3339.chars().take(10).filter(|c| *c != '-').collect()
}

/// `<project>/<job>:v<run>-<model>-<yyyymmdd>`. The tag is kept within the grammar's 128
/// characters by shortening the model name.
pub fn default_tag(project: &str, job: &str, run: u32, model: &str, created: &str) -> String {
    let repo = format!(
        "{}/{}",
        non_empty(component(project), "project"),
        non_empty(component(job), "job")
    );
    let date = date(created);
    let fixed = format!("v{run}--{date}").len();
    let model: String = non_empty(component(model), "model")
        .chars()
        .take(128 - fixed)
        .collect();
    format!("{repo}:v{run}-{}-{date}", model.trim_end_matches('-'))
}

fn non_empty(s: String, fallback: &str) -> String {
    if s.is_empty() {
        fallback.to_string()
    } else {
        s
    }
}

/// The image's labels.
pub fn labels(i: &Inputs) -> BTreeMap<String, String> {
    let rec = i.record;
    let version = finetune_spec::image_ref::ImageRef::parse(i.tag)
        .ok()
        .and_then(|r| r.tag)
        .unwrap_or_else(|| "latest".to_string());
    let mut l: BTreeMap<String, String> = BTreeMap::new();
    let mut oci = |k: &str, v: String| l.insert(format!("{OCI}{k}"), v);
    oci("title", format!("{}/{}", i.project, i.job));
    oci("version", version);
    oci("created", i.created.to_string());
    oci("source", env!("CARGO_PKG_REPOSITORY").to_string());
    oci(
        "description",
        format!(
            "{} fine-tuned from {} (run {} of job `{}`), served on port {} by `finetune-trainer serve`",
            i.job,
            i.base_model,
            i.run,
            i.job,
            finetune_spec::serving::SERVE_PORT
        ),
    );
    oci("base.name", i.trainer_image.to_string());

    let mut own = |k: &str, v: String| l.insert(format!("{PREFIX}{k}"), v);
    own("project", i.project.to_string());
    own("job", i.job.to_string());
    own("run", i.run.to_string());
    own("config-hash", rec.config_hash.clone());
    for (role, sha) in &rec.dataset_sha256 {
        own(&format!("dataset.{role}.sha256"), sha.clone());
    }
    if let Some(d) = &rec.data_image {
        own("dataset.image", d.reference.clone());
    }
    own("base-model", i.base_model.to_string());
    own("trainer-version", rec.trainer_version.clone());
    own("started-at", rec.started_at.clone());
    own("finished-at", rec.finished_at.clone());
    own("steps", rec.steps.to_string());
    own("exit-reason", exit_reason(rec));
    if let Some(e) = &rec.final_eval {
        own("eval.accuracy", num(e.accuracy));
        if let Some(f1) = e.macro_f1 {
            own("eval.macro-f1", num(f1));
        }
        if let Some(ppl) = e.perplexity {
            own("eval.perplexity", num(ppl));
        }
        own("eval.loss", num(e.loss));
        own("eval.samples", e.samples.to_string());
    }
    if let Some(q) = i.quantization {
        own("quantization.scheme", q.scheme.clone());
        own("quantization.layers", q.layers.to_string());
        own("quantization.embeddings", q.embeddings.to_string());
        own("quantization.bytes-f32", q.bytes_f32.to_string());
        own(
            "quantization.bytes-quantized",
            q.bytes_quantized.to_string(),
        );
        own("quantization.size-ratio", num(q.size_ratio()));
        if let Some(e) = &q.eval {
            own("quantization.eval.rows", e.rows.to_string());
            own("quantization.eval.sha256", e.sha256.clone());
            own("quantization.accuracy-f32", num(e.accuracy_f32));
            own("quantization.accuracy-quantized", num(e.accuracy_quantized));
            own("quantization.macro-f1-f32", num(e.macro_f1_f32));
            own("quantization.macro-f1-quantized", num(e.macro_f1_quantized));
        }
    }
    l
}

/// Figures to 6 decimals: enough for an accuracy, stable across runs of the same model.
fn num(x: f64) -> String {
    format!("{x:.6}")
}

fn exit_reason(rec: &RunRecord) -> String {
    serde_json::to_value(rec.exit_reason)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use finetune_spec::image_ref::ImageRef;
    use finetune_spec::serving::QuantizedEval;

    fn record() -> RunRecord {
        serde_json::from_value(serde_json::json!({
            "job": "sentiment", "trainer_version": "0.1.0", "config_hash": "c0ffee", "image": "docker-finetune/trainer:0.1.0",
            "dataset_sha256": {"train": "aa11", "eval": "bb22"},
            "seed": 1, "backend": "cpu", "started_at": "2026-12-07T01:00:00Z", "finished_at": "2026-12-07T01:02:00Z",
            "duration_s": 120.0, "steps": 50, "epochs": 2.0, "exit_reason": "completed",
            "final_eval": {"loss": 0.4, "accuracy": 0.875, "macro_f1": 0.87, "samples": 200},
            "spec": {"name": "sentiment", "model": "/model", "data": {"train": "/data/t.jsonl", "redact": ["email"],
                     "redact_mode": "hash", "redact_key": "pii_key"}, "output": "/output"}
        }))
        .unwrap()
    }

    #[test]
    fn the_default_tag_follows_the_scheme_and_the_reference_grammar() {
        let t = default_tag(
            "quickstart",
            "sentiment",
            3,
            "minilm",
            "2026-12-07T01:02:03Z",
        );
        assert_eq!(t, "quickstart/sentiment:v3-minilm-20261207");
        // Uppercase, dots, spaces and underscores are folded; the result always parses.
        let t = default_tag(
            "My_Proj",
            "Sent iment",
            1,
            "all-MiniLM-L6-v2.Q8 (copy)",
            "2026-01-02T00:00:00Z",
        );
        assert_eq!(t, "my-proj/sent-iment:v1-all-minilm-l6-v2-q8-copy-20260102");
        let long = "m".repeat(300);
        for (p, j, m) in [("p", "j", long.as_str()), ("__", "--", "..")] {
            let t = default_tag(p, j, 12, m, "2026-01-02T00:00:00Z");
            let r = ImageRef::parse(&t).unwrap_or_else(|e| panic!("{t}: {e}"));
            assert!(r.tag.unwrap().len() <= 128, "{t}");
        }
        assert_eq!(
            default_tag("__", "--", 1, "..", "2026-01-02T00:00:00Z"),
            "project/job:v1-model-20260102"
        );
    }

    #[test]
    fn labels_carry_the_run_record_and_no_secret() {
        let rec = record();
        let q = QuantizationReport {
            scheme: "int8".into(),
            layers: 12,
            embeddings: 3,
            bytes_f32: 1000,
            bytes_quantized: 260,
            eval: Some(QuantizedEval {
                rows: 200,
                sha256: "bb22".into(),
                accuracy_f32: 0.875,
                accuracy_quantized: 0.87,
                macro_f1_f32: 0.87,
                macro_f1_quantized: 0.865,
            }),
        };
        let l = labels(&Inputs {
            project: "quickstart",
            job: "sentiment",
            run: 2,
            record: &rec,
            base_model: "minilm",
            trainer_image: "docker-finetune/trainer:0.1.0",
            tag: "quickstart/sentiment:v2-minilm-20261207",
            created: "2026-12-07T02:00:00Z",
            quantization: Some(&q),
        });
        let get = |k: &str| {
            l.get(k)
                .map(String::as_str)
                .unwrap_or_else(|| panic!("no {k}: {l:?}"))
        };
        assert_eq!(
            get("org.opencontainers.image.version"),
            "v2-minilm-20261207"
        );
        assert_eq!(
            get("org.opencontainers.image.created"),
            "2026-12-07T02:00:00Z"
        );
        assert_eq!(
            get("org.opencontainers.image.base.name"),
            "docker-finetune/trainer:0.1.0"
        );
        assert_eq!(
            get("org.opencontainers.image.title"),
            "quickstart/sentiment"
        );
        assert!(get("org.opencontainers.image.source").starts_with("https://"));
        assert!(get("org.opencontainers.image.description").contains("minilm"));
        assert_eq!(get("io.docker-finetune.run"), "2");
        assert_eq!(get("io.docker-finetune.config-hash"), "c0ffee");
        assert_eq!(get("io.docker-finetune.dataset.train.sha256"), "aa11");
        assert_eq!(get("io.docker-finetune.dataset.eval.sha256"), "bb22");
        assert_eq!(get("io.docker-finetune.eval.accuracy"), "0.875000");
        assert_eq!(get("io.docker-finetune.eval.samples"), "200");
        assert_eq!(get("io.docker-finetune.base-model"), "minilm");
        assert_eq!(get("io.docker-finetune.trainer-version"), "0.1.0");
        assert_eq!(get("io.docker-finetune.exit-reason"), "completed");
        assert_eq!(
            get("io.docker-finetune.quantization.size-ratio"),
            "0.260000"
        );
        assert_eq!(
            get("io.docker-finetune.quantization.accuracy-quantized"),
            "0.870000"
        );
        assert_eq!(get("io.docker-finetune.quantization.layers"), "12");
        assert_eq!(get("io.docker-finetune.quantization.embeddings"), "3");
        // Nothing from the spec: no paths, no secret names or modes.
        let all = format!("{l:?}");
        for absent in ["pii_key", "/data/t.jsonl", "redact"] {
            assert!(!all.contains(absent), "{absent} in {all}");
        }
        // Without quantization, no quantization labels.
        let plain = labels(&Inputs {
            quantization: None,
            ..Inputs {
                project: "p",
                job: "j",
                run: 1,
                record: &rec,
                base_model: "m",
                trainer_image: "t",
                tag: "p/j",
                created: "c",
                quantization: None,
            }
        });
        assert!(plain.keys().all(|k| !k.contains("quantization")));
        assert_eq!(plain["org.opencontainers.image.version"], "latest");
    }
}
