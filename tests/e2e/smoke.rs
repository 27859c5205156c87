//! `docker finetune up --smoke`: a few steps on a slice of the data, in seconds, into
//! `<output>/smoke`, leaving the real run untouched.

use crate::setup;
use finetune_tests::{outputs, project::Project};

#[test]
fn up_smoke_runs_a_handful_of_steps_only() {
    let (_lock, env) = setup!();
    crate::ensure_trainer_image(env);
    let p = Project::fixture(env, "smoke", "smoke").unwrap();
    p.add_tiny_model("models/tiny").unwrap();
    p.add_tiny_data("data/train.jsonl", 512, 1).unwrap();
    p.add_tiny_data("data/eval.jsonl", 64, 2).unwrap();

    let up = p.finetune(&["up", "--smoke"]);
    assert_eq!(up.code, Some(0), "{up}");

    let smoke = p.path("runs/tiny/smoke");
    let record =
        outputs::run_record(&smoke).unwrap_or_else(|e| panic!("no smoke run record: {e:#}\n{up}"));
    // The full job is 50 epochs of 64 steps; a smoke run is a handful.
    assert!(
        record.steps > 0 && record.steps <= 50,
        "smoke run took {} steps",
        record.steps
    );
    assert!(
        !p.path("runs/tiny/run.json").exists(),
        "--smoke must not write the real run's record"
    );
}
