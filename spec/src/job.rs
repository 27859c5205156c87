//! The fine-tune job spec: what one job is after `defaults` are merged, variables interpolated
//! and paths resolved.
//!
//! This is the only declaration of the spec. The compose side builds it from the user's
//! `x-finetune` section (with positions, see `project`), renders it into Compose services and
//! writes it, with paths rewritten to the container's mounts, as `job.json`; the trainer reads that
//! file back into the same type. Every field has a default except the ones a job cannot do without
//! (`model`, `data.train`, `output`), so an old `job.json` keeps loading in a newer trainer.

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// One fine-tune job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobSpec {
    /// The job's name (the key under `x-finetune.jobs`, or the service name).
    pub name: String,
    #[serde(default)]
    pub task: Task,
    /// A Hugging Face-format model directory: `config.json`, `model.safetensors` (or
    /// `pytorch_model.bin`), `tokenizer.json`.
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
    /// Optional cache directory (mounted read-write).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<PathBuf>,
    #[serde(default)]
    pub resources: Resources,
    /// User services the job needs running (Compose `depends_on`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    /// Queue priority when GPUs are busy: higher runs first.
    #[serde(default)]
    pub priority: i32,
    /// Environment for the trainer. A `None` value is passed by reference from the environment
    /// `docker finetune` runs in, and is never written into rendered files (use it for tokens).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub environment: BTreeMap<String, Option<String>>,
    /// A Compose network to attach to. `None` (the default) renders `network_mode: none`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// Trainer image override; by default the plugin's own trainer image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
}

/// What the job trains the model for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Task {
    #[default]
    TextClassification,
}

/// The dataset of a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataSpec {
    /// Training file, `.jsonl` or `.csv`.
    pub train: PathBuf,
    /// Evaluation file; when absent, `eval_split` of the training rows are held out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eval: Option<PathBuf>,
    /// Fraction of training rows held out for evaluation when `eval` is absent (seeded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eval_split: Option<f64>,
    /// Field (JSONL key or CSV column) holding the text.
    #[serde(default = "default_text_field")]
    pub text: String,
    /// Field holding the label (a string or an integer).
    #[serde(default = "default_label_field")]
    pub label: String,
    /// File format; inferred from the extension when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<DataFormat>,
    /// The label set, in id order. When absent it is the sorted set of labels in the train file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Vec<String>>,
    /// Use only the first N rows of each file (quick runs, `up --smoke`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

fn default_text_field() -> String {
    "text".into()
}
fn default_label_field() -> String {
    "label".into()
}

/// Dataset file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataFormat {
    Jsonl,
    Csv,
    Parquet,
}

impl DataFormat {
    /// The format a path's extension implies (`.jsonl`/`.ndjson`/`.json`, `.csv`, `.parquet`).
    pub fn from_path(path: &std::path::Path) -> Option<DataFormat> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "jsonl" | "ndjson" | "json" => Some(DataFormat::Jsonl),
            "csv" => Some(DataFormat::Csv),
            "parquet" | "pq" => Some(DataFormat::Parquet),
            _ => None,
        }
    }
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

impl<'de> Deserialize<'de> for Method {
    // serde_yaml 0.9 reads externally tagged enums only from YAML tags (`!lora`), so the plain
    // string and single-key map forms users write are matched here.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Name(String),
            Map(BTreeMap<String, Option<LoraSpec>>),
        }
        let unknown = |name: &str| {
            de::Error::custom(format!(
                "unknown method `{name}`: expected `full` or `lora`"
            ))
        };
        match Raw::deserialize(d)? {
            Raw::Name(n) if n == "full" => Ok(Method::Full),
            Raw::Name(n) if n == "lora" => Ok(Method::Lora(LoraSpec::default())),
            Raw::Name(n) => Err(unknown(&n)),
            Raw::Map(m) if m.len() == 1 => {
                let (name, spec) = m.into_iter().next().expect("one entry");
                match name.as_str() {
                    "full" => Ok(Method::Full),
                    "lora" => Ok(Method::Lora(spec.unwrap_or_default())),
                    other => Err(unknown(other)),
                }
            }
            Raw::Map(_) => Err(de::Error::custom("method takes one key: `full` or `lora`")),
        }
    }
}

/// Low-rank adaptation settings. The adapters are merged into the exported weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoraSpec {
    #[serde(default = "default_lora_r")]
    pub r: usize,
    #[serde(default = "default_lora_alpha")]
    pub alpha: f64,
    #[serde(default)]
    pub dropout: f64,
    /// Linear layers to adapt, by their Hugging Face name (`query`, `key`, `value`, `dense`).
    #[serde(default = "default_lora_targets")]
    pub targets: Vec<String>,
}

impl Default for LoraSpec {
    fn default() -> Self {
        LoraSpec {
            r: default_lora_r(),
            alpha: default_lora_alpha(),
            dropout: 0.0,
            targets: default_lora_targets(),
        }
    }
}

fn default_lora_r() -> usize {
    8
}
fn default_lora_alpha() -> f64 {
    16.0
}
fn default_lora_targets() -> Vec<String> {
    vec!["query".into(), "value".into()]
}

