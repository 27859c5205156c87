//! `compose ...`: the Compose provider entry (`provider: {type: finetune, options: {...}}`).
//!
//! Compose reads only JSON lines on stdout and discards stderr, so every message goes out as a
//! [`Message`]; nothing else may reach stdout (subprocess output is captured and relayed as
//! `debug` lines). `up` must return for Compose to start the dependents, so training runs
//! detached: the job service is rendered alone into `<project dir>/.finetune/provider-SERVICE.yaml`
//! and started with `docker compose -p <project>-finetune up -d` (a project of its own, so it
//! never mixes with the provider service Compose itself tracks); the container carries the
//! `com.docker.finetune.project=<project>` label, so `docker finetune ps/logs/down -p <project>`
//! find it. `up` is idempotent: a job already running is left alone, a job completed with the
//! same config is not started again. `--wait=true` keeps `up` until training ends. `up` sends
//! `setenv` `OUTPUT` and `MODEL` (dependents see `<SERVICE>_OUTPUT`, `<SERVICE>_MODEL`); `down`
//! never does (Compose 2.40.3 panics on it).

use crate::compose_cli::{buildx_present, ComposeCli};
use crate::endpoint::{self, EndpointInputs};
use crate::engine::Engine;
use crate::exit::Failure;
use crate::provider::{self, Action, Call, Message, PLUGIN_KEYS};
use crate::service::containers::{self, remove_jobs};
use crate::service::host::Host;
use crate::service::launch::{self, Target};
use crate::service::{image, jobs, Report};
use finetune_compose::project::job_from_provider_options;
use finetune_compose::{load_project, Job, JobSource, Position, Project, ProjectOptions};
use finetune_spec::contract::output;
use finetune_spec::JobSpec;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

/// [`Report`] as Compose's JSON lines: notes and warnings as `info` (Compose shows them),
/// status lines and captured output as `debug`.
struct Lines;

impl Report for Lines {
    fn status(&self, msg: &str) {
        emit(Message::debug(msg));
    }
    fn note(&self, msg: &str) {
        emit(Message::info(msg));
    }
    fn warn(&self, msg: &str) {
        emit(Message::info(format!("warning: {msg}")));
    }
    fn debug(&self, msg: &str) {
        emit(Message::debug(msg));
    }
}

fn emit(m: Message) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", m.line());
    let _ = out.flush();
}

/// Run the provider call; returns the process exit code.
pub async fn run(args: &[String]) -> i32 {
    let call = match provider::parse(args) {
        Ok(c) => c,
        Err(e) => {
            emit(Message::error(format!("docker-finetune compose: {e}")));
            return 2;
        }
    };
    let result = match call.action {
        Action::Metadata => {
            println!("{}", provider::metadata_json());
            return 0;
        }
        Action::Up => up(&call).await,
        Action::Down => down(&call).await,
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            let mut msg = format!("{e:#}");
            if let Some(h) = e
                .chain()
                .find_map(|c| c.downcast_ref::<Failure>())
                .and_then(|f| f.hint.clone())
            {
                msg.push_str(&format!(" (hint: {h})"));
            }
            emit(Message::error(msg));
            1
        }
    }
}

fn first(call: &Call, key: &str) -> Option<String> {
    call.options.get(key).and_then(|v| v.last().cloned())
}

fn truthy(v: Option<String>) -> bool {
    matches!(v.as_deref(), Some("true" | "1" | "yes" | "on"))
}

/// The project the provider service belongs to, and its job.
fn job_project(call: &Call, service: &str) -> anyhow::Result<(Project, String)> {
    let cwd = std::env::current_dir()?;
    let dir = first(call, "project_directory")
        .map(|d| cwd.join(d))
        .unwrap_or(cwd);
    if let Some(job) = first(call, "job") {
        // A job of the project's x-finetune section.
        let mut opts = ProjectOptions::from_env();
        opts.files = call
            .options
            .get("file")
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(PathBuf::from)
            .collect();
        opts.working_dir = Some(dir.clone());
        opts.project_directory = Some(dir);
        opts.project_name = call.project.clone();
        let project = load_project(&opts)?;
        if project.job(&job).is_none() {
            anyhow::bail!(
                "no job `{job}` in the x-finetune section of project `{}`",
                project.name
            );
        }
        return Ok((project, job));
    }
    let job_opts: BTreeMap<String, Vec<String>> = call
        .options
        .iter()
        .filter(|(k, _)| !PLUGIN_KEYS.iter().any(|(p, _)| p == k) && k.as_str() != "wait")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let spec = job_from_provider_options(service, &job_opts, &dir).map_err(|diags| {
        anyhow::anyhow!(
            "invalid provider options: {}",
            diags
                .iter()
                .map(|d| d.message.clone())
                .collect::<Vec<_>>()
                .join("; ")
        )
    })?;
    let project = Project {
        name: call.project.clone().unwrap_or_else(|| {
            finetune_compose::load::normalize_project_name(
                &dir.file_name()
                    .map(|n| n.to_string_lossy().to_string())
                    .unwrap_or_default(),
            )
        }),
        dir: dir.clone(),
        files: vec![],
        services: BTreeMap::new(),
        jobs: vec![Job {
            spec,
            position: Position::none("<provider options>"),
            source: JobSource::Section,
            key_path: format!("services.{service}.provider.options"),
            positions: BTreeMap::new(),
            key_positions: BTreeMap::new(),
        }],
        diagnostics: vec![],
        env: std::env::vars().collect(),
        profiles: vec![],
    };
    Ok((project, service.to_string()))
}

