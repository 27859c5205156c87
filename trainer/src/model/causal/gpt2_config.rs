//! The Hugging Face `config.json` of a GPT-2 checkpoint (`GPT2Config`), reduced to what
//! [`super::gpt2::Gpt2`] uses, checked for the variants it does not implement, with the raw JSON
//! object kept so that an export writes back every field it does not know about.

use std::path::Path;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::model::error::ModelError;

/// `GPT2Config` as transformers writes it (its own defaults where a field is absent).
#[derive(Debug, Clone, Deserialize)]
pub struct Gpt2Config {
    #[serde(default = "default_vocab")]
    pub vocab_size: usize,
    #[serde(default = "default_embd")]
    pub n_embd: usize,
    #[serde(default = "default_layer")]
    pub n_layer: usize,
    #[serde(default = "default_head")]
    pub n_head: usize,
    #[serde(default = "default_positions")]
    pub n_positions: usize,
    /// The feed-forward width; `null` means `4 · n_embd`.
    #[serde(default)]
    pub n_inner: Option<usize>,
    #[serde(default = "default_eps")]
    pub layer_norm_epsilon: f64,
    #[serde(default = "default_act")]
    pub activation_function: String,
    #[serde(default = "default_dropout")]
    pub resid_pdrop: f64,
    #[serde(default = "default_dropout")]
    pub embd_pdrop: f64,
    #[serde(default = "default_dropout")]
    pub attn_pdrop: f64,
    #[serde(default = "default_true")]
    pub tie_word_embeddings: bool,
    #[serde(default = "default_true")]
    pub scale_attn_weights: bool,
    #[serde(default)]
    pub scale_attn_by_inverse_layer_idx: bool,
    #[serde(default)]
    pub model_type: Option<String>,
    /// The whole `config.json` object, kept for export.
    #[serde(skip)]
    pub raw: Map<String, Value>,
}

fn default_vocab() -> usize {
    50257
}
fn default_embd() -> usize {
    768
}
fn default_layer() -> usize {
    12
}
fn default_head() -> usize {
    12
}
fn default_positions() -> usize {
    1024
}
fn default_eps() -> f64 {
    1e-5
}
fn default_act() -> String {
    "gelu_new".into()
}
fn default_dropout() -> f64 {
    0.1
}
fn default_true() -> bool {
    true
}

impl Gpt2Config {
    /// Reads and checks `path` (a `config.json`).
    pub fn from_file(path: &Path) -> Result<Self, ModelError> {
        let text = std::fs::read_to_string(path).map_err(|e| ModelError::io(path, e))?;
        let invalid = |message: String| ModelError::Config {
            path: path.to_path_buf(),
            message,
        };
        let raw: Map<String, Value> =
            serde_json::from_str(&text).map_err(|e| invalid(e.to_string()))?;
        let mut cfg: Gpt2Config = serde_json::from_value(Value::Object(raw.clone()))
            .map_err(|e| invalid(e.to_string()))?;
        cfg.raw = raw;
        cfg.check().map_err(invalid)?;
        Ok(cfg)
    }

    /// The variants this implementation does not compute, refused rather than run wrong.
    fn check(&self) -> Result<(), String> {
        if let Some(t) = self.model_type.as_deref().filter(|t| *t != "gpt2") {
            return Err(format!("model_type `{t}` is not gpt2"));
        }
        if !matches!(
            self.activation_function.as_str(),
            "gelu_new" | "gelu_pytorch_tanh"
        ) {
            return Err(format!(
                "activation_function `{}` is not supported: expected gelu_new or \
                 gelu_pytorch_tanh (GPT-2's tanh-approximated GELU)",
                self.activation_function
            ));
        }
        if self.n_head == 0 || !self.n_embd.is_multiple_of(self.n_head) {
            return Err(format!(
                "n_embd {} is not a multiple of n_head {}",
                self.n_embd, self.n_head
            ));
        }
        if !self.scale_attn_weights || self.scale_attn_by_inverse_layer_idx {
            return Err(
                "only the standard attention scaling (1/√head_dim) is supported: \
                        set scale_attn_weights true and scale_attn_by_inverse_layer_idx false"
                    .into(),
            );
        }
        Ok(())
    }

    /// The feed-forward width.
    pub fn inner(&self) -> usize {
        self.n_inner.unwrap_or(4 * self.n_embd)
    }

    /// The `config.json` of an export: the input's, naming the class that loads it.
    pub fn export_json(&self) -> Value {
        let mut raw = self.raw.clone();
        raw.insert(
            "architectures".into(),
            serde_json::json!(["GPT2LMHeadModel"]),
        );
        Value::Object(raw)
    }
}
