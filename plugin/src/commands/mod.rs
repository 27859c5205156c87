//! Command logic, one file per command (named like its flags in `cli/`). Each command turns its
//! flags into a plain options struct, then runs, returning the exit code. Commands are leaves:
//! what two of them share lives in `service/`, and no command imports another.

pub mod build;
pub mod bundle;
pub mod config;
pub mod data;
pub mod doctor;
pub mod down;
pub mod export;
pub mod logs;
pub mod package;
pub mod provider;
pub mod ps;
pub mod runs;
pub mod up;
pub mod validate;

use crate::cli::{Cli, Command, ComposeFlags, DockerFlags};
use crate::endpoint::{self, Endpoint, EndpointInputs};
use crate::engine::Engine;
use crate::exit::{fail, fail_hint, ExitCode};
use finetune_compose::{load_project, Job, Project, ProjectOptions};

/// What every command may need: where the engine is and which Compose project to read.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub endpoint_inputs: EndpointInputs,
    pub project_options: ProjectOptions,
    pub debug: bool,
}

impl Ctx {
    pub fn new(docker: &DockerFlags, compose: &ComposeFlags) -> Ctx {
        let mut project_options = ProjectOptions::from_env();
        project_options.files = compose.files.clone();
        project_options.project_name = compose.project_name.clone();
        project_options.project_directory = compose.project_directory.clone();
        project_options.env_files = compose.env_files.clone();
        project_options.profiles = compose.profiles.clone();
        Ctx {
            endpoint_inputs: EndpointInputs::from_env(
                docker.host.clone(),
                docker.context.clone(),
                docker.config.clone(),
            ),
            project_options,
            debug: docker.debug || docker.log_level.as_deref() == Some("debug"),
        }
    }

    pub fn endpoint(&self) -> anyhow::Result<Endpoint> {
        endpoint::resolve(&self.endpoint_inputs).map_err(|e| {
            fail_hint(
                ExitCode::DaemonUnreachable,
                e.to_string(),
                "`docker context ls` lists the contexts; `docker context use NAME` picks one",
            )
        })
    }

    pub async fn engine(&self) -> anyhow::Result<Engine> {
        Ok(Engine::connect(&self.endpoint()?).await?)
    }

    /// Load the Compose project; a file that cannot be read or parsed is [`ExitCode::InvalidSpec`]
    /// with its positioned diagnostics.
    pub fn load(&self) -> anyhow::Result<Project> {
        load_project(&self.project_options).map_err(|e| match e {
            // The message already says what to do.
            finetune_compose::LoadError::NoComposeFile { .. } => {
                fail(ExitCode::InvalidSpec, e.to_string())
            }
            e => fail_hint(
                ExitCode::InvalidSpec,
                e.to_string(),
                "fix the compose file; `docker finetune validate` lists every problem",
            ),
        })
    }
}

impl Ctx {
    /// The project's name for commands that only need it to find containers by label (`ps`,
    /// `logs`, `down`): `-p`/`COMPOSE_PROJECT_NAME` work even where no compose file is.
    pub fn project_name(&self) -> anyhow::Result<String> {
        match self.load() {
            Ok(p) => Ok(p.name),
            Err(e) => self
                .project_options
                .project_name
                .clone()
                .or_else(|| {
                    self.project_options
                        .env
                        .get("COMPOSE_PROJECT_NAME")
                        .cloned()
                })
                .filter(|n| !n.is_empty())
                .map(|n| finetune_compose::load::normalize_project_name(&n))
                .ok_or(e),
        }
    }
}

/// The jobs named on the command line (all when none), in the project's order; an unknown name
/// is an error that lists the known ones.
pub fn select_jobs<'p>(project: &'p Project, names: &[String]) -> anyhow::Result<Vec<&'p Job>> {
    if names.is_empty() {
        return Ok(project.jobs.iter().collect());
    }
    names
        .iter()
        .map(|n| {
            project.job(n).ok_or_else(|| {
                let known: Vec<&str> = project.jobs.iter().map(|j| j.spec.name.as_str()).collect();
                fail_hint(
                    ExitCode::InvalidSpec,
                    format!("no job `{n}` in project `{}`", project.name),
                    if known.is_empty() {
                        "the project has no fine-tune jobs: add an `x-finetune` section".to_string()
                    } else {
                        format!("jobs: {}", known.join(", "))
                    },
                )
            })
        })
        .collect()
}

/// Stop with [`ExitCode::InvalidSpec`] when the project's spec has errors, printing each one
/// (warnings are printed and do not stop). `files` adds the filesystem checks (model and data
/// files exist), which `up` needs and `config`/`export` do not: rendering for another machine
/// must work without the files.
pub fn require_valid(project: &Project, files: bool) -> anyhow::Result<()> {
    let diags = if files {
        finetune_compose::validate(project, &finetune_compose::ValidateOptions::default())
    } else {
        project.diagnostics.clone()
    };
    let errors = diags.iter().filter(|d| d.is_error()).count();
    for d in &diags {
        eprintln!("{d}");
    }
    if errors > 0 {
        return Err(fail_hint(
            ExitCode::InvalidSpec,
            format!("the fine-tune spec has {errors} error(s)"),
            "fix them and run `docker finetune validate`",
        ));
    }
    Ok(())
}

