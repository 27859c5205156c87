//! `quantize`: a classifier directory to a new, int8 one (see [`crate::model::quant`] for the
//! format), with `quantization.json` saying what it saved and, given an eval set, what it cost.
//!
//! The new directory is built under a temporary name beside `--out` and renamed into place
//! once complete (weights, config, tokenizer, report), so `--out` is either absent or whole; the
//! source directory is only read.

use std::path::{Path, PathBuf};

use burn::tensor::backend::Backend;
use finetune_spec::contract::EvalMetrics;
use finetune_spec::digest::file_sha256;
use finetune_spec::serving::{QuantizationReport, QuantizedEval, QUANTIZATION_FILE, QUANT_SCHEMES};
use finetune_spec::DataSpec;
use safetensors::Dtype;

use crate::error::RunError;
use crate::inference::Classifier;
use crate::model::export::{hf_tensors, serialize, write_atomic, write_model_dir};
use crate::model::quant::{self, RawTensor, SCALE_SUFFIX};
use crate::model::BertConfig;

/// What `quantize` was asked to do.
pub struct QuantizeOptions {
    pub model: PathBuf,
    pub out: PathBuf,
    pub scheme: String,
    /// Score both models on this data set, when given.
    pub eval: Option<DataSpec>,
    pub batch_size: usize,
    pub max_length: usize,
}

/// Quantizes `opts.model` into `opts.out` and returns the report written there.
pub fn quantize<B: Backend>(
    opts: &QuantizeOptions,
    device: B::Device,
) -> Result<QuantizationReport, RunError> {
    if !QUANT_SCHEMES.contains(&opts.scheme.as_str()) {
        return Err(RunError::BadInput(format!(
            "unknown quantization scheme `{}`: expected one of {}",
            opts.scheme,
            QUANT_SCHEMES.join(", ")
        )));
    }
    if opts.out.exists() {
        return Err(RunError::BadInput(format!(
            "{} already exists: choose another --out (quantize never overwrites)",
            opts.out.display()
        )));
    }
    let config = BertConfig::from_file(&opts.model.join("config.json"))?;
    if quant::is_quantized_config(&config.raw) {
        return Err(RunError::BadInput(format!(
            "{}: this model is already quantized; quantize the f32 model it was made from",
            opts.model.display()
        )));
    }
    let f32_model = Classifier::<B>::load(&opts.model, opts.max_length, device.clone())?;

    let tensors = hf_tensors(&f32_model.model);
    let bytes_f32 = serialize(tensors.iter().map(|(n, t)| (n.as_str(), t)), &opts.model)?.len();
    let mut layers = 0;
    let mut embeddings = 0;
    let mut stored = Vec::with_capacity(tensors.len() * 2);
    for (name, t) in tensors {
        if !quant::is_quantized(&name, &t.shape) {
            stored.push((
                name,
                RawTensor {
                    dtype: Dtype::F32,
                    shape: t.shape,
                    bytes: t.bytes,
                },
            ));
            continue;
        }
        let values: Vec<f32> = t
            .bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let (rows, cols) = (t.shape[0], t.shape[1]);
        let (q, scales) = quant::quantize_rows(&values, rows, cols);
        if name.contains("embeddings.") {
            embeddings += 1;
        } else {
            layers += 1;
        }
        stored.push((
            format!("{name}{SCALE_SUFFIX}"),
            RawTensor {
                dtype: Dtype::F32,
                shape: vec![rows],
                bytes: scales.iter().flat_map(|s| s.to_le_bytes()).collect(),
            },
        ));
        stored.push((
            name,
            RawTensor {
                dtype: Dtype::I8,
                shape: t.shape,
                bytes: q.into_iter().map(|v| v as u8).collect(),
            },
        ));
    }
    let weights = serialize(stored.iter().map(|(n, t)| (n.as_str(), t)), &opts.out)?;

    let tmp = temp_sibling(&opts.out)?;
    let counts = (layers, embeddings, bytes_f32 as u64);
    let result =
        fill(opts, &config, &f32_model, &weights, counts, &tmp, device).and_then(|report| {
            std::fs::rename(&tmp, &opts.out).map_err(|e| RunError::output(&opts.out, e))?;
            Ok(report)
        });
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    result
}

