//! `up`: preflight, validate, build the image if missing, render the override, then start the
//! job services with the real `docker compose up -d` in the user's project (so `depends_on`
//! works and `docker compose ps/logs` see them), through the local GPU queue; then follow each
//! job's `metrics.jsonl` and container until all are done.
//!
//! Output directories are created on the host before the start, writable by the trainer's
//! non-root user 65532: chowned to it when `up` runs as root, else made mode 0777 (a non-root
//! user cannot chown). A job whose `run.json` says it completed with the same config hash is not
//! started again; an interrupted one is started and resumes from its checkpoint (the trainer
//! does that). `--smoke` runs each job for 3 steps on 32 rows into `<output>/smoke` (cleared
//! first) and reports pass or fail per job.

use crate::cli::up::UpArgs;
use crate::commands::build::ensure_image;
use crate::commands::config::render_options;
use crate::commands::doctor::{free_bytes, gib, preflight_gpus, MIN_FREE};
use crate::commands::{require_valid, select_jobs, Ctx};
use crate::compose_cli::{buildx_present, compose_version, rendered_path, ComposeCli};
use crate::engine::{self, labels, Engine};
use crate::exit::{describe_job_exit, fail, fail_hint, ExitCode};
use crate::progress::{format_duration, format_line, Snapshot, Tail};
use crate::scheduler::{GpuNeed, Request, Scheduler};
use crate::ui;
use finetune_compose::{render, JobSource, Project};
use finetune_spec::contract::{output, RunRecord};
use finetune_spec::{Count, Gpus, JobSpec, Steps};
use futures_util::StreamExt;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The uid:gid the trainer runs as in its container.
pub const TRAINER_UID: u32 = 65532;

/// Smoke runs: this many optimizer steps on this many rows of each file.
pub const SMOKE_STEPS: Steps = Steps::of(3);
pub const SMOKE_ROWS: Count = Count::of(32);

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

/// The scheduler request of a job; `auto` becomes every GPU when the host has a runtime, else
/// none.
pub fn request(spec: &JobSpec, gpu_available: bool) -> Request {
    let gpus = match &spec.resources.gpus {
        g if g.is_none() => GpuNeed::None,
        Gpus::Auto if gpu_available => GpuNeed::All,
        Gpus::Auto => GpuNeed::None,
        Gpus::All => GpuNeed::All,
        Gpus::Count(n) => GpuNeed::Count(*n),
        Gpus::Ids(ids) => GpuNeed::Ids(ids.clone()),
    };
    Request {
        name: spec.name.clone(),
        priority: spec.priority,
        gpus,
        cpus: spec.resources.cpus.map(|c| c.get()),
        memory: spec.resources.memory.map(|m| m.0),
    }
}

/// Create an output (or cache) directory the trainer's user can write.
pub fn prepare_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| {
        fail_hint(
            if e.raw_os_error() == Some(libc::ENOSPC) {
                ExitCode::DiskFull
            } else {
                ExitCode::Other
            },
            format!("cannot create {}: {e}", dir.display()),
            "check the `output` path and its permissions",
        )
    })?;
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        chown_tree(dir)?;
    } else {
        use std::os::unix::fs::PermissionsExt;
        // Not root: we cannot chown to 65532, so open the directory up instead.
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777)).map_err(|e| {
            fail_hint(
                ExitCode::Other,
                format!(
                    "cannot make {} writable for the trainer (uid {TRAINER_UID}): {e}",
                    dir.display()
                ),
                format!(
                    "run `sudo chown -R {TRAINER_UID}:{TRAINER_UID} {}`",
                    dir.display()
                ),
            )
        })?;
    }
    Ok(())
}

fn chown_tree(dir: &Path) -> anyhow::Result<()> {
    std::os::unix::fs::lchown(dir, Some(TRAINER_UID), Some(TRAINER_UID))?;
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                chown_tree(&e.path())?;
            } else {
                std::os::unix::fs::lchown(e.path(), Some(TRAINER_UID), Some(TRAINER_UID))?;
            }
        }
    }
    Ok(())
}

