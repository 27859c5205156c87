//! The fine-tune job spec: what one job is after `defaults` are merged, variables interpolated
//! and paths resolved.
//!
//! This is the only declaration of the spec (its `data:` part is in [`crate::data_spec`]). The
//! compose side builds it from the user's `x-finetune` section (with positions, see `project`),
//! renders it into Compose services and writes it, with paths rewritten to the container's mounts,
//! as `job.json`; the trainer reads that file back into the same type. Every field has a default except the ones a job cannot do without
//! (`model`, `data.train`, `output`), so an old `job.json` keeps loading in a newer trainer.
//!
//! Numbers carry their range in their type ([`crate::bounded`]), so a spec that deserialized is a
//! valid one; what no single field can say (`eval` with `eval_split`) is [`JobSpec::check`], which
//! both sides run. Doc comments here are the descriptions in docs/spec.md (see [`crate::describe`]).

use crate::bounded::{Count, NonNegative, Positive, Ratio, SeqLen, Steps};
use crate::data_spec::DataSpec;
use crate::forms;
use crate::generation::{ExportFormat, LossOn};
use crate::resources::Resources;
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

/// One fine-tune job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobSpec {
    /// The job's name (the key under `x-finetune.jobs`, or the service name).
    pub name: String,
    #[serde(default)]
    pub task: Task,
    /// A Hugging Face-format model directory: `config.json`, `model.safetensors` (or
    /// `pytorch_model.bin`), `tokenizer.json`; for `text-generation`, also a `.gguf` file.
    pub model: PathBuf,
    pub data: DataSpec,
    #[serde(default)]
    pub method: Method,
    #[serde(default)]
    pub train: TrainSpec,
    #[serde(default)]
    pub checkpoint: CheckpointSpec,
    /// Where metrics, checkpoints, the fine-tuned model and `run.json` go.
    pub output: PathBuf,
    /// Formats the fine-tuned model is also written in, beside `model/` (text-generation).
    /// Not part of `config_hash`: they do not change the weights.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub export: Vec<ExportFormat>,
    /// Optional cache directory (mounted read-write).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<PathBuf>,
    #[serde(default)]
    pub resources: Resources,
    /// User services the job needs running (Compose `depends_on`).
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "forms::names"
    )]
    pub depends_on: Vec<String>,
    /// Queue priority when GPUs are busy: higher runs first.
    #[serde(default)]
    pub priority: i32,
    /// Environment for the trainer. A `None` value is passed by reference from the environment
    /// `docker finetune` runs in, and is never written into rendered files (use it for tokens).
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "forms::environment"
    )]
    pub environment: BTreeMap<String, Option<String>>,
    /// A Compose network to attach to. `None` (the default) renders `network_mode: none`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// Trainer image override; by default the plugin's own trainer image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Experiment tracking. The plugin sends the run to the tracker from the host (the job keeps
    /// `network_mode: none`); it is not part of `config_hash` nor of the rendered `job.json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracking: Option<Tracking>,
}

/// Where runs are tracked.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tracking {
    /// An MLflow tracking server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mlflow: Option<MlflowTracking>,
}

/// An MLflow tracking server, reached over its REST API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MlflowTracking {
    /// The server's URI (`http://mlflow:5000`), as `MLFLOW_TRACKING_URI` would give it.
    pub uri: String,
    /// The experiment's name; created when missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experiment: Option<String>,
}

/// What the job trains the model for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Task {
    #[default]
    TextClassification,
    /// A causal language model (Llama, GPT-2) trained on chat, prompt/completion or text rows.
    TextGeneration,
}

/// Full fine-tuning or LoRA. YAML: `method: full`, `method: lora` (default settings) or
/// `method: { lora: { r: 8, ... } }`; JSON uses the same shapes.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    #[default]
    Full,
    Lora(LoraSpec),
}

const METHODS: &[&str] = &["full", "lora"];

impl<'de> Deserialize<'de> for Method {
    // serde_yaml 0.9 reads externally tagged enums only from YAML tags (`!lora`), so the plain
    // string and single-key map forms users write are read here.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Method;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("`full`, `lora` or a mapping")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Method, E> {
                match v {
                    "full" => Ok(Method::Full),
                    "lora" => Ok(Method::Lora(LoraSpec::default())),
                    other => Err(E::unknown_variant(other, METHODS)),
                }
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Method, A::Error> {
                let one_key = || de::Error::custom("method takes one key: `full` or `lora`");
                let method = match map.next_key::<MethodName>()? {
                    None => return Err(one_key()),
                    Some(MethodName::Full) => {
                        map.next_value::<Option<NoSettings>>()?;
                        Method::Full
                    }
                    Some(MethodName::Lora) => {
                        Method::Lora(map.next_value::<Option<LoraSpec>>()?.unwrap_or_default())
                    }
                };
                if map.next_key::<de::IgnoredAny>()?.is_some() {
                    return Err(one_key());
                }
                Ok(method)
            }
        }
        d.deserialize_any(V)
    }
}

