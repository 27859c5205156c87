//! `logs JOB [--follow]`: the trainer's output, from the engine (stdout to stdout, stderr to
//! stderr).

use crate::cli::logs::LogsArgs;
use crate::commands::Ctx;
use crate::engine::labels;
use crate::exit::{fail_hint, ExitCode};
use bollard::container::LogOutput;
use bollard::query_parameters::LogsOptions;
use futures_util::StreamExt;
use std::io::Write;

pub struct Options {
    pub job: String,
    pub follow: bool,
    pub tail: String,
    pub timestamps: bool,
}

impl From<LogsArgs> for Options {
    fn from(a: LogsArgs) -> Options {
        Options {
            job: a.job,
            follow: a.follow,
            tail: a.tail,
            timestamps: a.timestamps,
        }
    }
}

pub async fn run(ctx: &Ctx, opts: Options) -> anyhow::Result<ExitCode> {
    let project = ctx.project_name()?;
    let engine = ctx.engine().await?;
    let found = engine
        .containers(&[(labels::PROJECT, &project), (labels::JOB, &opts.job)])
        .await?;
    let Some(id) = found.into_iter().find_map(|c| c.id) else {
        return Err(fail_hint(
            ExitCode::JobFailed,
            format!(
                "no container for job `{}` in project `{}`",
                opts.job, project
            ),
            "start it with `docker finetune up`; `docker finetune ps` lists the job containers",
        ));
    };
    let mut stream = engine.docker.logs(
        &id,
        Some(LogsOptions {
            follow: opts.follow,
            stdout: true,
            stderr: true,
            timestamps: opts.timestamps,
            tail: opts.tail.clone(),
            ..Default::default()
        }),
    );
    let mut out = std::io::stdout();
    let mut err = std::io::stderr();
    loop {
        tokio::select! {
            item = stream.next() => {
                let Some(item) = item else { break };
                match item? {
                    LogOutput::StdErr { message } => {
                        err.write_all(&message)?;
                    }
                    LogOutput::StdOut { message } | LogOutput::Console { message } => {
                        // A closed pipe (`| head`) ends the command quietly.
                        if out.write_all(&message).and_then(|_| out.flush()).is_err() {
                            break;
                        }
                    }
                    LogOutput::StdIn { .. } => {}
                }
            }
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    Ok(ExitCode::Success)
}
