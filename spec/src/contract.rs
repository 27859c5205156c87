//! The plugin-to-trainer contract: where the trainer finds its inputs inside the container, what
//! it writes under the output directory, and what its exit code means.
//!
//! The plugin renders mounts at these paths and tails these files; the trainer reads and writes
//! them. Both import the constants and types from here, so they cannot drift apart.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// The resolved job spec, mounted read-only.
pub const JOB_FILE: &str = "/run/finetune/job.json";
/// The pretrained checkpoint directory (read-only).
pub const MODEL_DIR: &str = "/model";
/// The dataset directory (read-only).
pub const DATA_DIR: &str = "/data";
/// The output directory (read-write): metrics, checkpoints, model, run record.
pub const OUTPUT_DIR: &str = "/output";
/// An optional cache directory (read-write), e.g. for tokenized data.
pub const CACHE_DIR: &str = "/cache";

/// The environment the plugin gives a job that reads a dataset image: the image's reference
/// (`data.image`) and its id, which the trainer records in `run.json` ([`DataImage`]).
/// Where the job container finds its Compose secrets (`data.redact_key`): Compose mounts each at
/// `/run/secrets/<name>`. The trainer reads [`SECRETS_DIR_ENV`] instead when it is set (a trainer
/// run outside a container).
pub const SECRETS_DIR: &str = "/run/secrets";
pub const SECRETS_DIR_ENV: &str = "FINETUNE_SECRETS_DIR";
pub const DATA_IMAGE_ENV: &str = "FINETUNE_DATA_IMAGE";
pub const DATA_IMAGE_ID_ENV: &str = "FINETUNE_DATA_IMAGE_ID";

/// The `model_type` values of `config.json` the trainer implements (BERT-family checkpoints: BERT,
/// MiniLM). A `config.json` without `model_type` is read as BERT.
pub const SUPPORTED_MODEL_TYPES: &[&str] = &["bert"];

/// The `model_type` values of `config.json` a `task: text-generation` job takes (see
/// [`crate::Architecture`]): Llama and its family (Mistral without sliding windows), and GPT-2.
pub const CAUSAL_MODEL_TYPES: &[&str] = &["llama", "mistral", "gpt2"];

/// File and directory names under the output directory.
pub mod output {
    pub const METRICS: &str = "metrics.jsonl";
    pub const CHECKPOINTS: &str = "checkpoints";
    pub const MODEL: &str = "model";
    pub const RUN_RECORD: &str = "run.json";
    /// Written by the trainer when it starts, removed never; holds total steps for ETA.
    pub const STATUS: &str = "status.json";
    /// Under `checkpoints/`: the weights of the best evaluation so far (early stopping only).
    pub const BEST: &str = "best";
    /// Under `model/`: the exported weights. A run without them is not finished.
    pub const WEIGHTS: &str = "model.safetensors";
}

/// Trainer exit codes. The plugin maps them to job states and messages.
pub mod exit_code {
    /// Training finished (or was already finished: nothing to do).
    pub const DONE: i32 = 0;
    /// Unexpected internal error.
    pub const FAILED: i32 = 1;
    /// The job spec, the model directory or the dataset is invalid.
    pub const BAD_INPUT: i32 = 2;
    /// A checkpoint exists for a different config and `--force-resume` was not given.
    pub const RESUME_REFUSED: i32 = 3;
    /// Out of memory (host or device).
    pub const OUT_OF_MEMORY: i32 = 4;
    /// Stopped by SIGTERM/SIGINT after saving a checkpoint; `up` again resumes.
    pub const INTERRUPTED: i32 = 5;
    /// The output directory cannot be written (e.g. the disk is full).
    pub const OUTPUT_UNWRITABLE: i32 = 6;
    /// A CUDA build was asked to train on a GPU and none is usable: no NVIDIA driver in the
    /// container (`libcuda.so.1` missing: started without GPUs or without the NVIDIA container
    /// toolkit), or CUDA failed to start on the device.
    pub const NO_GPU: i32 = 7;
}

/// One line of `metrics.jsonl`: a training log line, an evaluation, or (first, at step 0) what
/// the redaction pass replaced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum MetricsRecord {
    Eval {
        step: u64,
        epoch: f64,
        eval: EvalMetrics,
    },
    Train(TrainLog),
    Redaction {
        step: u64,
        redaction: Redaction,
    },
}

/// What `data.redact` replaced in the run's data, in `run.json` and `metrics.jsonl`: numbers
/// only, never a value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Redaction {
    pub mode: crate::redact::RedactMode,
    /// Hits per entity in each file's rows, by role (`train`, `eval`; an `eval_split` is counted
    /// in `train`, the file it came from). Every selected entity is listed, found or not.
    pub counts: BTreeMap<String, crate::redact::Counts>,
}

/// A logged training step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainLog {
    pub step: u64,
    /// Fractional epoch (e.g. 1.5 is half-way through the second epoch).
    pub epoch: f64,
    pub loss: f64,
    pub lr: f64,
    pub samples_per_s: f64,
    /// Total optimizer steps planned, for progress bars and ETA.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_steps: Option<u64>,
}

/// Evaluation metrics on the eval set. A classifier's are over rows; a language model's over the
/// tokens that carry the loss (its `accuracy` is next-token accuracy, and it has a perplexity
/// but no macro-F1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalMetrics {
    /// Mean cross-entropy (per row, or per trained token).
    pub loss: f64,
    pub accuracy: f64,
    /// Classifiers only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub macro_f1: Option<f64>,
    /// Language models only: `exp(loss)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub perplexity: Option<f64>,
    /// Eval rows scored.
    pub samples: u64,
    /// Language models only: the trained tokens scored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<u64>,
    /// Precision, recall, F1 and support of each label, by label name (every label of the
    /// model). Absent in files written before it existed.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub per_class: BTreeMap<String, ClassMetrics>,
}

