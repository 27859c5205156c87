//! `build` flags.

use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Build the trainer from source in the multi-stage Dockerfile (builder stage)
    #[arg(long, conflicts_with = "binary")]
    pub from_source: bool,
    /// Use this static trainer binary (default: FINETUNE_TRAINER_BIN, then <source>/dist/finetune-trainer)
    #[arg(long, value_name = "PATH", env = "FINETUNE_TRAINER_BIN")]
    pub binary: Option<PathBuf>,
    /// Build the CUDA runtime variant
    #[arg(long)]
    pub cuda: bool,
    /// Source tree holding trainer/Dockerfile (default: FINETUNE_SOURCE_DIR, then found from the
    /// current directory or the plugin's location)
    #[arg(long, value_name = "DIR", env = "FINETUNE_SOURCE_DIR")]
    pub source: Option<PathBuf>,
    /// Image tag (default: docker-finetune/trainer:<version>[-cuda])
    #[arg(long, short = 't')]
    pub tag: Option<String>,
    /// Extra build args, e.g. `--build-arg RUNTIME_BASE=local/base`
    #[arg(long = "build-arg", value_name = "KEY=VALUE")]
    pub build_args: Vec<String>,
    /// Do not use the build cache
    #[arg(long)]
    pub no_cache: bool,
}
