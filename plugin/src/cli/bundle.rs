//! `bundle` flags: a `docker save` archive of a job's model image, for offline hosts.

use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct BundleArgs {
    /// The job whose packaged model image is bundled (packaged first when its latest run is not)
    #[arg(value_name = "JOB")]
    pub job: String,
    /// The archive to write (`docker load -i FILE` reads it)
    #[arg(long, short = 'o', value_name = "FILE.tar")]
    pub output: PathBuf,
    /// Also put the trainer image in the archive (training and `predict` on the offline host)
    #[arg(long)]
    pub with_trainer: bool,
}
