//! `ps`: the project's job containers (found by the `com.docker.finetune.project` label, so no
//! local state) with their progress read from each output directory's `metrics.jsonl`.

use crate::cli::ps::PsArgs;
use crate::cli::TableFormat;
use crate::commands::Ctx;
use crate::engine::{labels, parse_timestamp, Engine};
use crate::exit::ExitCode;
use crate::service::progress::{format_duration, Snapshot};
use bollard::query_parameters::InspectContainerOptions;
use comfy_table::{presets, Table};
use serde::Serialize;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub struct Options {
    pub format: TableFormat,
    pub all_projects: bool,
}

impl From<PsArgs> for Options {
    fn from(a: PsArgs) -> Options {
        Options {
            format: a.format,
            all_projects: a.all_projects,
        }
    }
}

/// One row of `ps`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Row {
    pub project: String,
    pub job: String,
    pub service: String,
    pub container: String,
    /// Docker's state (`running`, `exited`...), plus the exit code when exited.
    pub state: String,
    pub exit_code: Option<i64>,
    pub oom_killed: bool,
    pub epoch: f64,
    pub step: u64,
    pub total_steps: Option<u64>,
    pub loss: Option<f64>,
    pub eval_accuracy: Option<f64>,
    pub gpus: Vec<String>,
    pub elapsed_s: Option<u64>,
    pub eta_s: Option<u64>,
    pub output: Option<PathBuf>,
}

pub async fn run(ctx: &Ctx, opts: Options) -> anyhow::Result<ExitCode> {
    let project = if opts.all_projects {
        None
    } else {
        Some(ctx.project_name()?)
    };
    let engine = ctx.engine().await?;
    let rows = rows(&engine, project.as_deref()).await?;
    match opts.format {
        TableFormat::Json => println!("{}", serde_json::to_string_pretty(&rows)?),
        TableFormat::Table => println!("{}", table(&rows, opts.all_projects)),
    }
    Ok(ExitCode::Success)
}

/// The job containers of a project (or of all projects).
pub async fn rows(engine: &Engine, project: Option<&str>) -> anyhow::Result<Vec<Row>> {
    let filter: Vec<(&str, &str)> = match project {
        Some(p) => vec![(labels::PROJECT, p)],
        None => vec![],
    };
    let mut containers = if filter.is_empty() {
        // Label presence filter: `label=KEY` matches any value.
        engine
            .containers(&[])
            .await?
            .into_iter()
            .filter(|c| {
                c.labels
                    .as_ref()
                    .is_some_and(|l| l.contains_key(labels::JOB))
            })
            .collect()
    } else {
        engine.containers(&filter).await?
    };
    containers.sort_by_key(|c| {
        c.labels
            .as_ref()
            .and_then(|l| l.get(labels::JOB).cloned())
            .unwrap_or_default()
    });
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let mut out = Vec::new();
    for c in containers {
        let Some(id) = c.id.clone() else { continue };
        let l = c.labels.clone().unwrap_or_default();
        let inspect = engine
            .docker
            .inspect_container(&id, None::<InspectContainerOptions>)
            .await
            .ok();
        let state = inspect
            .as_ref()
            .and_then(|i| i.state.clone())
            .unwrap_or_default();
        let gpus: Vec<String> = inspect
            .as_ref()
            .and_then(|i| i.host_config.as_ref())
            .and_then(|h| h.device_requests.clone())
            .unwrap_or_default()
            .into_iter()
            .flat_map(|d| match (d.device_ids, d.count) {
                (Some(ids), _) if !ids.is_empty() => ids,
                (_, Some(-1)) => vec!["all".to_string()],
                (_, Some(n)) if n > 0 => vec![format!("{n} (any)")],
                _ => vec![],
            })
            .collect();
        let started = state.started_at.as_deref().and_then(parse_timestamp);
        let finished = state.finished_at.as_deref().and_then(parse_timestamp);
        let running = state.running.unwrap_or(false);
        let elapsed = started.map(|s| {
            let end = if running {
                now
            } else {
                finished.unwrap_or(now)
            };
            (end - s).max(0) as u64
        });
        let output = l.get(labels::OUTPUT).map(PathBuf::from);
        let snap = output.as_deref().map(Snapshot::read).unwrap_or_default();
        let eta = match (running, elapsed, snap.total_steps) {
            (true, Some(e), Some(_)) if snap.step > 0 => snap
                .eta(snap.step, Duration::from_secs(e))
                .map(|d| d.as_secs()),
            _ => None,
        };
        let status = state
            .status
            .map(|s| s.to_string())
            .or(c.state.map(|s| s.to_string()))
            .unwrap_or_else(|| "unknown".into());
        out.push(Row {
            project: l.get(labels::PROJECT).cloned().unwrap_or_default(),
            job: l.get(labels::JOB).cloned().unwrap_or_default(),
            service: l.get(labels::COMPOSE_SERVICE).cloned().unwrap_or_default(),
            container: id.chars().take(12).collect(),
            exit_code: (!running).then_some(state.exit_code).flatten(),
            oom_killed: state.oom_killed.unwrap_or(false),
            state: status,
            epoch: snap.epoch,
            step: snap.step,
            total_steps: snap.total_steps,
            loss: snap.loss,
            eval_accuracy: snap.eval_accuracy,
            gpus,
            elapsed_s: elapsed,
            eta_s: eta,
            output,
        });
    }
    Ok(out)
}

