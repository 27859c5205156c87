//! `doctor`: engine, Compose v2, buildx, GPU runtime/CDI and devices ([`gpu`]), free disk and
//! shm, each failing check with its fix. `up` runs the same engine and GPU checks first
//! ([`crate::service::host::preflight_gpus`]).

mod gpu;

use crate::cli::doctor::DoctorArgs;
use crate::cli::TableFormat;
use crate::commands::Ctx;
use crate::compose_cli::{buildx_present, compose_version, ComposeCli};
use crate::engine::{self, GpuSupport};
use crate::exit::ExitCode;
use crate::service::outputs::{free_bytes, gib, LOW_FREE, MIN_FREE};
use serde::Serialize;
use std::path::{Path, PathBuf};

pub struct Options {
    pub format: TableFormat,
}

impl From<DoctorArgs> for Options {
    fn from(a: DoctorArgs) -> Options {
        Options { format: a.format }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Warn,
    Fail,
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: String,
    pub status: Status,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

fn check(
    name: impl Into<String>,
    status: Status,
    detail: impl Into<String>,
    fix: Option<&str>,
) -> Check {
    Check {
        name: name.into(),
        status,
        detail: detail.into(),
        fix: fix.map(String::from),
    }
}

pub async fn run(ctx: &Ctx, opts: Options) -> anyhow::Result<ExitCode> {
    let mut checks = Vec::new();
    let mut code = ExitCode::Success;
    let endpoint = ctx.endpoint()?;
    let engine = match engine::Engine::connect(&endpoint).await {
        Ok(e) => Some(e),
        Err(f) => {
            crate::ui::error(&f.message);
            if let Some(h) = &f.hint {
                crate::ui::hint(h);
            }
            checks.push(check(
                "engine",
                Status::Fail,
                f.message.clone(),
                f.hint.as_deref(),
            ));
            code = ExitCode::DaemonUnreachable;
            None
        }
    };
    let mut gpu = GpuSupport::default();
    let mut local = false;
    if let Some(e) = &engine {
        match e.info().await {
            Ok(info) => {
                checks.push(check(
                    "engine",
                    Status::Ok,
                    format!(
                        "{} ({}), engine {}, API {} (negotiated)",
                        endpoint.host,
                        endpoint.source,
                        info.server_version.clone().unwrap_or_default(),
                        e.api_version
                    ),
                    None,
                ));
                local = engine::is_local(&endpoint);
                gpu = engine::gpu_support(&info, local);
                if let Some(root) = info
                    .docker_root_dir
                    .as_deref()
                    .filter(|_| engine::is_local(&endpoint))
                {
                    if let Some(free) = free_bytes(Path::new(root)) {
                        checks.push(disk_check("image storage", root, free));
                    }
                }
            }
            Err(err) => checks.push(check("engine", Status::Fail, err.to_string(), None)),
        }
    }
    let docker = ComposeCli::docker_binary();
    match compose_version(&docker).await {
        Some(v) if v.0 >= 2 => checks.push(check(
            "compose",
            if v >= (2, 36, 0) {
                Status::Ok
            } else {
                Status::Warn
            },
            format!("Compose v{}.{}.{}", v.0, v.1, v.2),
            (v < (2, 36, 0)).then_some(
                "provider services (`provider: {type: finetune}`) need Compose 2.36 or later",
            ),
        )),
        other => {
            checks.push(check(
                "compose",
                Status::Fail,
                match other {
                    Some(v) => format!("Compose v{}.{}.{} is too old", v.0, v.1, v.2),
                    None => "`docker compose` (Compose v2) not found".to_string(),
                },
                Some("install Compose v2: `scripts/install-compose.sh` or the docker-compose-plugin package"),
            ));
            if code == ExitCode::Success {
                code = ExitCode::ComposeFailed;
            }
        }
    }
    checks.push(if buildx_present(&docker).await {
        check("buildx", Status::Ok, "docker buildx found", None)
    } else {
        check(
            "buildx",
            Status::Warn,
            "docker buildx not found; builds use the classic builder (COMPOSE_BAKE=false, DOCKER_BUILDKIT=0)",
            Some("optional: install docker-buildx for BuildKit (faster multi-stage builds)"),
        )
    });
    checks.push(gpu::runtime_check(&gpu));
    // This machine's GPUs are the engine's only when the engine is local; without an engine,
    // list them anyway (the driver may be there before Docker is).
    let smi =
        (local || engine.is_none()).then(|| crate::nvidia_smi::query(Path::new("nvidia-smi")));
    checks.extend(gpu::device_checks(&gpu, smi));
    // Disk where outputs go: the project's job outputs when a project loads, else here.
    let outputs: Vec<PathBuf> = match finetune_compose::load_project(&ctx.project_options) {
        Ok(p) => p.jobs.iter().map(|j| j.spec.output.clone()).collect(),
        Err(_) => vec![std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."))],
    };
    let mut seen = std::collections::BTreeSet::new();
    for o in outputs {
        if let Some(free) = free_bytes(&o) {
            if seen.insert(free / (64 << 20)) {
                let c = disk_check("output disk", &o.display().to_string(), free);
                if c.status == Status::Fail && code == ExitCode::Success {
                    code = ExitCode::DiskFull;
                }
                checks.push(c);
            }
        }
    }
    if let Some(free) = free_bytes(Path::new("/dev/shm")) {
        checks.push(check(
            "shm",
            Status::Ok,
            format!(
                "host /dev/shm {} free; jobs get `resources.shm_size` (Docker's default is 64 MB)",
                gib(free)
            ),
            None,
        ));
    }
    print_checks(&checks, opts.format)?;
    Ok(code)
}

fn disk_check(name: &'static str, path: &str, free: u64) -> Check {
    let (status, fix) = if free < MIN_FREE {
        (
            Status::Fail,
            Some("free disk space (e.g. `docker system prune`, old runs) or move `output`"),
        )
    } else if free < LOW_FREE {
        (
            Status::Warn,
            Some("checkpoints and models need space; free some disk"),
        )
    } else {
        (Status::Ok, None)
    };
    check(name, status, format!("{} free at {path}", gib(free)), fix)
}

fn print_checks(checks: &[Check], format: TableFormat) -> anyhow::Result<()> {
    match format {
        TableFormat::Json => println!("{}", serde_json::to_string_pretty(checks)?),
        TableFormat::Table => {
            for c in checks {
                let mark = match c.status {
                    Status::Ok => "ok  ",
                    Status::Warn => "warn",
                    Status::Fail => "FAIL",
                };
                println!("{mark}  {:<14} {}", c.name, c.detail);
                if let Some(f) = &c.fix {
                    println!("      {:<14} fix: {f}", "");
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_checks_fail_when_nearly_full() {
        assert_eq!(disk_check("d", "/", 1 << 20).status, Status::Fail);
        assert_eq!(disk_check("d", "/", 1 << 30).status, Status::Warn);
        assert_eq!(disk_check("d", "/", 10 << 30).status, Status::Ok);
    }
}
