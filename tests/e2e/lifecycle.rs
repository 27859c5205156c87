//! `up --detach`, then `ps`, `logs` and `down` on a running job: down removes the containers
//! and keeps the outputs.

use crate::setup;
use finetune_tests::{outputs, project::Project};

#[test]
fn ps_logs_down_on_a_detached_job_keep_outputs() {
    let (_lock, env) = setup!();
    crate::ensure_trainer_image(env);
    let p = Project::fixture(env, "lifecycle", "lifecycle").unwrap();
    p.add_tiny_model("models/tiny").unwrap();
    p.add_tiny_data("data/train.jsonl", 128, 1).unwrap();
    p.add_tiny_data("data/eval.jsonl", 32, 2).unwrap();
    let out = p.path("runs/tiny");

    let up = p.finetune(&["up", "--detach"]);
    assert_eq!(up.code, Some(0), "{up}");
    assert!(
        p.wait_for(120, || outputs::train_logs(&out)
            .is_ok_and(|l| !l.is_empty())),
        "no training step logged within 120 s; containers: {:?}",
        p.guard.containers()
    );

    let ps = p.finetune(&["ps", "--format", "json"]).ok();
    let v: serde_json::Value = serde_json::from_str(&ps.stdout)
        .unwrap_or_else(|e| panic!("ps --format json is not JSON ({e}): {ps}"));
    let text = v.to_string();
    assert!(text.contains("\"tiny\""), "job not in ps: {ps}");
    assert!(
        text.to_lowercase().contains("running"),
        "job not running in ps: {ps}"
    );

    let logs = p.finetune(&["logs", "tiny"]).ok();
    assert!(
        !logs.all().trim().is_empty(),
        "no trainer output in logs: {logs}"
    );

    let down = p.finetune(&["down"]);
    assert_eq!(down.code, Some(0), "{down}");
    assert!(
        p.guard.containers().is_empty(),
        "down left containers: {:?}",
        p.guard.containers()
    );
    assert!(out.join("metrics.jsonl").is_file(), "down deleted outputs");
}
