//! Running the real `docker compose` on the user's files plus the rendered override, so job
//! services live in the user's Compose project: `docker compose ps/logs` see them and
//! `depends_on` works.
//!
//! The subprocess gets `DOCKER_HOST` set to the endpoint the plugin resolved, so it talks to the
//! same engine whatever context or `-H` the user gave; and, when buildx is missing,
//! `COMPOSE_BAKE=false` and `DOCKER_BUILDKIT=0` so Compose 2.40 falls back to the classic builder.

use crate::exit::{fail_hint, ExitCode};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use tokio::process::Command;

/// A `docker compose` invocation prefix for one project.
#[derive(Debug, Clone)]
pub struct ComposeCli {
    pub docker: String,
    pub project: String,
    pub project_dir: PathBuf,
    /// The user's compose files, then the rendered override.
    pub files: Vec<PathBuf>,
    pub env_files: Vec<PathBuf>,
    pub profiles: Vec<String>,
    pub docker_host: String,
    pub classic_builder: bool,
    /// Print the command line before running it (`-D`).
    pub verbose: bool,
}

impl ComposeCli {
    /// The docker CLI to run: the one that ran us, when known.
    pub fn docker_binary() -> String {
        std::env::var("DOCKER_CLI_PLUGIN_ORIGINAL_CLI_COMMAND")
            .ok()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "docker".to_string())
    }

    /// The argument list after `docker`.
    pub fn args(&self, sub: &[&str]) -> Vec<String> {
        let mut a = vec![
            "compose".to_string(),
            "--project-name".to_string(),
            self.project.clone(),
            "--project-directory".to_string(),
            self.project_dir.display().to_string(),
        ];
        for f in &self.files {
            a.push("--file".into());
            a.push(f.display().to_string());
        }
        for e in &self.env_files {
            a.push("--env-file".into());
            a.push(e.display().to_string());
        }
        for p in &self.profiles {
            a.push("--profile".into());
            a.push(p.clone());
        }
        a.extend(sub.iter().map(|s| s.to_string()));
        a
    }

    pub fn command(&self, sub: &[&str]) -> Command {
        if self.verbose {
            eprintln!("+ {} {}", self.docker, self.args(sub).join(" "));
        }
        let mut c = Command::new(&self.docker);
        c.args(self.args(sub))
            .env("DOCKER_HOST", &self.docker_host)
            .env_remove("DOCKER_CONTEXT")
            .stdin(Stdio::null());
        if self.classic_builder {
            c.env("COMPOSE_BAKE", "false").env("DOCKER_BUILDKIT", "0");
        }
        c
    }

    /// Run with output passed through to our stderr (Compose's progress is not data).
    pub async fn run(&self, sub: &[&str]) -> anyhow::Result<()> {
        let status = self
            .command(sub)
            .stdout(Stdio::from(std::io::stderr()))
            .stderr(Stdio::inherit())
            .status()
            .await
            .map_err(|e| not_found(&self.docker, e))?;
        if !status.success() {
            return Err(fail_hint(
                ExitCode::ComposeFailed,
                format!("`docker compose {}` failed ({status})", sub.join(" ")),
                "see Compose's message above; `docker finetune config` shows the rendered services",
            ));
        }
        Ok(())
    }

    /// Run and capture stdout and stderr (for the provider, where our stdout is Compose's pipe).
    pub async fn output(&self, sub: &[&str]) -> anyhow::Result<std::process::Output> {
        self.command(sub)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .await
            .map_err(|e| not_found(&self.docker, e))
    }
}

fn not_found(docker: &str, e: std::io::Error) -> anyhow::Error {
    fail_hint(
        ExitCode::ComposeFailed,
        format!("cannot run `{docker} compose`: {e}"),
        "install the docker CLI and Compose v2 (`scripts/install-compose.sh`, or the docker-compose-plugin package)",
    )
}

/// `docker compose version --short` → `(major, minor, patch)`, or `None` if Compose v2 is
/// missing.
pub async fn compose_version(docker: &str) -> Option<(u32, u32, u32)> {
    let out = Command::new(docker)
        .args(["compose", "version", "--short"])
        .stdin(Stdio::null())
        .output()
        .await
        .ok()?;
    if !out.status.success() {
        return None;
    }
    parse_version(String::from_utf8_lossy(&out.stdout).trim())
}

/// Whether `docker buildx` is installed.
pub async fn buildx_present(docker: &str) -> bool {
    Command::new(docker)
        .args(["buildx", "version"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .is_ok_and(|s| s.success())
}

/// `v2.40.3`, `2.40.3-desktop.1` → `(2, 40, 3)`.
pub fn parse_version(s: &str) -> Option<(u32, u32, u32)> {
    let s = s.trim().trim_start_matches('v');
    let core = s.split(['-', '+']).next()?;
    let mut it = core.split('.').map(|p| p.parse::<u32>().ok());
    Some((
        it.next()??,
        it.next().flatten().unwrap_or(0),
        it.next().flatten().unwrap_or(0),
    ))
}

/// Where the rendered override goes: `<project dir>/.finetune/compose.finetune.yaml`.
pub fn rendered_path(project_dir: &Path) -> PathBuf {
    project_dir.join(".finetune").join("compose.finetune.yaml")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse() {
        assert_eq!(parse_version("v2.40.3"), Some((2, 40, 3)));
        assert_eq!(parse_version("2.36.0-desktop.1"), Some((2, 36, 0)));
        assert_eq!(parse_version("1.29"), Some((1, 29, 0)));
        assert_eq!(parse_version("garbage"), None);
    }

    #[test]
    fn args_name_the_project_files_and_subcommand() {
        let c = ComposeCli {
            docker: "docker".into(),
            project: "demo".into(),
            project_dir: "/p".into(),
            files: vec![
                "/p/compose.yaml".into(),
                "/p/.finetune/compose.finetune.yaml".into(),
            ],
            env_files: vec![],
            profiles: vec!["gpu".into()],
            docker_host: "unix:///var/run/docker.sock".into(),
            classic_builder: true,
            verbose: false,
        };
        assert_eq!(
            c.args(&["up", "-d", "job"]).join(" "),
            "compose --project-name demo --project-directory /p --file /p/compose.yaml \
             --file /p/.finetune/compose.finetune.yaml --profile gpu up -d job"
        );
    }
}
