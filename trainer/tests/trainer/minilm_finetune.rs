//! A real fine-tune: MiniLM on a few hundred tweets (fixtures from scripts/fetch-fixtures.sh)
//! must lift eval accuracy clearly above the majority-class baseline. Skips with a message when
//! the fixtures are absent (fails under CI=true). Meant for `cargo test --release`.

use crate::common;

#[test]
fn minilm_on_tweets_beats_the_majority_baseline() {
    let Some(model) = common::minilm_dir() else {
        return;
    };
    let Some(tweets) = common::tweets_dir() else {
        return;
    };
    let (train, eval) = (tweets.join("train.jsonl"), tweets.join("eval.jsonl"));
    // Majority-class share of the eval set.
    let text = std::fs::read_to_string(&eval).unwrap();
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    for l in text.lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        *counts.entry(v["label"].to_string()).or_default() += 1;
    }
    let total: usize = counts.values().sum();
    let baseline = *counts.values().max().unwrap() as f64 / total as f64;

    let out = tempfile::tempdir().unwrap();
    let o = common::trainer()
        .arg("train")
        .arg("--model")
        .arg(&model)
        .arg("--train")
        .arg(&train)
        .arg("--eval")
        .arg(&eval)
        .arg("--output")
        .arg(out.path())
        .args([
            "--epochs",
            "3",
            "--batch-size",
            "16",
            "--lr",
            "1e-4",
            "--max-length",
            "64",
        ])
        .args([
            "--seed",
            "42",
            "--warmup-ratio",
            "0.1",
            "--checkpoint-every",
            "0",
        ])
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{log}");
    eprintln!("{log}");
    let rec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.path().join("run.json")).unwrap()).unwrap();
    let acc = rec["final_eval"]["accuracy"].as_f64().unwrap();
    eprintln!("eval accuracy {acc:.3} (majority baseline {baseline:.3})");
    assert!(
        acc >= baseline + 0.10,
        "accuracy {acc} vs baseline {baseline}"
    );
}
