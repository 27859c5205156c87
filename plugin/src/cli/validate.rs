//! `validate` flags.

use clap::Args;

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Also open the datasets and check their rows, fields and labels
    #[arg(long)]
    pub data: bool,
    /// Output format of the diagnostics
    #[arg(long, value_enum, default_value_t)]
    pub format: super::TableFormat,
}
