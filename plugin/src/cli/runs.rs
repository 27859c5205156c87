//! `runs` flags.

use clap::Args;

#[derive(Debug, Args)]
pub struct RunsArgs {
    /// Output format
    #[arg(long, value_enum, default_value_t)]
    pub format: super::TableFormat,
    /// First send each run to MLflow (the job's `tracking.mlflow`, else MLFLOW_TRACKING_URI):
    /// what the server does not have yet, nothing twice
    #[arg(long)]
    pub sync: bool,
    /// Jobs to list (default: all)
    #[arg(value_name = "JOB")]
    pub jobs: Vec<String>,
}
