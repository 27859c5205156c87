//! End-to-end tests: the real `docker` CLI with the plugin installed in a temporary
//! `DOCKER_CONFIG`, real Compose v2, the real engine and the trainer image built from the static
//! trainer binary under test. One intent per test; each test's project is
//! `tests/fixtures/<name>/` (or an example) copied to a temp dir.
//!
//! Tests take the engine lock (they share 2 cores and the engine) and remove their containers
//! by Compose project label, also when they fail. Without the binaries, the engine or the real
//! fixtures they skip with a message, except under `CI=true` where they fail.

mod chat;
mod cli;
mod concurrent;
mod config;
mod data_image;
mod gpu;
mod image;
mod lifecycle;
mod package;
mod provider;
mod quickstart;
mod redaction;
mod resume;
mod smoke;
mod validate;

use finetune_tests::engine::{self, EngineLock};
use finetune_tests::env::{docker_env, DockerEnv};
use std::sync::OnceLock;

/// The engine lock and the environment, or a skip (a failure in CI) when they are unavailable.
macro_rules! setup {
    () => {{
        let lock = crate::lock();
        match finetune_tests::env::docker_env() {
            Ok(env) => (lock, env),
            Err(e) => finetune_tests::skip_or_fail!("end-to-end prerequisites missing: {e:#}"),
        }
    }};
}
pub(crate) use setup;

pub(crate) fn lock() -> EngineLock {
    engine::lock()
}

static IMAGE: OnceLock<Result<(), String>> = OnceLock::new();

/// Builds the default trainer image once per test run from the binary under test, so no test
/// runs a stale image left by an earlier build.
pub(crate) fn ensure_trainer_image(env: &DockerEnv) {
    let r = IMAGE.get_or_init(|| {
        let bin = env.trainer.to_string_lossy().into_owned();
        let run = env.docker(["finetune", "build", "--binary", &bin]);
        if run.success() {
            Ok(())
        } else {
            Err(run.to_string())
        }
    });
    if let Err(e) = r {
        panic!("building the trainer image from the static binary failed: {e}");
    }
}

/// The plugin's version (from its CLI plugin metadata), which tags the default trainer image.
pub(crate) fn plugin_version() -> String {
    let env = docker_env().expect("environment");
    let meta = env.plugin_direct(["docker-cli-plugin-metadata"]).ok();
    let v: serde_json::Value = serde_json::from_str(&meta.stdout).expect("metadata JSON");
    v["Version"].as_str().expect("Version").to_string()
}

/// 1-based (line, column) of the first occurrence of `needle` in `text`.
pub(crate) fn position_of(text: &str, needle: &str) -> (usize, usize) {
    let at = text
        .find(needle)
        .unwrap_or_else(|| panic!("`{needle}` not in fixture"));
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let col = at - before.rfind('\n').map(|i| i + 1).unwrap_or(0) + 1;
    (line, col)
}
