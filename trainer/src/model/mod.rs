//! The model half of the trainer: Hugging Face BERT-family checkpoints as burn modules.
//!
//! - [`load_classifier`]: a model directory (`config.json`, `model.safetensors`) to a
//!   [`BertClassifier`] for a label set, full fine-tuning or LoRA.
//! - [`load_for_inference`]: an exported `model/` dir (labels from its `config.json`).
//! - [`quant`]: the int8 format of a quantized directory (read transparently by the loader).
//! - [`causal`]: causal LMs (GPT-2) for `task: text-generation`, and their exports.
//! - [`export_model`]: writes an HF-loadable `BertForSequenceClassification` directory, LoRA
//!   merged, atomically.
//!
//! Build the training model directly on the autodiff backend (`load_classifier::<Train<Cpu>>`):
//! burn records `require_grad` only on autodiff tensors, so a model built on a plain backend and
//! moved with `.train()` would come back with every parameter frozen.

pub mod bert;
pub mod blocks;
pub mod causal;
pub mod config;
pub mod error;
pub mod export;
pub mod init;
pub mod load;
pub mod lora;
pub mod quant;
pub mod torch_file;

use std::path::Path;

use burn::module::Module;
use burn::tensor::backend::Backend;
use finetune_spec::Method;

pub use bert::{BertClassifier, BertModel};
pub use config::BertConfig;
pub use error::ModelError;
pub use export::export_model;
pub use load::{HeadSource, Weights};
pub use lora::LoraConfig;

use init::SeededRng;

/// A classifier ready to train or run, with what it was built from.
#[derive(Debug)]
pub struct LoadedModel<B: Backend> {
    pub model: BertClassifier<B>,
    pub config: BertConfig,
    /// Label names in class-id order.
    pub labels: Vec<String>,
    /// Whether the head came from the checkpoint or from the seed.
    pub head: HeadSource,
}

/// Loads `dir` as a classifier over `labels` (in class-id order) with `method`.
///
/// Full fine-tuning: every parameter trains. LoRA: embeddings and encoder weights are frozen,
/// adapters are attached to the targeted layers (see [`lora`]), and the pooler and classifier
/// train in full. `seed` initialises the head (when the checkpoint has none for this label
/// count), a missing pooler, and LoRA's `A` matrices, identically on every backend.
pub fn load_classifier<B: Backend>(
    dir: &Path,
    labels: &[String],
    method: &Method,
    seed: u64,
    device: &B::Device,
) -> Result<LoadedModel<B>, ModelError> {
    let config = BertConfig::from_file(&dir.join("config.json"))?;
    if quant::is_quantized_config(&config.raw) {
        return Err(ModelError::QuantizedModel {
            path: dir.to_path_buf(),
            method: quant::QUANT_METHOD.into(),
            message: "its weights were rounded to int8 for serving; train from the f32 model \
                      it was made from"
                .into(),
        });
    }
    let lora = match method {
        Method::Full => None,
        Method::Lora(spec) => Some(LoraConfig::from_spec(spec)?),
    };
    let mut weights = Weights::from_dir(dir)?;
    let (model, head) = load::build_classifier(&config, &mut weights, labels.len(), seed, device)?;
    let model = match lora {
        None => model,
        Some(cfg) => apply_lora(model, &cfg, seed),
    };
    Ok(LoadedModel {
        model,
        config,
        labels: labels.to_vec(),
        head,
    })
}

/// Loads an exported classifier (labels from its `config.json` `id2label`) for `predict`/`eval`.
pub fn load_for_inference<B: Backend>(
    dir: &Path,
    device: &B::Device,
) -> Result<LoadedModel<B>, ModelError> {
    let path = dir.join("config.json");
    let config = BertConfig::from_file(&path)?;
    let labels = config.labels().ok_or_else(|| ModelError::Config {
        path: path.clone(),
        message: "no id2label with ids 0..n: this is not a fine-tuned classifier \
                  (train one first, or pass the labels)"
            .into(),
    })?;
    let mut weights = Weights::from_dir(dir)?;
    let (model, head) = load::build_classifier(&config, &mut weights, labels.len(), 0, device)?;
    if head != HeadSource::Checkpoint {
        return Err(ModelError::MissingTensor {
            path: dir.join("model.safetensors"),
            name: "classifier.weight".into(),
            alt: format!(
                "a [{}, {}] classifier head",
                labels.len(),
                config.hidden_size
            ),
        });
    }
    Ok(LoadedModel {
        model,
        config,
        labels,
        head,
    })
}

/// Counts of (trainable, all) parameters of any model: trainable = requiring grad on this
/// backend (so a model on a plain backend counts none as trainable).
pub fn param_counts<B: Backend, M: Module<B>>(model: &M) -> (usize, usize) {
    use burn::module::{ModuleVisitor, Param};
    use burn::tensor::Tensor;
    struct Count(usize, usize);
    impl<B: Backend> ModuleVisitor<B> for Count {
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<B, D>>) {
            let n = p.shape().num_elements();
            self.1 += n;
            if p.is_require_grad() {
                self.0 += n;
            }
        }
    }
    let mut c = Count(0, 0);
    model.visit(&mut c);
    (c.0, c.1)
}

/// Freezes embeddings and encoder, and attaches LoRA adapters to the targeted linear layers.
/// The pooler and classifier stay trainable.
pub fn apply_lora<B: Backend>(
    mut model: BertClassifier<B>,
    cfg: &LoraConfig,
    seed: u64,
) -> BertClassifier<B> {
    model.bert.embeddings = model.bert.embeddings.no_grad();
    model.bert.layers = model
        .bert
        .layers
        .into_iter()
        .enumerate()
        .map(|(n, layer)| {
            let mut l = layer.no_grad();
            // One stream per layer and module, so adding a target does not shift the others.
            let adapt = |lin: lora::AdaptedLinear<B>, idx: usize| {
                let name = lora::LAYER_LINEARS[idx];
                if cfg.targets_module(name) {
                    let mut rng = SeededRng::new(seed, 1000 + (n as u64) * 16 + idx as u64);
                    lin.adapt(cfg, &mut rng)
                } else {
                    lin
                }
            };
            l.attention.query = adapt(l.attention.query, 0);
            l.attention.key = adapt(l.attention.key, 1);
            l.attention.value = adapt(l.attention.value, 2);
            l.attention.output_dense = adapt(l.attention.output_dense, 3);
            l.intermediate = adapt(l.intermediate, 4);
            l.output = adapt(l.output, 5);
            l
        })
        .collect();
    model
}
