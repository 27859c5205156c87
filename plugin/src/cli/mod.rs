//! The command line as clap types, and nothing else: each command's flags live in the file of the
//! same name, and `commands/` turns them into plain option structs before any engine call.
//!
//! Global flags mirror the docker CLI's (`--context`, `-H`, `-l`, `-D`, `--config`; the docker
//! CLI hands a plugin its argv unchanged, so they may arrive before `finetune`) and Compose's
//! (`-f`, `-p`, `--project-directory`, `--env-file`, `--profile`).

pub mod build;
pub mod bundle;
pub mod config;
pub mod data;
pub mod doctor;
pub mod down;
pub mod export;
pub mod logs;
pub mod package;
pub mod ps;
pub mod runs;
pub mod up;
pub mod validate;

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Fine-tune models from the compose files you already run.
#[derive(Debug, Parser)]
#[command(
    name = "docker finetune",
    bin_name = "docker finetune",
    version,
    disable_version_flag = true,
    after_help = "Exit codes: 0 ok, 1 invalid spec, 2 usage, 3 engine unreachable, 4 build failed, \
5 job failed, 6 out of memory, 7 no GPU runtime, 8 disk full, 9 compose failed, 10 other, \
130 interrupted"
)]
pub struct Cli {
    #[command(flatten)]
    pub docker: DockerFlags,
    #[command(flatten)]
    pub compose: ComposeFlags,
    #[command(subcommand)]
    pub command: Command,
}

/// The docker CLI's global flags.
#[derive(Debug, Clone, Args, Default)]
pub struct DockerFlags {
    /// Name of the docker context to use (overrides DOCKER_HOST and DOCKER_CONTEXT)
    #[arg(short = 'c', long, global = true, value_name = "NAME")]
    pub context: Option<String>,
    /// Daemon socket to connect to
    #[arg(short = 'H', long = "host", global = true, value_name = "HOST")]
    pub host: Vec<String>,
    /// Location of the docker client config files (default ~/.docker)
    #[arg(long, global = true, value_name = "DIR")]
    pub config: Option<PathBuf>,
    /// Set the logging level (debug, info, warn, error, fatal)
    #[arg(short = 'l', long, global = true, value_name = "LEVEL")]
    pub log_level: Option<String>,
    /// Enable debug output
    #[arg(short = 'D', long, global = true)]
    pub debug: bool,
    /// Use TLS (not supported by this plugin: use a unix socket, tcp:// or an SSH tunnel)
    #[arg(long, global = true, hide = true)]
    pub tls: bool,
    #[arg(long, global = true, hide = true)]
    pub tlsverify: bool,
    #[arg(long, global = true, hide = true)]
    pub tlscacert: Option<PathBuf>,
    #[arg(long, global = true, hide = true)]
    pub tlscert: Option<PathBuf>,
    #[arg(long, global = true, hide = true)]
    pub tlskey: Option<PathBuf>,
}

/// Compose's project flags.
#[derive(Debug, Clone, Args, Default)]
pub struct ComposeFlags {
    /// Compose configuration files (repeatable; default: COMPOSE_FILE, then compose.yaml & co.)
    #[arg(short = 'f', long = "file", global = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Project name (default: COMPOSE_PROJECT_NAME, then the project directory's name)
    #[arg(short = 'p', long, global = true, value_name = "NAME")]
    pub project_name: Option<String>,
    /// Alternate working directory (default: the directory of the first compose file)
    #[arg(long, global = true, value_name = "DIR")]
    pub project_directory: Option<PathBuf>,
    /// Alternate environment files (repeatable; default: .env in the project directory)
    #[arg(long = "env-file", global = true, value_name = "FILE")]
    pub env_files: Vec<PathBuf>,
    /// Profiles to enable (repeatable; default: COMPOSE_PROFILES)
    #[arg(long = "profile", global = true, value_name = "PROFILE")]
    pub profiles: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the fine-tune spec (and with --data the datasets); no engine needed
    Validate(validate::ValidateArgs),
    /// Print the rendered Compose override for the jobs
    Config(config::ConfigArgs),
    /// Print Kubernetes or Volcano manifests for a job
    Export(export::ExportArgs),
    /// Build the trainer image
    Build(build::BuildArgs),
    /// Dataset images: `data package DIR --tag REPO:TAG`
    Data(data::DataArgs),
    /// Build if needed, start the jobs in the Compose project and show their progress
    Up(up::UpArgs),
    /// List the project's job containers with their progress
    Ps(ps::PsArgs),
    /// Show a job's trainer output
    Logs(logs::LogsArgs),
    /// Stop and remove job containers (outputs are kept)
    Down(down::DownArgs),
    /// List finished runs with metrics, hashes and output paths
    Runs(runs::RunsArgs),
    /// Build a model image of a job's latest finished run (`serve` as its command); --push
    Package(package::PackageArgs),
    /// Write a `docker save` archive of a job's model image (and the trainer's), for offline hosts
    Bundle(bundle::BundleArgs),
    /// Check the engine, Compose, buildx, GPU runtime, disk and shm
    Doctor(doctor::DoctorArgs),
}

/// Output formats of table-printing commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum TableFormat {
    #[default]
    Table,
    Json,
}
