//! The output directory of a run: its layout (`finetune_spec::contract::output`),
//! `status.json` (written at start and at exit, holds total steps for ETA), `run.json` (the run
//! record), and the exported `model/`. Nothing already written is ever deleted on failure.

use crate::error::RunError;
use finetune_spec::contract::{self, output, ExitReason, RunRecord, Status};
use finetune_spec::time::now_rfc3339;
use finetune_spec::JobSpec;
use serde::Serialize;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Paths under one output directory.
#[derive(Debug, Clone)]
pub struct OutputDir {
    pub root: PathBuf,
}

impl OutputDir {
    /// Creates the output directory (and `checkpoints/`) and checks it is writable.
    pub fn create(root: &Path) -> Result<Self, RunError> {
        let out = OutputDir { root: root.into() };
        fs::create_dir_all(out.checkpoints()).map_err(|e| RunError::output(root, e))?;
        let probe = root.join(format!(".write-test-{}", std::process::id()));
        File::create(&probe)
            .and_then(|mut f| f.write_all(b"ok"))
            .map_err(|e| RunError::output(root, e))?;
        let _ = fs::remove_file(probe);
        Ok(out)
    }
    pub fn metrics(&self) -> PathBuf {
        self.root.join(output::METRICS)
    }
    pub fn checkpoints(&self) -> PathBuf {
        self.root.join(output::CHECKPOINTS)
    }
    pub fn model(&self) -> PathBuf {
        self.root.join(output::MODEL)
    }
    /// `checkpoints/best/`: the best evaluation's weights (early stopping).
    pub fn best(&self) -> PathBuf {
        self.checkpoints().join(output::BEST)
    }
    pub fn run_record(&self) -> PathBuf {
        self.root.join(output::RUN_RECORD)
    }
    pub fn status(&self) -> PathBuf {
        self.root.join(output::STATUS)
    }

    /// Writes `status.json` atomically.
    pub fn write_status(&self, status: &Status) -> Result<(), RunError> {
        write_json(&self.status(), status)
    }

    /// Writes `run.json` atomically.
    pub fn write_run_record(&self, rec: &RunRecord) -> Result<(), RunError> {
        write_json(&self.run_record(), rec)
    }

    /// The run record of a finished run with this config, if there is one: such a run is not
    /// trained again (the rule is `contract::finished_run`).
    pub fn finished_run(&self, config_hash: &str) -> Option<RunRecord> {
        contract::finished_run(&self.root, config_hash)
    }
}

/// Writes pretty JSON to `path` via a synced temp file and a rename.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), RunError> {
    let bytes = serde_json::to_vec_pretty(value).map_err(|e| RunError::Failed(e.to_string()))?;
    let tmp = path.with_extension("json.tmp");
    let write = || -> std::io::Result<()> {
        let mut f = File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.write_all(b"\n")?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    };
    write().map_err(|e| RunError::output(path, e))
}

/// The job's spec as `run.json` records it.
pub fn trainer_version() -> String {
    format!("finetune-trainer {}", env!("CARGO_PKG_VERSION"))
}

/// The image the trainer runs in, from `FINETUNE_IMAGE` (set by the plugin).
pub fn image() -> Option<String> {
    std::env::var("FINETUNE_IMAGE")
        .ok()
        .filter(|s| !s.is_empty())
}

/// A placeholder record for a spec, filled in by the training loop.
pub fn run_record(job: &JobSpec, exit_reason: ExitReason) -> RunRecord {
    RunRecord {
        job: job.name.clone(),
        trainer_version: trainer_version(),
        image: image(),
        config_hash: job.config_hash(),
        dataset_sha256: Default::default(),
        data_image: contract::DataImage::from_env(|k| std::env::var(k).ok()),
        seed: job.train.seed,
        backend: String::new(),
        precision: None,
        started_at: now_rfc3339(),
        finished_at: now_rfc3339(),
        duration_s: 0.0,
        steps: 0,
        epochs: 0.0,
        resumed_from_step: None,
        final_eval: None,
        best_step: None,
        base_eval: None,
        final_train_loss: None,
        redaction: None,
        exit_reason,
        spec: job.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finished_runs_are_recognised_by_config_hash() {
        let d = tempfile::tempdir().unwrap();
        let out = OutputDir::create(d.path()).unwrap();
        let job: JobSpec = serde_json::from_value(serde_json::json!({
            "name": "j", "model": "/m", "data": {"train": "/t.jsonl"}, "output": "/o"
        }))
        .unwrap();
        let hash = job.config_hash();
        out.write_run_record(&run_record(&job, ExitReason::Completed))
            .unwrap();
        assert!(out.finished_run(&hash).is_none(), "no model yet");
        fs::create_dir_all(out.model()).unwrap();
        File::create(out.model().join("model.safetensors")).unwrap();
        assert!(out.finished_run(&hash).is_some());
        assert!(out.finished_run("other").is_none());
        out.write_run_record(&run_record(&job, ExitReason::Interrupted))
            .unwrap();
        assert!(out.finished_run(&hash).is_none());
    }
}
