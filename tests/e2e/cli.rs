//! The plugin as the docker CLI sees it: discovery, help, metadata.

use crate::setup;

#[test]
fn docker_help_lists_finetune_and_its_help_works() {
    let (_lock, env) = setup!();
    let help = env.docker(["--help"]).ok();
    assert!(
        help.stdout
            .lines()
            .any(|l| l.trim_start().starts_with("finetune")),
        "`docker --help` does not list the finetune plugin:\n{help}"
    );
    let sub = env.docker(["finetune", "--help"]).ok();
    for cmd in [
        "validate", "config", "build", "up", "ps", "logs", "down", "runs", "doctor",
    ] {
        assert!(
            sub.stdout.contains(cmd),
            "`docker finetune --help` lacks `{cmd}`:\n{sub}"
        );
    }
}

#[test]
fn plugin_metadata_is_docker_cli_json() {
    let (_lock, env) = setup!();
    let start = std::time::Instant::now();
    let meta = env.plugin_direct(["docker-cli-plugin-metadata"]).ok();
    let took = start.elapsed();
    let v: serde_json::Value = serde_json::from_str(&meta.stdout)
        .unwrap_or_else(|e| panic!("metadata is not JSON ({e}): {meta}"));
    assert_eq!(v["SchemaVersion"], "0.1.0", "{v}");
    for key in ["Vendor", "Version", "ShortDescription"] {
        assert!(
            v[key].as_str().is_some_and(|s| !s.is_empty()),
            "metadata lacks {key}: {v}"
        );
    }
    // The docker CLI calls this for every `docker --help`: it must not wait on anything.
    assert!(took.as_secs_f64() < 2.0, "metadata took {took:?}");
}

#[test]
fn docker_global_flags_before_finetune_are_accepted() {
    let (_lock, env) = setup!();
    // `docker -l error finetune ...` hands the plugin argv with the global flag in it.
    let run = env.docker(["-l", "error", "finetune", "--help"]).ok();
    assert!(run.stdout.contains("validate"), "{run}");
}