async fn connect() -> anyhow::Result<Engine> {
    let ep = endpoint::resolve(&EndpointInputs::from_env(vec![], None, None))?;
    Ok(Engine::connect(&ep).await?)
}

/// `OUTPUT` and `MODEL` for the dependents (`<SERVICE>_OUTPUT`, `<SERVICE>_MODEL`).
fn setenv(spec: &JobSpec) {
    emit(Message::setenv(
        "OUTPUT",
        &spec.output.display().to_string(),
    ));
    emit(Message::setenv(
        "MODEL",
        &spec.output.join(output::MODEL).display().to_string(),
    ));
}

async fn up(call: &Call) -> anyhow::Result<()> {
    let service = call
        .service
        .clone()
        .ok_or_else(|| anyhow::anyhow!("no service name given"))?;
    let (mut project, job) = job_project(call, &service)?;
    if let Some(j) = project.jobs.iter_mut().find(|j| j.spec.name == job) {
        // The outer `docker compose up` already started what the provider service depends on.
        j.spec.depends_on.clear();
    }
    let smoke = truthy(first(call, "smoke"));
    let names = vec![job.clone()];
    let selection = jobs::select(&mut project, &names, smoke);
    let spec = project.job(&job).expect("job exists").spec.clone();
    if let Some((_, rec)) = selection.finished.first() {
        emit(Message::info(format!(
            "fine-tune `{job}` already completed with this config ({} steps); not retraining",
            rec.steps
        )));
        setenv(&spec);
        return Ok(());
    }
    let host = Host::new(connect().await?).await?;
    let running = containers::job_containers(&host.engine, &project.name, &job)
        .await?
        .into_iter()
        .any(|(_, running)| running);
    if running {
        emit(Message::info(format!(
            "fine-tune `{job}` is already running"
        )));
        setenv(&spec);
        return Ok(());
    }
    let mut render = jobs::render_options(names.clone(), host.gpu.available(), BTreeMap::new());
    if !image::variants(&project, &names, &render).is_empty() {
        emit(Message::info(format!(
            "fine-tune `{job}`: checking the trainer image"
        )));
    }
    launch::prepare(&host, &project, &names, &mut render, false, &Lines).await?;
    let docker = ComposeCli::docker_binary();
    let mut target = Target::new(
        ComposeCli {
            project: format!("{}-finetune", project.name),
            project_dir: project.dir.clone(),
            files: vec![],
            env_files: vec![],
            profiles: vec![],
            docker_host: host.engine.endpoint.host.clone(),
            classic_builder: !buildx_present(&docker).await,
            verbose: false,
            docker,
        },
        project
            .dir
            .join(".finetune")
            .join(format!("provider-{service}.yaml")),
    );
    target.up_flags = vec!["--no-deps"];
    target.capture = true;
    launch::start(&project, &target, &render, &names, &Lines).await?;
    emit(Message::info(format!(
        "fine-tune `{job}` started in the background; output in {} (`docker finetune ps -p {}`)",
        spec.output.display(),
        project.name
    )));
    if truthy(first(call, "wait")) {
        let id = containers::job_containers(&host.engine, &project.name, &job)
            .await?
            .into_iter()
            .map(|(id, _)| id)
            .next()
            .ok_or_else(|| anyhow::anyhow!("the job container vanished"))?;
        let o = containers::wait_exit(&host.engine.docker, &id).await;
        if !o.succeeded() {
            anyhow::bail!(
                "fine-tune `{job}`: {} (exit {})",
                crate::exit::describe_job_exit(o.status, o.oom),
                o.status
            );
        }
        emit(Message::info(format!("fine-tune `{job}` done")));
    }
    setenv(&spec);
    Ok(())
}

async fn down(call: &Call) -> anyhow::Result<()> {
    let service = call
        .service
        .clone()
        .ok_or_else(|| anyhow::anyhow!("no service name given"))?;
    let job = first(call, "job").unwrap_or_else(|| service.clone());
    let project = match &call.project {
        Some(p) => p.clone(),
        None => job_project(call, &service)?.0.name,
    };
    let engine = connect().await?;
    let n = remove_jobs(&engine, &project, std::slice::from_ref(&job), 30, &Lines).await?;
    containers::remove_data_volumes(&engine, &project, std::slice::from_ref(&job)).await?;
    emit(Message::info(format!(
        "removed {n} fine-tune container(s) of `{job}`; outputs kept"
    )));
    Ok(())
}
