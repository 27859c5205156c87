//! `down [JOB...]`: stop (SIGTERM, so the trainer checkpoints, then SIGKILL after the timeout)
//! and remove the project's job containers, and the volumes their dataset images filled. Outputs
//! are never touched, and the user's own services are left running.

use crate::cli::down::DownArgs;
use crate::commands::Ctx;
use crate::exit::ExitCode;
use crate::service::containers::{remove_data_volumes, remove_jobs};
use crate::service::Terminal;
use crate::ui;

pub struct Options {
    pub jobs: Vec<String>,
    pub timeout: u32,
}

impl From<DownArgs> for Options {
    fn from(a: DownArgs) -> Options {
        Options {
            jobs: a.jobs,
            timeout: a.timeout,
        }
    }
}

pub async fn run(ctx: &Ctx, opts: Options) -> anyhow::Result<ExitCode> {
    let project = ctx.project_name()?;
    let engine = ctx.engine().await?;
    let n = remove_jobs(&engine, &project, &opts.jobs, opts.timeout, &Terminal).await?;
    let v = remove_data_volumes(&engine, &project, &opts.jobs).await?;
    let volumes = match v {
        0 => String::new(),
        v => format!(" and {v} dataset volume(s)"),
    };
    ui::status(format!(
        "[+] removed {n} job container(s){volumes}; outputs kept"
    ));
    Ok(ExitCode::Success)
}
