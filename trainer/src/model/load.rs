//! Building a [`BertClassifier`] from a Hugging Face checkpoint: `model.safetensors` tensors
//! named as HF names them, with or without the `bert.` prefix (sentence-transformers exports
//! such as all-MiniLM have none; `BertForSequenceClassification`, and our own exports, have it).
//! HF stores linear weights `[out, in]`; burn's are `[in, out]`, so they are transposed here.
//! F32, F16 and BF16 tensors are read (as f32), and so are int8 ones with their scales (a
//! quantized model, see [`super::quant`]). A classifier head in the checkpoint is loaded
//! when its label count matches; otherwise it, and a missing pooler, are initialised from the
//! seed as HF does (normal(0, initializer_range), zero bias).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use burn::module::Param;
use burn::nn::{Embedding, LayerNorm, LayerNormConfig, Linear};
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use safetensors::{Dtype, SafeTensors};

use super::bert::{
    ActivationKind, BertAttention, BertClassifier, BertEmbeddings, BertLayer, BertModel,
};
use super::blocks::Dropout;
use super::config::BertConfig;
use super::error::ModelError;
use super::init::SeededRng;
use super::lora::AdaptedLinear;

/// Where the head came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadSource {
    /// `classifier.*` was in the checkpoint with the right label count.
    Checkpoint,
    /// Freshly initialised from the seed.
    Initialised,
}

/// The tensors of one checkpoint file, as f32, by name.
pub struct Weights {
    path: PathBuf,
    tensors: HashMap<String, (Vec<usize>, Vec<f32>)>,
}

impl Weights {
    /// Finds and reads the weights of a model directory: `model.safetensors`, else
    /// `pytorch_model.bin` (the zip format `torch.save` writes), else a clear error.
    pub fn from_dir(dir: &Path) -> Result<Self, ModelError> {
        let st = dir.join("model.safetensors");
        if st.is_file() {
            return Self::from_safetensors(&st);
        }
        let bin = dir.join("pytorch_model.bin");
        if bin.is_file() {
            return Self::from_pytorch(&bin);
        }
        Err(ModelError::NoWeights {
            dir: dir.to_path_buf(),
            hint: String::new(),
        })
    }

    /// Reads a PyTorch state dict (`pytorch_model.bin`), see [`super::torch_file`].
    pub fn from_pytorch(path: &Path) -> Result<Self, ModelError> {
        let tensors =
            super::torch_file::read_state_dict(path).map_err(|message| ModelError::Pytorch {
                path: path.to_path_buf(),
                message,
            })?;
        Ok(Weights {
            path: path.to_path_buf(),
            tensors,
        })
    }

    /// Reads a safetensors file.
    pub fn from_safetensors(path: &Path) -> Result<Self, ModelError> {
        let bytes = std::fs::read(path).map_err(|e| ModelError::io(path, e))?;
        let st = SafeTensors::deserialize(&bytes).map_err(|e| ModelError::Safetensors {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let mut tensors = HashMap::new();
        let mut int8 = HashMap::new();
        for (name, view) in st.tensors() {
            let data = view.data();
            let values: Vec<f32> = match view.dtype() {
                Dtype::F32 => data
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect(),
                Dtype::F16 => data
                    .chunks_exact(2)
                    .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
                    .collect(),
                Dtype::BF16 => data
                    .chunks_exact(2)
                    .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())
                    .collect(),
                // A quantized weight: restored with its scale below.
                Dtype::I8 => {
                    int8.insert(name, view);
                    continue;
                }
                // Integer buffers such as `position_ids` are not weights.
                Dtype::I64 | Dtype::I32 | Dtype::U8 | Dtype::BOOL => continue,
                other => {
                    return Err(ModelError::DType {
                        path: path.to_path_buf(),
                        name,
                        dtype: format!("{other:?}"),
                    })
                }
            };
            tensors.insert(name, (view.shape().to_vec(), values));
        }
        let restored = super::quant::dequantize(path, int8, &mut tensors)?;
        tensors.extend(restored);
        Ok(Weights {
            path: path.to_path_buf(),
            tensors,
        })
    }

    /// A tensor's shape and f32 values, by its name in the file.
    pub fn get(&self, name: &str) -> Option<(&[usize], &[f32])> {
        self.tensors
            .get(name)
            .map(|(s, v)| (s.as_slice(), v.as_slice()))
    }

    /// The file the tensors were read from (for errors).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The tensor names in the file.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tensors.keys().map(String::as_str)
    }

