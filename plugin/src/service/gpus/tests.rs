//! `config`'s device ids: disjoint in queue order, from the inventory or assumed, `count` kept
//! for a lone GPU job or on request, explicit ids respected.

use super::*;
use finetune_compose::{load_project, ProjectOptions};

/// A project whose jobs (`name: yaml of resources + priority`) are written to a compose file.
fn project(jobs: &[(&str, &str)]) -> (tempfile::TempDir, Project) {
    let d = tempfile::tempdir().unwrap();
    let mut yaml = String::from("services:\n  api: {image: x}\nx-finetune:\n  jobs:\n");
    for (name, extra) in jobs {
        yaml.push_str(&format!(
            "    {name}:\n      model: ./m\n      data: {{train: ./t.jsonl}}\n      output: ./runs/{name}\n      {extra}\n"
        ));
    }
    std::fs::write(d.path().join("compose.yaml"), yaml).unwrap();
    let p = load_project(&ProjectOptions {
        working_dir: Some(d.path().into()),
        ..Default::default()
    })
    .unwrap();
    assert!(
        p.diagnostics.iter().all(|d| !d.is_error()),
        "{:?}",
        p.diagnostics
    );
    (d, p)
}

fn names(p: &Project) -> Vec<String> {
    p.jobs.iter().map(|j| j.spec.name.clone()).collect()
}

fn ids(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// Devices of unknown memory.
fn devs(v: &[&str]) -> Vec<Device> {
    v.iter().map(|s| Device::id(*s)).collect()
}

#[test]
fn two_gpu_jobs_without_an_inventory_get_disjoint_ids_from_zero_in_queue_order() {
    let (_d, p) = project(&[
        ("a", "resources: {gpus: 1}"),
        ("b", "resources: {gpus: 2}\n      priority: 5"),
        ("c", "resources: {gpus: 0}"),
    ]);
    let plan = plan(&p, &names(&p), false, &[], false);
    // `b` has the higher priority, so it is first in the queue.
    assert_eq!(plan.allocations["b"], ids(&["0", "1"]));
    assert_eq!(plan.allocations["a"], ids(&["2"]));
    assert!(!plan.allocations.contains_key("c"), "CPU job got GPUs");
    assert_eq!(plan.source, Some(Source::Assumed(3)));
    assert_eq!(
        plan.comment().unwrap(),
        "# no GPU inventory: device ids assumed 0..2, disjoint in queue order\n"
    );
}

#[test]
fn a_single_gpu_job_keeps_its_count() {
    let (_d, p) = project(&[("a", "resources: {gpus: 2}"), ("b", "resources: {gpus: 0}")]);
    let plan = plan(&p, &names(&p), false, &[], false);
    assert_eq!(plan, DevicePlan::default());
    assert_eq!(plan.comment(), None);
}

#[test]
fn explicit_ids_are_respected_and_skipped() {
    let (_d, p) = project(&[
        ("a", "resources: {gpus: 2}"),
        ("b", "resources: {gpus: [\"0\"]}"),
    ]);
    let plan = plan(&p, &names(&p), false, &[], false);
    assert!(
        !plan.allocations.contains_key("b"),
        "explicit ids rewritten"
    );
    assert_eq!(plan.allocations["a"], ids(&["1", "2"]));
    // With an inventory the queue keeps them too: `a` comes first and takes 0 and 1, so `b`
    // gets its GPU 0 in the next wave, as under `up`.
    let inv = devs(&["0", "1", "2", "3"]);
    let plan = super::plan(&p, &names(&p), true, &inv, false);
    assert_eq!(plan.allocations["a"], ids(&["0", "1"]));
    assert_eq!(plan.allocations["b"], ids(&["0"]));
}

#[test]
fn the_inventory_gives_each_job_the_ids_it_would_start_with() {
    let (_d, p) = project(&[
        ("a", "resources: {gpus: 1}"),
        ("b", "resources: {gpus: 1}"),
        ("c", "resources: {gpus: 2}"),
    ]);
    let inv = devs(&["0", "1"]);
    let plan = plan(&p, &names(&p), true, &inv, false);
    assert_eq!(plan.allocations["a"], ids(&["0"]));
    assert_eq!(plan.allocations["b"], ids(&["1"]));
    // `c` waits for the first wave and then gets both.
    assert_eq!(plan.allocations["c"], ids(&["0", "1"]));
    assert_eq!(plan.source, Some(Source::Inventory(ids(&["0", "1"]))));
    // A lone GPU job still gets ids from an inventory (what `up` would give it).
    let (_d, one) = project(&[("a", "resources: {gpus: 1}")]);
    let plan = super::plan(&one, &names(&one), true, &devs(&["3"]), false);
    assert_eq!(plan.allocations["a"], ids(&["3"]));
}

#[test]
fn count_is_kept_when_asked_for_and_all_stays_all() {
    let (_d, p) = project(&[("a", "resources: {gpus: 1}"), ("b", "resources: {gpus: 1}")]);
    assert_eq!(
        plan(&p, &names(&p), false, &[], true),
        DevicePlan::default()
    );
    let (_d, all) = project(&[
        ("a", "resources: {gpus: all}"),
        ("b", "resources: {gpus: 1}"),
    ]);
    let plan = plan(&all, &names(&all), false, &[], false);
    assert!(!plan.allocations.contains_key("a"));
    assert_eq!(plan.allocations["b"], ids(&["0"]));
}

#[test]
fn the_assumed_inventory_covers_every_request() {
    let (_d, p) = project(&[
        ("a", "resources: {gpus: 2}"),
        ("b", "resources: {gpus: [\"3\"]}"),
        ("c", "resources: {gpus: 0}"),
    ]);
    assert_eq!(assumed_count(&p, &names(&p), true), 4);
    let (_d, q) = project(&[
        ("a", "resources: {gpus: 1}"),
        ("b", "resources: {gpus: [\"0\"]}"),
    ]);
    assert_eq!(assumed_count(&q, &names(&q), true), 2);
}

#[test]
fn jobs_sharing_a_gpu_render_the_same_device_ids() {
    let (_d, p) = project(&[
        (
            "a",
            "resources: {gpus: {device_ids: [0], shared: true}, gpu_memory: 8g}",
        ),
        (
            "b",
            "resources: {gpus: {device_ids: [0], shared: true}, gpu_memory: 8g}",
        ),
        ("c", "resources: {gpus: 1}"),
    ]);
    // No inventory: the shared id is taken, so `c` is assumed onto GPU 1.
    let plan = plan(&p, &names(&p), true, &[], false);
    assert!(
        !plan.allocations.contains_key("a"),
        "explicit ids rewritten"
    );
    assert_eq!(plan.allocations["c"], ids(&["1"]));
    // With an inventory the queue starts `a` and `b` together on GPU 0 and `c` on GPU 1.
    let inv = vec![
        Device {
            id: "0".into(),
            memory: Some(24 << 30),
        },
        Device {
            id: "1".into(),
            memory: Some(24 << 30),
        },
    ];
    let plan = super::plan(&p, &names(&p), true, &inv, false);
    assert_eq!(plan.allocations["a"], ids(&["0"]));
    assert_eq!(plan.allocations["b"], ids(&["0"]));
    assert_eq!(plan.allocations["c"], ids(&["1"]));
}
