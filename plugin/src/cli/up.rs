//! `up` flags.

use clap::Args;

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Jobs to run (default: all)
    #[arg(value_name = "JOB")]
    pub jobs: Vec<String>,
    /// Start the jobs and return; do not wait or show progress
    #[arg(short, long)]
    pub detach: bool,
    /// Run each job for a few steps on a small slice of its data, into <output>/smoke
    #[arg(long)]
    pub smoke: bool,
    /// Build the trainer image even if it exists
    #[arg(long)]
    pub build: bool,
    /// Seconds the jobs get to checkpoint when stopped with Ctrl-C
    #[arg(long, default_value_t = 30)]
    pub stop_timeout: u32,
}