/// Optimisation settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainSpec {
    pub epochs: usize,
    /// Stop after this many optimizer steps (overrides `epochs` when smaller).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_steps: Option<u64>,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub weight_decay: f64,
    pub max_length: usize,
    pub seed: u64,
    /// Fraction of total steps spent warming the learning rate up from 0.
    pub warmup_ratio: f64,
    pub schedule: Schedule,
    /// Micro-batches accumulated per optimizer step.
    pub grad_accum: usize,
    /// Clip the global gradient norm to this value; `None` disables clipping.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_grad_norm: Option<f64>,
    pub precision: Precision,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub early_stopping: Option<EarlyStopping>,
    /// Evaluate every N optimizer steps; `None` evaluates at the end of each epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eval_every_steps: Option<u64>,
    /// Write a `metrics.jsonl` training line every N optimizer steps.
    pub log_every_steps: u64,
}

impl Default for TrainSpec {
    fn default() -> Self {
        TrainSpec {
            epochs: 3,
            max_steps: None,
            batch_size: 16,
            learning_rate: 5e-5,
            weight_decay: 0.01,
            max_length: 128,
            seed: 42,
            warmup_ratio: 0.06,
            schedule: Schedule::Linear,
            grad_accum: 1,
            max_grad_norm: Some(1.0),
            precision: Precision::Auto,
            early_stopping: None,
            eval_every_steps: None,
            log_every_steps: 10,
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
    pub patience: usize,
    pub metric: StopMetric,
    pub min_delta: f64,
}

impl Default for EarlyStopping {
    fn default() -> Self {
        EarlyStopping {
            patience: 2,
            metric: StopMetric::EvalLoss,
            min_delta: 0.0,
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
    pub keep: usize,
}

impl Default for CheckpointSpec {
    fn default() -> Self {
        CheckpointSpec {
            every_steps: 200,
            keep: 2,
        }
    }
}

/// Host resources a job may use.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Resources {
    pub gpus: Gpus,
    /// CPU limit (Compose `cpus`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpus: Option<f64>,
    /// Memory limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<ByteSize>,
    /// Size of `/dev/shm` (Docker's 64 MB default is too small for data loading).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shm_size: Option<ByteSize>,
}

/// GPU request: `0` (none), `N` (any N GPUs), `all`, explicit device ids, or `auto` (every GPU
/// when the host has an NVIDIA runtime, else CPU with a note).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Gpus {
    #[default]
    Auto,
    All,
    Count(u32),
    Ids(Vec<String>),
}

impl Gpus {
    /// Whether this request needs no GPU at all.
    pub fn is_none(&self) -> bool {
        matches!(self, Gpus::Count(0)) || matches!(self, Gpus::Ids(ids) if ids.is_empty())
    }
}

impl fmt::Display for Gpus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Gpus::Auto => f.write_str("auto"),
            Gpus::All => f.write_str("all"),
            Gpus::Count(n) => write!(f, "{n}"),
            Gpus::Ids(ids) => write!(f, "[{}]", ids.join(",")),
        }
    }
}

impl Serialize for Gpus {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Gpus::Auto => s.serialize_str("auto"),
            Gpus::All => s.serialize_str("all"),
            Gpus::Count(n) => s.serialize_u32(*n),
            Gpus::Ids(ids) => ids.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Gpus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> de::Visitor<'de> for V {
            type Value = Gpus;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a GPU count, `all`, `auto` or a list of device ids")
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Gpus, E> {
                u32::try_from(n)
                    .map(Gpus::Count)
                    .map_err(|_| E::custom("GPU count too large"))
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Gpus, E> {
                u64::try_from(n)
                    .map_err(|_| E::custom("GPU count cannot be negative"))
                    .and_then(|n| self.visit_u64(n))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Gpus, E> {
                match v {
                    "auto" => Ok(Gpus::Auto),
                    "all" | "-1" => Ok(Gpus::All),
                    n => n.parse::<u32>().map(Gpus::Count).map_err(|_| {
                        E::custom(format!(
                            "invalid gpus `{v}`: expected a count, `all`, `auto` or a list of ids"
                        ))
                    }),
                }
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Gpus, A::Error> {
                let mut ids = Vec::new();
                while let Some(id) = seq.next_element::<IdValue>()? {
                    ids.push(id.0);
                }
                Ok(Gpus::Ids(ids))
            }
        }
        d.deserialize_any(V)
    }
}

/// A device id written as a string or a bare integer.
struct IdValue(String);

impl<'de> Deserialize<'de> for IdValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            S(String),
            N(u64),
        }
        Ok(IdValue(match Raw::deserialize(d)? {
            Raw::S(s) => s,
            Raw::N(n) => n.to_string(),
        }))
    }
}

/// A byte size written the way Compose writes them: `512m`, `8g`, `1gb`, `1.5GiB`, or bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ByteSize(pub u64);

/// Why a byte size did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid size `{0}`: expected a positive number with an optional unit (b, k, m, g, t), e.g. `512m` or `8g`")]
pub struct ByteSizeError(pub String);

