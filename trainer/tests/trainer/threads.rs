//! Repeatability with more than one worker thread (`cpus: 2` gives the trainer 2): the same
//! seeded training twice at `--threads 2` must end with byte-identical weights and the same
//! metrics. On MiniLM (when the fixture is there) the matrices are large enough for flex to
//! split GEMMs and element-wise ops across the pool and for dropout masks to be built in
//! parallel chunks; the tiny model covers the rest of the loop.

use crate::common::{self, model_bytes, tiny_run_inputs, train_cmd};
use std::path::Path;

/// Trains into `out` with 2 threads; `extra` overrides the defaults below.
fn train_twice(model: &Path, train: &Path, eval: &Path, dir: &Path, extra: &[&str]) {
    let mut metrics = Vec::new();
    let mut weights = Vec::new();
    for name in ["a", "b"] {
        let out = dir.join(name);
        let o = train_cmd(2, model, train, eval, &out)
            .args([
                "--seed",
                "5",
                "--log-every-steps",
                "1",
                "--checkpoint-every",
                "0",
            ])
            .args(extra)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        metrics.push(std::fs::read_to_string(out.join("metrics.jsonl")).unwrap());
        weights.push(model_bytes(&out));
    }
    // Wall times differ run to run; everything else in the metrics must not.
    let strip = |m: &str| -> Vec<serde_json::Value> {
        m.lines()
            .map(|l| {
                let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
                if let Some(o) = v.as_object_mut() {
                    o.retain(|k, _| !k.contains("time") && !k.contains("per_s") && k != "ts");
                }
                v
            })
            .collect()
    };
    assert_eq!(strip(&metrics[0]), strip(&metrics[1]));
    assert!(
        weights[0] == weights[1],
        "2-thread runs ended with different weights"
    );
}

#[test]
fn two_thread_runs_of_the_tiny_model_repeat_bit_for_bit() {
    let d = tempfile::tempdir().unwrap();
    let (model, train, eval) = tiny_run_inputs(d.path(), 24, 8);
    let extra = ["--epochs", "2", "--batch-size", "4", "--lr", "0.001"];
    train_twice(&model, &train, &eval, d.path(), &extra);
}

#[test]
fn two_thread_runs_of_minilm_repeat_bit_for_bit() {
    let (Some(model), Some(tweets)) = (common::minilm_dir(), common::tweets_dir()) else {
        return;
    };
    let d = tempfile::tempdir().unwrap();
    // 3 steps of 16 real tweets (dropout on), evaluated on the first rows of the eval set.
    let eval = d.path().join("eval.jsonl");
    let rows: Vec<String> = std::fs::read_to_string(tweets.join("eval.jsonl"))
        .unwrap()
        .lines()
        .take(16)
        .map(String::from)
        .collect();
    std::fs::write(&eval, rows.join("\n") + "\n").unwrap();
    let extra = [
        "--epochs",
        "1",
        "--max-steps",
        "3",
        "--batch-size",
        "16",
        "--max-length",
        "64",
        "--lr",
        "5e-5",
    ];
    train_twice(&model, &tweets.join("train.jsonl"), &eval, d.path(), &extra);
}
