//! `up`: preflight, validate, build the image if missing, then start the job services with the
//! real `docker compose up -d` in the user's project (so `depends_on` works and
//! `docker compose ps/logs` see them), through the local GPU queue; then follow each job's
//! `metrics.jsonl` and container until all are done ([`follow`]).
//!
//! The checks and the start itself are the service layer's ([`crate::service::launch`]), shared
//! with the Compose provider. A job whose `run.json` says it completed with the same config hash
//! is not started again; an interrupted one is started and resumes from its checkpoint (the
//! trainer does that). `--smoke` runs each job for 3 steps on 32 rows into `<output>/smoke`
//! (cleared first) and reports pass or fail per job. Tracked jobs are sent to MLflow as they
//! run (not smoke runs), from the host ([`crate::service::mlflow`]).

mod follow;

use crate::cli::up::UpArgs;
use crate::commands::{require_valid, select_jobs, Ctx};
use crate::compose_cli::{buildx_present, rendered_path, ComposeCli};
use crate::exit::{fail, fail_hint, ExitCode};
use crate::scheduler::Scheduler;
use crate::service::containers::{self, Outcome};
use crate::service::host::{require_compose, Host};
use crate::service::launch::{self, Target};
use crate::service::{jobs, Terminal};
use crate::ui;
use finetune_compose::{JobSource, Project};
use finetune_spec::contract::output;
use follow::{Finished, Running};
use indicatif::{MultiProgress, ProgressDrawTarget};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::signal::unix::{signal, SignalKind};

#[derive(Debug, Clone)]
pub struct Options {
    pub jobs: Vec<String>,
    pub detach: bool,
    pub smoke: bool,
    pub build: bool,
    pub stop_timeout: u32,
}

impl From<UpArgs> for Options {
    fn from(a: UpArgs) -> Options {
        Options {
            jobs: a.jobs,
            detach: a.detach,
            smoke: a.smoke,
            build: a.build,
            stop_timeout: a.stop_timeout,
        }
    }
}

pub async fn run(ctx: &Ctx, opts: Options) -> anyhow::Result<ExitCode> {
    let mut project = ctx.load()?;
    require_valid(&project, true)?;
    let selected = selected(&project, &opts.jobs)?;

    // Engine and Compose before anything starts.
    let host = Host::new(ctx.engine().await?).await?;
    let docker = ComposeCli::docker_binary();
    require_compose(&docker).await?;
    let classic_builder = !buildx_present(&docker).await;

    let selection = jobs::select(&mut project, &selected, opts.smoke);
    for (name, rec) in &selection.finished {
        let out = project
            .job(name)
            .map(|j| j.spec.output.join(output::RUN_RECORD));
        ui::status(format!(
            "[+] job `{name}`: already completed with this config ({} steps{}); not retraining \
             (remove {} to train again)",
            rec.steps,
            rec.final_eval
                .as_ref()
                .map(|e| format!(", eval accuracy {:.4}", e.accuracy))
                .unwrap_or_default(),
            out.unwrap_or_default().display()
        ));
    }
    let to_run = selection.to_run;
    if to_run.is_empty() {
        return Ok(ExitCode::Success);
    }

    // Built once; the queue's allocations are filled in as jobs start. Every job of the project
    // is rendered (only the started ones are started), so Compose does not call the project's
    // other job containers orphans.
    let mut render = jobs::render_options(Vec::new(), host.gpu.available(), BTreeMap::new());
    launch::prepare(&host, &project, &to_run, &mut render, opts.build, &Terminal).await?;

    let mut sched = Scheduler::new(host.inventory(&project, &to_run, &Terminal)?);
    for name in &to_run {
        let spec = &project.job(name).expect("selected job exists").spec;
        sched
            .submit(jobs::request(spec, host.gpu.available()))
            .map_err(|e| {
                fail_hint(
                    ExitCode::InvalidSpec,
                    e.to_string(),
                    "lower the job's `resources` or run it on a bigger host",
                )
            })?;
    }

    let target = Target::new(
        ComposeCli {
            docker,
            project: project.name.clone(),
            project_dir: project.dir.clone(),
            files: project.files.clone(),
            env_files: ctx.project_options.env_files.clone(),
            profiles: ctx.project_options.profiles.clone(),
            docker_host: host.engine.endpoint.host.clone(),
            classic_builder,
            verbose: ctx.debug,
        },
        rendered_path(&project.dir),
    );

    let multi = MultiProgress::with_draw_target(if ui::stderr_is_tty() && !opts.detach {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    });
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(String, Outcome)>();
    let mut running: BTreeMap<String, Running> = BTreeMap::new();
    let mut finished: Vec<Finished> = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    // Installed once, before anything starts, so no Ctrl-C (or SIGTERM from a supervisor) is lost
    // between loop turns.
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sigterm = signal(SignalKind::terminate())?;

    loop {
        // Start what fits.
        let started = sched.start_ready();
        if !started.is_empty() {
            for (name, alloc) in &started {
                render.allocations.insert(name.clone(), alloc.gpus.clone());
            }
            let names: Vec<String> = started.iter().map(|(n, _)| n.clone()).collect();
            let services = launch::start(&project, &target, &render, &names, &Terminal).await?;
            for (name, service) in services {
                let container =
                    containers::service_container(&host.engine, &project.name, &service).await?;
                let gpus = &render.allocations[&name];
                ui::status(format!(
                    "[+] job `{name}` started ({}{})",
                    &container[..12.min(container.len())],
                    if gpus.is_empty() {
                        ", CPU".to_string()
                    } else {
                        format!(", GPUs {}", gpus.join(","))
                    }
                ));
                if opts.detach {
                    continue;
                }
                let (docker, tx, job) = (host.engine.docker.clone(), tx.clone(), name.clone());
                tokio::spawn(async move {
                    let outcome = containers::wait_exit(&docker, &container).await;
                    let _ = tx.send((job, outcome));
                });
                let spec = &project.job(&name).expect("started job exists").spec;
                let tracking = follow::tracking(spec, &project.name, opts.smoke);
                running.insert(
                    name.clone(),
                    Running::new(&multi, &name, service, spec, tracking),
                );
            }
        }
        if opts.detach {
            return Ok(detached(&sched));
        }
        if running.is_empty() && sched.is_idle() {
            break;
        }
        if running.is_empty() {
            // Nothing runs yet something waits: the scheduler would have started it.
            return Err(fail(
                ExitCode::Other,
                format!("jobs cannot be scheduled: {}", sched.waiting().join(", ")),
            ));
        }
        tokio::select! {
            _ = async { tokio::select! { _ = sigint.recv() => {}, _ = sigterm.recv() => {} } } => {
                multi.clear().ok();
                let code = interrupted(&target.compose, &running, opts.stop_timeout).await;
                // The jobs have stopped and recorded it: their MLflow runs are closed too.
                follow::end_tracking(running.into_values(), ExitCode::Interrupted as i64).await;
                return code;
            }
            Some((name, outcome)) = rx.recv() => {
                if let Some(r) = running.remove(&name) {
                    finished.push(r.finish(&multi, outcome, opts.smoke));
                }
                sched.finish(&name);
            }
            _ = tick.tick() => {
                for r in running.values_mut() {
                    r.poll();
                }
            }
        }
    }
    follow::wait_for_tracking(&mut finished).await;
    Ok(follow::summarize(
        &finished,
        |n| project.job(n).map(|j| &j.spec),
        opts.smoke,
    ))
}

