//! Harness for the end-to-end tests: the real `docker` CLI with the `docker-finetune` plugin
//! installed in a temporary `DOCKER_CONFIG`, real Compose v2, the real engine and trainer image.
//!
//! - [`bins`] finds the plugin, the static trainer and the Compose plugin.
//! - [`env`] builds the temporary `DOCKER_CONFIG` and runs `docker ...` in it.
//! - [`project`] copies a fixture project into a temp dir and adds models and data (tiny ones
//!   from `finetune_fixtures`, for tests where speed matters, or the real MiniLM fixtures).
//! - [`engine`] serialises tests on the engine and removes what a test created, even on failure.
//! - [`outputs`] reads what the trainer wrote (`metrics.jsonl`, `run.json`).
//! - [`http`] sends raw HTTP requests to served model images; [`served`] runs them.

pub mod bins;
pub mod engine;
pub mod env;
pub mod http;
pub mod outputs;
pub mod project;
pub mod served;

use std::path::PathBuf;

/// The repository root (the parent of this crate's directory).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(".."))
}

/// Whether this run is CI (`CI=true`): there, missing prerequisites fail instead of skipping.
pub fn is_ci() -> bool {
    std::env::var("CI").map(|v| v == "true").unwrap_or(false)
}

/// Skip the current test with a message, or panic in CI where nothing may be skipped.
/// Returns from the calling test function.
#[macro_export]
macro_rules! skip_or_fail {
    ($($arg:tt)*) => {{
        let msg = format!($($arg)*);
        if $crate::is_ci() {
            panic!("CI=true, so this cannot be skipped: {msg}");
        }
        eprintln!("SKIPPED: {msg}");
        return;
    }};
}
