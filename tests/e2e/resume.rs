//! A job container killed with SIGKILL mid-run resumes on the next `up` from its newest
//! checkpoint and ends exactly where an uninterrupted run of the same spec ends.

use crate::setup;
use finetune_spec::contract::ExitReason;
use finetune_tests::{outputs, project::Project};

#[test]
fn sigkilled_job_resumes_and_matches_an_uninterrupted_run() {
    let (_lock, env) = setup!();
    crate::ensure_trainer_image(env);
    let prepare = |test: &str| {
        let p = Project::fixture(env, test, "resume").unwrap();
        p.add_tiny_model("models/tiny").unwrap();
        p.add_tiny_data("data/train.jsonl", 256, 1).unwrap();
        p.add_tiny_data("data/eval.jsonl", 32, 2).unwrap();
        p
    };

    // Uninterrupted reference run.
    let reference = prepare("resume-ref");
    let up = reference.finetune(&["up"]);
    assert_eq!(up.code, Some(0), "{up}");
    let ref_out = reference.path("runs/tiny");
    let ref_record = outputs::run_record(&ref_out).unwrap();
    assert_eq!(ref_record.resumed_from_step, None);

    // Killed run: wait for the first complete checkpoint, then SIGKILL the container.
    let killed = prepare("resume-kill");
    let out = killed.path("runs/tiny");
    let up = killed.finetune(&["up", "--detach"]);
    assert_eq!(up.code, Some(0), "{up}");
    assert!(
        killed.wait_for(120, || !outputs::checkpoint_steps(&out).is_empty()),
        "no checkpoint within 120 s"
    );
    let running = killed.guard.running();
    assert_eq!(running.len(), 1, "expected one running job container");
    env.docker(["kill", "-s", "KILL", &running[0]]).ok();
    assert!(
        !out.join("run.json").exists(),
        "the run finished before the kill: make the fixture longer"
    );
    let at_kill = *outputs::checkpoint_steps(&out).last().unwrap();
    assert!(at_kill < ref_record.steps, "killed after the last step");

    let up = killed.finetune(&["up"]);
    assert_eq!(up.code, Some(0), "{up}");
    let record = outputs::run_record(&out).unwrap();
    assert_eq!(record.exit_reason, ExitReason::Completed);
    let resumed = record
        .resumed_from_step
        .expect("run.json must say it resumed");
    assert!(
        resumed >= at_kill,
        "resumed from {resumed}, a checkpoint {at_kill} existed"
    );
    assert_eq!(record.steps, ref_record.steps);
    assert_eq!(record.final_eval, ref_record.final_eval);

    let a = outputs::files_under(&out.join("model")).unwrap();
    let b = outputs::files_under(&ref_out.join("model")).unwrap();
    assert_eq!(
        a.keys().collect::<Vec<_>>(),
        b.keys().collect::<Vec<_>>(),
        "different model files"
    );
    for (name, bytes) in &a {
        assert!(
            bytes == &b[name],
            "{name} differs from the uninterrupted run"
        );
    }
}
