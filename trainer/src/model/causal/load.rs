//! Building a [`Llama`] from a checkpoint: a Hugging Face directory (`config.json` with
//! `model_type: llama`, `model.safetensors` or `pytorch_model.bin`, read by [`Weights`]) or a
//! llama `.gguf` file (config from its metadata, tensors dequantised and un-permuted to HF's
//! layout by `finetune_gguf::llama::LlamaGguf`). Both become one stream of HF-named f32 tensors
//! with checked shapes, so the model is assembled by one function.

use std::path::{Path, PathBuf};

use burn::module::Param;
use burn::nn::{Embedding, Linear};
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use finetune_gguf::llama::{LlamaConfig, LlamaGguf};

use super::llama::{Llama, LlamaAttention, LlamaLayer, LlamaMlp};
use crate::model::blocks::{rms_norm, Rope};
use crate::model::error::ModelError;
use crate::model::load::Weights;
use crate::model::lora::AdaptedLinear;

/// Where the tensors come from.
enum Source {
    Hf(Weights),
    Gguf(Box<LlamaGguf>, PathBuf),
}

impl Source {
    /// Tensor `name` (HF naming), checked to have `shape`.
    fn take(&mut self, name: &str, shape: &[usize]) -> Result<Vec<f32>, ModelError> {
        let (found, data) = match self {
            Source::Hf(w) => w.take_exact(name, shape)?,
            Source::Gguf(g, path) => g.tensor(name).map_err(|e| ModelError::Gguf {
                path: path.clone(),
                message: e.to_string(),
            })?,
        };
        if found != shape {
            return Err(ModelError::ShapeMismatch {
                path: self.path(),
                name: name.into(),
                expected: shape.to_vec(),
                found,
            });
        }
        Ok(data)
    }

    fn path(&self) -> PathBuf {
        match self {
            Source::Hf(w) => w.path().to_path_buf(),
            Source::Gguf(_, path) => path.clone(),
        }
    }
}

/// Loads a Llama from `path`: a `.gguf` file, or a Hugging Face model directory.
pub fn load_llama<B: Backend>(
    path: &Path,
    device: &B::Device,
) -> Result<(Llama<B>, LlamaConfig), ModelError> {
    let (config, mut source) = if path.is_file() {
        let gguf = LlamaGguf::open(path).map_err(|e| ModelError::Gguf {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let config = gguf.config.clone();
        (config, Source::Gguf(Box::new(gguf), path.to_path_buf()))
    } else {
        let config = read_hf_config(&path.join("config.json"))?;
        (config, Source::Hf(Weights::from_dir(path)?))
    };
    let model = build(&config, &mut source, device)?;
    Ok((model, config))
}

/// A Llama `config.json`; another architecture is [`ModelError::Unsupported`].
pub fn read_hf_config(path: &Path) -> Result<LlamaConfig, ModelError> {
    let text = std::fs::read_to_string(path).map_err(|e| ModelError::io(path, e))?;
    let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| ModelError::Config {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    LlamaConfig::from_hf_json(&json).map_err(|message| ModelError::Unsupported {
        path: path.to_path_buf(),
        message,
    })
}

fn build<B: Backend>(
    cfg: &LlamaConfig,
    src: &mut Source,
    device: &B::Device,
) -> Result<Llama<B>, ModelError> {
    let (h, f, hd) = (cfg.hidden_size, cfg.intermediate_size, cfg.head_dim);
    let (q, kv) = (cfg.num_attention_heads * hd, cfg.num_key_value_heads * hd);
    let embed = src.take("model.embed_tokens.weight", &[cfg.vocab_size, h])?;
    let embed_tokens = Embedding {
        weight: param(TensorData::new(embed, [cfg.vocab_size, h]), device),
    };
    let mut layers = Vec::with_capacity(cfg.num_hidden_layers);
    for n in 0..cfg.num_hidden_layers {
        let p = |s: &str| format!("model.layers.{n}.{s}.weight");
        let mut lin = |s: &str, d_in: usize, d_out: usize| -> Result<_, ModelError> {
            let w = src.take(&p(s), &[d_out, d_in])?;
            Ok(linear(&w, d_in, d_out, device))
        };
        let self_attn = LlamaAttention {
            q_proj: lin("self_attn.q_proj", h, q)?,
            k_proj: lin("self_attn.k_proj", h, kv)?,
            v_proj: lin("self_attn.v_proj", h, kv)?,
            o_proj: lin("self_attn.o_proj", q, h)?,
            num_heads: cfg.num_attention_heads,
            num_kv_heads: cfg.num_key_value_heads,
            head_dim: hd,
        };
        let mlp = LlamaMlp {
            gate_proj: lin("mlp.gate_proj", h, f)?,
            up_proj: lin("mlp.up_proj", h, f)?,
            down_proj: lin("mlp.down_proj", f, h)?,
        };
        let norm = |src: &mut Source, s: &str| -> Result<_, ModelError> {
            Ok(rms_norm(src.take(&p(s), &[h])?, cfg.rms_norm_eps, device))
        };
        layers.push(LlamaLayer {
            input_layernorm: norm(src, "input_layernorm")?,
            self_attn,
            post_attention_layernorm: norm(src, "post_attention_layernorm")?,
            mlp,
        });
    }
    let norm = rms_norm(
        src.take("model.norm.weight", &[h])?,
        cfg.rms_norm_eps,
        device,
    );
    let lm_head = match cfg.tie_word_embeddings {
        true => None,
        false => {
            let w = src.take("lm_head.weight", &[cfg.vocab_size, h])?;
            Some(linear(&w, h, cfg.vocab_size, device))
        }
    };
    Ok(Llama {
        embed_tokens,
        layers,
        norm,
        lm_head,
        rope: Rope::new(hd, cfg.rope_theta, cfg.rope_scaling_linear),
    })
}

fn param<B: Backend, const D: usize>(data: TensorData, device: &B::Device) -> Param<Tensor<B, D>> {
    Param::from_tensor(Tensor::from_data(data, device))
}

/// A bias-free linear layer from HF's `[out, in]` weight (burn's is `[in, out]`: transposed
/// on the host, so the weight is contiguous for the products).
fn linear<B: Backend>(
    w: &[f32],
    d_in: usize,
    d_out: usize,
    device: &B::Device,
) -> AdaptedLinear<B> {
    let mut t = vec![0f32; w.len()];
    for (o, row) in w.chunks_exact(d_in).enumerate() {
        for (i, x) in row.iter().enumerate() {
            t[i * d_out + o] = *x;
        }
    }
    AdaptedLinear::plain(Linear {
        weight: param(TensorData::new(t, [d_in, d_out]), device),
        bias: None,
    })
}
