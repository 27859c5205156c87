//! `docker finetune validate` through the real docker CLI: positioned errors and exit codes.

use crate::{position_of, setup};
use finetune_tests::project::Project;

#[test]
fn validate_reports_each_error_with_its_position() {
    let (_lock, env) = setup!();
    let p = Project::fixture(env, "validate", "validate-errors").unwrap();
    p.add_tiny_model("models/tiny").unwrap();
    p.add_tiny_data("data/train.jsonl", 16, 1).unwrap();
    let text = std::fs::read_to_string(p.path("compose.yaml")).unwrap();

    let run = p.finetune(&["validate"]);
    assert_eq!(run.code, Some(1), "invalid spec must exit 1: {run}");
    let out = run.all();

    let (line, col) = position_of(&text, "epochz");
    assert!(
        out.contains(&format!("compose.yaml:{line}:{col}")),
        "no positioned error for the unknown key at {line}:{col}: {run}"
    );
    assert!(out.contains("epochs"), "no `did you mean epochs`: {run}");

    let (line, _) = position_of(&text, "batch_size: 0");
    assert!(
        out.contains(&format!("compose.yaml:{line}:")),
        "no positioned error for batch_size 0 on line {line}: {run}"
    );
}

#[test]
fn validate_accepts_a_valid_project() {
    let (_lock, env) = setup!();
    let p = Project::fixture(env, "validate-ok", "validate-ok").unwrap();
    p.add_tiny_model("models/tiny").unwrap();
    p.add_tiny_data("data/train.jsonl", 16, 1).unwrap();
    p.add_tiny_data("data/eval.jsonl", 8, 2).unwrap();
    let run = p.finetune(&["validate", "--data"]);
    assert_eq!(run.code, Some(0), "{run}");
}
