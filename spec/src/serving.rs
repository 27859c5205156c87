//! The contract of a packaged model: what `docker finetune package` puts in a model image and what
//! the trainer's `serve` command reads from it, and the INT8 report that `quantize` writes beside
//! the weights (the plugin copies its figures into the image's labels).
//!
//! The plugin builds the image (`FROM` the trainer image, the model at [`SERVED_MODEL_DIR`], `serve`
//! as its command); the trainer serves it. Both import these names from here.

use serde::{Deserialize, Serialize};

/// Where a model image holds the model directory (a Hugging Face layout, as `model/` is).
pub const SERVED_MODEL_DIR: &str = "/model";
/// The port `serve` listens on inside a model image (`EXPOSE`d by the image).
pub const SERVE_PORT: u16 = 8080;
/// Readiness: 200 once the model is loaded and answering.
pub const HEALTH_PATH: &str = "/health";
/// Classification, as Hugging Face's text-embeddings-inference shapes it.
pub const PREDICT_PATH: &str = "/predict";
/// What the model is (labels, max length, quantization), as JSON.
pub const INFO_PATH: &str = "/info";
/// The largest request body `serve` accepts by default (bytes); larger bodies get 413.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

/// Under a model directory: written by `quantize`, present only in a quantized model.
pub const QUANTIZATION_FILE: &str = "quantization.json";

/// The quantization schemes `quantize` (and `package --quantize`) implement.
pub const QUANT_SCHEMES: &[&str] = &["int8"];

/// `quantization.json`: how the weights were quantized and what it cost, measured on the job's
/// eval set when one was given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuantizationReport {
    /// `int8`: per-output-channel symmetric int8 for every linear layer's weight, per-row for
    /// the embedding tables.
    pub scheme: String,
    /// How many linear weights were quantized.
    pub layers: usize,
    /// How many embedding tables were quantized (per row, as the linear weights are).
    #[serde(default)]
    pub embeddings: usize,
    /// The weights file's bytes before and after.
    pub bytes_f32: u64,
    pub bytes_quantized: u64,
    /// The eval set both models were scored on (its sha256), when one was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eval: Option<QuantizedEval>,
}

/// Both models scored on the same rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuantizedEval {
    pub rows: usize,
    pub sha256: String,
    pub accuracy_f32: f64,
    pub accuracy_quantized: f64,
    pub macro_f1_f32: f64,
    pub macro_f1_quantized: f64,
}

impl QuantizationReport {
    /// The quantized weights' size as a fraction of the f32 ones.
    pub fn size_ratio(&self) -> f64 {
        if self.bytes_f32 == 0 {
            return 0.0;
        }
        self.bytes_quantized as f64 / self.bytes_f32 as f64
    }
}
