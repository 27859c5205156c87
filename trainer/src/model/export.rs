//! Writing a fine-tuned classifier as a Hugging Face `BertForSequenceClassification` directory:
//! `model.safetensors` (f32, HF tensor names with the `bert.` prefix, linear weights `[out, in]`,
//! LoRA merged), `config.json` (input config plus architectures, label maps, num_labels,
//! problem_type) and the tokenizer files copied from the input model. Every file is written to
//! a temp file, fsynced and renamed, so a crash never leaves a half-written file in place.

use std::borrow::Cow;
use std::fs::File;
use std::io::Write;
use std::path::Path;

use burn::nn::{Embedding, LayerNorm, Linear};
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;
use safetensors::{Dtype, View};

use super::bert::BertClassifier;
use super::config::BertConfig;
use super::error::ModelError;
use super::lora::AdaptedLinear;

/// Tokenizer files copied from the input model when present (`tokenizer.json` is required).
pub const TOKENIZER_FILES: [&str; 4] = [
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.txt",
    "special_tokens_map.json",
];

/// One f32 tensor to serialise.
pub struct F32Tensor {
    pub shape: Vec<usize>,
    pub bytes: Vec<u8>,
}

impl F32Tensor {
    /// An f32 tensor of `shape` from row-major `values`.
    pub fn from_values(shape: Vec<usize>, values: &[f32]) -> Self {
        F32Tensor {
            shape,
            bytes: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        }
    }
}

impl View for &F32Tensor {
    fn dtype(&self) -> Dtype {
        Dtype::F32
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.bytes)
    }
    fn data_len(&self) -> usize {
        self.bytes.len()
    }
}

fn values<B: Backend, const D: usize>(t: Tensor<B, D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .into_vec::<f32>()
        .expect("converted to f32 above")
}

/// The model's tensors under HF `BertForSequenceClassification` names, LoRA merged.
pub fn hf_tensors<B: Backend>(model: &BertClassifier<B>) -> Vec<(String, F32Tensor)> {
    let mut out = Vec::new();
    let mut linear = |name: &str, weight: Tensor<B, 2>, bias: Option<Tensor<B, 1>>| {
        let [d_in, d_out] = weight.dims();
        // burn [in, out] → HF [out, in]
        let w = values(weight.transpose());
        out.push((
            format!("{name}.weight"),
            F32Tensor::from_values(vec![d_out, d_in], &w),
        ));
        if let Some(b) = bias {
            out.push((
                format!("{name}.bias"),
                F32Tensor::from_values(vec![d_out], &values(b)),
            ));
        }
    };
    let plain = |l: &Linear<B>| (l.weight.val(), l.bias.as_ref().map(|b| b.val()));
    let adapted = |l: &AdaptedLinear<B>| (l.merged_weight(), l.base.bias.as_ref().map(|b| b.val()));

    let bert = &model.bert;
    for (n, layer) in bert.layers.iter().enumerate() {
        let p = format!("bert.encoder.layer.{n}");
        let a = &layer.attention;
        for (name, lin) in [
            ("attention.self.query", &a.query),
            ("attention.self.key", &a.key),
            ("attention.self.value", &a.value),
            ("attention.output.dense", &a.output_dense),
            ("intermediate.dense", &layer.intermediate),
            ("output.dense", &layer.output),
        ] {
            let (w, b) = adapted(lin);
            linear(&format!("{p}.{name}"), w, b);
        }
    }
    let (w, b) = plain(&bert.pooler);
    linear("bert.pooler.dense", w, b);
    let (w, b) = plain(&model.classifier);
    linear("classifier", w, b);

    let mut push_ln = |name: &str, ln: &LayerNorm<B>| {
        let g = ln.gamma.val();
        let d = g.dims()[0];
        out.push((
            format!("{name}.weight"),
            F32Tensor::from_values(vec![d], &values(g)),
        ));
        if let Some(b) = &ln.beta {
            out.push((
                format!("{name}.bias"),
                F32Tensor::from_values(vec![d], &values(b.val())),
            ));
        }
    };
    push_ln("bert.embeddings.LayerNorm", &bert.embeddings.layer_norm);
    for (n, layer) in bert.layers.iter().enumerate() {
        let p = format!("bert.encoder.layer.{n}");
        push_ln(
            &format!("{p}.attention.output.LayerNorm"),
            &layer.attention.output_layer_norm,
        );
        push_ln(&format!("{p}.output.LayerNorm"), &layer.output_layer_norm);
    }
    let emb = |e: &Embedding<B>| {
        let w = e.weight.val();
        let dims = w.dims().to_vec();
        F32Tensor::from_values(dims, &values(w))
    };
    let e = &bert.embeddings;
    out.push((
        "bert.embeddings.word_embeddings.weight".into(),
        emb(&e.word_embeddings),
    ));
    out.push((
        "bert.embeddings.position_embeddings.weight".into(),
        emb(&e.position_embeddings),
    ));
    out.push((
        "bert.embeddings.token_type_embeddings.weight".into(),
        emb(&e.token_type_embeddings),
    ));
    out
}