/// A job as `up` follows it.
struct Running {
    name: String,
    service: String,
    output: PathBuf,
    tail: Tail,
    snap: Snapshot,
    started: Instant,
    /// The first step seen in this run and when, for the rate behind the ETA.
    first: Option<(u64, Instant)>,
    bar: ProgressBar,
    last_plain: Option<u64>,
}

impl Running {
    fn eta(&self) -> Option<Duration> {
        let (s0, t0) = self.first?;
        self.snap
            .eta(self.snap.step.saturating_sub(s0), t0.elapsed())
    }
}

/// How one job ended.
struct Outcome {
    status: i64,
    oom: bool,
    memory_limit: Option<i64>,
}

pub async fn run(ctx: &Ctx, opts: Options) -> anyhow::Result<ExitCode> {
    let mut project = ctx.load()?;
    require_valid(&project, true)?;
    let selected: Vec<String> = select_jobs(&project, &opts.jobs)?
        .into_iter()
        .filter(|j| !opts.jobs.is_empty() || !matches!(j.source, JobSource::Provider(_)))
        .map(|j| j.spec.name.clone())
        .collect();
    if selected.is_empty() {
        return Err(fail_hint(
            ExitCode::InvalidSpec,
            format!("project `{}` has no fine-tune jobs", project.name),
            "add an `x-finetune` section (see docs/spec.md)",
        ));
    }

    // Preflight: engine, Compose, GPUs, disk; before anything starts.
    let engine = ctx.engine().await?;
    let info = engine.info().await?;
    let local = engine::is_local(&engine.endpoint);
    let gpu = engine::gpu_support(&info, local);
    {
        let reqs: Vec<(&str, &Gpus)> = selected
            .iter()
            .filter_map(|n| project.job(n))
            .map(|j| (j.spec.name.as_str(), &j.spec.resources.gpus))
            .collect();
        preflight_gpus(&gpu, &reqs)?;
        for (n, g) in &reqs {
            if matches!(g, Gpus::Auto) && !gpu.available() {
                ui::note(format!(
                    "job `{n}`: `gpus: auto` and no NVIDIA runtime on this engine: running on CPU"
                ));
            }
        }
    }
    let docker = ComposeCli::docker_binary();
    match compose_version(&docker).await {
        Some(v) if v.0 >= 2 => {}
        _ => {
            return Err(fail_hint(
                ExitCode::ComposeFailed,
                "`docker compose` (Compose v2) is required and was not found",
                "install it: `scripts/install-compose.sh` or the docker-compose-plugin package",
            ))
        }
    }
    let classic_builder = !buildx_present(&docker).await;

    if opts.smoke {
        for job in project
            .jobs
            .iter_mut()
            .filter(|j| selected.contains(&j.spec.name))
        {
            pin_labels(&mut job.spec);
            smoke_spec(&mut job.spec);
            // The smoke dir is ours: clear it so the run is not skipped as already done.
            let _ = std::fs::remove_dir_all(&job.spec.output);
        }
    }

    let mut to_run = Vec::new();
    for name in &selected {
        let Some(job) = project.job(name) else {
            continue;
        };
        if let Some(rec) = already_completed(&job.spec) {
            ui::status(format!(
                "[+] job `{name}`: already completed with this config ({} steps{}); not retraining \
                 (remove {} to train again)",
                rec.steps,
                rec.final_eval
                    .as_ref()
                    .map(|e| format!(", eval accuracy {:.4}", e.accuracy))
                    .unwrap_or_default(),
                job.spec.output.join(output::RUN_RECORD).display()
            ));
            continue;
        }
        to_run.push(name.clone());
    }
    if to_run.is_empty() {
        return Ok(ExitCode::Success);
    }

    for name in &to_run {
        let spec = &project.job(name).expect("selected job exists").spec;
        if let Some(free) = free_bytes(&spec.output) {
            if free < MIN_FREE {
                return Err(fail_hint(
                    ExitCode::DiskFull,
                    format!(
                        "only {} free where job `{name}` writes ({})",
                        gib(free),
                        spec.output.display()
                    ),
                    "free disk space or point `output` elsewhere",
                ));
            }
        }
        prepare_dir(&spec.output)?;
        if let Some(c) = &spec.cache {
            prepare_dir(c)?;
        }
    }

    // The image variants the jobs need (CUDA for jobs that get GPUs), built if missing.
    let preview = render(
        &project,
        &render_options(to_run.clone(), gpu.available(), BTreeMap::new()),
    )?;
    // Jobs that name their own `image` bring it themselves.
    let mut variants: Vec<bool> = preview
        .gpus
        .iter()
        .filter(|(n, _)| project.job(n).is_some_and(|j| j.spec.image.is_none()))
        .map(|(_, g)| *g)
        .collect();
    variants.sort();
    variants.dedup();
    for cuda in variants {
        let image = ensure_image(&engine, cuda, opts.build).await?;
        ui::status(format!("[+] trainer image {image}"));
    }
    for (name, refs) in &preview.env_refs {
        for var in refs.iter().filter(|v| std::env::var_os(v).is_none()) {
            ui::warn(format!(
                "job `{name}`: environment variable {var} is not set; the job gets it empty"
            ));
        }
    }

    let inventory = engine::inventory(&info, engine::gpu_ids(&gpu, local));
    let mut sched = Scheduler::new(inventory);
    for name in &to_run {
        let spec = &project.job(name).expect("selected job exists").spec;
        sched.submit(request(spec, gpu.available())).map_err(|e| {
            fail_hint(
                ExitCode::InvalidSpec,
                e.to_string(),
                "lower the job's `resources` or run it on a bigger host",
            )
        })?;
    }

    let mut compose = ComposeCli {
        docker,
        project: project.name.clone(),
        project_dir: project.dir.clone(),
        files: project.files.clone(),
        env_files: ctx.project_options.env_files.clone(),
        profiles: ctx.project_options.profiles.clone(),
        docker_host: engine.endpoint.host.clone(),
        classic_builder,
        verbose: ctx.debug,
    };
    let override_path = rendered_path(&project.dir);
    compose.files.push(override_path.clone());

    let multi = MultiProgress::with_draw_target(if ui::stderr_is_tty() && !opts.detach {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    });
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(String, Outcome)>();
    let mut allocations: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut running: BTreeMap<String, Running> = BTreeMap::new();
    let mut outcomes: Vec<(String, Outcome, Duration, Snapshot, PathBuf)> = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    // Installed once, before anything starts, so no Ctrl-C (or SIGTERM from a supervisor) is lost
    // between loop turns.
    use tokio::signal::unix::{signal, SignalKind};
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sigterm = signal(SignalKind::terminate())?;

    loop {
        // Start what fits.
        let started = sched.start_ready();
        if !started.is_empty() {
            for (name, alloc) in &started {
                allocations.insert(name.clone(), alloc.gpus.clone());
            }
            let services = start(
                &project,
                &compose,
                &override_path,
                &allocations,
                &gpu,
                &started,
            )
            .await?;
            for (name, service) in services {
                let container = find_container(&engine, &project.name, &service).await?;
                let spec = &project.job(&name).expect("started job exists").spec;
                let gpus = &allocations[&name];
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
                spawn_wait(&engine, &name, &container, tx.clone());
                let bar = multi.add(ProgressBar::new(0));
                bar.set_style(
                    ProgressStyle::with_template("{prefix:>14} [{bar:30}] {msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_bar())
                        .progress_chars("=> "),
                );
                bar.set_prefix(name.clone());
                bar.set_message("starting");
                running.insert(
                    name.clone(),
                    Running {
                        name: name.clone(),
                        service,
                        output: spec.output.clone(),
                        tail: Tail::new(&spec.output),
                        snap: Snapshot::default(),
                        started: Instant::now(),
                        first: None,
                        bar,
                        last_plain: None,
                    },
                );
            }
        }
        if opts.detach {
            let waiting = sched.waiting();
            if !waiting.is_empty() {
                ui::warn(format!(
                    "not started (waiting for GPUs or CPU/memory): {}; run `docker finetune up` again when the running jobs finish",
                    waiting.join(", ")
                ));
            }
            ui::status(
                "[+] detached; follow with `docker finetune ps` and `docker finetune logs JOB`",
            );
            return Ok(ExitCode::Success);
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
                ui::status(format!("[+] stopping jobs (they get {}s to checkpoint)...", opts.stop_timeout));
                let svcs: Vec<String> = running.values().map(|r| r.service.clone()).collect();
                let t = opts.stop_timeout.to_string();
                let mut args = vec!["stop", "-t", t.as_str()];
                args.extend(svcs.iter().map(String::as_str));
                compose.run(&args).await?;
                ui::status("[+] interrupted; run `docker finetune up` again to resume from the last checkpoint");
                return Ok(ExitCode::Interrupted);
            }
            Some((name, outcome)) = rx.recv() => {
                if let Some(mut r) = running.remove(&name) {
                    poll(&mut r);
                    r.bar.finish_and_clear();
                    multi.remove(&r.bar);
                    report_one(&r, &outcome, opts.smoke);
                    outcomes.push((name.clone(), outcome, r.started.elapsed(), r.snap.clone(), r.output.clone()));
                }
                sched.finish(&name);
            }
            _ = tick.tick() => {
                for r in running.values_mut() {
                    poll(r);
                }
            }
        }
    }

    let mut code = ExitCode::Success;
    for (name, o, _, _, _) in &outcomes {
        let c = ExitCode::from_job(o.status, o.oom);
        if c == ExitCode::OutOfMemory {
            let spec = &project.job(name).expect("job exists").spec;
            ui::error(format!(
                "job `{name}` ran out of memory (limit {})",
                o.memory_limit
                    .filter(|m| *m > 0)
                    .map(|m| finetune_spec::ByteSize(m as u64).to_string())
                    .or_else(|| spec.resources.memory.map(|m| m.to_string()))
                    .unwrap_or_else(|| "none: the host's memory".to_string())
            ));
            ui::hint(format!(
                "raise `resources.memory` of job `{name}` (now {}), or lower `train.batch_size` ({}) or `train.max_length` ({})",
                spec.resources.memory.map(|m| m.to_string()).unwrap_or_else(|| "unset".into()),
                spec.train.batch_size,
                spec.train.max_length
            ));
        }
        code = code.worst(c);
    }
    if opts.smoke {
        let passed = outcomes
            .iter()
            .filter(|(_, o, ..)| o.status == 0 && !o.oom)
            .count();
        ui::status(format!(
            "[+] smoke: {passed}/{} job(s) passed",
            outcomes.len()
        ));
    }
    if code != ExitCode::Success {
        ui::hint("`docker finetune logs JOB` shows the trainer's output");
    }
    Ok(code)
}

