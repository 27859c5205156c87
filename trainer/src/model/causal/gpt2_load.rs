//! Building a [`Gpt2`] from a Hugging Face checkpoint directory (`config.json`,
//! `model.safetensors` or `pytorch_model.bin`). Tensor names are HF's, with the
//! `transformer.` prefix `GPT2LMHeadModel` saves or without it (the original `gpt2` checkpoints
//! on the Hub have none). Conv1D weights are `[in, out]` in the file and in burn alike.

use std::path::Path;

use burn::module::Param;
use burn::nn::{Embedding, LayerNorm, LayerNormConfig, Linear};
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};

use super::gpt2::{Gpt2, Gpt2Attention, Gpt2Block, Gpt2Mlp};
use super::gpt2_config::Gpt2Config;
use crate::model::blocks::Dropout;
use crate::model::error::ModelError;
use crate::model::load::Weights;
use crate::model::lora::AdaptedLinear;

/// Loads `dir` as a GPT-2 with every parameter trainable (add LoRA with
/// [`Gpt2::apply_lora`]). Build it on the autodiff backend to train it.
pub fn load_gpt2<B: Backend>(
    dir: &Path,
    device: &B::Device,
) -> Result<(Gpt2<B>, Gpt2Config), ModelError> {
    let config = Gpt2Config::from_file(&dir.join("config.json"))?;
    let mut weights = Weights::from_dir(dir)?;
    let model = build_gpt2(&config, &mut weights, device)?;
    Ok((model, config))
}

/// Builds the model from `weights`, checking every tensor's shape against `cfg`.
pub fn build_gpt2<B: Backend>(
    cfg: &Gpt2Config,
    weights: &mut Weights,
    device: &B::Device,
) -> Result<Gpt2<B>, ModelError> {
    let (d, inner) = (cfg.n_embd, cfg.inner());
    let mut t = Take { weights, device };
    let mut h = Vec::with_capacity(cfg.n_layer);
    for n in 0..cfg.n_layer {
        let p = format!("h.{n}");
        h.push(Gpt2Block {
            ln_1: t.layer_norm(&format!("{p}.ln_1"), d, cfg.layer_norm_epsilon)?,
            attn: Gpt2Attention {
                c_attn: t.conv1d(&format!("{p}.attn.c_attn"), d, 3 * d)?,
                c_proj: t.conv1d(&format!("{p}.attn.c_proj"), d, d)?,
                attn_dropout: Dropout::new(cfg.attn_pdrop),
                resid_dropout: Dropout::new(cfg.resid_pdrop),
                n_head: cfg.n_head,
            },
            ln_2: t.layer_norm(&format!("{p}.ln_2"), d, cfg.layer_norm_epsilon)?,
            mlp: Gpt2Mlp {
                c_fc: t.conv1d(&format!("{p}.mlp.c_fc"), d, inner)?,
                c_proj: t.conv1d(&format!("{p}.mlp.c_proj"), inner, d)?,
                dropout: Dropout::new(cfg.resid_pdrop),
            },
        });
    }
    let lm_head = if cfg.tie_word_embeddings {
        None
    } else {
        // nn.Linear without bias: [vocab, n_embd] in the file, [n_embd, vocab] in burn.
        let w = t.exact("lm_head.weight", &[cfg.vocab_size, d])?;
        let w = Tensor::<B, 2>::from_data(TensorData::new(w, [cfg.vocab_size, d]), device);
        Some(Linear {
            weight: Param::from_tensor(w.transpose()),
            bias: None,
        })
    };
    Ok(Gpt2 {
        wte: t.embedding("wte", cfg.vocab_size, d)?,
        wpe: t.embedding("wpe", cfg.n_positions, d)?,
        drop: Dropout::new(cfg.embd_pdrop),
        h,
        ln_f: t.layer_norm("ln_f", d, cfg.layer_norm_epsilon)?,
        lm_head,
    })
}

/// Takes tensors out of a checkpoint by their name under `transformer.`.
struct Take<'a, B: Backend> {
    weights: &'a mut Weights,
    device: &'a B::Device,
}

impl<B: Backend> Take<'_, B> {
    /// `transformer.{name}`, else `{name}`, with `shape`.
    fn take(&mut self, name: &str, shape: &[usize]) -> Result<Vec<f32>, ModelError> {
        let prefixed = format!("transformer.{name}");
        if self.weights.get(&prefixed).is_some() {
            return self.exact(&prefixed, shape);
        }
        if self.weights.get(name).is_some() {
            return self.exact(name, shape);
        }
        Err(ModelError::MissingTensor {
            path: self.weights.path().to_path_buf(),
            name: prefixed,
            alt: name.to_string(),
        })
    }

    /// Exactly `name`, with `shape`.
    fn exact(&mut self, name: &str, shape: &[usize]) -> Result<Vec<f32>, ModelError> {
        let path = self.weights.path().to_path_buf();
        let Some((found, values)) = self.weights.get(name) else {
            return Err(ModelError::MissingTensor {
                path,
                name: name.to_string(),
                alt: name.to_string(),
            });
        };
        if found != shape {
            return Err(ModelError::ShapeMismatch {
                path,
                name: name.to_string(),
                expected: shape.to_vec(),
                found: found.to_vec(),
            });
        }
        Ok(values.to_vec())
    }

    fn param<const D: usize>(&self, values: Vec<f32>, shape: [usize; D]) -> Param<Tensor<B, D>> {
        Param::from_tensor(Tensor::from_data(
            TensorData::new(values, shape),
            self.device,
        ))
    }

    /// A Conv1D (`weight` `[in, out]`, `bias` `[out]`) as a plain [`AdaptedLinear`].
    fn conv1d(
        &mut self,
        name: &str,
        d_in: usize,
        d_out: usize,
    ) -> Result<AdaptedLinear<B>, ModelError> {
        let w = self.take(&format!("{name}.weight"), &[d_in, d_out])?;
        let b = self.take(&format!("{name}.bias"), &[d_out])?;
        Ok(AdaptedLinear::plain(Linear {
            weight: self.param(w, [d_in, d_out]),
            bias: Some(self.param(b, [d_out])),
        }))
    }

    fn embedding(&mut self, name: &str, n: usize, d: usize) -> Result<Embedding<B>, ModelError> {
        let w = self.take(&format!("{name}.weight"), &[n, d])?;
        Ok(Embedding {
            weight: self.param(w, [n, d]),
        })
    }

    fn layer_norm(&mut self, name: &str, d: usize, eps: f64) -> Result<LayerNorm<B>, ModelError> {
        let g = self.take(&format!("{name}.weight"), &[d])?;
        let b = self.take(&format!("{name}.bias"), &[d])?;
        let mut ln = LayerNormConfig::new(d)
            .with_epsilon(eps)
            .init::<B>(self.device);
        ln.gamma = self.param(g, [d]);
        ln.beta = Some(self.param(b, [d]));
        Ok(ln)
    }
}
