//! Writing a fine-tuned causal LM, for any architecture that lists its tensors under HF names:
//!
//! - [`export_causal_dir`]: a Hugging Face model directory (`model.safetensors` f32,
//!   `config.json`, the tokenizer and generation files of the input model), LoRA merged;
//! - [`export_peft_adapter`]: a PEFT LoRA adapter (`adapter_config.json`,
//!   `adapter_model.safetensors`) that `PeftModel.from_pretrained(base, dir)` applies to the
//!   unmodified input model.
//!
//! Every file is written to a temp file, fsynced and renamed (the BERT export's helpers), so a
//! crash never leaves a half-written file in place.

use std::path::Path;

use serde_json::{json, Value};

use crate::model::error::ModelError;
use crate::model::export::{serialize, write_atomic, F32Tensor};
use crate::model::lora::LoraConfig;

/// Files copied from the input model when present; `tokenizer.json` is required (the trainer's
/// tokenizer reads it). `vocab.json`/`merges.txt` are GPT-2's slow-tokenizer files.
pub const CAUSAL_TOKENIZER_FILES: [&str; 6] = [
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "generation_config.json",
    "vocab.json",
    "merges.txt",
];

/// Writes `tensors` (HF name, shape, values) as `model.safetensors`, `config_json` as
/// `config.json`, and the tokenizer files of `src_model_dir` into `dir` (created if needed).
pub fn export_causal_dir(
    dir: &Path,
    tensors: Vec<(String, Vec<usize>, Vec<f32>)>,
    config_json: &Value,
    src_model_dir: &Path,
) -> Result<(), ModelError> {
    let required = src_model_dir.join("tokenizer.json");
    if !required.is_file() {
        return Err(ModelError::io(
            required,
            std::io::Error::new(std::io::ErrorKind::NotFound, "tokenizer.json is required"),
        ));
    }
    std::fs::create_dir_all(dir).map_err(|e| ModelError::io(dir, e))?;
    write_safetensors(&dir.join("model.safetensors"), tensors)?;
    let config = serde_json::to_vec_pretty(config_json).expect("JSON value serialises");
    write_atomic(&dir.join("config.json"), &config)?;
    for name in CAUSAL_TOKENIZER_FILES {
        let src = src_model_dir.join(name);
        if src.is_file() {
            let bytes = std::fs::read(&src).map_err(|e| ModelError::io(&src, e))?;
            write_atomic(&dir.join(name), &bytes)?;
        }
    }
    Ok(())
}

/// What `adapter_config.json` says beside the LoRA settings.
#[derive(Debug, Clone)]
pub struct AdapterInfo<'a> {
    /// The base model as the user named it (a Hub id or a path), for PEFT's
    /// `base_model_name_or_path`.
    pub base_model_name_or_path: &'a str,
    /// Whether the base layers store their weight `[in, out]` (GPT-2's Conv1D: true; an
    /// `nn.Linear`, as Llama's, false).
    pub fan_in_fan_out: bool,
}

/// Writes the LoRA pairs `lora_tensors` (PEFT names and layout: `lora_A` `[r, in]`, `lora_B`
/// `[out, r]`, see e.g. `Gpt2::lora_tensors`) and their `adapter_config.json` into `dir`.
pub fn export_peft_adapter(
    dir: &Path,
    lora_tensors: Vec<(String, Vec<usize>, Vec<f32>)>,
    lora: &LoraConfig,
    info: &AdapterInfo,
) -> Result<(), ModelError> {
    if lora_tensors.is_empty() {
        return Err(ModelError::Invalid(
            "no LoRA adapter to export: the model was not trained with method lora".into(),
        ));
    }
    std::fs::create_dir_all(dir).map_err(|e| ModelError::io(dir, e))?;
    write_safetensors(&dir.join("adapter_model.safetensors"), lora_tensors)?;
    let config = adapter_config(lora, info);
    let bytes = serde_json::to_vec_pretty(&config).expect("JSON value serialises");
    write_atomic(&dir.join("adapter_config.json"), &bytes)
}

/// PEFT's `LoraConfig` as `save_pretrained` writes it, with the fields that change how the
/// adapter is applied; PEFT fills the rest with its defaults.
pub fn adapter_config(lora: &LoraConfig, info: &AdapterInfo) -> Value {
    // PEFT types lora_alpha as an int; keep integral values integral.
    let alpha = if lora.alpha.fract() == 0.0 {
        json!(lora.alpha as i64)
    } else {
        json!(lora.alpha)
    };
    json!({
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "base_model_name_or_path": info.base_model_name_or_path,
        "r": lora.r,
        "lora_alpha": alpha,
        "lora_dropout": lora.dropout,
        "target_modules": lora.targets,
        "fan_in_fan_out": info.fan_in_fan_out,
        "bias": "none",
        "use_rslora": false,
        "use_dora": false,
        "modules_to_save": null,
        "inference_mode": true,
    })
}

/// Serialises the tensors as f32 safetensors at `path`, atomically.
fn write_safetensors(
    path: &Path,
    tensors: Vec<(String, Vec<usize>, Vec<f32>)>,
) -> Result<(), ModelError> {
    let tensors: Vec<(String, F32Tensor)> = tensors
        .into_iter()
        .map(|(name, shape, values)| (name, F32Tensor::from_values(shape, &values)))
        .collect();
    let dir = path.parent().unwrap_or(Path::new("."));
    let bytes = serialize(tensors.iter().map(|(n, t)| (n.as_str(), t)), dir)?;
    write_atomic(path, &bytes)
}