pub async fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    let ctx = Ctx::new(&cli.docker, &cli.compose);
    if cli.docker.tls || cli.docker.tlsverify {
        return Err(fail(
            ExitCode::Usage,
            "TLS endpoints are not supported by docker-finetune yet; use a unix socket or an SSH tunnel",
        ));
    }
    match cli.command {
        Command::Validate(a) => validate::run(&ctx, a.into()).await,
        Command::Config(a) => config::run(&ctx, a.into()).await,
        Command::Export(a) => export::run(&ctx, a.try_into()?),
        Command::Build(a) => build::run(&ctx, a.into()).await,
        Command::Data(a) => data::run(&ctx, a.into()).await,
        Command::Up(a) => up::run(&ctx, a.into()).await,
        Command::Ps(a) => ps::run(&ctx, a.into()).await,
        Command::Logs(a) => logs::run(&ctx, a.into()).await,
        Command::Down(a) => down::run(&ctx, a.into()).await,
        Command::Runs(a) => runs::run(&ctx, a.into()),
        Command::Package(a) => package::run(&ctx, a.into()).await,
        Command::Bundle(a) => bundle::run(&ctx, a.into()).await,
        Command::Doctor(a) => doctor::run(&ctx, a.into()).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use std::path::PathBuf;

    fn parse(args: &[&str]) -> Cli {
        let argv: Vec<String> = std::iter::once("docker-finetune")
            .chain(args.iter().copied())
            .map(String::from)
            .collect();
        match crate::argv::classify(argv) {
            crate::argv::Invocation::Cli(a) => Cli::try_parse_from(a).unwrap(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn compose_flags_map_onto_project_options_wherever_they_are_written() {
        let cli = parse(&[
            "-f",
            "a.yaml",
            "up",
            "--file",
            "b.yaml",
            "-p",
            "demo",
            "--project-directory",
            "/p",
            "--env-file",
            "x.env",
            "--profile",
            "gpu",
            "--profile",
            "db",
            "job1",
        ]);
        // clap alone keeps the last level's `-f`; main merges them with `argv::repeated`.
        assert_eq!(cli.compose.files, [PathBuf::from("b.yaml")]);
        let mut cli = cli;
        cli.compose.files = vec!["a.yaml".into(), "b.yaml".into()];
        let ctx = Ctx::new(&cli.docker, &cli.compose);
        let o = &ctx.project_options;
        assert_eq!(o.files, [PathBuf::from("a.yaml"), PathBuf::from("b.yaml")]);
        assert_eq!(o.project_name.as_deref(), Some("demo"));
        assert_eq!(o.project_directory, Some(PathBuf::from("/p")));
        assert_eq!(o.env_files, [PathBuf::from("x.env")]);
        assert_eq!(o.profiles, ["gpu", "db"]);
        // The process environment goes along for COMPOSE_FILE & co. and interpolation.
        assert!(!o.env.is_empty() || std::env::vars().next().is_none());
        match cli.command {
            Command::Up(u) => assert_eq!(u.jobs, ["job1"]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn docker_global_flags_before_the_plugin_word_reach_the_endpoint() {
        let cli = parse(&[
            "--context",
            "remote",
            "-l",
            "debug",
            "finetune",
            "ps",
            "--format",
            "json",
        ]);
        let ctx = Ctx::new(&cli.docker, &cli.compose);
        assert_eq!(ctx.endpoint_inputs.context_flag.as_deref(), Some("remote"));
        assert!(ctx.debug);
        let cli = parse(&["-H", "unix:///x.sock", "finetune", "doctor"]);
        let ctx = Ctx::new(&cli.docker, &cli.compose);
        assert_eq!(ctx.endpoint_inputs.host_flag, ["unix:///x.sock"]);
        assert_eq!(ctx.endpoint().unwrap().host, "unix:///x.sock");
    }

    #[test]
    fn host_and_context_together_are_refused_like_docker() {
        let cli = parse(&["-H", "unix:///x.sock", "--context", "c", "ps"]);
        let ctx = Ctx::new(&cli.docker, &cli.compose);
        let e = ctx.endpoint().unwrap_err();
        let f = e.downcast_ref::<crate::exit::Failure>().unwrap();
        assert_eq!(f.code, ExitCode::DaemonUnreachable);
        assert!(f.message.contains("--host and --context"));
    }

    #[test]
    fn the_command_line_definition_is_consistent() {
        // Catches flag clashes between global and command flags (e.g. `-f`).
        <Cli as clap::CommandFactory>::command().debug_assert();
    }

    #[test]
    fn usage_errors_are_clap_errors() {
        let argv = ["docker-finetune", "export", "--to", "swarm", "j"];
        assert!(Cli::try_parse_from(argv).is_err());
        assert!(Cli::try_parse_from(["docker-finetune", "config", "--format", "toml"]).is_err());
        let cli =
            Cli::try_parse_from(["docker-finetune", "build", "--binary", "/b", "--cuda"]).unwrap();
        match cli.command {
            Command::Build(b) => assert!(b.cuda && b.binary.is_some()),
            other => panic!("{other:?}"),
        }
    }
}
