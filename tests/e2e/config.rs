//! `docker finetune config` renders an override that real Compose v2 accepts next to the
//! user's own file.

use crate::setup;
use finetune_tests::project::Project;

#[test]
fn rendered_override_is_accepted_by_docker_compose_config() {
    let (_lock, env) = setup!();
    let p = Project::fixture(env, "config", "config-render").unwrap();
    p.add_tiny_model("models/tiny").unwrap();
    p.add_tiny_data("data/train.jsonl", 16, 1).unwrap();
    p.add_tiny_data("data/eval.jsonl", 8, 2).unwrap();

    let rendered = p.finetune(&["config"]).ok();
    std::fs::write(p.path("rendered.yaml"), &rendered.stdout).unwrap();
    let ours: serde_yaml::Value = serde_yaml::from_str(&rendered.stdout)
        .unwrap_or_else(|e| panic!("config output is not YAML ({e}): {rendered}"));
    let job_services: Vec<String> = ours["services"]
        .as_mapping()
        .expect("rendered services")
        .keys()
        .filter_map(|k| k.as_str().map(String::from))
        .collect();
    assert_eq!(
        job_services.len(),
        1,
        "one job, one service: {job_services:?}"
    );

    let merged = p
        .compose(&[
            "-f",
            "compose.yaml",
            "-f",
            "rendered.yaml",
            "config",
            "--format",
            "json",
        ])
        .ok();
    let v: serde_json::Value = serde_json::from_str(&merged.stdout).unwrap();
    let services = v["services"].as_object().expect("services");
    for s in ["db", "api"] {
        assert!(services.contains_key(s), "user service {s} lost: {merged}");
    }
    let job = &services[&job_services[0]];
    assert_eq!(job["network_mode"], "none", "{job}");
    assert_eq!(job["read_only"], true, "{job}");
    assert!(
        job["cap_drop"]
            .as_array()
            .is_some_and(|a| a.iter().any(|c| c == "ALL")),
        "{job}"
    );
    let user = job["user"].as_str().unwrap_or("");
    assert!(
        !user.is_empty() && !user.starts_with('0') && user != "root",
        "{job}"
    );
    assert!(
        job["depends_on"].get("db").is_some(),
        "depends_on lost: {job}"
    );
    // Docker's 64 MB default /dev/shm breaks data loading: the spec's 256m must arrive.
    assert!(job.get("shm_size").is_some(), "{job}");
}

#[test]
fn config_json_format_is_the_same_services() {
    let (_lock, env) = setup!();
    let p = Project::fixture(env, "config-json", "config-json").unwrap();
    p.add_tiny_model("models/tiny").unwrap();
    p.add_tiny_data("data/train.jsonl", 16, 1).unwrap();
    p.add_tiny_data("data/eval.jsonl", 8, 2).unwrap();
    let yaml = p.finetune(&["config"]).ok();
    let json = p.finetune(&["config", "--format", "json"]).ok();
    let from_yaml: serde_json::Value = serde_yaml::from_str(&yaml.stdout).unwrap();
    let from_json: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(from_yaml["services"], from_json["services"]);
}
