//! A `provider: {type: finetune}` service run by plain `docker compose up` (Compose's provider
//! protocol calls `docker-finetune compose ... up`); its job container is removed by
//! `docker finetune down`, since Compose 2.40.3 does not call the provider on `down`.

use crate::setup;
use finetune_spec::contract::ExitReason;
use finetune_tests::{outputs, project::Project};

#[test]
fn provider_service_trains_under_plain_docker_compose_up() {
    let (_lock, env) = setup!();
    crate::ensure_trainer_image(env);
    let p = Project::fixture(env, "provider", "provider").unwrap();
    p.add_tiny_model("models/tiny").unwrap();
    p.add_tiny_data("data/train.jsonl", 64, 1).unwrap();
    p.add_tiny_data("data/eval.jsonl", 16, 2).unwrap();
    let image = format!("docker-finetune/trainer:{}", crate::plugin_version());
    std::fs::write(p.path(".env"), format!("TRAINER_IMAGE={image}\n")).unwrap();

    let up = p.compose(&["up"]);
    assert_eq!(up.code, Some(0), "{up}");
    let record = outputs::run_record(&p.path("runs/tiny"))
        .unwrap_or_else(|e| panic!("the provider did not train: {e:#}\n{up}"));
    assert_eq!(record.exit_reason, ExitReason::Completed);

    // Compose 2.40.3 does not call the provider on `docker compose down` here (no `compose ... down`
    // reaches the plugin), so the job container, which lives in its own `<project>-finetune` Compose
    // project, is removed by `docker finetune down`, found by the project label alone.
    let down = p.compose(&["down"]);
    assert_eq!(down.code, Some(0), "{down}");
    let left = p.guard.containers();
    assert_eq!(
        left.len(),
        1,
        "expected only the job container after compose down: {left:?}"
    );
    let down = p.finetune(&["down"]);
    assert_eq!(down.code, Some(0), "{down}");
    assert!(
        p.guard.containers().is_empty(),
        "docker finetune down left containers: {:?}",
        p.guard.containers()
    );
    assert!(p.path("runs/tiny/model").is_dir(), "down deleted outputs");
}
