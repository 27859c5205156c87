//! `build`: the trainer image, built by the engine from `trainer/Dockerfile` (see
//! [`crate::service::image`] for the prebuilt and from-source paths). Progress lines stream to
//! stderr.

use crate::cli::build::BuildArgs;
use crate::commands::Ctx;
use crate::exit::ExitCode;
use crate::service::image::{self, BuildOptions};
use crate::service::Terminal;

impl From<BuildArgs> for BuildOptions {
    fn from(a: BuildArgs) -> BuildOptions {
        BuildOptions {
            from_source: a.from_source,
            binary: a.binary,
            cuda: a.cuda,
            source: a.source,
            tag: a.tag,
            build_args: a
                .build_args
                .iter()
                .map(|kv| match kv.split_once('=') {
                    Some((k, v)) => (k.to_string(), v.to_string()),
                    // Like docker: `--build-arg KEY` takes the value from the environment.
                    None => (kv.clone(), std::env::var(kv).unwrap_or_default()),
                })
                .collect(),
            no_cache: a.no_cache,
        }
    }
}

pub async fn run(ctx: &Ctx, opts: BuildOptions) -> anyhow::Result<ExitCode> {
    let engine = ctx.engine().await?;
    image::build(&engine, &opts, &Terminal).await?;
    Ok(ExitCode::Success)
}
