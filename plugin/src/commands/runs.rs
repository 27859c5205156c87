//! `runs`: finished runs from the `run.json` in each job's output directory (and its `smoke/`
//! run): exit reason, metrics (with each label's F1 when the run recorded per-class scores),
//! config and dataset hashes, output path, and the model images `package` made of the run (from
//! its `.finetune/packages.json`: tag, and the registry digest once pushed). No engine needed.
//!
//! `--sync` first sends each tracked job's output directory to its MLflow server, through the
//! same [`Syncer::poll`] that `up` runs while it follows a job: what `up` could not send (the
//! server was down) goes now, and what was sent is not sent again. A server that cannot be reached
//! is a warning, not an error: the runs themselves are fine.

use crate::cli::runs::RunsArgs;
use crate::cli::TableFormat;
use crate::commands::{select_jobs, Ctx};
use crate::exit::{fail_hint, ExitCode};
use crate::service::mlflow::{self, client, sync::Syncer};
use crate::service::model_image::ledger::{Ledger, PackagedImage};
use crate::service::progress::format_duration;
use crate::ui;
use comfy_table::{presets, Table};
use finetune_compose::{Job, Project};
use finetune_spec::contract::{output, EvalMetrics, RunRecord};
use serde::Serialize;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub struct Options {
    pub format: TableFormat,
    pub jobs: Vec<String>,
    pub sync: bool,
}

impl From<RunsArgs> for Options {
    fn from(a: RunsArgs) -> Options {
        Options {
            format: a.format,
            jobs: a.jobs,
            sync: a.sync,
        }
    }
}

/// One run found on disk.
#[derive(Debug, Clone, Serialize)]
pub struct Run {
    pub output: PathBuf,
    pub smoke: bool,
    #[serde(flatten)]
    pub record: RunRecord,
    /// The model images made of this run, oldest first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub packages: Vec<PackagedImage>,
}

/// The runs recorded under an output directory (the run itself and its smoke run).
pub fn read_runs(output_dir: &Path) -> Vec<Run> {
    [
        (output_dir.to_path_buf(), false),
        (output_dir.join("smoke"), true),
    ]
    .into_iter()
    .filter_map(|(dir, smoke)| {
        let text = std::fs::read_to_string(dir.join(output::RUN_RECORD)).ok()?;
        let record: RunRecord = serde_json::from_str(&text).ok()?;
        let packages = Ledger::load(&dir).images(&record).to_vec();
        Some(Run {
            output: dir,
            smoke,
            record,
            packages,
        })
    })
    .collect()
}

pub fn run(ctx: &Ctx, opts: Options) -> anyhow::Result<ExitCode> {
    let project = ctx.load()?;
    let jobs = select_jobs(&project, &opts.jobs)?;
    if opts.sync {
        sync(&project, &jobs)?;
    }
    let runs: Vec<Run> = jobs
        .iter()
        .flat_map(|j| read_runs(&j.spec.output))
        .collect();
    match opts.format {
        TableFormat::Json => println!("{}", serde_json::to_string_pretty(&runs)?),
        TableFormat::Table => {
            println!("{}", table(&runs));
            if runs.is_empty() {
                eprintln!("no finished runs yet; `docker finetune up` writes one per job");
            }
        }
    }
    Ok(ExitCode::Success)
}

/// `--sync`: each tracked job's output directory sent to its server. Jobs on a server found
/// down are not tried again (one warning in all, and no waiting on it per job).
fn sync(project: &Project, jobs: &[&Job]) -> anyhow::Result<()> {
    let mut tracked = 0;
    let mut down = BTreeSet::new();
    for job in jobs {
        let Some(target) = mlflow::target_from_env(&job.spec, &project.name) else {
            continue;
        };
        tracked += 1;
        if down.contains(&target.uri) {
            continue;
        }
        let name = &job.spec.name;
        let result = Syncer::new(target.clone(), &job.spec, &project.name).and_then(|mut s| {
            let sent = s.poll(None)?;
            Ok((sent, s.run_id()))
        });
        match result {
            Ok((_, None)) => ui::note(format!("job `{name}`: not started yet, nothing to send")),
            Ok((sent, Some(run))) => ui::status(format!(
                "[+] job `{name}`: MLflow run {run} (experiment `{}` at {}): {}",
                target.experiment,
                target.uri,
                if sent.is_empty() {
                    "up to date".to_string()
                } else {
                    format!(
                        "sent {} params, {} tags, {} metrics, {} artifacts{}",
                        sent.params,
                        sent.tags,
                        sent.metrics,
                        sent.artifacts,
                        sent.status
                            .map(|s| format!(", status {s}"))
                            .unwrap_or_default()
                    )
                }
            )),
            Err(e) => {
                if matches!(
                    e,
                    client::Error::Unreachable { .. }
                        | client::Error::Scheme(_)
                        | client::Error::NoTls(_)
                ) {
                    down.insert(target.uri.clone());
                }
                mlflow::warn_once(&e);
            }
        }
    }
    if tracked == 0 {
        return Err(fail_hint(
            ExitCode::InvalidSpec,
            "--sync: no selected job is tracked",
            "add `tracking: {mlflow: {uri: http://HOST:5000}}` to the job (or to `x-finetune.defaults`), or set MLFLOW_TRACKING_URI",
        ));
    }
    Ok(())
}

