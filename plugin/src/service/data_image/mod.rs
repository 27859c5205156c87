//! Dataset images (`data.image`): building one from a directory ([`package`]), the image ids a
//! start renders with ([`resolve`]), and copying a job's data files out of its image for
//! `validate --data` ([`fetch`]). How a job reads the image's files is the compose library's
//! (`finetune_compose::data_image`); the image's entrypoint is [`noop`].

pub mod fetch;
pub mod noop;
pub mod package;

use super::Report;
use crate::engine::Engine;
use crate::exit::{fail_hint, ExitCode};
use finetune_compose::Project;
use std::collections::BTreeMap;

/// What the engine says of a dataset image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    Found {
        id: String,
    },
    /// Not on the engine.
    Missing,
    /// On the engine, but nothing to run: its init service could not start.
    NoCommand,
}

/// Ask the engine about `reference`.
pub async fn lookup(engine: &Engine, reference: &str) -> anyhow::Result<Lookup> {
    match engine.docker.inspect_image(reference).await {
        Ok(image) => {
            let config = image.config.unwrap_or_default();
            let runs = [config.entrypoint, config.cmd]
                .into_iter()
                .any(|v| v.is_some_and(|v| !v.is_empty()));
            Ok(match (image.id, runs) {
                (Some(id), true) => Lookup::Found { id },
                (_, false) => Lookup::NoCommand,
                (None, true) => Lookup::Missing,
            })
        }
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(Lookup::Missing),
        Err(e) => Err(e.into()),
    }
}

/// The error for a dataset image that cannot serve a job.
pub fn unusable(job: &str, reference: &str, found: &Lookup) -> anyhow::Error {
    let hint =
        format!("build it with `docker finetune data package DIR --tag {reference}` (or pull it)");
    match found {
        Lookup::NoCommand => fail_hint(
            ExitCode::InvalidSpec,
            format!("job `{job}`: dataset image `{reference}` has no entrypoint or command, so its init service cannot run"),
            hint,
        ),
        _ => fail_hint(
            ExitCode::InvalidSpec,
            format!("job `{job}`: dataset image `{reference}` is not on the engine"),
            hint,
        ),
    }
}

/// Reference → image id of the dataset images of the jobs `names`, for
/// `RenderOptions::data_images`; a missing or unusable image is an error naming it.
pub async fn resolve(
    engine: &Engine,
    project: &Project,
    names: &[String],
    report: &dyn Report,
) -> anyhow::Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for spec in names.iter().filter_map(|n| project.job(n)).map(|j| &j.spec) {
        let Some(reference) = &spec.data.image else {
            continue;
        };
        if out.contains_key(reference) {
            continue;
        }
        match lookup(engine, reference).await? {
            Lookup::Found { id } => {
                report.status(&format!(
                    "[+] dataset image {reference} ({})",
                    short_id(&id)
                ));
                out.insert(reference.clone(), id);
            }
            other => return Err(unusable(&spec.name, reference, &other)),
        }
    }
    Ok(out)
}

/// The first 12 hex digits of an image id, as `docker images` shows it.
pub fn short_id(id: &str) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    &hex[..12.min(hex.len())]
}
