//! `down` flags.

use clap::Args;

#[derive(Debug, Args)]
pub struct DownArgs {
    /// Jobs to stop and remove (default: every job of the project)
    #[arg(value_name = "JOB")]
    pub jobs: Vec<String>,
    /// Seconds a running job gets to checkpoint before it is killed
    #[arg(short, long, default_value_t = 30)]
    pub timeout: u32,
}