fn short(h: &str) -> String {
    h.chars().take(12).collect()
}

/// Each label's F1, compactly (`negative:0.91 neutral:0.60`); `-` for records without them.
fn class_f1(e: &EvalMetrics) -> String {
    if e.per_class.is_empty() {
        return "-".into();
    }
    let each: Vec<String> = e
        .per_class
        .iter()
        .map(|(label, m)| format!("{label}:{:.2}", m.f1))
        .collect();
    each.join(" ")
}

/// The final eval loss, and the base model's before training where the run scored it (text
/// generation): `1.9021 (base 2.4410)`; `-` without an eval set.
fn eval_loss(rec: &RunRecord) -> String {
    match (&rec.final_eval, &rec.base_eval) {
        (Some(e), Some(b)) => format!("{:.4} (base {:.4})", e.loss, b.loss),
        (Some(e), None) => format!("{:.4}", e.loss),
        (None, _) => "-".into(),
    }
}

/// The run's model images, one a line: the tag, and the digest once pushed; `-` for none.
fn images(packages: &[PackagedImage]) -> String {
    if packages.is_empty() {
        return "-".into();
    }
    let each: Vec<String> = packages
        .iter()
        .map(|p| match &p.digest {
            Some(d) => format!("{} ({d})", p.tag),
            None => p.tag.clone(),
        })
        .collect();
    each.join("\n")
}

