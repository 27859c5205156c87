//! `config` flags.

use clap::{Args, ValueEnum};

#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// Output format
    #[arg(long, value_enum, default_value_t)]
    pub format: ConfigFormat,
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