    /// Takes tensor `name` exactly as named (no `bert.` prefix), with its shape: the caller
    /// checks it against `expected` (named in the error when the tensor is absent).
    pub(crate) fn take_exact(
        &mut self,
        name: &str,
        expected: &[usize],
    ) -> Result<(Vec<usize>, Vec<f32>), ModelError> {
        self.tensors
            .remove(name)
            .ok_or_else(|| ModelError::MissingTensor {
                path: self.path.clone(),
                name: name.to_string(),
                alt: format!("nothing else: a {expected:?} tensor"),
            })
    }

    fn has(&self, name: &str) -> bool {
        self.tensors.contains_key(name) || self.tensors.contains_key(&format!("bert.{name}"))
    }

    /// Takes `name` (tried as `bert.name`, then `name`), checking its shape.
    fn take(&mut self, name: &str, shape: &[usize]) -> Result<Vec<f32>, ModelError> {
        let prefixed = format!("bert.{name}");
        let key = if self.tensors.contains_key(&prefixed) {
            prefixed
        } else if self.tensors.contains_key(name) {
            name.to_string()
        } else {
            return Err(ModelError::MissingTensor {
                path: self.path.clone(),
                name: prefixed,
                alt: name.to_string(),
            });
        };
        let (found, values) = self.tensors.remove(&key).expect("checked above");
        if found != shape {
            return Err(ModelError::ShapeMismatch {
                path: self.path.clone(),
                name: key,
                expected: shape.to_vec(),
                found,
            });
        }
        Ok(values)
    }

    /// Takes the first of several alternative names present (old BERT checkpoints use
    /// `LayerNorm.gamma`/`beta`).
    fn take_any(&mut self, names: &[String], shape: &[usize]) -> Result<Vec<f32>, ModelError> {
        let found = names
            .iter()
            .find(|n| self.has(n))
            .unwrap_or(&names[0])
            .clone();
        self.take(&found, shape)
    }

    fn linear<B: Backend>(
        &mut self,
        name: &str,
        d_in: usize,
        d_out: usize,
        device: &B::Device,
    ) -> Result<Linear<B>, ModelError> {
        let w = self.take(&format!("{name}.weight"), &[d_out, d_in])?;
        let b = self.take(&format!("{name}.bias"), &[d_out])?;
        Ok(linear_from_hf(&w, &b, d_in, d_out, device))
    }

    fn embedding<B: Backend>(
        &mut self,
        name: &str,
        n: usize,
        d: usize,
        device: &B::Device,
    ) -> Result<Embedding<B>, ModelError> {
        let w = self.take(&format!("{name}.weight"), &[n, d])?;
        Ok(Embedding {
            weight: param(TensorData::new(w, [n, d]), device),
        })
    }

    fn layer_norm<B: Backend>(
        &mut self,
        name: &str,
        d: usize,
        eps: f64,
        device: &B::Device,
    ) -> Result<LayerNorm<B>, ModelError> {
        let g = self.take_any(&[format!("{name}.weight"), format!("{name}.gamma")], &[d])?;
        let b = self.take_any(&[format!("{name}.bias"), format!("{name}.beta")], &[d])?;
        let mut ln = LayerNormConfig::new(d).with_epsilon(eps).init::<B>(device);
        ln.gamma = param(TensorData::new(g, [d]), device);
        ln.beta = Some(param(TensorData::new(b, [d]), device));
        Ok(ln)
    }

    /// The classifier head if present with `num_labels` rows; `None` if absent or sized for
    /// another label set.
    fn classifier<B: Backend>(
        &mut self,
        hidden: usize,
        num_labels: usize,
        device: &B::Device,
    ) -> Option<Linear<B>> {
        let (shape, _) = self.tensors.get("classifier.weight")?;
        if shape != &[num_labels, hidden] || !self.tensors.contains_key("classifier.bias") {
            return None;
        }
        let (_, w) = self.tensors.remove("classifier.weight")?;
        let (bshape, b) = self.tensors.remove("classifier.bias")?;
        if bshape != [num_labels] {
            return None;
        }
        Some(linear_from_hf(&w, &b, hidden, num_labels, device))
    }
}

/// A trainable parameter from data.
fn param<B: Backend, const D: usize>(data: TensorData, device: &B::Device) -> Param<Tensor<B, D>> {
    Param::from_tensor(Tensor::from_data(data, device))
}

/// A burn linear layer from HF's `[out, in]` weight and `[out]` bias.
pub fn linear_from_hf<B: Backend>(
    w: &[f32],
    b: &[f32],
    d_in: usize,
    d_out: usize,
    device: &B::Device,
) -> Linear<B> {
    let mut t = vec![0f32; w.len()];
    for o in 0..d_out {
        for i in 0..d_in {
            t[i * d_out + o] = w[o * d_in + i];
        }
    }
    Linear {
        weight: param(TensorData::new(t, [d_in, d_out]), device),
        bias: Some(param(TensorData::new(b.to_vec(), [d_out]), device)),
    }
}

