//! GPU preflight on a host without the NVIDIA runtime: an explicit GPU request is refused
//! with exit 7 before any container exists; `gpus: auto` falls back to the CPU.

use crate::setup;
use finetune_tests::{outputs, project::Project, skip_or_fail};

#[test]
fn gpu_job_on_gpu_less_host_fails_preflight_with_exit_7() {
    let (_lock, env) = setup!();
    if env.engine_has_gpu_runtime() {
        skip_or_fail!("this engine has an NVIDIA runtime; the GPU-less preflight cannot be seen");
    }
    let p = Project::fixture(env, "gpu-preflight", "gpu-preflight").unwrap();
    p.add_tiny_model("models/tiny").unwrap();
    p.add_tiny_data("data/train.jsonl", 16, 1).unwrap();

    let up = p.finetune(&["up"]);
    assert_eq!(up.code, Some(7), "{up}");
    let msg = up.all();
    assert!(
        !msg.contains("could not select device driver"),
        "Docker's raw error leaked instead of the preflight message: {up}"
    );
    assert!(
        msg.contains("auto"),
        "the message should offer `gpus: auto`: {up}"
    );
    assert!(
        p.guard.containers().is_empty(),
        "preflight must fail before any container is created"
    );
}

#[test]
fn gpus_auto_on_gpu_less_host_trains_on_cpu() {
    let (_lock, env) = setup!();
    if env.engine_has_gpu_runtime() {
        skip_or_fail!("this engine has an NVIDIA runtime; auto would pick the GPU");
    }
    crate::ensure_trainer_image(env);
    let p = Project::fixture(env, "gpus-auto", "gpus-auto").unwrap();
    p.add_tiny_model("models/tiny").unwrap();
    p.add_tiny_data("data/train.jsonl", 64, 1).unwrap();
    p.add_tiny_data("data/eval.jsonl", 16, 2).unwrap();

    let up = p.finetune(&["up"]);
    assert_eq!(up.code, Some(0), "{up}");
    assert!(up.all().to_lowercase().contains("cpu"), "no CPU note: {up}");
    let record = outputs::run_record(&p.path("runs/auto")).unwrap();
    assert!(
        !record.backend.to_lowercase().contains("cuda"),
        "backend {}",
        record.backend
    );
}
