//! `down [JOB...]`: stop (SIGTERM, so the trainer checkpoints, then SIGKILL after the timeout)
//! and remove the project's job containers. Outputs are never touched, and the user's own
//! services are left running.

use crate::cli::down::DownArgs;
use crate::commands::Ctx;
use crate::engine::{labels, Engine};
use crate::exit::ExitCode;
use crate::ui;
use bollard::query_parameters::{RemoveContainerOptions, StopContainerOptions};

pub struct Options {
    pub jobs: Vec<String>,
    pub timeout: u32,
}

impl From<DownArgs> for Options {
    fn from(a: DownArgs) -> Options {
        Options {
            jobs: a.jobs,
            timeout: a.timeout,
        }
    }
}

pub async fn run(ctx: &Ctx, opts: Options) -> anyhow::Result<ExitCode> {
    let project = ctx.project_name()?;
    let engine = ctx.engine().await?;
    let n = remove_jobs(&engine, &project, &opts.jobs, opts.timeout).await?;
    ui::status(format!("[+] removed {n} job container(s); outputs kept"));
    Ok(ExitCode::Success)
}

/// Stop and remove the job containers of `project` (only `jobs` when given). Returns how many.
pub async fn remove_jobs(
    engine: &Engine,
    project: &str,
    jobs: &[String],
    timeout: u32,
) -> anyhow::Result<usize> {
    let containers = engine.containers(&[(labels::PROJECT, project)]).await?;
    let mut n = 0;
    for c in containers {
        let job = c
            .labels
            .as_ref()
            .and_then(|l| l.get(labels::JOB).cloned())
            .unwrap_or_default();
        if !jobs.is_empty() && !jobs.contains(&job) {
            continue;
        }
        let Some(id) = c.id else { continue };
        ui::status(format!(
            "[+] stopping job `{job}` ({})",
            &id[..12.min(id.len())]
        ));
        // Stopping an exited container is a no-op (304), not an error worth stopping for.
        let _ = engine
            .docker
            .stop_container(
                &id,
                Some(StopContainerOptions {
                    t: Some(timeout as i32),
                    signal: None,
                }),
            )
            .await;
        engine
            .docker
            .remove_container(
                &id,
                Some(RemoveContainerOptions {
                    force: true,
                    v: false,
                    link: false,
                }),
            )
            .await?;
        n += 1;
    }
    Ok(n)
}