/// Render the override with the current allocations, write it, and `docker compose up -d` the
/// newly started jobs' services. Returns (job, service) pairs.
#[allow(clippy::too_many_arguments)]
async fn start(
    project: &Project,
    compose: &ComposeCli,
    override_path: &Path,
    allocations: &BTreeMap<String, Vec<String>>,
    gpu: &engine::GpuSupport,
    started: &[(String, crate::scheduler::Allocation)],
) -> anyhow::Result<Vec<(String, String)>> {
    // Every job of the project is rendered (only `started` ones are started), so Compose does
    // not call the project's other job containers orphans.
    let rendered = render(
        project,
        &render_options(Vec::new(), gpu.available(), allocations.clone()),
    )?;
    if let Some(dir) = override_path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(override_path, rendered.yaml())?;
    for (name, _) in started {
        if let Some(f) = rendered.job_files.get(name) {
            write_job_file(&f.host_path, &f.content)?;
        }
    }
    let services: Vec<(String, String)> = started
        .iter()
        .map(|(n, _)| {
            let svc = rendered
                .services
                .get(n)
                .cloned()
                .unwrap_or_else(|| n.clone());
            (n.clone(), svc)
        })
        .collect();
    let mut args = vec!["up", "--detach"];
    args.extend(services.iter().map(|(_, s)| s.as_str()));
    compose.run(&args).await?;
    Ok(services)
}