/// A seeded linear layer as HF initialises heads: weight N(0, std²), bias zero.
fn init_linear<B: Backend>(
    d_in: usize,
    d_out: usize,
    std: f64,
    rng: &mut SeededRng,
    device: &B::Device,
) -> Linear<B> {
    let w = rng.normal(d_in * d_out, std);
    Linear {
        weight: param(TensorData::new(w, [d_in, d_out]), device),
        bias: Some(param(TensorData::new(vec![0f32; d_out], [d_out]), device)),
    }
}

/// Builds the full classifier from `weights`; `seed` initialises what the checkpoint lacks.
pub fn build_classifier<B: Backend>(
    cfg: &BertConfig,
    weights: &mut Weights,
    num_labels: usize,
    seed: u64,
    device: &B::Device,
) -> Result<(BertClassifier<B>, HeadSource), ModelError> {
    if num_labels == 0 {
        return Err(ModelError::Invalid(
            "a classifier needs at least one label".into(),
        ));
    }
    let h = cfg.hidden_size;
    let eps = cfg.layer_norm_eps;
    let hidden_dropout = || Dropout::new(cfg.hidden_dropout_prob);
    let activation = ActivationKind(cfg.activation().map_err(ModelError::Invalid)?);

    let embeddings = BertEmbeddings {
        word_embeddings: weights.embedding(
            "embeddings.word_embeddings",
            cfg.vocab_size,
            h,
            device,
        )?,
        position_embeddings: weights.embedding(
            "embeddings.position_embeddings",
            cfg.max_position_embeddings,
            h,
            device,
        )?,
        token_type_embeddings: weights.embedding(
            "embeddings.token_type_embeddings",
            cfg.type_vocab_size,
            h,
            device,
        )?,
        layer_norm: weights.layer_norm("embeddings.LayerNorm", h, eps, device)?,
        dropout: hidden_dropout(),
        layer_norm_eps: eps,
    };

    let mut layers = Vec::with_capacity(cfg.num_hidden_layers);
    for n in 0..cfg.num_hidden_layers {
        let p = format!("encoder.layer.{n}");
        let mut lin =
            |name: &str, d_in: usize, d_out: usize| -> Result<AdaptedLinear<B>, ModelError> {
                Ok(AdaptedLinear::plain(weights.linear(
                    &format!("{p}.{name}"),
                    d_in,
                    d_out,
                    device,
                )?))
            };
        let query = lin("attention.self.query", h, h)?;
        let key = lin("attention.self.key", h, h)?;
        let value = lin("attention.self.value", h, h)?;
        let output_dense = lin("attention.output.dense", h, h)?;
        let intermediate = lin("intermediate.dense", h, cfg.intermediate_size)?;
        let output = lin("output.dense", cfg.intermediate_size, h)?;
        layers.push(BertLayer {
            attention: BertAttention {
                query,
                key,
                value,
                output_dense,
                output_layer_norm: weights.layer_norm(
                    &format!("{p}.attention.output.LayerNorm"),
                    h,
                    eps,
                    device,
                )?,
                probs_dropout: Dropout::new(cfg.attention_probs_dropout_prob),
                hidden_dropout: hidden_dropout(),
                num_heads: cfg.num_attention_heads,
                layer_norm_eps: eps,
            },
            intermediate,
            output,
            output_layer_norm: weights.layer_norm(
                &format!("{p}.output.LayerNorm"),
                h,
                eps,
                device,
            )?,
            hidden_dropout: hidden_dropout(),
            activation,
            layer_norm_eps: eps,
        });
    }

    let std = cfg.initializer_range;
    let pooler = if weights.has("pooler.dense.weight") {
        weights.linear("pooler.dense", h, h, device)?
    } else {
        init_linear(h, h, std, &mut SeededRng::new(seed, 1), device)
    };
    let (classifier, source) = match weights.classifier(h, num_labels, device) {
        Some(c) => (c, HeadSource::Checkpoint),
        None => (
            init_linear(h, num_labels, std, &mut SeededRng::new(seed, 2), device),
            HeadSource::Initialised,
        ),
    };
    let model = BertClassifier {
        bert: BertModel {
            embeddings,
            layers,
            pooler,
        },
        dropout: Dropout::new(cfg.classifier_dropout_prob()),
        classifier,
    };
    Ok((model, source))
}