/// Writes `bytes` to `path` atomically: temp file in the same dir, fsync, rename, fsync dir.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ModelError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        if let Ok(d) = File::open(dir) {
            // Persists the rename; not all filesystems allow fsync on a directory.
            let _ = d.sync_all();
        }
        Ok(())
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        ModelError::io(path, e)
    })
}

/// Exports `model` (LoRA merged) with `labels` (class-id order) to `out_dir`, copying the
/// tokenizer files from `src_dir` (the input model directory).
pub fn export_model<B: Backend>(
    model: &BertClassifier<B>,
    config: &BertConfig,
    labels: &[String],
    src_dir: &Path,
    out_dir: &Path,
) -> Result<(), ModelError> {
    if labels.len() != model.num_labels() {
        return Err(ModelError::Invalid(format!(
            "export: {} labels given for a head with {} outputs",
            labels.len(),
            model.num_labels()
        )));
    }
    let tensors = hf_tensors(model);
    let bytes = serialize(tensors.iter().map(|(n, t)| (n.as_str(), t)), out_dir)?;
    write_model_dir(&bytes, &config.export_json(labels), src_dir, out_dir)
}

/// Serialises named tensors as a `model.safetensors` file's bytes (`out_dir` names it in errors).
pub fn serialize<'a, V: View + 'a>(
    tensors: impl IntoIterator<Item = (&'a str, V)>,
    out_dir: &Path,
) -> Result<Vec<u8>, ModelError> {
    let metadata = Some(
        [("format".to_string(), "pt".to_string())]
            .into_iter()
            .collect(),
    );
    safetensors::serialize(tensors, metadata).map_err(|e| ModelError::Safetensors {
        path: out_dir.join("model.safetensors"),
        message: e.to_string(),
    })
}

/// Writes a model directory: `model.safetensors` (`weights`), `config.json` and the tokenizer
/// files of `src_dir`, each atomically.
pub fn write_model_dir(
    weights: &[u8],
    config: &serde_json::Value,
    src_dir: &Path,
    out_dir: &Path,
) -> Result<(), ModelError> {
    std::fs::create_dir_all(out_dir).map_err(|e| ModelError::io(out_dir, e))?;
    write_atomic(&out_dir.join("model.safetensors"), weights)?;
    let cfg = serde_json::to_vec_pretty(config).expect("JSON value serialises");
    write_atomic(&out_dir.join("config.json"), &cfg)?;
    for name in TOKENIZER_FILES {
        let src = src_dir.join(name);
        if !src.is_file() {
            if name == "tokenizer.json" {
                return Err(ModelError::Io {
                    path: src,
                    source: std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        "tokenizer.json is required",
                    ),
                });
            }
            continue;
        }
        let bytes = std::fs::read(&src).map_err(|e| ModelError::io(&src, e))?;
        write_atomic(&out_dir.join(name), &bytes)?;
    }
    Ok(())
}
