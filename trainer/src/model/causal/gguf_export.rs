//! A fine-tuned Llama as a GGUF file, as llama.cpp, Ollama and `docker model` load it: the
//! tensors under their GGUF names (q/k rows back in llama.cpp's rotary order), 2-D weights as
//! F16 or Q8_0 and norms as F32, the `llama.*` config and the tokenizer (from the exported
//! `tokenizer.json` / `tokenizer_config.json`) as metadata. Written to a temporary file and
//! renamed by the writer.

use std::path::{Path, PathBuf};

use finetune_gguf::llama::{gguf_name, permute_rows, LlamaConfig};
use finetune_gguf::{tokenizer_metadata, GgufWriter, MetaValue, WriteType};
use finetune_spec::ExportFormat;
use serde_json::Value;

use super::NamedTensor;
use crate::model::error::ModelError;

/// llama.cpp's `general.file_type` for a file of mostly `ty` tensors.
fn file_type(ty: WriteType) -> u32 {
    match ty {
        WriteType::Q8_0 => 7,
        _ => 1,
    }
}

/// The GGUF metadata of the tokenizer in `tokenizer_dir` (`tokenizer.json`, and
/// `tokenizer_config.json` when present): a check to run before training, so a tokenizer GGUF
/// cannot carry fails the run at its start, not after it.
pub fn tokenizer_meta(tokenizer_dir: &Path) -> Result<Vec<(String, MetaValue)>, ModelError> {
    let read = |name: &str| -> Result<Option<Value>, ModelError> {
        let p = tokenizer_dir.join(name);
        if !p.is_file() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&p).map_err(|e| ModelError::io(&p, e))?;
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| ModelError::Config {
                path: p,
                message: e.to_string(),
            })
    };
    let tokenizer = read("tokenizer.json")?.ok_or_else(|| ModelError::Unsupported {
        path: tokenizer_dir.join("tokenizer.json"),
        message: "no tokenizer.json to put in the GGUF file".into(),
    })?;
    let config = read("tokenizer_config.json")?;
    tokenizer_metadata(&tokenizer, config.as_ref()).map_err(|e| ModelError::Unsupported {
        path: tokenizer_dir.join("tokenizer.json"),
        message: format!("cannot be written as GGUF metadata: {e}"),
    })
}

/// Writes `tensors` (HF names and layout) of a Llama with `config_json` as `format` into
/// `out_dir`; returns the file's path.
pub fn write_llama(
    tensors: Vec<NamedTensor>,
    config_json: &Value,
    tokenizer_dir: &Path,
    format: ExportFormat,
    out_dir: &Path,
) -> Result<PathBuf, ModelError> {
    let path = out_dir.join(format.file_name());
    let gguf_err = |e: finetune_gguf::GgufError| ModelError::Gguf {
        path: path.clone(),
        message: e.to_string(),
    };
    let cfg =
        LlamaConfig::from_hf_json(config_json).map_err(|message| ModelError::Unsupported {
            path: path.clone(),
            message,
        })?;
    let ty = match format {
        ExportFormat::Gguf => WriteType::F16,
        ExportFormat::GgufQ8_0 => WriteType::Q8_0,
    };
    let mut w = GgufWriter::new();
    for (k, v) in cfg.to_gguf_metadata() {
        w.metadata(k, v).map_err(gguf_err)?;
    }
    for (k, v) in tokenizer_meta(tokenizer_dir)? {
        w.metadata(k, v).map_err(gguf_err)?;
    }
    w.metadata("general.file_type", MetaValue::U32(file_type(ty)))
        .map_err(gguf_err)?;
    for (hf, shape, values) in tensors {
        let Some(name) = gguf_name(&hf) else {
            return Err(ModelError::Unsupported {
                path: path.clone(),
                message: format!("tensor {hf} has no GGUF name"),
            });
        };
        let cols = shape[1..].iter().product::<usize>().max(1);
        let values = if hf.contains("q_proj") {
            permute_rows(&values, cols, cfg.num_attention_heads)
        } else if hf.contains("k_proj") {
            permute_rows(&values, cols, cfg.num_key_value_heads)
        } else {
            values
        };
        // Q8_0 blocks are 32 wide: a row that is not stays F16 (as llama.cpp's converter does).
        let t = match ty {
            _ if shape.len() == 1 => WriteType::F32,
            WriteType::Q8_0 if !cols.is_multiple_of(32) => WriteType::F16,
            t => t,
        };
        w.tensor(name, &shape, &values, t).map_err(gguf_err)?;
    }
    std::fs::create_dir_all(out_dir).map_err(|e| ModelError::io(out_dir, e))?;
    w.write(&path).map_err(gguf_err)?;
    Ok(path)
}
