//! A temporary `DOCKER_CONFIG` with the plugin and Compose installed as CLI plugins, and helpers
//! that run the real `docker` CLI in it.
//!
//! The plugin is symlinked into `<config>/cli-plugins/`, exactly where a user would install it,
//! so `docker finetune ...` goes through the docker CLI's plugin discovery and argv handling.

use anyhow::{bail, Context, Result};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

/// The shared test environment (built once per test binary).
pub struct DockerEnv {
    pub config_dir: tempfile::TempDir,
    pub plugin: PathBuf,
    pub trainer: PathBuf,
}

/// The result of one command, with its text decoded for assertions.
#[derive(Debug)]
pub struct Run {
    pub cmdline: String,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from_output(cmdline: String, out: Output) -> Run {
        Run {
            cmdline,
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// Panics with the whole output unless the command exited 0.
    pub fn ok(self) -> Run {
        assert!(self.success(), "command failed: {self}");
        self
    }

    /// stdout and stderr together, for message checks.
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` exited {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.cmdline, self.code, self.stdout, self.stderr
        )
    }
}

static ENV: OnceLock<Result<DockerEnv, String>> = OnceLock::new();

/// The test environment, or why it cannot be made (binaries or Compose missing).
pub fn docker_env() -> Result<&'static DockerEnv> {
    ENV.get_or_init(|| DockerEnv::new().map_err(|e| format!("{e:#}")))
        .as_ref()
        .map_err(|e| anyhow::anyhow!("{e}"))
}

impl DockerEnv {
    fn new() -> Result<DockerEnv> {
        let plugin = crate::bins::plugin()?;
        let trainer = crate::bins::trainer()?;
        let compose = crate::bins::compose_plugin().context(
            "Compose v2 (docker-compose CLI plugin) not found: run scripts/install-compose.sh",
        )?;
        let config_dir = tempfile::Builder::new()
            .prefix("finetune-e2e-docker-config")
            .tempdir()?;
        let plugins = config_dir.path().join("cli-plugins");
        std::fs::create_dir_all(&plugins)?;
        std::os::unix::fs::symlink(&plugin, plugins.join("docker-finetune"))?;
        std::os::unix::fs::symlink(&compose, plugins.join("docker-compose"))?;
        std::fs::write(config_dir.path().join("config.json"), "{}\n")?;
        let env = DockerEnv {
            config_dir,
            plugin,
            trainer,
        };
        let info = env.docker(["info", "--format", "{{.ServerVersion}}"]);
        if !info.success() {
            bail!("the Docker engine does not answer (run scripts/ensure-docker.sh): {info}");
        }
        Ok(env)
    }

    pub fn config_path(&self) -> &Path {
        self.config_dir.path()
    }

    /// A `docker` command in the temporary config; no output captured yet.
    pub fn docker_cmd<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut c = Command::new("docker");
        c.args(args)
            .env("DOCKER_CONFIG", self.config_path())
            // No buildx here: Compose must use the classic builder.
            .env("COMPOSE_BAKE", "false")
            .env_remove("COMPOSE_FILE")
            .env_remove("COMPOSE_PROJECT_NAME")
            .env("NO_COLOR", "1")
            // `up` builds a missing trainer image from the binary under test and this tree's
            // trainer/Dockerfile.
            .env("FINETUNE_TRAINER_BIN", &self.trainer)
            .env("FINETUNE_SOURCE_DIR", crate::repo_root())
            .stdin(Stdio::null());
        c
    }

    /// Runs `docker ARGS` to completion.
    pub fn docker<I, S>(&self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.docker_in(None, args)
    }

    /// Runs `docker ARGS` in `dir` to completion.
    pub fn docker_in<I, S>(&self, dir: Option<&Path>, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let args: Vec<S> = args.into_iter().collect();
        let cmdline = std::iter::once("docker".to_string())
            .chain(
                args.iter()
                    .map(|a| a.as_ref().to_string_lossy().into_owned()),
            )
            .collect::<Vec<_>>()
            .join(" ");
        let mut c = self.docker_cmd(&args);
        if let Some(d) = dir {
            c.current_dir(d);
        }
        match c.output() {
            Ok(out) => Run::from_output(cmdline, out),
            Err(e) => Run {
                cmdline,
                code: None,
                stdout: String::new(),
                stderr: format!("could not run docker: {e}"),
            },
        }
    }

    /// Runs the plugin binary directly (not through docker), e.g. for its metadata.
    pub fn plugin_direct<I, S>(&self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let args: Vec<S> = args.into_iter().collect();
        let cmdline = format!(
            "{} {}",
            self.plugin.display(),
            args.iter()
                .map(|a| a.as_ref().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        );
        let out = Command::new(&self.plugin)
            .args(&args)
            .env("DOCKER_CONFIG", self.config_path())
            .stdin(Stdio::null())
            .output();
        match out {
            Ok(out) => Run::from_output(cmdline, out),
            Err(e) => Run {
                cmdline,
                code: None,
                stdout: String::new(),
                stderr: format!("could not run the plugin: {e}"),
            },
        }
    }

    /// Whether the engine has an NVIDIA runtime or CDI GPU devices (then GPU-less tests skip).
    pub fn engine_has_gpu_runtime(&self) -> bool {
        let r = self.docker(["info", "--format", "{{json .Runtimes}}"]);
        r.stdout.contains("nvidia")
    }
}
