//! `package --quantize`: the trainer's `quantize` command run in a locked-down container of the
//! trainer image, writing a quantized model directory that is then packaged instead of the f32 one.
//!
//! The container has no network, a read-only root filesystem, no capabilities and no privilege
//! gain, runs as 65532, and sees the model and the eval file read-only and one empty work
//! directory (a temporary directory under the job's `.finetune/`, on the engine's host: a local
//! engine is needed), in which `quantize` creates the new model directory (it refuses one that
//! exists). The container is removed whatever happens. `quantize` writes `quantization.json`
//! (the contract's [`QuantizationReport`]), whose figures go into the image's labels.

use crate::engine::Engine;
use crate::exit::{fail, fail_hint, ExitCode};
use crate::service::containers::wait_exit;
use crate::service::outputs::prepare_dir;
use crate::service::Report;
use bollard::container::LogOutput;
use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{LogsOptions, RemoveContainerOptions, StartContainerOptions};
use finetune_spec::serving::{QuantizationReport, QUANTIZATION_FILE};
use futures_util::StreamExt;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// What to quantize.
pub struct Request<'a> {
    pub trainer_image: &'a str,
    pub scheme: &'a str,
    /// The f32 model directory (the run's `model/`).
    pub model_dir: &'a Path,
    /// The job's eval file on the host, with its text and label fields; `None` quantizes without
    /// scoring (no accuracy in the report).
    pub eval: Option<(&'a Path, &'a str, &'a str)>,
}

/// Paths inside the quantize container.
const IN_MODEL: &str = "/model";
const WORK: &str = "/work";
/// The quantized model directory, inside [`WORK`].
const OUT_NAME: &str = "model";
const EVAL_DIR: &str = "/data";

/// The trainer's argv for `req`, writing `WORK/model`.
pub fn command(req: &Request) -> Vec<String> {
    let out = format!("{WORK}/{OUT_NAME}");
    let mut cmd: Vec<String> = [
        "quantize", "--model", IN_MODEL, "--out", &out, "--scheme", req.scheme,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if let Some((file, text, label)) = req.eval {
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "eval.jsonl".into());
        cmd.extend([
            "--data".to_string(),
            format!("{EVAL_DIR}/{name}"),
            "--text-field".to_string(),
            text.to_string(),
            "--label-field".to_string(),
            label.to_string(),
        ]);
    }
    cmd
}

