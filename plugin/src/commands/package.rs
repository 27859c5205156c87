//! `package JOB [--tag REPO[:TAG]] [--push] [--quantize int8]`: a model image of the job's
//! latest finished run (see [`crate::service::model_image`]): `serve` as its command, the run
//! record in its labels, recorded in the run's `.finetune/packages.json` (which `runs` shows).
//! Prints the image id, its tag, the run number and, after `--push`, the repository digest, on
//! stdout. An unknown job, a job with no finished run and a bad tag are one error line each,
//! before the engine is asked anything; so is a failed push (registry down, unknown host,
//! refused), after the image was built and recorded.

use crate::cli::package::{PackageArgs, Quantize};
use crate::commands::{select_jobs, Ctx};
use crate::exit::ExitCode;
use crate::service::model_image::{self, Options as BuildOptions, Packaged};
use crate::service::{built, Terminal};

pub struct Options {
    pub job: String,
    pub tag: Option<String>,
    pub push: bool,
    pub quantize: Option<Quantize>,
}

impl From<PackageArgs> for Options {
    fn from(a: PackageArgs) -> Options {
        Options {
            job: a.job,
            tag: a.tag,
            push: a.push,
            quantize: a.quantize,
        }
    }
}

pub async fn run(ctx: &Ctx, opts: Options) -> anyhow::Result<ExitCode> {
    let project = ctx.load()?;
    let job = select_jobs(&project, std::slice::from_ref(&opts.job))?[0];
    let tag = opts.tag.as_deref().map(built::check_tag).transpose()?;
    let run = model_image::require_run(&job.spec)?;
    let engine = ctx.engine().await?;
    let build = BuildOptions {
        tag,
        quantize: opts.quantize.map(|q| q.scheme().to_string()),
    };
    let mut packaged =
        model_image::package(&engine, &project.name, &job.spec, &run, &build, &Terminal).await?;
    print(&packaged);
    if opts.push {
        let config_dir = ctx.endpoint_inputs.config_dir();
        model_image::push(&engine, &run, &mut packaged.image, &config_dir, &Terminal).await?;
        if let Some(d) = &packaged.image.digest {
            println!("digest  {d}");
        }
    }
    Ok(ExitCode::Success)
}

fn print(p: &Packaged) {
    println!("image   {}", p.image.id);
    println!("tag     {}", p.image.tag);
    println!("run     {}", p.run);
    println!("from    {}", p.trainer_image);
    if let Some(q) = &p.quantization {
        let eval = q
            .eval
            .as_ref()
            .map(|e| {
                format!(
                    ", accuracy {:.4} (f32 {:.4})",
                    e.accuracy_quantized, e.accuracy_f32
                )
            })
            .unwrap_or_default();
        println!(
            "weights {} {:.1}% of f32{eval}",
            q.scheme,
            q.size_ratio() * 100.0
        );
    }
}
