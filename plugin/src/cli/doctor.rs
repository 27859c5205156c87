//! `doctor` flags.

use clap::Args;

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Output format
    #[arg(long, value_enum, default_value_t)]
    pub format: super::TableFormat,
}