/// The container: locked down, the inputs read-only, `work_dir` the one writable place.
pub fn container(req: &Request, work_dir: &Path) -> ContainerCreateBody {
    let mut binds = vec![
        format!("{}:{IN_MODEL}:ro", req.model_dir.display()),
        format!("{}:{WORK}", work_dir.display()),
    ];
    if let Some((file, _, _)) = req.eval {
        let name = file.file_name().map(|n| n.to_string_lossy().into_owned());
        binds.push(format!(
            "{}:{EVAL_DIR}/{}:ro",
            file.display(),
            name.unwrap_or_else(|| "eval.jsonl".into())
        ));
    }
    ContainerCreateBody {
        image: Some(req.trainer_image.to_string()),
        cmd: Some(command(req)),
        user: Some("65532:65532".into()),
        network_disabled: Some(true),
        host_config: Some(HostConfig {
            binds: Some(binds),
            network_mode: Some("none".into()),
            readonly_rootfs: Some(true),
            cap_drop: Some(vec!["ALL".into()]),
            security_opt: Some(vec!["no-new-privileges".into()]),
            tmpfs: Some(HashMap::from([(
                "/tmp".to_string(),
                "size=64m".to_string(),
            )])),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Run `quantize` in `work_dir` (made writable by the trainer's user) and read its report.
/// Returns the quantized model directory (in `work_dir`) and the report.
pub async fn quantize(
    engine: &Engine,
    req: &Request<'_>,
    work_dir: &Path,
    report: &dyn Report,
) -> anyhow::Result<(PathBuf, QuantizationReport)> {
    if !crate::engine::is_local(&engine.endpoint) {
        return Err(fail(
            ExitCode::Usage,
            "--quantize mounts the run's model into a container: it needs a local engine (unix socket)",
        ));
    }
    prepare_dir(work_dir)?;
    report.status(&format!(
        "[+] quantizing {} ({}, {})",
        req.model_dir.display(),
        req.scheme,
        match req.eval {
            Some((f, _, _)) => format!("scored on {}", f.display()),
            None => "no eval file to score it on".into(),
        }
    ));
    let created = engine
        .docker
        .create_container(
            None::<bollard::query_parameters::CreateContainerOptions>,
            container(req, work_dir),
        )
        .await
        .map_err(|e| {
            fail(
                ExitCode::JobFailed,
                format!("cannot create the quantize container: {e}"),
            )
        })?;
    let id = created.id;
    let result = run(engine, &id).await;
    let _ = engine
        .docker
        .remove_container(
            &id,
            Some(RemoveContainerOptions {
                force: true,
                v: true,
                link: false,
            }),
        )
        .await;
    result?;
    let out_dir = work_dir.join(OUT_NAME);
    let path = out_dir.join(QUANTIZATION_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        fail(
            ExitCode::JobFailed,
            format!(
                "quantize wrote no {QUANTIZATION_FILE} ({}: {e})",
                path.display()
            ),
        )
    })?;
    let q: QuantizationReport = serde_json::from_str(&text).map_err(|e| {
        fail(
            ExitCode::JobFailed,
            format!("{} is not a quantization report: {e}", path.display()),
        )
    })?;
    report.status(&format!(
        "[+] quantized {} layers: {:.1}% of the f32 weights{}",
        q.layers,
        q.size_ratio() * 100.0,
        q.eval
            .as_ref()
            .map(|e| format!(
                ", accuracy {:.4} (f32 {:.4}) on {} rows",
                e.accuracy_quantized, e.accuracy_f32, e.rows
            ))
            .unwrap_or_default()
    ));
    Ok((out_dir, q))
}

/// Start the container, wait for it, and turn a failure into one line (the trainer's last line).
async fn run(engine: &Engine, id: &str) -> anyhow::Result<()> {
    engine
        .docker
        .start_container(id, None::<StartContainerOptions>)
        .await
        .map_err(|e| {
            fail(
                ExitCode::JobFailed,
                format!("cannot start the quantize container: {e}"),
            )
        })?;
    let outcome = wait_exit(&engine.docker, id).await;
    if outcome.status == 0 && !outcome.oom {
        return Ok(());
    }
    let last = last_line(engine, id).await;
    Err(fail_hint(
        ExitCode::from_job(outcome.status, outcome.oom).worst(ExitCode::JobFailed),
        format!(
            "quantize failed ({}): {last}",
            crate::exit::describe_job_exit(outcome.status, outcome.oom)
        ),
        "the trainer image must have the `quantize` command: rebuild it with `docker finetune build`",
    ))
}

/// The container's last non-empty output line.
async fn last_line(engine: &Engine, id: &str) -> String {
    let mut stream = engine.docker.logs(
        id,
        Some(LogsOptions {
            stdout: true,
            stderr: true,
            tail: "20".into(),
            ..Default::default()
        }),
    );
    let mut text = String::new();
    while let Some(Ok(item)) = stream.next().await {
        if let LogOutput::StdOut { message } | LogOutput::StdErr { message } = item {
            text.push_str(&String::from_utf8_lossy(&message));
        }
    }
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("no output")
        .trim()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_container_is_locked_down_and_sees_its_inputs_read_only() {
        let req = Request {
            trainer_image: "docker-finetune/trainer:0.1.0",
            scheme: "int8",
            model_dir: Path::new("/p/runs/j/model"),
            eval: Some((Path::new("/p/data/eval.csv"), "text", "label")),
        };
        let c = container(&req, Path::new("/p/runs/j/.finetune/q"));
        let h = c.host_config.unwrap();
        assert_eq!(h.network_mode.as_deref(), Some("none"));
        assert_eq!(h.readonly_rootfs, Some(true));
        assert_eq!(h.cap_drop, Some(vec!["ALL".to_string()]));
        assert_eq!(c.user.as_deref(), Some("65532:65532"));
        assert_eq!(
            h.binds.unwrap(),
            [
                "/p/runs/j/model:/model:ro",
                "/p/runs/j/.finetune/q:/work",
                "/p/data/eval.csv:/data/eval.csv:ro"
            ]
        );
        assert_eq!(
            c.cmd.unwrap().join(" "),
            "quantize --model /model --out /work/model --scheme int8 --data /data/eval.csv \
             --text-field text --label-field label"
        );
        let bare = command(&Request { eval: None, ..req });
        assert_eq!(
            bare.join(" "),
            "quantize --model /model --out /work/model --scheme int8"
        );
    }
}