/// Write a job file (the spec the trainer reads) world-readable: the trainer runs as 65532.
pub fn write_job_file(path: &Path, content: &str) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, content).map_err(|e| {
        fail_hint(
            if e.raw_os_error() == Some(libc::ENOSPC) {
                ExitCode::DiskFull
            } else {
                ExitCode::Other
            },
            format!("cannot write {}: {e}", path.display()),
            "check the output directory's permissions and free space",
        )
    })?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644))?;
    Ok(())
}

/// The container of a Compose service in the project.
async fn find_container(engine: &Engine, project: &str, service: &str) -> anyhow::Result<String> {
    let found = engine
        .containers(&[
            (labels::COMPOSE_PROJECT, project),
            (labels::COMPOSE_SERVICE, service),
        ])
        .await?;
    found.into_iter().find_map(|c| c.id).ok_or_else(|| {
        fail(
            ExitCode::ComposeFailed,
            format!("no container found for service `{service}` after `docker compose up`"),
        )
    })
}

fn spawn_wait(
    engine: &Engine,
    name: &str,
    container: &str,
    tx: tokio::sync::mpsc::UnboundedSender<(String, Outcome)>,
) {
    let docker = engine.docker.clone();
    let (name, container) = (name.to_string(), container.to_string());
    tokio::spawn(async move {
        // A non-zero exit comes back as an error from bollard; the inspect below is the truth.
        let _ = docker
            .wait_container(
                &container,
                None::<bollard::query_parameters::WaitContainerOptions>,
            )
            .next()
            .await;
        let outcome = match docker
            .inspect_container(
                &container,
                None::<bollard::query_parameters::InspectContainerOptions>,
            )
            .await
        {
            Ok(c) => {
                let state = c.state.unwrap_or_default();
                Outcome {
                    status: state.exit_code.unwrap_or(-1),
                    oom: state.oom_killed.unwrap_or(false),
                    memory_limit: c.host_config.and_then(|h| h.memory),
                }
            }
            Err(_) => Outcome {
                status: -1,
                oom: false,
                memory_limit: None,
            },
        };
        let _ = tx.send((name, outcome));
    });
}

