//! `bundle JOB -o FILE.tar [--with-trainer]`: a `docker save` archive of the job's model image
//! (the newest image of its latest finished run still on the engine, else one packaged now with
//! the default tag), and with `--with-trainer` the trainer image it was built from, for a host
//! with no registry: `docker load -i FILE.tar`, then `docker run` serves the model. The archive is
//! written all or nothing ([`crate::service::model_image::save`]).

use crate::cli::bundle::BundleArgs;
use crate::commands::{select_jobs, Ctx};
use crate::exit::ExitCode;
use crate::service::model_image::{self, save};
use crate::service::Terminal;
use crate::ui;
use std::path::PathBuf;

pub struct Options {
    pub job: String,
    pub output: PathBuf,
    pub with_trainer: bool,
}

impl From<BundleArgs> for Options {
    fn from(a: BundleArgs) -> Options {
        Options {
            job: a.job,
            output: a.output,
            with_trainer: a.with_trainer,
        }
    }
}

pub async fn run(ctx: &Ctx, opts: Options) -> anyhow::Result<ExitCode> {
    let project = ctx.load()?;
    let job = select_jobs(&project, std::slice::from_ref(&opts.job))?[0];
    let run = model_image::require_run(&job.spec)?;
    let engine = ctx.engine().await?;
    let (tag, trainer) = match model_image::existing(&engine, &run).await {
        Some(image) => {
            ui::status(format!("[+] bundling {} ({})", image.tag, image.id));
            let trainer = engine
                .docker
                .inspect_image(&image.tag)
                .await?
                .config
                .and_then(|c| c.labels)
                .and_then(|l| l.get("org.opencontainers.image.base.name").cloned());
            (image.tag, trainer)
        }
        None => {
            ui::status(format!(
                "[+] job `{}`: its latest run has no model image yet; packaging it",
                opts.job
            ));
            let p = model_image::package(
                &engine,
                &project.name,
                &job.spec,
                &run,
                &Default::default(),
                &Terminal,
            )
            .await?;
            (p.image.tag, Some(p.trainer_image))
        }
    };
    let mut images = vec![tag.clone()];
    if opts.with_trainer {
        match trainer {
            Some(t) if t != tag => images.push(t),
            _ => ui::warn("the model image names no trainer image; bundling the model image alone"),
        }
    }
    let refs: Vec<&str> = images.iter().map(String::as_str).collect();
    ui::status(format!(
        "[+] writing {} to {}",
        images.join(" and "),
        opts.output.display()
    ));
    let bytes = save::save(&engine, &refs, &opts.output).await?;
    println!("bundle  {}", opts.output.display());
    println!("size    {:.1} MB", bytes as f64 / 1e6);
    for i in &images {
        println!("image   {i}");
    }
    Ok(ExitCode::Success)
}
