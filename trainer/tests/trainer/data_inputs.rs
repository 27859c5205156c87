//! Data beyond two-class JSONL through the binary on a tiny random BERT: a three-class run read
//! from Parquet writes per-class precision/recall/F1 to `metrics.jsonl` and `run.json`; an eval
//! label the train file lacks is refused with the message `validate --data` gives.

use crate::common::{run_json, train_cmd};
use finetune_fixtures::TinyBert;
use std::path::Path;
use std::process::Output;

/// Three classes of rows: a sentiment word twice, or filler only (`neutral`).
fn rows(n: usize) -> Vec<(String, &'static str)> {
    let pos = ["good", "great", "happy", "nice"];
    let neg = ["bad", "awful", "sad", "poor"];
    let neu = ["the movie", "today the day", "was really", "the day was"];
    (0..n)
        .map(|i| match i % 3 {
            0 => (
                format!("the {} movie {}", pos[i % 4], pos[(i / 4) % 4]),
                "positive",
            ),
            1 => (
                format!("the {} movie {}", neg[i % 4], neg[(i / 4) % 4]),
                "negative",
            ),
            _ => (neu[i % 4].to_string(), "neutral"),
        })
        .collect()
}

fn train(model: &Path, train: &Path, eval: &Path, out: &Path) -> Output {
    train_cmd(1, model, train, eval, out)
        .args([
            "--epochs",
            "2",
            "--batch-size",
            "6",
            "--lr",
            "0.001",
            "--seed",
            "3",
        ])
        .output()
        .unwrap()
}

#[test]
fn a_three_class_parquet_run_writes_per_class_metrics() {
    let d = tempfile::tempdir().unwrap();
    let model = d.path().join("model");
    TinyBert::WORDS.write(&model, 7).unwrap();
    let (train_file, eval_file) = (d.path().join("train.parquet"), d.path().join("eval.jsonl"));
    finetune_fixtures::parquet::write_text_label(&train_file, &rows(24)).unwrap();
    finetune_fixtures::write_jsonl(&eval_file, rows(9)).unwrap();
    let out = d.path().join("o");
    let o = train(&model, &train_file, &eval_file, &out);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let metrics = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
    let evals: Vec<serde_json::Value> = metrics
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter_map(|v| v.get("eval").cloned())
        .collect();
    assert!(!evals.is_empty(), "{metrics}");
    for e in &evals {
        let per = e["per_class"].as_object().expect("per_class");
        let names: Vec<&str> = per.keys().map(String::as_str).collect();
        assert_eq!(names, ["negative", "neutral", "positive"]);
        for m in per.values() {
            assert_eq!(m["support"], 3, "{e}");
            for k in ["precision", "recall", "f1"] {
                let x = m[k].as_f64().unwrap();
                assert!((0.0..=1.0).contains(&x), "{e}");
            }
        }
        // Macro-F1 is the mean of the per-class F1s (every class has support).
        let mean = per.values().map(|m| m["f1"].as_f64().unwrap()).sum::<f64>() / 3.0;
        assert!((mean - e["macro_f1"].as_f64().unwrap()).abs() < 1e-9, "{e}");
    }
    let rec = run_json(&out);
    assert_eq!(
        rec["final_eval"]["per_class"],
        evals.last().unwrap()["per_class"]
    );
    assert!(rec["dataset_sha256"]["train"].is_string());
}

#[test]
fn an_eval_only_label_is_refused_with_validates_message() {
    let d = tempfile::tempdir().unwrap();
    let model = d.path().join("model");
    TinyBert::WORDS.write(&model, 7).unwrap();
    let (train_file, eval_file) = (d.path().join("train.jsonl"), d.path().join("eval.jsonl"));
    finetune_fixtures::write_jsonl(&train_file, rows(6)).unwrap();
    let mut eval = rows(3);
    eval.push(("so so".into(), "mixed"));
    finetune_fixtures::write_jsonl(&eval_file, eval).unwrap();
    let o = train(&model, &train_file, &eval_file, &d.path().join("o"));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("eval.jsonl:4: unknown label `mixed`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("the eval data has labels the training data lacks: mixed"),
        "{stderr}"
    );
}
