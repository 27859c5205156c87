//! `config`: the rendered Compose override for the jobs, on stdout (YAML or JSON), as
//! `docker compose -f <your files> -f <this> config` accepts it.
//!
//! GPU jobs get disjoint `device_ids` in queue order (see [`crate::service::gpus`]), so the
//! override also works under plain `docker compose up`. The GPU inventory comes from
//! `FINETUNE_GPUS` when set, else from the engine when it answers within a few seconds; without
//! one, ids `0, 1, ...` are assumed. A YAML comment above the services says which.
//! `--gpu-count` keeps the requests as written (`count: N`). Jobs with `data.image` get the
//! image's id in their data volume's name when the engine answers within the same few seconds
//! (see `finetune_compose::data_image`), and a volume named without it otherwise.

use crate::cli::config::{ConfigArgs, ConfigFormat};
use crate::commands::{require_valid, select_jobs, Ctx};
use crate::engine::{self, GpuSupport};
use crate::exit::ExitCode;
use crate::scheduler::Device;
use crate::service::data_image::{self, Lookup};
use crate::service::host::Host;
use crate::service::{gpus, jobs};
use finetune_compose::{render, Project};
use std::time::Duration;

/// How long `config` waits for the engine's GPU inventory before rendering without it.
const ENGINE_WAIT: Duration = Duration::from_secs(3);

pub struct Options {
    pub format: ConfigFormat,
    pub jobs: Vec<String>,
    pub gpu_count: bool,
}

impl From<ConfigArgs> for Options {
    fn from(a: ConfigArgs) -> Options {
        Options {
            format: a.format,
            jobs: a.jobs,
            gpu_count: a.gpu_count,
        }
    }
}

pub async fn run(ctx: &Ctx, opts: Options) -> anyhow::Result<ExitCode> {
    let project = ctx.load()?;
    require_valid(&project, false)?;
    let names: Vec<String> = select_jobs(&project, &opts.jobs)?
        .iter()
        .map(|j| j.spec.name.clone())
        .collect();
    let (gpu_runtime, inventory) = gpu_inventory(ctx, &project, &names).await?;
    let devices = gpus::plan(&project, &names, gpu_runtime, &inventory, opts.gpu_count);
    let comment = devices.comment();
    let mut options = jobs::render_options(names, gpu_runtime, devices.allocations);
    options.data_images = data_image_ids(ctx, &project, &options.jobs).await;
    let rendered = render(&project, &options)?;
    match opts.format {
        ConfigFormat::Yaml => print!("{}{}", comment.unwrap_or_default(), rendered.yaml()),
        ConfigFormat::Json => println!("{}", rendered.json()),
    }
    Ok(ExitCode::Success)
}

/// Whether the host has a GPU runtime, and its GPUs (empty when unknown): `FINETUNE_GPUS`
/// when set, else the engine's, when one of the jobs may use GPUs and the engine answers.
async fn gpu_inventory(
    ctx: &Ctx,
    project: &Project,
    names: &[String],
) -> anyhow::Result<(bool, Vec<Device>)> {
    if std::env::var_os("FINETUNE_GPUS").is_some() {
        let gpus = engine::gpu_devices(&GpuSupport::default(), false)?;
        return Ok((!gpus.is_empty(), gpus));
    }
    let may_use_gpus = names
        .iter()
        .filter_map(|n| project.job(n))
        .any(|j| !j.spec.resources.gpus.is_none());
    if !may_use_gpus {
        return Ok((false, Vec::new()));
    }
    let host =
        tokio::time::timeout(ENGINE_WAIT, async { Host::new(ctx.engine().await?).await }).await;
    Ok(match host {
        Ok(Ok(h)) => (h.gpu.available(), h.gpu_devices()?),
        // No engine: render for a host without a GPU runtime, as written.
        _ => (false, Vec::new()),
    })
}

/// The ids of the jobs' dataset images the engine has, when it answers in time; none otherwise.
async fn data_image_ids(
    ctx: &Ctx,
    project: &Project,
    names: &[String],
) -> std::collections::BTreeMap<String, String> {
    let mut ids = std::collections::BTreeMap::new();
    let images: Vec<&String> = names
        .iter()
        .filter_map(|n| project.job(n)?.spec.data.image.as_ref())
        .collect();
    if images.is_empty() {
        return ids;
    }
    let found = tokio::time::timeout(ENGINE_WAIT, async {
        let engine = ctx.engine().await?;
        for image in images {
            if let Lookup::Found { id } = data_image::lookup(&engine, image).await? {
                ids.insert(image.clone(), id);
            }
        }
        anyhow::Ok(())
    })
    .await;
    if !matches!(found, Ok(Ok(()))) {
        ids.clear();
    }
    ids
}
