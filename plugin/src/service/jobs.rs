//! Jobs before they start: the render options of a project (built once per command), the
//! `gpus: auto` policy as the queue sees it, smoke variants, and "already finished" (the
//! contract's one rule, [`finetune_spec::contract::finished_run`]).

use super::image;
use crate::scheduler::{GpuNeed, Request};
use finetune_compose::{render, Project, RenderOptions};
use finetune_spec::contract::RunRecord;
use finetune_spec::{Count, Gpus, JobSpec, Steps};
use std::collections::BTreeMap;

/// Smoke runs: this many optimizer steps on this many rows of each file.
pub const SMOKE_STEPS: Steps = Steps::of(3);
pub const SMOKE_ROWS: Count = Count::of(32);

/// Render options shared by `config`, `up` and the provider. The image is left to the
/// renderer's default (`docker-finetune/trainer:<version>`, `-cuda` for GPU jobs), which is what
/// `build` tags; the `build:` section points at the source tree when one is found, with the
/// `runtime-prebuilt` target when a host-built trainer binary is there.
pub fn render_options(
    jobs: Vec<String>,
    gpu_runtime: bool,
    allocations: BTreeMap<String, Vec<String>>,
) -> RenderOptions {
    let (build_context, build_target) = image::render_build(gpu_runtime);
    RenderOptions {
        jobs,
        build_context,
        build_target,
        gpu_runtime,
        allocations,
        trainer_image: None,
        version: env!("CARGO_PKG_VERSION").to_string(),
        user: None,
        // The engine's ids of the dataset images: `launch::prepare` (and `config`) fill them in.
        data_images: BTreeMap::new(),
    }
}

/// The GPUs a job asks for once `auto` is resolved: the renderer's rule
/// ([`render::effective_gpus`], `auto` is every GPU when the host has a runtime, else none).
pub fn gpu_need(spec: &JobSpec, gpu_runtime: bool) -> GpuNeed {
    let opts = RenderOptions {
        gpu_runtime,
        ..Default::default()
    };
    match render::effective_gpus(spec, &opts) {
        None => GpuNeed::None,
        Some(Gpus::Auto | Gpus::All) => GpuNeed::All,
        Some(Gpus::Count(n)) => GpuNeed::Count(n),
        Some(Gpus::Ids(ids)) => GpuNeed::Ids(ids),
        Some(Gpus::Shared(ids)) => GpuNeed::Shared {
            ids,
            memory: spec.resources.gpu_memory.map(|m| m.0),
        },
    }
}

/// Whether a request cannot fall back to the CPU: everything but `auto` and none.
pub fn needs_gpu_runtime(gpus: &Gpus) -> bool {
    !matches!(gpus, Gpus::Auto) && !gpus.is_none()
}

/// The scheduler request of a job.
pub fn request(spec: &JobSpec, gpu_runtime: bool) -> Request {
    Request {
        name: spec.name.clone(),
        priority: spec.priority,
        gpus: gpu_need(spec, gpu_runtime),
        cpus: spec.resources.cpus.map(|c| c.get()),
        memory: spec.resources.memory.map(|m| m.0),
    }
}

/// Turn a job into its smoke variant.
pub fn smoke_spec(spec: &mut JobSpec) {
    spec.output = spec.output.join("smoke");
    spec.train.max_steps = Some(SMOKE_STEPS);
    spec.train.epochs = Count::of(1);
    spec.train.eval_every_steps = None;
    spec.train.early_stopping = None;
    spec.train.log_every_steps = Steps::of(1);
    spec.checkpoint.every_steps = 0;
    spec.data.limit = Some(spec.data.limit.map_or(SMOKE_ROWS, |l| l.min(SMOKE_ROWS)));
}

/// Fixes the label set from the whole train file before a smoke run cuts the data to a few rows:
/// the first rows of a sorted or grouped file often carry one label, and the trainer would then
/// refuse (or build a smaller head than the real run). Sorted as the trainer sorts an inferred set
/// (numerically when every label is an integer). A file that cannot be scanned is left for the
/// trainer to report.
pub fn pin_labels(spec: &mut JobSpec) {
    if spec.data.labels.is_some() {
        return;
    }
    let mut full = spec.data.clone();
    full.limit = None;
    let Ok(scan) = finetune_spec::dataset::scan(&spec.data.train, &full, 0) else {
        return;
    };
    let mut labels: Vec<String> = scan.labels.into_keys().collect();
    if labels.iter().all(|l| l.parse::<i64>().is_ok()) {
        labels.sort_by_key(|l| l.parse::<i64>().unwrap_or(0));
    }
    if labels.len() > 1 {
        spec.data.labels = Some(labels);
    }
}

/// Whether `run.json` in the output says this exact config already finished (with its weights).
pub fn already_completed(spec: &JobSpec) -> Option<RunRecord> {
    finetune_spec::contract::finished_run(&spec.output, &spec.config_hash())
}

/// The selected jobs split into those to start and those already finished.
#[derive(Debug, Default)]
pub struct Selection {
    pub to_run: Vec<String>,
    pub finished: Vec<(String, RunRecord)>,
}