/// The key of `method: {lora: ...}`.
enum MethodName {
    Full,
    Lora,
}

impl<'de> Deserialize<'de> for MethodName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = MethodName;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("`full` or `lora`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<MethodName, E> {
                match v {
                    "full" => Ok(MethodName::Full),
                    "lora" => Ok(MethodName::Lora),
                    other => Err(E::unknown_variant(other, METHODS)),
                }
            }
        }
        d.deserialize_identifier(V)
    }
}

/// `full:` takes nothing, or an empty mapping.
struct NoSettings;

impl<'de> Deserialize<'de> for NoSettings {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = NoSettings;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("no settings")
            }
            fn visit_unit<E: de::Error>(self) -> Result<NoSettings, E> {
                Ok(NoSettings)
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<NoSettings, A::Error> {
                match map.next_key::<de::IgnoredAny>()? {
                    None => Ok(NoSettings),
                    Some(_) => Err(de::Error::custom("`full` takes no settings")),
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// Low-rank adaptation settings. The adapters are merged into the exported weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoraSpec {
    /// Adapter rank.
    #[serde(default = "default_lora_r")]
    pub r: Count,
    /// Scaling numerator (scale = alpha / r).
    #[serde(default = "default_lora_alpha")]
    pub alpha: Positive,
    /// Dropout on the adapter input.
    #[serde(default = "default_lora_dropout")]
    pub dropout: Ratio,
    /// Linear layers to adapt, by their Hugging Face name (`query`, `key`, `value`, `dense`).
    #[serde(default = "default_lora_targets", deserialize_with = "forms::names")]
    pub targets: Vec<String>,
}

impl Default for LoraSpec {
    fn default() -> Self {
        LoraSpec {
            r: default_lora_r(),
            alpha: default_lora_alpha(),
            dropout: default_lora_dropout(),
            targets: default_lora_targets(),
        }
    }
}

fn default_lora_r() -> Count {
    Count::of(8)
}
fn default_lora_alpha() -> Positive {
    Positive::of(16.0)
}
fn default_lora_dropout() -> Ratio {
    Ratio::of(0.0)
}
fn default_lora_targets() -> Vec<String> {
    vec!["query".into(), "value".into()]
}

/// Optimisation settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainSpec {
    /// Passes over the training data.
    pub epochs: Count,
    /// Stop after this many optimizer steps (overrides `epochs` when smaller).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_steps: Option<Steps>,
    /// Examples per micro-batch.
    pub batch_size: Count,
    /// Peak learning rate.
    pub learning_rate: Positive,
    /// AdamW weight decay.
    pub weight_decay: NonNegative,
    /// Tokens per example (longer ones are truncated).
    pub max_length: SeqLen,
    /// Seed of shuffling, splits and initialisation.
    pub seed: u64,
    /// Fraction of total steps spent warming the learning rate up from 0.
    pub warmup_ratio: Ratio,
    /// Learning-rate decay after warmup.
    pub schedule: Schedule,
    /// Micro-batches accumulated per optimizer step.
    pub grad_accum: Count,
    /// Clip the global gradient norm to this value; `None` (null) disables clipping.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_grad_norm: Option<Positive>,
    /// Numeric precision.
    pub precision: Precision,
    /// Stop when the eval metric stops improving.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub early_stopping: Option<EarlyStopping>,
    /// Evaluate every N optimizer steps; `None` evaluates at the end of each epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eval_every_steps: Option<Steps>,
    /// Write a `metrics.jsonl` training line every N optimizer steps.
    pub log_every_steps: Steps,
    /// Pack several rows into each `max_length` sequence (text-generation).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub packing: bool,
    /// Which tokens carry the loss (text-generation).
    #[serde(skip_serializing_if = "LossOn::is_default")]
    pub loss_on: LossOn,
}

impl Default for TrainSpec {
    fn default() -> Self {
        TrainSpec {
            epochs: Count::of(3),
            max_steps: None,
            batch_size: Count::of(16),
            learning_rate: Positive::of(5e-5),
            weight_decay: NonNegative::of(0.01),
            max_length: SeqLen::of(128),
            seed: 42,
            warmup_ratio: Ratio::of(0.06),
            schedule: Schedule::Linear,
            grad_accum: Count::of(1),
            max_grad_norm: Some(Positive::of(1.0)),
            precision: Precision::Auto,
            early_stopping: None,
            eval_every_steps: None,
            log_every_steps: Steps::of(10),
            packing: false,
            loss_on: LossOn::Completion,
        }
    }
}

/// Learning-rate decay after warmup.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Schedule {
    #[default]
    Linear,
    Cosine,
    Constant,
}

