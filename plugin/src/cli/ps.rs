//! `ps` flags.

use clap::Args;

#[derive(Debug, Args)]
pub struct PsArgs {
    /// Output format
    #[arg(long, value_enum, default_value_t)]
    pub format: super::TableFormat,
    /// Also list jobs of every project on the engine
    #[arg(short, long)]
    pub all_projects: bool,
}