/// Turn the jobs `names` into their smoke variants (label set pinned first, the smoke directory
/// cleared so the run is not skipped as done) when `smoke`, then split off the finished ones.
pub fn select(project: &mut Project, names: &[String], smoke: bool) -> Selection {
    if smoke {
        for job in project
            .jobs
            .iter_mut()
            .filter(|j| names.contains(&j.spec.name))
        {
            pin_labels(&mut job.spec);
            smoke_spec(&mut job.spec);
            // The smoke dir is ours to clear.
            let _ = std::fs::remove_dir_all(&job.spec.output);
        }
    }
    let mut out = Selection::default();
    for name in names {
        let Some(job) = project.job(name) else {
            continue;
        };
        match already_completed(&job.spec) {
            Some(rec) => out.finished.push((name.clone(), rec)),
            None => out.to_run.push(name.clone()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use finetune_spec::contract::output;
    use finetune_spec::ByteSize;
    use std::path::PathBuf;

    fn spec() -> JobSpec {
        serde_json::from_value(serde_json::json!({
            "name": "j", "model": "/m", "data": {"train": "/d/t.jsonl"}, "output": "/o",
            "resources": {"gpus": 2, "cpus": 1.5, "memory": "2g"}, "priority": 3
        }))
        .unwrap()
    }

    #[test]
    fn smoke_label_set_comes_from_the_whole_train_file() {
        let dir = tempfile::tempdir().unwrap();
        let train = dir.path().join("train.csv");
        let mut body = String::from("text,label\n");
        for i in 0..40 {
            body.push_str(&format!("t{i},{}\n", if i < 35 { "10" } else { "2" }));
        }
        std::fs::write(&train, body).unwrap();
        let mut s: JobSpec = serde_json::from_value(serde_json::json!({
            "name": "j", "model": "/m", "data": {"train": train}, "output": "/o"
        }))
        .unwrap();
        pin_labels(&mut s);
        smoke_spec(&mut s);
        // The first 32 rows are all `10`; the set still has both, in numeric order.
        assert_eq!(s.data.labels, Some(vec!["2".to_string(), "10".to_string()]));
    }

    #[test]
    fn smoke_runs_few_steps_on_few_rows_elsewhere() {
        let mut s = spec();
        smoke_spec(&mut s);
        assert_eq!(s.output, PathBuf::from("/o/smoke"));
        assert_eq!(s.train.max_steps, Some(SMOKE_STEPS));
        assert_eq!(s.data.limit, Some(SMOKE_ROWS));
        assert_ne!(s.config_hash(), spec().config_hash());
    }

    #[test]
    fn requests_follow_the_spec() {
        let r = request(&spec(), true);
        assert_eq!(r.gpus, GpuNeed::Count(2));
        assert_eq!(
            (r.priority, r.cpus, r.memory),
            (3, Some(1.5), Some(ByteSize(2 << 30).0))
        );
        let mut auto = spec();
        auto.resources.gpus = Gpus::Auto;
        assert_eq!(request(&auto, true).gpus, GpuNeed::All);
        assert_eq!(request(&auto, false).gpus, GpuNeed::None);
        auto.resources.gpus = Gpus::Count(0);
        assert_eq!(request(&auto, true).gpus, GpuNeed::None);
        // Shared GPUs carry the declared memory to the queue.
        auto.resources.gpus = Gpus::Shared(vec!["0".into()]);
        auto.resources.gpu_memory = Some(ByteSize(8 << 30));
        assert_eq!(
            request(&auto, true).gpus,
            GpuNeed::Shared {
                ids: vec!["0".into()],
                memory: Some(8 << 30)
            }
        );
    }

    #[test]
    fn completed_runs_with_the_same_config_are_recognised() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = spec();
        s.output = dir.path().into();
        assert!(already_completed(&s).is_none());
        let rec = |hash: String, reason: &str| {
            serde_json::json!({
                "job": "j", "trainer_version": "0", "config_hash": hash, "dataset_sha256": {},
                "seed": 42, "backend": "cpu", "started_at": "", "finished_at": "", "duration_s": 1.0,
                "steps": 10, "epochs": 1.0, "exit_reason": reason, "spec": s,
            })
            .to_string()
        };
        std::fs::write(
            dir.path().join(output::RUN_RECORD),
            rec(s.config_hash(), "completed"),
        )
        .unwrap();
        assert!(already_completed(&s).is_none(), "no weights yet");
        std::fs::create_dir_all(dir.path().join(output::MODEL)).unwrap();
        std::fs::write(dir.path().join(output::MODEL).join(output::WEIGHTS), b"w").unwrap();
        assert!(already_completed(&s).is_some());
        std::fs::write(
            dir.path().join(output::RUN_RECORD),
            rec(s.config_hash(), "interrupted"),
        )
        .unwrap();
        assert!(already_completed(&s).is_none());
        std::fs::write(
            dir.path().join(output::RUN_RECORD),
            rec("other".into(), "completed"),
        )
        .unwrap();
        assert!(already_completed(&s).is_none());
    }
}
