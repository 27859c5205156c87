//! `export` flags.

use clap::{Args, ValueEnum};

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Target cluster format
    #[arg(long, value_enum)]
    pub to: ExportTarget,
    /// The job to export
    #[arg(value_name = "JOB")]
    pub job: String,
    /// Volcano queue (default: `default`)
    #[arg(long)]
    pub queue: Option<String>,
    /// Volcano minAvailable (default: 1)
    #[arg(long)]
    pub min_available: Option<u32>,
    /// Kubernetes Secret holding the job's secret environment variables
    #[arg(long)]
    pub secret_name: Option<String>,
    /// Kubernetes namespace
    #[arg(long)]
    pub namespace: Option<String>,
    /// Trainer image reference the cluster can pull (default: docker-finetune/trainer:<version>)
    #[arg(long)]
    pub image: Option<String>,
    /// Mount host paths (single-node clusters); the default
    #[arg(long, conflicts_with = "pvc")]
    pub host_path: bool,
    /// Use PersistentVolumeClaims: `--pvc model=NAME --pvc data=NAME --pvc output=NAME [--pvc cache=NAME]`
    #[arg(long, value_name = "ROLE=CLAIM")]
    pub pvc: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportTarget {
    K8s,
    Volcano,
}
