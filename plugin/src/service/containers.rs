//! Job containers on the engine: finding one by its labels, waiting for it to exit and reading
//! how it ended, and stopping and removing a project's job containers and their data volumes
//! (outputs are never touched).

use super::Report;
use crate::engine::{labels, Engine};
use crate::exit::{fail, ExitCode};
use bollard::query_parameters::{
    InspectContainerOptions, RemoveContainerOptions, StopContainerOptions, WaitContainerOptions,
};
use futures_util::StreamExt;

/// How a job container ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    pub status: i64,
    pub oom: bool,
    pub memory_limit: Option<i64>,
}

impl Outcome {
    pub fn succeeded(&self) -> bool {
        self.status == 0 && !self.oom
    }
}

/// The container of a Compose service in the project.
pub async fn service_container(
    engine: &Engine,
    project: &str,
    service: &str,
) -> anyhow::Result<String> {
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

/// The containers of job `job` in plugin project `project` (by the plugin's labels), with
/// whether each is running.
pub async fn job_containers(
    engine: &Engine,
    project: &str,
    job: &str,
) -> anyhow::Result<Vec<(String, bool)>> {
    Ok(engine
        .containers(&[(labels::PROJECT, project), (labels::JOB, job)])
        .await?
        .into_iter()
        .filter_map(|c| {
            let running = c.state.map(|s| s.to_string()).as_deref() == Some("running");
            c.id.map(|id| (id, running))
        })
        .collect())
}

/// Wait for a container to exit and say how it ended (exit -1 when it cannot be inspected).
pub async fn wait_exit(docker: &bollard::Docker, container: &str) -> Outcome {
    // A non-zero exit comes back as an error from bollard; the inspect below is the truth.
    let _ = docker
        .wait_container(container, None::<WaitContainerOptions>)
        .next()
        .await;
    match docker
        .inspect_container(container, None::<InspectContainerOptions>)
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
    }
}

/// Stop (SIGTERM, so the trainer checkpoints, then SIGKILL after `timeout` seconds) and remove
/// the job containers of `project` (only `jobs` when given). Returns how many.
pub async fn remove_jobs(
    engine: &Engine,
    project: &str,
    jobs: &[String],
    timeout: u32,
    report: &dyn Report,
) -> anyhow::Result<usize> {
    let containers = engine.containers(&[(labels::PROJECT, project)]).await?;
    let mut n = 0;
    for c in containers {
        // A dataset image's init container goes with its job.
        let job = c
            .labels
            .as_ref()
            .and_then(|l| {
                l.get(labels::JOB)
                    .or_else(|| l.get(labels::DATA_FOR))
                    .cloned()
            })
            .unwrap_or_default();
        if !jobs.is_empty() && !jobs.contains(&job) {
            continue;
        }
        let Some(id) = c.id else { continue };
        report.status(&format!(
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
/// Remove the data volumes of dataset images (`data.image`) that `project`'s jobs (only `jobs`
/// when given) read, once their containers are gone: the image still holds the files, and the
/// next start fills a new volume. A volume still in use is left. Returns how many.
pub async fn remove_data_volumes(
    engine: &Engine,
    project: &str,
    jobs: &[String],
) -> anyhow::Result<usize> {
    let filters = std::collections::HashMap::from([(
        "label".to_string(),
        vec![
            format!("{}={project}", labels::PROJECT),
            labels::DATA_FOR.to_string(),
        ],
    )]);
    let listed = engine
        .docker
        .list_volumes(Some(bollard::query_parameters::ListVolumesOptions {
            filters: Some(filters),
        }))
        .await?;
    let mut n = 0;
    for v in listed.volumes.unwrap_or_default() {
        let job = v.labels.get(labels::DATA_FOR).cloned().unwrap_or_default();
        if !jobs.is_empty() && !jobs.contains(&job) {
            continue;
        }
        if engine
            .docker
            .remove_volume(
                &v.name,
                None::<bollard::query_parameters::RemoveVolumeOptions>,
            )
            .await
            .is_ok()
        {
            n += 1;
        }
    }
    Ok(n)
}
