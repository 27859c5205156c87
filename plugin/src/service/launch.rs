//! The start sequence `up` and the Compose provider share, in two steps.
//!
//! [`prepare`] runs once, before anything starts: the GPU preflight (exit 7), the free-disk check
//! (exit 8), output and cache directories the trainer can write, the trainer images the jobs
//! need (built when missing), and the ids of their dataset images (which must exist) into the
//! render options. [`start`] runs for each set of jobs the queue starts: it renders the
//! override with the current GPU allocations, writes it and the started jobs' `job.json` files,
//! and runs `docker compose up --detach` on their services.

use super::host::{preflight_gpus, Host};
use super::{data_image, image, outputs, Report};
use crate::compose_cli::ComposeCli;
use crate::exit::{fail_hint, ExitCode};
use finetune_compose::{render, Project, RenderOptions};
use std::path::PathBuf;

/// Check and prepare the host for the jobs `names`; `build` rebuilds the images even if they
/// exist.
pub async fn prepare(
    host: &Host,
    project: &Project,
    names: &[String],
    render: &mut RenderOptions,
    build: bool,
    report: &dyn Report,
) -> anyhow::Result<()> {
    preflight_gpus(&host.gpu, project, names, report)?;
    render.data_images = data_image::resolve(&host.engine, project, names, report).await?;
    for spec in names.iter().filter_map(|n| project.job(n)).map(|j| &j.spec) {
        outputs::check_disk(&spec.name, &spec.output)?;
        outputs::prepare_dir(&spec.output)?;
        if let Some(c) = &spec.cache {
            outputs::prepare_dir(c)?;
        }
    }
    for cuda in image::variants(project, names, render) {
        let tag = image::ensure(&host.engine, cuda, build, report).await?;
        report.status(&format!("[+] trainer image {tag}"));
    }
    Ok(())
}

/// Where and how [`start`] runs Compose.
pub struct Target {
    /// The Compose invocation; its files end with [`Target::override_path`].
    pub compose: ComposeCli,
    /// Where the rendered override is written.
    pub override_path: PathBuf,
    /// Extra `up` flags (`--no-deps` for the provider, whose dependencies Compose started).
    pub up_flags: Vec<&'static str>,
    /// Capture Compose's output and hand it to [`Report::debug`] instead of passing it through
    /// (the provider: its stdout is Compose's pipe).
    pub capture: bool,
}

impl Target {
    /// A target whose override lives at `override_path`, appended to `compose`'s files.
    pub fn new(mut compose: ComposeCli, override_path: PathBuf) -> Target {
        compose.files.push(override_path.clone());
        Target {
            compose,
            override_path,
            up_flags: Vec::new(),
            capture: false,
        }
    }
}

/// Render with `render` (its allocations current), write the override and the `started` jobs'
/// job files, and start their services. Returns (job, service) pairs.
pub async fn start(
    project: &Project,
    target: &Target,
    render: &RenderOptions,
    started: &[String],
    report: &dyn Report,
) -> anyhow::Result<Vec<(String, String)>> {
    let rendered = render::render(project, render)?;
    if let Some(dir) = target.override_path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&target.override_path, rendered.yaml())?;
    for name in started {
        if let Some(f) = rendered.job_files.get(name) {
            outputs::write_job_file(&f.host_path, &f.content)?;
        }
        for var in rendered
            .env_refs
            .get(name)
            .into_iter()
            .flatten()
            .filter(|v| std::env::var_os(v).is_none())
        {
            report.warn(&format!(
                "job `{name}`: environment variable {var} is not set; the job gets it empty"
            ));
        }
    }
    let services: Vec<(String, String)> = started
        .iter()
        .map(|n| {
            let svc = rendered
                .services
                .get(n)
                .cloned()
                .unwrap_or_else(|| n.clone());
            (n.clone(), svc)
        })
        .collect();
    // A dataset image's init service is named too, for `--no-deps` (the provider): the job
    // waits for it to exit 0 either way.
    let inits: Vec<&str> = started
        .iter()
        .filter_map(|n| rendered.init_services.get(n).map(String::as_str))
        .collect();
    let mut args = vec!["up", "--detach"];
    args.extend(target.up_flags.iter().copied());
    args.extend(inits);
    args.extend(services.iter().map(|(_, s)| s.as_str()));
    if target.capture {
        compose_captured(&target.compose, &args, report).await?;
    } else {
        target.compose.run(&args).await?;
    }
    Ok(services)
}

/// Run Compose with its output relayed as debug lines; a failure carries its last stderr line.
async fn compose_captured(
    compose: &ComposeCli,
    args: &[&str],
    report: &dyn Report,
) -> anyhow::Result<()> {
    let out = compose.output(args).await?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    for line in stderr
        .lines()
        .chain(String::from_utf8_lossy(&out.stdout).lines())
    {
        report.debug(line);
    }
    if !out.status.success() {
        return Err(fail_hint(
            ExitCode::ComposeFailed,
            format!(
                "`docker compose up` of the fine-tune job failed: {}",
                stderr.lines().last().unwrap_or("")
            ),
            "`docker finetune config` shows the rendered services",
        ));
    }
    Ok(())
}