/// Numeric precision. `auto` is f32 on CPU and bf16 on GPUs that support it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    #[default]
    Auto,
    F32,
    Bf16,
    F16,
}

/// Stop when the eval metric has not improved for `patience` evaluations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EarlyStopping {
    /// Evaluations without improvement before stopping.
    pub patience: Count,
    /// The watched metric.
    pub metric: StopMetric,
    /// Smallest change that counts as an improvement.
    pub min_delta: NonNegative,
}

impl Default for EarlyStopping {
    fn default() -> Self {
        EarlyStopping {
            patience: Count::of(2),
            metric: StopMetric::EvalLoss,
            min_delta: NonNegative::of(0.0),
        }
    }
}

/// The metric early stopping watches (loss: lower is better; the others: higher).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopMetric {
    #[default]
    EvalLoss,
    Accuracy,
    MacroF1,
}

/// Checkpointing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CheckpointSpec {
    /// Save every N optimizer steps (also at each epoch end and on SIGTERM). 0 disables periodic saves.
    pub every_steps: u64,
    /// Keep the newest K complete checkpoints.
    pub keep: Count,
}

impl Default for CheckpointSpec {
    fn default() -> Self {
        CheckpointSpec {
            every_steps: 200,
            keep: Count::of(2),
        }
    }
}

impl JobSpec {
    /// sha256 (hex) of the settings that determine the trained weights: task, data fields and
    /// split, method, training settings. Paths (and the dataset image, which only says where the
    /// files come from), resources, priority, image and environment are left out, so the same job
    /// has the same hash on the host and in its container (where paths are rewritten to the
    /// mounts) and keeps its checkpoints resumable on another GPU. Dataset contents are tracked
    /// separately by their sha256 in `run.json` and checkpoint manifests.
    pub fn config_hash(&self) -> String {
        let mut data = self.data.clone();
        data.train = PathBuf::new();
        data.eval = None;
        data.image = None;
        let canonical = serde_json::json!({
            "task": self.task,
            "data": data,
            "method": self.method,
            "train": self.train,
        });
        crate::digest::sha256_hex(canonical.to_string().as_bytes())
    }
}

/// A problem no single field can rule out, found by [`JobSpec::check`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct SpecProblem {
    /// The key at fault, relative to the job (`data.eval_split`).
    pub path: &'static str,
    pub message: &'static str,
    pub hint: &'static str,
}