impl FromStr for ByteSize {
    type Err = ByteSizeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ByteSizeError(s.to_string());
        let t = s.trim().to_ascii_lowercase();
        let split = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let num: f64 = num.parse().map_err(|_| err())?;
        let mult: u64 = match unit.trim() {
            "" | "b" => 1,
            "k" | "kb" | "kib" => 1 << 10,
            "m" | "mb" | "mib" => 1 << 20,
            "g" | "gb" | "gib" => 1 << 30,
            "t" | "tb" | "tib" => 1 << 40,
            _ => return Err(err()),
        };
        let bytes = num * mult as f64;
        if !bytes.is_finite() || bytes < 1.0 || bytes > u64::MAX as f64 {
            return Err(err());
        }
        Ok(ByteSize(bytes as u64))
    }
}

impl fmt::Display for ByteSize {
    /// The largest unit that divides the size exactly, in Compose's lower-case form (`8g`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (unit, mult) in [
            ("t", 1u64 << 40),
            ("g", 1 << 30),
            ("m", 1 << 20),
            ("k", 1 << 10),
        ] {
            if self.0 >= mult && self.0.is_multiple_of(mult) {
                return write!(f, "{}{unit}", self.0 / mult);
            }
        }
        write!(f, "{}b", self.0)
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(u64),
            S(String),
        }
        match Raw::deserialize(d)? {
            Raw::N(0) => Err(de::Error::custom(ByteSizeError("0".into()))),
            Raw::N(n) => Ok(ByteSize(n)),
            Raw::S(s) => s.parse().map_err(de::Error::custom),
        }
    }
}

impl JobSpec {
    /// sha256 (hex) of the settings that determine the trained weights: task, data fields and
    /// split, method, training settings. Paths, resources, priority, image and environment are left
    /// out, so the same job has the same hash on the host and in its container (where paths are
    /// rewritten to the mounts) and keeps its checkpoints resumable on another GPU. Dataset
    /// contents are tracked separately by their sha256 in `run.json` and checkpoint manifests.
    pub fn config_hash(&self) -> String {
        let mut data = self.data.clone();
        data.train = PathBuf::new();
        data.eval = None;
        let canonical = serde_json::json!({
            "task": self.task,
            "data": data,
            "method": self.method,
            "train": self.train,
        });
        crate::digest::sha256_hex(canonical.to_string().as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minimal() -> JobSpec {
        serde_json::from_value(serde_json::json!({
            "name": "j", "model": "/m", "data": {"train": "/d/train.jsonl"}, "output": "/o"
        }))
        .unwrap()
    }

    #[test]
    fn defaults_fill_a_minimal_job() {
        let j = minimal();
        assert_eq!(j.train.epochs, 3);
        assert_eq!(j.data.text, "text");
        assert_eq!(j.method, Method::Full);
        assert_eq!(j.resources.gpus, Gpus::Auto);
    }

    #[test]
    fn gpus_accept_every_form() {
        let p = |y: &str| serde_yaml::from_str::<Gpus>(y);
        assert_eq!(p("0").unwrap(), Gpus::Count(0));
        assert_eq!(p("2").unwrap(), Gpus::Count(2));
        assert_eq!(p("all").unwrap(), Gpus::All);
        assert_eq!(p("auto").unwrap(), Gpus::Auto);
        assert_eq!(
            p("[0, \"3\"]").unwrap(),
            Gpus::Ids(vec!["0".into(), "3".into()])
        );
        assert!(p("-2").is_err());
        assert!(p("many").is_err());
        assert!(Gpus::Count(0).is_none());
    }

    #[test]
    fn byte_sizes_parse_and_print_like_compose() {
        assert_eq!("8g".parse::<ByteSize>().unwrap(), ByteSize(8 << 30));
        assert_eq!("512MB".parse::<ByteSize>().unwrap(), ByteSize(512 << 20));
        assert_eq!("1.5g".parse::<ByteSize>().unwrap(), ByteSize(3 << 29));
        assert_eq!(ByteSize(1 << 30).to_string(), "1g");
        assert_eq!(ByteSize(1000).to_string(), "1000b");
        for bad in ["", "g", "-1g", "0", "12x", "1e999g"] {
            assert!(bad.parse::<ByteSize>().is_err(), "{bad} parsed");
        }
    }

    #[test]
    fn method_round_trips_through_yaml_and_json() {
        let m: Method = serde_yaml::from_str("lora: { r: 4 }").unwrap();
        assert_eq!(
            m,
            Method::Lora(LoraSpec {
                r: 4,
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
    fn config_hash_ignores_host_paths_and_resources_but_not_training() {
        let a = minimal();
        let mut b = a.clone();
        b.model = "/elsewhere/m".into();
        b.data.train = "/other/train.jsonl".into();
        b.resources.gpus = Gpus::Count(1);
        assert_eq!(a.config_hash(), b.config_hash());
        b.train.learning_rate = 1e-4;
        assert_ne!(a.config_hash(), b.config_hash());
    }
}
