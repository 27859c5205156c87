//! `runs` flags.

use clap::Args;

#[derive(Debug, Args)]
pub struct RunsArgs {
    /// Output format
    #[arg(long, value_enum, default_value_t)]
    pub format: super::TableFormat,
    /// Jobs to list (default: all)
    #[arg(value_name = "JOB")]
    pub jobs: Vec<String>,
}