impl JobSpec {
    /// The rules across fields, which both `validate` and the trainer apply.
    pub fn check(&self) -> Vec<SpecProblem> {
        let mut out = Vec::new();
        if self.data.eval.is_some() && self.data.eval_split.is_some() {
            out.push(SpecProblem {
                path: "data.eval_split",
                message: "`eval` and `eval_split` are mutually exclusive",
                hint: "keep `eval` for a separate file, or `eval_split` to hold out training rows",
            });
        }
        out.extend(self.data.check_redaction());
        out.extend(crate::generation::check(self));
        if self.resources.gpus.is_shared() && self.resources.gpu_memory.is_none() {
            out.push(SpecProblem {
                path: "resources.gpus",
                message: "shared GPUs need `resources.gpu_memory`: the queue co-runs shared jobs \
                          on a device while their declared memory fits in it",
                hint: "declare what the job uses on each device, e.g. `gpu_memory: 8g` next to `gpus`",
            });
        }
        if let Some(m) = self.tracking.as_ref().and_then(|t| t.mlflow.as_ref()) {
            if !(m.uri.starts_with("http://") || m.uri.starts_with("https://")) {
                out.push(SpecProblem {
                    path: "tracking.mlflow.uri",
                    message: "the MLflow tracking URI must be a server's http:// address",
                    hint: "write it as `http://HOST:PORT` (`mlflow server` listens on port 5000 by default)",
                });
            }
        }
        out
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::bounded::Fraction;

    /// The smallest valid job (also for `data_spec`'s tests).
    pub(crate) fn minimal() -> JobSpec {
        serde_json::from_value(serde_json::json!({
            "name": "j", "model": "/m", "data": {"train": "/d/train.jsonl"}, "output": "/o"
        }))
        .unwrap()
    }

    #[test]
    fn defaults_fill_a_minimal_job() {
        let j = minimal();
        assert_eq!(j.train.epochs.get(), 3);
        assert_eq!(j.data.text, "text");
        assert_eq!(j.method, Method::Full);
        assert_eq!(j.resources.gpus, crate::Gpus::Auto);
    }

    #[test]
    fn a_dataset_image_names_its_files_inside_it() {
        let j: JobSpec = serde_json::from_value(serde_json::json!({
            "name": "j", "model": "/m", "output": "/o",
            "data": {"image": "acme/tweets:v1", "train": "train.jsonl", "eval": "eval.jsonl"}
        }))
        .unwrap();
        assert_eq!(j.data.image.as_deref(), Some("acme/tweets:v1"));
        assert_eq!(j.data.train, PathBuf::from("train.jsonl"));
        let back = serde_json::to_value(&j).unwrap();
        assert_eq!(back["data"]["image"], "acme/tweets:v1");
        // Absent, it is not written.
        assert!(serde_json::to_value(minimal()).unwrap()["data"]
            .get("image")
            .is_none());
    }

    #[test]
    fn method_round_trips_through_yaml_and_json() {
        let m: Method = serde_yaml::from_str("lora: { r: 4 }").unwrap();
        assert_eq!(
            m,
            Method::Lora(LoraSpec {
                r: Count::of(4),
                ..LoraSpec::default()
            })
        );
        let back: Method = serde_json::from_str(&serde_json::to_string(&m).unwrap()).unwrap();
        assert_eq!(back, m);
        assert_eq!(
            serde_yaml::from_str::<Method>("full").unwrap(),
            Method::Full
        );
    }

    #[test]
    fn check_refuses_eval_with_eval_split() {
        let mut j = minimal();
        assert!(j.check().is_empty());
        j.data.eval = Some("/d/eval.jsonl".into());
        j.data.eval_split = Fraction::new(0.1);
        assert_eq!(j.check()[0].path, "data.eval_split");
    }

    #[test]
    fn check_refuses_shared_gpus_without_declared_memory() {
        let mut j = minimal();
        j.resources.gpus = crate::Gpus::Shared(vec!["0".into()]);
        assert_eq!(j.check()[0].path, "resources.gpus");
        j.resources.gpu_memory = Some(crate::ByteSize(8 << 30));
        assert!(j.check().is_empty());
    }

    #[test]
    fn ranges_hold_in_json_too() {
        let bad = serde_json::json!({
            "name": "j", "model": "/m", "data": {"train": "/t"}, "output": "/o",
            "train": {"batch_size": 0}
        });
        let e = serde_json::from_value::<JobSpec>(bad)
            .unwrap_err()
            .to_string();
        assert!(e.contains("must be at least 1, found 0"), "{e}");
    }

    #[test]
    fn config_hash_ignores_host_paths_and_resources_but_not_training() {
        let a = minimal();
        let mut b = a.clone();
        b.model = "/elsewhere/m".into();
        b.data.train = "/other/train.jsonl".into();
        b.resources.gpus = crate::Gpus::Count(1);
        b.data.image = Some("acme/tweets:v2".into());
        assert_eq!(a.config_hash(), b.config_hash());
        b.train.learning_rate = Positive::of(1e-4);
        assert_ne!(a.config_hash(), b.config_hash());
    }

    #[test]
    fn tracking_reads_and_leaves_the_config_hash_and_old_json_alone() {
        let a = minimal();
        // Absent, it is not written: job.json and run.json of older runs read the same.
        assert!(serde_json::to_value(&a).unwrap().get("tracking").is_none());
        let b: JobSpec = serde_yaml::from_str(
            "name: j\nmodel: /m\ndata: {train: /d/train.jsonl}\noutput: /o\n\
             tracking: {mlflow: {uri: 'http://127.0.0.1:5000', experiment: tweets}}\n",
        )
        .unwrap();
        let m = b.tracking.as_ref().and_then(|t| t.mlflow.as_ref()).unwrap();
        assert_eq!(m.uri, "http://127.0.0.1:5000");
        assert_eq!(m.experiment.as_deref(), Some("tweets"));
        assert_eq!(a.config_hash(), b.config_hash());
        let e = serde_yaml::from_str::<JobSpec>(
            "name: j\nmodel: /m\ndata: {train: /t}\noutput: /o\ntracking: {mlflow: {experiment: x}}\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("uri"), "{e}");
        let mut c = b.clone();
        assert!(c.check().is_empty());
        c.tracking.as_mut().unwrap().mlflow.as_mut().unwrap().uri = "file:///tmp/mlruns".into();
        assert_eq!(c.check()[0].path, "tracking.mlflow.uri");
    }
}
