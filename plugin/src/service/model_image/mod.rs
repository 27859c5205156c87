//! Model images: a job's latest finished run as an image that serves it, pushed to a registry or
//! saved to an archive for offline hosts (`package` and `bundle` share all of it).
//!
//! - [`labels`]: the default tag (`<project>/<job>:v<run>-<model>-<yyyymmdd>`) and the labels;
//! - [`ledger`]: `.finetune/packages.json`, the run numbers and each run's images;
//! - [`build`]: the generated Dockerfile, the in-memory context, the engine build;
//! - [`quantize`]: `--quantize`, the trainer's `quantize` in a locked-down container;
//! - [`registry`]: `--push` with the docker config's credentials;
//! - [`save`]: a `docker save` archive written all or nothing.
//!
//! The run is the job's own (never its smoke run) and finished with its weights on disk, by the
//! contract's rule. The image is built `FROM` the trainer image the run used when the run
//! recorded one that is still on the engine, else the project's trainer image (built if missing).

pub mod build;
pub mod labels;
pub mod ledger;
pub mod quantize;
pub mod registry;
pub mod save;

use crate::engine::Engine;
use crate::exit::{fail_hint, ExitCode};
use crate::service::{image, Report};
use finetune_spec::contract::{output, RunRecord};
use finetune_spec::image_ref::ImageRef;
use finetune_spec::serving::QuantizationReport;
use finetune_spec::JobSpec;
use ledger::{Ledger, PackagedImage};
use std::path::{Path, PathBuf};

/// A finished run on disk.
#[derive(Debug, Clone)]
pub struct FinishedRun {
    pub output_dir: PathBuf,
    pub record: RunRecord,
}

impl FinishedRun {
    pub fn model_dir(&self) -> PathBuf {
        self.output_dir.join(output::MODEL)
    }
}

/// The run in `output_dir` when it finished with its weights on disk.
pub fn latest_run(output_dir: &Path) -> Option<FinishedRun> {
    let text = std::fs::read(output_dir.join(output::RUN_RECORD)).ok()?;
    let record: RunRecord = serde_json::from_slice(&text).ok()?;
    let weights = output_dir.join(output::MODEL).join(output::WEIGHTS);
    (record.exit_reason.is_finished() && weights.is_file()).then(|| FinishedRun {
        output_dir: output_dir.to_path_buf(),
        record,
    })
}

/// The job's latest finished run, or the error that says there is none.
pub fn require_run(spec: &JobSpec) -> anyhow::Result<FinishedRun> {
    latest_run(&spec.output).ok_or_else(|| {
        fail_hint(
            ExitCode::Other,
            format!(
                "job `{}` has no finished run in {}",
                spec.name,
                spec.output.display()
            ),
            format!("`docker finetune up {}` trains it", spec.name),
        )
    })
}

/// What to package.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `REPO:TAG` (already checked); the default tag when `None`.
    pub tag: Option<String>,
    /// A quantization scheme (`int8`).
    pub quantize: Option<String>,
}

/// A built model image.
#[derive(Debug, Clone)]
pub struct Packaged {
    pub run: u32,
    pub image: PackagedImage,
    pub trainer_image: String,
    pub quantization: Option<QuantizationReport>,
}

/// Build the model image of `run` of job `spec` in `project`, and record it in the ledger.
pub async fn package(
    engine: &Engine,
    project: &str,
    spec: &JobSpec,
    run: &FinishedRun,
    opts: &Options,
    report: &dyn Report,
) -> anyhow::Result<Packaged> {
    let mut ledger = Ledger::load(&run.output_dir);
    let number = ledger.number(&run.record);
    let created = finetune_spec::time::now_rfc3339();
    let base_model = labels::component(
        &spec
            .model
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    );
    let tag = opts
        .tag
        .clone()
        .unwrap_or_else(|| labels::default_tag(project, &spec.name, number, &base_model, &created));
    let trainer_image = trainer_image(engine, &run.record, report).await?;

    // The quantized model lives in a temporary directory until it is in the image.
    let mut _quantized_dir = None;
    let (model_dir, quantization) = match &opts.quantize {
        None => (run.model_dir(), None),
        Some(scheme) => {
            let state = run.output_dir.join(".finetune");
            std::fs::create_dir_all(&state)?;
            let dir = tempfile::Builder::new()
                .prefix(&format!("quantized-{scheme}-"))
                .tempdir_in(&state)?;
            let eval = quantize_eval(spec);
            let req = quantize::Request {
                trainer_image: &trainer_image,
                scheme,
                model_dir: &run.model_dir(),
                eval: eval
                    .as_ref()
                    .map(|(f, t, l)| (f.as_path(), t.as_str(), l.as_str())),
            };
            let (path, q) = quantize::quantize(engine, &req, dir.path(), report).await?;
            _quantized_dir = Some(dir);
            (path, Some(q))
        }
    };

    let image_labels = labels::labels(&labels::Inputs {
        project,
        job: &spec.name,
        run: number,
        record: &run.record,
        base_model: &base_model,
        trainer_image: &trainer_image,
        tag: &tag,
        created: &created,
        quantization: quantization.as_ref(),
    });
    let context = {
        let (dir, from) = (model_dir.clone(), trainer_image.clone());
        tokio::task::spawn_blocking(move || build::context(&dir, &from, Vec::new())).await??
    };
    let id = build::build(engine, context, &tag, &image_labels, report).await?;
    let image = PackagedImage {
        tag,
        id,
        digest: None,
        quantized: opts.quantize.clone(),
        packaged_at: created,
    };
    ledger.add(&run.record, image.clone());
    save_ledger(&ledger, &run.output_dir, report);
    Ok(Packaged {
        run: number,
        image,
        trainer_image,
        quantization,
    })
}

