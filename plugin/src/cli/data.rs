//! `data` flags: dataset images.

use clap::{Args, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct DataArgs {
    #[command(subcommand)]
    pub command: DataCommand,
}

#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Build a dataset image (FROM scratch) holding the files of DIR, for `data.image`
    Package(PackageArgs),
}

#[derive(Debug, Args)]
pub struct PackageArgs {
    /// Directory whose files go into the image, under /data (its .dockerignore is honoured)
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// Image name and tag, REPO[:TAG] (`:latest` when the tag is left out)
    #[arg(long, short = 't', value_name = "REPO:TAG")]
    pub tag: String,
}
