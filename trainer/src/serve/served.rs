//! What `serve` serves: the kind of model a directory holds, and a loaded classifier behind a
//! backend-free interface, so the HTTP side is not generic over burn's backends.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use burn::tensor::backend::Backend;
use finetune_spec::serving::{QuantizationReport, QUANTIZATION_FILE};
use serde::Serialize;
use serde_json::Value;

use crate::error::RunError;
use crate::inference::{Classifier, Prediction};

/// The kinds of model directory `serve` recognises.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelKind {
    /// A BERT-family sequence classifier: `/predict`.
    Classifier,
    /// A causal language model (`*ForCausalLM`, `*LMHeadModel`): `/v1/completions` and
    /// `/v1/chat/completions` once the trainer runs them (issue #9).
    CausalLm { architecture: String },
}

/// Reads `config.json` enough to tell what the directory holds.
pub fn detect(dir: &Path) -> Result<ModelKind, RunError> {
    let path = dir.join("config.json");
    let text = std::fs::read_to_string(&path).map_err(|e| {
        RunError::BadInput(format!("{}: cannot read: {e} (is --model a model directory?)", path.display()))
    })?;
    let cfg: Value = serde_json::from_str(&text)
        .map_err(|e| RunError::BadInput(format!("{}: invalid JSON: {e}", path.display())))?;
    let archs = cfg["architectures"].as_array().cloned().unwrap_or_default();
    let causal = archs
        .iter()
        .filter_map(Value::as_str)
        .find(|a| a.ends_with("ForCausalLM") || a.ends_with("LMHeadModel"));
    Ok(match causal {
        Some(a) => ModelKind::CausalLm { architecture: a.to_string() },
        None => ModelKind::Classifier,
    })
}

/// `GET /info`.
#[derive(Debug, Clone, Serialize)]
pub struct Info {
    pub model: String,
    pub model_type: String,
    pub task: &'static str,
    pub labels: Vec<String>,
    pub max_length: usize,
    pub max_batch: usize,
    pub max_body_bytes: usize,
    /// `quantization.json`, in a quantized directory.
    pub quantization: Option<QuantizationReport>,
    pub trainer_version: String,
}

impl Info {
    /// The info of a classifier in `dir`, loaded with `labels` and `max_length`.
    pub fn classifier(
        dir: &Path,
        labels: Vec<String>,
        max_length: usize,
        limits: (usize, usize),
    ) -> Result<Self, RunError> {
        let quant_path = dir.join(QUANTIZATION_FILE);
        let quantization = match std::fs::read(&quant_path) {
            Ok(bytes) => Some(serde_json::from_slice(&bytes).map_err(|e| {
                RunError::BadInput(format!("{}: invalid: {e}", quant_path.display()))
            })?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(RunError::BadInput(format!("{}: {e}", quant_path.display()))),
        };
        Ok(Info {
            model: dir.display().to_string(),
            model_type: "bert".into(),
            task: "text-classification",
            labels,
            max_length,
            max_batch: limits.0,
            max_body_bytes: limits.1,
            quantization,
            trainer_version: crate::artifact::trainer_version(),
        })
    }
}

/// Classification, as `serve` calls it from its blocking threads.
pub trait Classify: Send + Sync {
    fn classify(&self, texts: &[String]) -> Result<Vec<Prediction>, RunError>;
}

/// `workers` handles on one loaded classifier (clones share the weights), each used by one
/// request at a time; `serve` lets at most `workers` requests in, so one is always free.
pub struct ClassifierPool<B: Backend> {
    slots: Vec<Mutex<Classifier<B>>>,
    batch_size: usize,
}

impl<B: Backend> ClassifierPool<B> {
    pub fn new(clf: Classifier<B>, workers: usize, batch_size: usize) -> Self {
        let mut slots = Vec::with_capacity(workers.max(1));
        for _ in 1..workers.max(1) {
            slots.push(Mutex::new(clf.clone()));
        }
        slots.push(Mutex::new(clf));
        ClassifierPool { slots, batch_size }
    }

    fn slot(&self) -> MutexGuard<'_, Classifier<B>> {
        for s in &self.slots {
            if let Ok(g) = s.try_lock() {
                return g;
            }
        }
        // More callers than slots (not the case under serve's semaphore): wait on the first.
        self.slots[0].lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl<B: Backend> Classify for ClassifierPool<B> {
    fn classify(&self, texts: &[String]) -> Result<Vec<Prediction>, RunError> {
        self.slot().predict(texts, self.batch_size)
    }
}