/// The jobs `up` runs: those named, else every job that is not a provider service (Compose
/// starts those itself).
fn selected(project: &Project, names: &[String]) -> anyhow::Result<Vec<String>> {
    let selected: Vec<String> = select_jobs(project, names)?
        .into_iter()
        .filter(|j| !names.is_empty() || !matches!(j.source, JobSource::Provider(_)))
        .map(|j| j.spec.name.clone())
        .collect();
    if selected.is_empty() {
        return Err(fail_hint(
            ExitCode::InvalidSpec,
            format!("project `{}` has no fine-tune jobs", project.name),
            "add an `x-finetune` section (see docs/spec.md)",
        ));
    }
    Ok(selected)
}

/// `--detach`: say what did not start and how to follow the rest.
fn detached(sched: &Scheduler) -> ExitCode {
    let waiting = sched.waiting();
    if !waiting.is_empty() {
        ui::warn(format!(
            "not started (waiting for GPUs or CPU/memory): {}; run `docker finetune up` again when the running jobs finish",
            waiting.join(", ")
        ));
    }
    ui::status("[+] detached; follow with `docker finetune ps` and `docker finetune logs JOB`");
    ExitCode::Success
}

/// Ctrl-C or SIGTERM: stop the running jobs with time to checkpoint.
async fn interrupted(
    compose: &ComposeCli,
    running: &BTreeMap<String, Running>,
    stop_timeout: u32,
) -> anyhow::Result<ExitCode> {
    ui::status(format!(
        "[+] stopping jobs (they get {stop_timeout}s to checkpoint)..."
    ));
    let svcs: Vec<String> = running.values().map(|r| r.service.clone()).collect();
    let t = stop_timeout.to_string();
    let mut args = vec!["stop", "-t", t.as_str()];
    args.extend(svcs.iter().map(String::as_str));
    compose.run(&args).await?;
    ui::status(
        "[+] interrupted; run `docker finetune up` again to resume from the last checkpoint",
    );
    Ok(ExitCode::Interrupted)
}
