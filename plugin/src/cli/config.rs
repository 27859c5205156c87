//! `config` flags.

use clap::{Args, ValueEnum};

#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// Output format
    #[arg(long, value_enum, default_value_t)]
    pub format: ConfigFormat,
    /// Render GPU requests as written (`count: N`) instead of disjoint `device_ids`
    #[arg(long)]
    pub gpu_count: bool,
    /// Jobs to render (default: all)
    #[arg(value_name = "JOB")]
    pub jobs: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum ConfigFormat {
    #[default]
    Yaml,
    Json,
}
