//! `docker-finetune`: the Docker CLI plugin behind `docker finetune`.
//!
//! `main` is a dispatch: the plugin protocol's metadata and the Compose provider entry are
//! answered first (neither may print anything else), then clap parses the command line and the
//! command in `commands/` runs, over the service layer in `service/`. Errors are printed once, as
//! `error:` / `caused by:` / `hint:`, and decide the exit code (see `exit.rs` and `docs/cli.md`).

mod argv;
mod cli;
mod commands;
mod compose_cli;
mod endpoint;
mod engine;
mod exit;
mod nvidia_smi;
mod provider;
mod scheduler;
mod service;
mod ui;

use clap::Parser;
use exit::{ExitCode, Failure};

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    let argv = match argv::classify(argv) {
        argv::Invocation::Metadata => {
            // Fast and without the daemon: the docker CLI calls this for `docker --help`.
            println!(
                "{}",
                serde_json::to_string(&argv::METADATA).unwrap_or_default()
            );
            return;
        }
        argv::Invocation::Cli(argv) => argv,
    };
    if let Some(args) = argv::provider_args(&argv) {
        // Compose reads only JSON lines on stdout; errors are reported there, not as text.
        std::process::exit(runtime().block_on(commands::provider::run(&args)));
    }
    let cli = match cli::Cli::try_parse_from(&argv) {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() {
                ExitCode::Usage.code()
            } else {
                0
            };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    let mut cli = cli;
    // Repeatable global flags given at several command levels: clap keeps only the last level.
    let files = argv::repeated(&argv, Some("-f"), "--file");
    if files.len() > cli.compose.files.len() {
        cli.compose.files = files.into_iter().map(Into::into).collect();
    }
    let env_files = argv::repeated(&argv, None, "--env-file");
    if env_files.len() > cli.compose.env_files.len() {
        cli.compose.env_files = env_files.into_iter().map(Into::into).collect();
    }
    let profiles = argv::repeated(&argv, None, "--profile");
    if profiles.len() > cli.compose.profiles.len() {
        cli.compose.profiles = profiles;
    }
    let code = match runtime().block_on(commands::dispatch(cli)) {
        Ok(code) => code,
        Err(e) => report(&e),
    };
    std::process::exit(code.code());
}

fn runtime() -> tokio::runtime::Runtime {
    match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            ui::error(format!("cannot start the async runtime: {e}"));
            std::process::exit(ExitCode::Other.code());
        }
    }
}

/// Print an error once and pick its exit code: a [`Failure`] anywhere in the chain decides it.
fn report(e: &anyhow::Error) -> ExitCode {
    let failure = e.chain().find_map(|c| c.downcast_ref::<Failure>());
    ui::error(e);
    for cause in e.chain().skip(1) {
        ui::caused_by(cause);
    }
    if let Some(h) = failure.and_then(|f| f.hint.as_ref()) {
        ui::hint(h);
    }
    failure.map_or(ExitCode::Other, |f| f.code)
}
