//! Two CPU jobs that fit the host run concurrently, each within its own CPU limit.

use crate::setup;
use finetune_tests::{outputs, project::Project};

#[test]
fn two_cpu_jobs_run_at_the_same_time() {
    let (_lock, env) = setup!();
    crate::ensure_trainer_image(env);
    let p = Project::fixture(env, "concurrent", "concurrent").unwrap();
    p.add_tiny_model("models/tiny").unwrap();
    p.add_tiny_data("data/train.jsonl", 256, 1).unwrap();
    p.add_tiny_data("data/eval.jsonl", 32, 2).unwrap();

    let up = p.finetune(&["up", "--detach"]);
    assert_eq!(up.code, Some(0), "{up}");
    let mut max_running = 0;
    p.wait_for(300, || {
        max_running = max_running.max(p.guard.running().len());
        p.path("runs/first/run.json").exists() && p.path("runs/second/run.json").exists()
    });
    let a = outputs::run_record(&p.path("runs/first")).unwrap();
    let b = outputs::run_record(&p.path("runs/second")).unwrap();
    let span = |r: &finetune_spec::contract::RunRecord| {
        (
            outputs::rfc3339_seconds(&r.started_at).expect("started_at"),
            outputs::rfc3339_seconds(&r.finished_at).expect("finished_at"),
        )
    };
    let ((a0, a1), (b0, b1)) = (span(&a), span(&b));
    assert!(
        a0 < b1 && b0 < a1,
        "the jobs ran one after the other: first {a0}..{a1}, second {b0}..{b1}"
    );
    assert_eq!(max_running, 2, "never saw both job containers running");
}