/// Push `image` (made of `run`) and record its digest in the ledger.
pub async fn push(
    engine: &Engine,
    run: &FinishedRun,
    image: &mut PackagedImage,
    config_dir: &Path,
    report: &dyn Report,
) -> anyhow::Result<()> {
    let digest = registry::push(engine, &image.tag, config_dir, report).await?;
    image.digest = Some(digest);
    let mut ledger = Ledger::load(&run.output_dir);
    ledger.add(&run.record, image.clone());
    save_ledger(&ledger, &run.output_dir, report);
    Ok(())
}

/// The newest image made of `run` that is still on the engine under its tag.
pub async fn existing(engine: &Engine, run: &FinishedRun) -> Option<PackagedImage> {
    let ledger = Ledger::load(&run.output_dir);
    for image in ledger.images(&run.record).iter().rev() {
        let same = engine
            .docker
            .inspect_image(&image.tag)
            .await
            .ok()
            .and_then(|i| i.id)
            .is_some_and(|id| id == image.id);
        if same {
            return Some(image.clone());
        }
    }
    None
}

/// The model image has served its purpose once written; a ledger that cannot be written is a
/// warning (`runs` will not list the image), not a failure of the build.
fn save_ledger(ledger: &Ledger, output_dir: &Path, report: &dyn Report) {
    if let Err(e) = ledger.save(output_dir) {
        report.warn(&format!(
            "cannot record the image in {}: {e}",
            ledger::path(output_dir).display()
        ));
    }
}

/// The trainer image to build `FROM`: the run's own when it names a tag still on the engine (or
/// an id the engine still has under a tag), else the project's trainer image.
async fn trainer_image(
    engine: &Engine,
    record: &RunRecord,
    report: &dyn Report,
) -> anyhow::Result<String> {
    if let Some(r) = record.image.as_deref().filter(|r| !r.is_empty()) {
        if let Ok(found) = engine.docker.inspect_image(r).await {
            let is_tag = !r.starts_with("sha256:") && ImageRef::parse(r).is_ok();
            if is_tag {
                return Ok(r.to_string());
            }
            if let Some(t) = found.repo_tags.unwrap_or_default().into_iter().next() {
                return Ok(t);
            }
        }
        report.note(&format!(
            "the run's trainer image {r} is no longer on the engine; using the project's"
        ));
    }
    image::ensure(engine, false, false, report).await
}

/// The eval file `quantize` scores on: the job's eval file on the host, when it has one (a
/// dataset image's files, or an eval split of the train file, are quantized without scoring).
fn quantize_eval(spec: &JobSpec) -> Option<(PathBuf, String, String)> {
    if spec.data.image.is_some() {
        return None;
    }
    let eval = spec.data.eval.as_ref().filter(|p| p.is_file())?;
    Some((
        eval.clone(),
        spec.data.text.clone(),
        spec.data.label.clone(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_run(dir: &Path, exit_reason: &str, weights: bool) {
        let rec = serde_json::json!({
            "job": "a", "trainer_version": "0.1.0", "config_hash": "abc", "dataset_sha256": {},
            "seed": 1, "backend": "cpu", "started_at": "s", "finished_at": "f", "duration_s": 1.0,
            "steps": 4, "epochs": 1.0, "exit_reason": exit_reason,
            "spec": {"name": "a", "model": "/model", "data": {"train": "/data/t.jsonl"}, "output": "/output"}
        });
        std::fs::write(dir.join(output::RUN_RECORD), rec.to_string()).unwrap();
        if weights {
            std::fs::create_dir_all(dir.join(output::MODEL)).unwrap();
            std::fs::write(dir.join(output::MODEL).join(output::WEIGHTS), b"w").unwrap();
        }
    }

    #[test]
    fn only_a_finished_run_with_its_weights_is_packaged() {
        let d = tempfile::tempdir().unwrap();
        assert!(latest_run(d.path()).is_none());
        write_run(d.path(), "completed", false);
        assert!(latest_run(d.path()).is_none());
        write_run(d.path(), "interrupted", true);
        assert!(latest_run(d.path()).is_none());
        write_run(d.path(), "early_stopped", true);
        let run = latest_run(d.path()).unwrap();
        assert_eq!(run.model_dir(), d.path().join("model"));
    }
}