/// Read new metrics and update the bar (or print a plain line when stderr is not a terminal).
fn poll(r: &mut Running) {
    let records = r.tail.poll();
    if records.is_empty() {
        return;
    }
    for rec in &records {
        r.snap.apply(rec);
    }
    if r.snap.total_steps.is_none() {
        r.snap.total_steps = crate::progress::status_total_steps(&r.output);
    }
    if r.first.is_none() {
        r.first = Some((r.snap.step, Instant::now()));
    }
    let line = format_line(&r.snap, r.eta());
    if let Some(t) = r.snap.total_steps {
        r.bar.set_length(t);
    }
    r.bar.set_position(r.snap.step);
    r.bar.set_message(line.clone());
    if r.bar.is_hidden() && r.last_plain != Some(r.snap.step) {
        r.last_plain = Some(r.snap.step);
        eprintln!("{}: {line}", r.name);
    }
}

fn report_one(r: &Running, o: &Outcome, smoke: bool) {
    let took = format_duration(r.started.elapsed());
    let what = describe_job_exit(o.status, o.oom);
    if smoke {
        let pass = o.status == 0 && !o.oom;
        ui::status(format!(
            "[+] smoke `{}`: {} in {took} ({}{})",
            r.name,
            if pass { "pass" } else { "FAIL" },
            if pass {
                format!("{} steps", r.snap.step)
            } else {
                what.to_string()
            },
            r.snap
                .loss
                .map(|l| format!(", loss {l:.4}"))
                .unwrap_or_default()
        ));
        return;
    }
    if o.status == 0 && !o.oom {
        ui::status(format!(
            "[+] job `{}`: done in {took}{}; model in {}",
            r.name,
            r.snap
                .eval_accuracy
                .map(|a| format!(", eval accuracy {a:.4}"))
                .unwrap_or_default(),
            r.output.join(output::MODEL).display()
        ));
    } else {
        ui::error(format!(
            "job `{}`: {what} (exit {}) after {took}",
            r.name, o.status
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use finetune_spec::ByteSize;

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

    #[test]
    fn output_dirs_are_made_writable_for_the_trainer() {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("runs/a");
        prepare_dir(&out).unwrap();
        let md = std::fs::metadata(&out).unwrap();
        if unsafe { libc::geteuid() } == 0 {
            assert_eq!(md.uid(), TRAINER_UID);
        } else {
            assert_eq!(md.permissions().mode() & 0o777, 0o777);
        }
    }
}