/// One label's scores on the eval set, as sklearn's `classification_report` gives them (a score
/// whose denominator is 0 is 0).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassMetrics {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// Eval rows whose gold label this is.
    pub support: u64,
}

/// Why a run ended, as recorded in `run.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExitReason {
    Completed,
    EarlyStopped,
    MaxSteps,
    Interrupted,
    Failed,
}

/// `run.json`: the record of one run, written when the trainer exits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub job: String,
    pub trainer_version: String,
    /// Image id or tag the trainer ran in, from `FINETUNE_IMAGE` (set by the plugin), if any.
    #[serde(default)]
    pub image: Option<String>,
    /// sha256 of the canonical JSON of the training-relevant spec (see `spec::JobSpec::config_hash`).
    pub config_hash: String,
    /// sha256 of each dataset file, by role (`train`, `eval`).
    pub dataset_sha256: BTreeMap<String, String>,
    /// The dataset image the files came from (`data.image`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_image: Option<DataImage>,
    pub seed: u64,
    pub backend: String,
    /// Float precision the run actually used (`f32`, `bf16`, `f16`).
    #[serde(default)]
    pub precision: Option<String>,
    pub started_at: String,
    pub finished_at: String,
    pub duration_s: f64,
    pub steps: u64,
    pub epochs: f64,
    #[serde(default)]
    pub resumed_from_step: Option<u64>,
    /// With early stopping: the best evaluation, whose weights were exported; otherwise the last.
    #[serde(default)]
    pub final_eval: Option<EvalMetrics>,
    /// With early stopping: the step of the best evaluation (the exported weights).
    #[serde(default)]
    pub best_step: Option<u64>,
    /// Text-generation runs: the eval set scored by the model as loaded, before the first step
    /// (`metrics.jsonl`'s eval line at step 0), so a run says how much it gained on its base.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_eval: Option<EvalMetrics>,
    #[serde(default)]
    pub final_train_loss: Option<f64>,
    /// What `data.redact` replaced, when the job redacts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redaction: Option<Redaction>,
    pub exit_reason: ExitReason,
    /// The resolved spec as the trainer saw it.
    pub spec: crate::JobSpec,
}

/// A dataset image as `run.json` records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataImage {
    /// As the spec names it (`acme/tweets:v1`).
    pub reference: String,
    /// The image id (`sha256:...`) the job ran with; absent when the override was rendered
    /// without an engine to ask.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

impl DataImage {
    /// From [`DATA_IMAGE_ENV`] and [`DATA_IMAGE_ID_ENV`] as read by `var`; `None` without a
    /// reference.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Option<DataImage> {
        let set = |name: &str| var(name).filter(|v| !v.is_empty());
        Some(DataImage {
            reference: set(DATA_IMAGE_ENV)?,
            id: set(DATA_IMAGE_ID_ENV),
        })
    }
}

/// `status.json`: what a run is doing, for `ps` and ETA. Written at start and at exit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    pub state: String,
    pub job: String,
    pub pid: u32,
    pub total_steps: u64,
    pub steps_per_epoch: u64,
    pub epochs: usize,
    pub step: u64,
    #[serde(default)]
    pub resumed_from_step: Option<u64>,
    pub started_at: String,
    pub updated_at: String,
}

impl Status {
    /// Reads `status.json` from an output directory; `None` when absent or unreadable (a run
    /// that has not started yet, or an older trainer's partial file).
    pub fn read(output_dir: &Path) -> Option<Status> {
        let text = std::fs::read(output_dir.join(output::STATUS)).ok()?;
        serde_json::from_slice(&text).ok()
    }
}

impl ExitReason {
    /// Whether a run that ended this way produced its final weights.
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            ExitReason::Completed | ExitReason::EarlyStopped | ExitReason::MaxSteps
        )
    }
}

/// The one rule for "this job is already trained": `run.json` under `output_dir` records a run
/// of this exact config that ended with its weights, and those weights are on disk. Both `up`
/// (which then skips the job) and the trainer (which then exits 0 at once) ask this.
pub fn finished_run(output_dir: &Path, config_hash: &str) -> Option<RunRecord> {
    let text = std::fs::read(output_dir.join(output::RUN_RECORD)).ok()?;
    let rec: RunRecord = serde_json::from_slice(&text).ok()?;
    let weights = output_dir.join(output::MODEL).join(output::WEIGHTS);
    (rec.exit_reason.is_finished() && rec.config_hash == config_hash && weights.is_file())
        .then_some(rec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_data_image_is_read_from_the_plugins_environment() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(DataImage::from_env(env(&[])), None);
        assert_eq!(DataImage::from_env(env(&[(DATA_IMAGE_ENV, "")])), None);
        assert_eq!(
            DataImage::from_env(env(&[
                (DATA_IMAGE_ENV, "d:1"),
                (DATA_IMAGE_ID_ENV, "sha256:ab")
            ])),
            Some(DataImage {
                reference: "d:1".into(),
                id: Some("sha256:ab".into())
            })
        );
        let old = r#"{"reference": "d:1"}"#;
        let d: DataImage = serde_json::from_str(old).unwrap();
        assert_eq!(d.id, None);
    }
}