pub fn table(runs: &[Run]) -> String {
    let mut t = Table::new();
    t.load_preset(presets::NOTHING);
    t.set_header(vec![
        "JOB",
        "RESULT",
        "STEPS",
        "EPOCHS",
        "LOSS",
        "EVAL LOSS",
        "EVAL ACC",
        "EVAL F1",
        "CLASS F1",
        "DURATION",
        "CONFIG",
        "DATA",
        "FINISHED",
        "IMAGE",
        "OUTPUT",
    ]);
    for r in runs {
        let rec = &r.record;
        let opt = |v: Option<f64>| v.map(|x| format!("{x:.4}")).unwrap_or_else(|| "-".into());
        t.add_row(vec![
            if r.smoke {
                format!("{} (smoke)", rec.job)
            } else {
                rec.job.clone()
            },
            serde_json::to_value(rec.exit_reason)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default(),
            rec.steps.to_string(),
            format!("{:.2}", rec.epochs),
            opt(rec.final_train_loss),
            eval_loss(rec),
            opt(rec.final_eval.as_ref().map(|e| e.accuracy)),
            opt(rec.final_eval.as_ref().and_then(|e| e.macro_f1)),
            rec.final_eval
                .as_ref()
                .map(class_f1)
                .unwrap_or_else(|| "-".into()),
            format_duration(Duration::from_secs_f64(rec.duration_s.max(0.0))),
            short(&rec.config_hash),
            rec.dataset_sha256
                .get("train")
                .map(|h| short(h))
                .unwrap_or_else(|| "-".into()),
            rec.finished_at.clone(),
            images(&r.packages),
            r.output.display().to_string(),
        ]);
    }
    t.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_and_smoke_runs_are_read_and_tabled() {
        let dir = tempfile::tempdir().unwrap();
        let rec = serde_json::json!({
            "job": "a", "trainer_version": "0.1.0", "config_hash": "abcdef0123456789", "dataset_sha256": {"train": "99887766554433221100"},
            "seed": 42, "backend": "cpu", "started_at": "s", "finished_at": "2026-11-27T23:00:00Z", "duration_s": 61.0,
            "steps": 40, "epochs": 2.0, "final_eval": {"loss": 0.4, "accuracy": 0.9, "macro_f1": 0.88, "samples": 50},
            "final_train_loss": 0.3, "exit_reason": "completed",
            "spec": {"name": "a", "model": "/model", "data": {"train": "/data/t.jsonl"}, "output": "/output"}
        });
        std::fs::write(dir.path().join(output::RUN_RECORD), rec.to_string()).unwrap();
        std::fs::create_dir_all(dir.path().join("smoke")).unwrap();
        std::fs::write(
            dir.path().join("smoke").join(output::RUN_RECORD),
            rec.to_string(),
        )
        .unwrap();
        let runs = read_runs(dir.path());
        assert_eq!(runs.len(), 2);
        let t = table(&runs);
        assert!(t.contains("completed"));
        assert!(t.contains("0.9000"));
        assert!(t.contains("abcdef012345"));
        assert!(t.contains("(smoke)"));
        assert!(t.contains("1m01s"));
        let json = serde_json::to_value(&runs).unwrap();
        assert_eq!(json[0]["job"], "a");
        assert!(json[0]["output"].is_string());
        assert!(read_runs(&dir.path().join("nope")).is_empty());
        // A record from before per-class scores shows `-` for them.
        assert!(!t.contains("neutral:"));
        assert!(json[0].get("packages").is_none());

        // A packaged run shows its images; the smoke run's ledger is its own.
        let mut ledger = Ledger::default();
        ledger.add(
            &runs[0].record,
            PackagedImage {
                tag: "p/a:v1-m-20261207".into(),
                id: "sha256:1".into(),
                digest: Some("127.0.0.1:5000/p/a@sha256:2".into()),
                ..Default::default()
            },
        );
        ledger.save(dir.path()).unwrap();
        let runs = read_runs(dir.path());
        assert_eq!(runs[0].packages.len(), 1);
        assert!(runs[1].packages.is_empty());
        let t = table(&runs);
        assert!(
            t.contains("p/a:v1-m-20261207 (127.0.0.1:5000/p/a@sha256:2)"),
            "{t}"
        );
        let json = serde_json::to_value(&runs).unwrap();
        assert_eq!(json[0]["packages"][0]["tag"], "p/a:v1-m-20261207");
    }

    #[test]
    fn a_text_generation_run_shows_its_eval_loss_against_the_base_model() {
        let dir = tempfile::tempdir().unwrap();
        let lm = |loss: f64| serde_json::json!({"loss": loss, "accuracy": 0.4, "perplexity": f64::exp(loss), "samples": 24, "tokens": 300});
        let mut rec = serde_json::json!({
            "job": "chat", "trainer_version": "0.1.0", "config_hash": "abc", "dataset_sha256": {},
            "seed": 42, "backend": "cpu", "started_at": "s", "finished_at": "f", "duration_s": 90.0,
            "steps": 12, "epochs": 1.0, "exit_reason": "max_steps",
            "final_eval": lm(1.9021), "base_eval": lm(2.441),
            "spec": {"name": "chat", "task": "text-generation", "model": "/model/m.gguf", "data": {"train": "/data/t.jsonl"}, "output": "/output"}
        });
        std::fs::write(dir.path().join(output::RUN_RECORD), rec.to_string()).unwrap();
        let t = table(&read_runs(dir.path()));
        assert!(t.contains("EVAL LOSS"), "{t}");
        assert!(t.contains("1.9021 (base 2.4410)"), "{t}");
        let json = serde_json::to_value(read_runs(dir.path())).unwrap();
        assert_eq!(json[0]["base_eval"]["loss"], 2.441);
        // Without a base score (a classifier), the eval loss alone.
        rec.as_object_mut().unwrap().remove("base_eval");
        std::fs::write(dir.path().join(output::RUN_RECORD), rec.to_string()).unwrap();
        let t = table(&read_runs(dir.path()));
        assert!(t.contains("1.9021") && !t.contains("(base"), "{t}");
    }

    #[test]
    fn per_class_scores_are_shown_in_the_table_and_json() {
        let dir = tempfile::tempdir().unwrap();
        let class = |p: f64, r: f64, f1: f64, support: u64| serde_json::json!({"precision": p, "recall": r, "f1": f1, "support": support});
        let rec = serde_json::json!({
            "job": "tweets", "trainer_version": "0.1.0", "config_hash": "abc", "dataset_sha256": {},
            "seed": 42, "backend": "cpu", "started_at": "s", "finished_at": "f", "duration_s": 1.0,
            "steps": 4, "epochs": 1.0, "exit_reason": "completed",
            "final_eval": {"loss": 0.9, "accuracy": 0.6, "macro_f1": 0.55, "samples": 30, "per_class": {
                "negative": class(0.7, 0.6, 0.646, 10), "neutral": class(0.3, 0.2, 0.24, 10),
                "positive": class(0.8, 0.9, 0.847, 10)}},
            "spec": {"name": "tweets", "model": "/model", "data": {"train": "/data/t.jsonl"}, "output": "/output"}
        });
        std::fs::write(dir.path().join(output::RUN_RECORD), rec.to_string()).unwrap();
        let runs = read_runs(dir.path());
        let t = table(&runs);
        assert!(t.contains("CLASS F1"), "{t}");
        assert!(
            t.contains("negative:0.65 neutral:0.24 positive:0.85"),
            "{t}"
        );
        let json = serde_json::to_value(&runs).unwrap();
        assert_eq!(json[0]["final_eval"]["per_class"]["neutral"]["recall"], 0.2);
        assert_eq!(
            json[0]["final_eval"]["per_class"]["positive"]["support"],
            10
        );
    }
}
