//! Early stopping exports the best evaluation's weights, not the last step's, through the binary
//! on a tiny random BERT: a learning rate far too high makes the eval loss worsen after its best,
//! and the export must equal (byte for byte, CPU runs being repeatable) a run stopped at that
//! best step, and differ from one stopped at the last step; also after a kill and resume.

use crate::common::{model_bytes, rewind_to, run_json, tiny_run_inputs, train_cmd};
use std::path::Path;
use std::process::Output;

/// Arguments of a run with eval every step, a constant (too high) learning rate, and a
/// checkpoint every step; `extra` adds e.g. `--patience` or `--max-steps`.
fn run(model: &Path, train: &Path, eval: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut cmd = train_cmd(1, model, train, eval, out);
    cmd.args([
        "--epochs",
        "8",
        "--batch-size",
        "4",
        "--lr",
        "0.05",
        "--schedule",
        "constant",
        "--warmup-ratio",
        "0",
        "--seed",
        "5",
        "--eval-every-steps",
        "1",
        "--checkpoint-every",
        "1",
        "--keep-checkpoints",
        "1000",
    ])
    .args(extra);
    let o = cmd.output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    o
}

/// Eval lines of metrics.jsonl: step → loss.
fn eval_losses(out: &Path) -> Vec<(u64, f64)> {
    std::fs::read_to_string(out.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .filter_map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let loss = v.get("eval")?["loss"].as_f64()?;
            Some((v["step"].as_u64()?, loss))
        })
        .collect()
}

#[test]
fn early_stopping_exports_the_best_evaluation_not_the_last_step() {
    let d = tempfile::tempdir().unwrap();
    let (model, train, eval) = tiny_run_inputs(d.path(), 40, 12);
    let es = d.path().join("es");
    run(&model, &train, &eval, &es, &["--patience", "2"]);
    let rec = run_json(&es);
    assert_eq!(rec["exit_reason"], "early_stopped", "{rec}");
    let best = rec["best_step"].as_u64().expect("best_step in run.json");
    let last = rec["steps"].as_u64().unwrap();
    assert!(best < last, "best {best}, last {last}");
    assert_eq!(rec["precision"], "f32");
    assert_eq!(rec["backend"], "flex");

    // final_eval is the best evaluation's metrics, and it beats the last one.
    let evals = eval_losses(&es);
    let at = |s: u64| evals.iter().find(|e| e.0 == s).unwrap().1;
    assert_eq!(rec["final_eval"]["loss"].as_f64().unwrap(), at(best));
    assert!(at(best) < at(last), "{evals:?}");
    let min = evals.iter().map(|e| e.1).fold(f64::INFINITY, f64::min);
    assert_eq!(at(best), min, "{evals:?}");

    // The export equals a run stopped at the best step, not one stopped at the last step.
    let at_best = d.path().join("at-best");
    run(
        &model,
        &train,
        &eval,
        &at_best,
        &["--max-steps", &best.to_string()],
    );
    let at_last = d.path().join("at-last");
    run(
        &model,
        &train,
        &eval,
        &at_last,
        &["--max-steps", &last.to_string()],
    );
    let exported = model_bytes(&es);
    assert!(
        exported == model_bytes(&at_best),
        "export is not the best step's weights"
    );
    assert!(
        exported != model_bytes(&at_last),
        "export is the last step's weights"
    );
    assert_eq!(run_json(&at_best)["best_step"], serde_json::Value::Null);

    // Killed after the best evaluation and resumed: the export is still the best one.
    let resume_at = best + 1;
    rewind_to(&es, resume_at);
    let o = run(&model, &train, &eval, &es, &["--patience", "2"]);
    let log = String::from_utf8_lossy(&o.stderr);
    assert!(log.contains("resuming from"), "{log}");
    assert_eq!(run_json(&es)["best_step"].as_u64(), Some(best));
    assert!(model_bytes(&es) == exported, "resumed export differs");
}
