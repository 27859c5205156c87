//! `logs` flags.

use clap::Args;

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// The job
    #[arg(value_name = "JOB")]
    pub job: String,
    /// Follow log output (long form only: `-f` is the global `--file`)
    #[arg(long)]
    pub follow: bool,
    /// Number of lines to show from the end (default: all)
    #[arg(short = 'n', long, default_value = "all")]
    pub tail: String,
    /// Show timestamps
    #[arg(short, long)]
    pub timestamps: bool,
}