/// Writes the quantized directory's files into `tmp` and scores it; returns the report.
fn fill<B: Backend>(
    opts: &QuantizeOptions,
    config: &BertConfig,
    f32_model: &Classifier<B>,
    weights: &[u8],
    (layers, embeddings, bytes_f32): (usize, usize, u64),
    tmp: &Path,
    device: B::Device,
) -> Result<QuantizationReport, RunError> {
    let mut cfg = config.export_json(&f32_model.labels);
    cfg["quantization_config"] = quant::config_entry();
    write_model_dir(weights, &cfg, &opts.model, tmp)?;
    let mut report = QuantizationReport {
        scheme: opts.scheme.clone(),
        layers,
        embeddings,
        bytes_f32,
        bytes_quantized: weights.len() as u64,
        eval: None,
    };
    if let Some(spec) = &opts.eval {
        let before = f32_model.evaluate(spec, opts.batch_size)?;
        let int8 = Classifier::<B>::load(tmp, opts.max_length, device)?;
        let after = int8.evaluate(spec, opts.batch_size)?;
        report.eval = Some(scored(spec, &before, &after)?);
    }
    let json = serde_json::to_vec_pretty(&report).expect("report serialises");
    write_atomic(&tmp.join(QUANTIZATION_FILE), &json)?;
    Ok(report)
}

/// Both models' scores on the same rows.
fn scored(
    spec: &DataSpec,
    before: &EvalMetrics,
    after: &EvalMetrics,
) -> Result<QuantizedEval, RunError> {
    let sha256 = file_sha256(&spec.train)
        .map_err(|e| RunError::BadInput(format!("{}: {e}", spec.train.display())))?;
    Ok(QuantizedEval {
        rows: before.samples as usize,
        sha256,
        accuracy_f32: before.accuracy,
        accuracy_quantized: after.accuracy,
        // A classifier's evaluation always has a macro-F1 (int8 serving is for classifiers).
        macro_f1_f32: before.macro_f1.unwrap_or(0.0),
        macro_f1_quantized: after.macro_f1.unwrap_or(0.0),
    })
}

/// A fresh directory beside `out` to build the new model in.
fn temp_sibling(out: &Path) -> Result<PathBuf, RunError> {
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".into());
    let tmp = parent.join(format!(".{name}.tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| RunError::output(&tmp, e))?;
    Ok(tmp)
}

/// The one line `quantize` prints.
pub fn summary(r: &QuantizationReport, out: &Path) -> String {
    let mb = |b: u64| b as f64 / 1e6;
    let mut line = format!(
        "quantized {} linear weights and {} embedding tables to int8 in {}: {:.1} MB -> {:.1} MB ({:.1} % of f32)",
        r.layers,
        r.embeddings,
        out.display(),
        mb(r.bytes_f32),
        mb(r.bytes_quantized),
        100.0 * r.size_ratio()
    );
    if let Some(e) = &r.eval {
        line.push_str(&format!(
            "; eval on {} rows: accuracy {:.4} -> {:.4}, macro-F1 {:.4} -> {:.4}",
            e.rows, e.accuracy_f32, e.accuracy_quantized, e.macro_f1_f32, e.macro_f1_quantized
        ));
    }
    line
}

/// `quantize` on the CPU backend, f32 (the reference the int8 model is scored against).
pub struct QuantizeWork(pub QuantizeOptions);

impl crate::backend::WithBackend for QuantizeWork {
    type Output = Result<QuantizationReport, RunError>;
    fn run<B: burn::tensor::backend::AutodiffBackend>(
        self,
        device: B::Device,
        _: crate::backend::Chosen,
    ) -> Self::Output {
        quantize::<B::InnerBackend>(&self.0, device)
    }
}