/// The table, readable without colour.
pub fn table(rows: &[Row], with_project: bool) -> String {
    let mut t = Table::new();
    t.load_preset(presets::NOTHING);
    let mut header = vec![
        "JOB", "STATE", "EPOCH", "STEP", "LOSS", "EVAL ACC", "GPUS", "ELAPSED", "ETA",
    ];
    if with_project {
        header.insert(0, "PROJECT");
    }
    t.set_header(header);
    for r in rows {
        let state = match (r.exit_code, r.oom_killed) {
            (_, true) => "exited (out of memory)".to_string(),
            (Some(c), _) => format!("{} ({})", r.state, crate::exit::describe_job_exit(c, false)),
            (None, _) => r.state.clone(),
        };
        let opt = |v: Option<f64>| v.map(|x| format!("{x:.4}")).unwrap_or_else(|| "-".into());
        let mut cells = vec![
            r.job.clone(),
            state,
            format!("{:.2}", r.epoch),
            match r.total_steps {
                Some(t) => format!("{}/{t}", r.step),
                None => r.step.to_string(),
            },
            opt(r.loss),
            opt(r.eval_accuracy),
            if r.gpus.is_empty() {
                "cpu".into()
            } else {
                r.gpus.join(",")
            },
            r.elapsed_s
                .map(|s| format_duration(Duration::from_secs(s)))
                .unwrap_or_else(|| "-".into()),
            r.eta_s
                .map(|s| format_duration(Duration::from_secs(s)))
                .unwrap_or_else(|| "-".into()),
        ];
        if with_project {
            cells.insert(0, r.project.clone());
        }
        t.add_row(cells);
    }
    t.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_shows_progress_and_outcome() {
        let row = Row {
            project: "p".into(),
            job: "sentiment".into(),
            service: "sentiment".into(),
            container: "abc".into(),
            state: "exited".into(),
            exit_code: Some(0),
            oom_killed: false,
            epoch: 1.5,
            step: 30,
            total_steps: Some(60),
            loss: Some(0.5),
            eval_accuracy: Some(0.8),
            gpus: vec![],
            elapsed_s: Some(65),
            eta_s: None,
            output: None,
        };
        let t = table(std::slice::from_ref(&row), false);
        assert!(t.contains("JOB"));
        assert!(t.contains("sentiment"));
        assert!(t.contains("exited (done)"));
        assert!(t.contains("30/60"));
        assert!(t.contains("0.8000"));
        assert!(t.contains("1m05s"));
        assert!(t.contains("cpu"));
        let oom = Row {
            oom_killed: true,
            exit_code: Some(137),
            ..row
        };
        assert!(table(&[oom], true).contains("out of memory"));
    }
}
