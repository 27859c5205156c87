//! One type for every causal architecture the trainer runs, so the training loop, the export and
//! generation take a [`CausalLm`] whatever the checkpoint: a Llama-family model (an HF directory
//! or a `.gguf` file) or a GPT-2 (an HF directory). The architecture is the checkpoint's
//! `model_type` (`general.architecture` in GGUF).

use std::path::Path;

use burn::module::Module;
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor};
use finetune_spec::Architecture;
use serde_json::Value;

use super::gpt2::Gpt2;
use super::gpt2_load::load_gpt2;
use super::llama::Llama;
use super::load::load_llama;
use super::NamedTensor;
use crate::model::error::ModelError;
use crate::model::lora::LoraConfig;

/// A causal language model.
#[derive(Module, Debug)]
pub enum CausalLm<B: Backend> {
    Llama(Llama<B>),
    Gpt2(Gpt2<B>),
}

/// What a loaded checkpoint was, for the export.
#[derive(Debug, Clone)]
pub struct CausalSource {
    pub architecture: Architecture,
    /// The `config.json` an export writes (the input's, or the GGUF metadata's as HF keys).
    pub config_json: Value,
    /// True when the checkpoint was a `.gguf` file (its tokenizer lives in the file).
    pub from_gguf: bool,
}

/// Loads `path` (a Hugging Face directory, or a llama `.gguf` file).
pub fn load_causal<B: Backend>(
    path: &Path,
    device: &B::Device,
) -> Result<(CausalLm<B>, CausalSource), ModelError> {
    if path.is_file() {
        let (model, cfg) = load_llama::<B>(path, device)?;
        return Ok((
            CausalLm::Llama(model),
            CausalSource {
                architecture: Architecture::Llama,
                config_json: cfg.to_hf_json(),
                from_gguf: true,
            },
        ));
    }
    let config = path.join("config.json");
    let text = std::fs::read_to_string(&config).map_err(|e| ModelError::io(&config, e))?;
    let json: Value = serde_json::from_str(&text).map_err(|e| ModelError::Config {
        path: config.clone(),
        message: e.to_string(),
    })?;
    let model_type = json.get("model_type").and_then(Value::as_str).unwrap_or("");
    match Architecture::from_model_type(model_type) {
        Some(Architecture::Gpt2) => {
            let (model, cfg) = load_gpt2::<B>(path, device)?;
            Ok((
                CausalLm::Gpt2(model),
                CausalSource {
                    architecture: Architecture::Gpt2,
                    config_json: cfg.export_json(),
                    from_gguf: false,
                },
            ))
        }
        Some(Architecture::Llama) => {
            let (model, cfg) = load_llama::<B>(path, device)?;
            let mut config_json = json.clone();
            // The input's own keys win; the parsed config fills in what an export needs.
            if let (Some(obj), Value::Object(parsed)) =
                (config_json.as_object_mut(), cfg.to_hf_json())
            {
                for (k, v) in parsed {
                    obj.entry(k).or_insert(v);
                }
            }
            Ok((
                CausalLm::Llama(model),
                CausalSource {
                    architecture: Architecture::Llama,
                    config_json,
                    from_gguf: false,
                },
            ))
        }
        _ => Err(ModelError::Unsupported {
            path: config,
            message: format!(
                "model_type {model_type:?} is not a causal LM the trainer runs: use a llama \
                 (SmolLM, TinyLlama, Llama, Mistral) or gpt2 checkpoint"
            ),
        }),
    }
}

impl<B: Backend> CausalLm<B> {
    /// Logits `[batch, seq, vocab]` of right-padded rows.
    pub fn forward(&self, input_ids: Tensor<B, 2, Int>, mask: Tensor<B, 2, Int>) -> Tensor<B, 3> {
        match self {
            CausalLm::Llama(m) => m.forward(input_ids, mask),
            CausalLm::Gpt2(m) => m.forward(input_ids, mask),
        }
    }

    /// Freezes the base model and adds LoRA adapters on the configured modules.
    pub fn apply_lora(self, cfg: &LoraConfig, seed: u64) -> Result<Self, ModelError> {
        Ok(match self {
            CausalLm::Llama(m) => CausalLm::Llama(m.apply_lora(cfg, seed)?),
            CausalLm::Gpt2(m) => CausalLm::Gpt2(m.apply_lora(cfg, seed)?),
        })
    }

    /// Every weight under its HF name and shape, LoRA merged.
    pub fn hf_tensors(&self) -> Vec<NamedTensor> {
        match self {
            CausalLm::Llama(m) => m.hf_tensors(),
            CausalLm::Gpt2(m) => m.hf_tensors(),
        }
    }

    /// The LoRA pairs under PEFT's names (empty without LoRA).
    pub fn lora_tensors(&self) -> Vec<NamedTensor> {
        match self {
            CausalLm::Llama(m) => m.lora_tensors(),
            CausalLm::Gpt2(m) => m.lora_tensors(),
        }
    }

    /// The longest sequence the model has positions for (GPT-2's learned table), if bounded.
    pub fn max_positions(&self) -> Option<usize> {
        match self {
            CausalLm::Llama(_) => None,
            CausalLm::Gpt2(m) => Some(m.max_positions()),
        }
    }
}
