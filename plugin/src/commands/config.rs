//! `config`: the rendered Compose override for the jobs, on stdout (YAML or JSON), as
//! `docker compose -f <your files> -f <this> config` accepts it. Needs no engine.

use crate::cli::config::{ConfigArgs, ConfigFormat};
use crate::commands::{require_valid, select_jobs, Ctx};
use crate::exit::ExitCode;
use crate::scheduler::{Inventory, Scheduler};
use finetune_compose::{render, Project, RenderOptions};
use std::collections::BTreeMap;

pub struct Options {
    pub format: ConfigFormat,
    pub jobs: Vec<String>,
}

impl From<ConfigArgs> for Options {
    fn from(a: ConfigArgs) -> Options {
        Options {
            format: a.format,
            jobs: a.jobs,
        }
    }
}

/// The trainer image the plugin builds and runs.
pub fn trainer_image(cuda: bool) -> String {
    let v = env!("CARGO_PKG_VERSION");
    if cuda {
        format!("docker-finetune/trainer:{v}-cuda")
    } else {
        format!("docker-finetune/trainer:{v}")
    }
}

/// Render options shared by `config`, `up` and the provider. The image is left to the
/// renderer's default (`docker-finetune/trainer:<version>`, `-cuda` for GPU jobs), which is what
/// `build` tags; the `build:` section points at the source tree when one is found, with the
/// `runtime-prebuilt` target when a host-built trainer binary is there.
pub fn render_options(
    jobs: Vec<String>,
    gpu_runtime: bool,
    allocations: BTreeMap<String, Vec<String>>,
) -> RenderOptions {
    let source = crate::commands::build::find_source(None);
    let prebuilt = source.as_ref().is_some_and(|s| {
        crate::commands::build::plan(&crate::commands::build::Options {
            source: Some(s.clone()),
            binary: crate::commands::build::binary_from_env(),
            ..Default::default()
        })
        .is_ok_and(|p| p.binary.is_some())
    });
    RenderOptions {
        jobs,
        build_context: source,
        build_target: (prebuilt && !gpu_runtime).then(|| "runtime-prebuilt".to_string()),
        gpu_runtime,
        allocations,
        trainer_image: None,
        version: env!("CARGO_PKG_VERSION").to_string(),
        user: None,
    }
}

pub fn run(ctx: &Ctx, opts: Options) -> anyhow::Result<ExitCode> {
    let project = ctx.load()?;
    require_valid(&project, false)?;
    let jobs: Vec<String> = select_jobs(&project, &opts.jobs)?
        .iter()
        .map(|j| j.spec.name.clone())
        .collect();
    // No engine here: with `FINETUNE_GPUS` the override shows the device ids `up` would give
    // the jobs that start first; without it, GPU requests render as written.
    let gpus = std::env::var("FINETUNE_GPUS")
        .map(|v| crate::scheduler::parse_gpu_override(&v))
        .unwrap_or_default();
    let gpu_runtime = !gpus.is_empty();
    let allocations = if gpu_runtime {
        first_wave(&project, &jobs, gpus)
    } else {
        BTreeMap::new()
    };
    let rendered = render(&project, &render_options(jobs, gpu_runtime, allocations))?;
    match opts.format {
        ConfigFormat::Yaml => print!("{}", rendered.yaml()),
        ConfigFormat::Json => println!("{}", rendered.json()),
    }
    Ok(ExitCode::Success)
}

/// The GPUs the queue gives the jobs that start at once on a host with `gpus`.
pub fn first_wave(
    project: &Project,
    jobs: &[String],
    gpus: Vec<String>,
) -> BTreeMap<String, Vec<String>> {
    let mut sched = Scheduler::new(Inventory {
        gpus,
        cpus: f64::MAX,
        memory: 0,
    });
    for j in jobs.iter().filter_map(|n| project.job(n)) {
        let _ = sched.submit(crate::commands::up::request(&j.spec, true));
    }
    sched
        .start_ready()
        .into_iter()
        .filter(|(_, a)| !a.gpus.is_empty())
        .map(|(n, a)| (n, a.gpus))
        .collect()
}
