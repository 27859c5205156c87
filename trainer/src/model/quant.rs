//! The int8 weight format of a quantized model directory, both ways.
//!
//! Every 2-D `*.weight` of a BERT classifier (the linear layers, HF `[out, in]`, and the
//! embedding tables, `[rows, hidden]`) is stored per row, symmetric: `X.weight` as `I8` and
//! `X.weight_scale` as `F32` `[rows]`, with `w[r, c] ≈ q[r, c] * scale[r]` and
//! `scale[r] = max_c |w[r, c]| / 127`. A row of a linear weight is one output channel, so this is
//! per-output-channel quantization; a row of an embedding table is one token. LayerNorm and
//! biases (1-D) stay `F32`. The names follow compressed-tensors' (`weight`, `weight_scale`).
//!
//! burn 0.21's flex backend has no int8 matmul (its `q_matmul` dequantizes on every call), so
//! [`dequantize`] restores f32 weights at load: the int8 model is smaller on disk and in the
//! image, and runs at f32 speed.

use super::torch_file::F32Tensor;
use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;

use safetensors::tensor::TensorView;
use safetensors::{Dtype, View};
use serde_json::{json, Value};

use super::error::ModelError;

/// Appended to a quantized tensor's name for its per-row scales.
pub const SCALE_SUFFIX: &str = "_scale";
/// `quantization_config.quant_method` in `config.json`: ours, not a `transformers` method.
pub const QUANT_METHOD: &str = "finetune-int8";
/// The largest magnitude of a symmetric int8 value (-128 is not used).
const QMAX: f32 = 127.0;

/// One tensor of any dtype, serialisable with `safetensors::serialize`.
pub struct RawTensor {
    pub dtype: Dtype,
    pub shape: Vec<usize>,
    pub bytes: Vec<u8>,
}

impl View for &RawTensor {
    fn dtype(&self) -> Dtype {
        self.dtype
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

/// Whether a tensor is stored as int8: the 2-D weights (linear layers and embeddings).
pub fn is_quantized(name: &str, shape: &[usize]) -> bool {
    shape.len() == 2 && name.ends_with(".weight")
}

/// `rows x cols` f32 values, row-major, as int8 values and one scale per row.
pub fn quantize_rows(values: &[f32], rows: usize, cols: usize) -> (Vec<i8>, Vec<f32>) {
    let mut q = Vec::with_capacity(values.len());
    let mut scales = Vec::with_capacity(rows);
    for row in values.chunks_exact(cols.max(1)).take(rows) {
        let absmax = row.iter().fold(0f32, |m, v| m.max(v.abs()));
        // An all-zero row keeps scale 0: every value dequantizes to 0, as it was.
        let scale = absmax / QMAX;
        let inv = if scale > 0.0 { 1.0 / scale } else { 0.0 };
        q.extend(
            row.iter()
                .map(|v| (v * inv).round().clamp(-QMAX, QMAX) as i8),
        );
        scales.push(scale);
    }
    (q, scales)
}

/// The int8 tensors of a quantized file, restored to f32, by name: every `I8` tensor with its
/// `_scale`. `floats` are the file's float tensors (scales among them; they are removed).
pub fn dequantize(
    path: &Path,
    int8: HashMap<String, TensorView<'_>>,
    floats: &mut HashMap<String, F32Tensor>,
) -> Result<HashMap<String, F32Tensor>, ModelError> {
    let bad = |name: &str, message: String| ModelError::Quantized {
        path: path.to_path_buf(),
        name: name.to_string(),
        message,
    };
    // A scale whose tensor is not int8 (a wrong dtype, or none at all) is a corrupt file.
    let orphan = floats
        .keys()
        .filter_map(|k| k.strip_suffix(SCALE_SUFFIX))
        .find(|base| !int8.contains_key(*base))
        .map(str::to_string);
    if let Some(base) = orphan {
        return Err(bad(
            &base,
            format!("has a `{base}{SCALE_SUFFIX}` scale but is not an I8 tensor (missing or another dtype)"),
        ));
    }
    let mut out = HashMap::new();
    for (name, view) in int8 {
        let shape = view.shape().to_vec();
        let [rows, cols] = shape[..] else {
            return Err(bad(
                &name,
                format!("is I8 with shape {shape:?}: only 2-D weights are quantized"),
            ));
        };
        let scale_name = format!("{name}{SCALE_SUFFIX}");
        let (scale_shape, scales) = floats.remove(&scale_name).ok_or_else(|| {
            bad(
                &name,
                format!("is I8 but its scale `{scale_name}` is missing"),
            )
        })?;
        if scale_shape != [rows] {
            return Err(bad(
                &name,
                format!(
                    "has {rows} rows but its scale has shape {scale_shape:?}, expected [{rows}]"
                ),
            ));
        }
        let q = view.data();
        let values: Vec<f32> = q
            .chunks_exact(cols.max(1))
            .zip(&scales)
            .flat_map(|(row, &s)| row.iter().map(move |&b| (b as i8) as f32 * s))
            .collect();
        out.insert(name, (shape, values));
    }
    Ok(out)
}

/// `config.json`'s `quantization_config` for this format: what a reader needs to restore the
/// weights. `transformers` does not know the method and refuses to load the directory, which is
/// the honest outcome: its weights are not in a layout it reads.
pub fn config_entry() -> Value {
    json!({
        "quant_method": QUANT_METHOD,
        "bits": 8,
        "symmetric": true,
        "strategy": "channel",
        "targets": ["Linear", "Embedding"],
        "weight_dtype": "int8",
        "scale_suffix": SCALE_SUFFIX,
        "scale_dtype": "float32",
        "not_quantized": ["LayerNorm", "bias"],
        "dequantize": "weight[r, c] = int8[r, c] * weight_scale[r]",
    })
}

/// Whether a parsed `config.json` marks a quantized model.
pub fn is_quantized_config(raw: &serde_json::Map<String, Value>) -> bool {
    raw.contains_key("quantization_config")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip_within_half_a_step() {
        let w = [0.5f32, -1.0, 0.25, 0.0, 0.0, 0.0, 3.0, 2.9, -0.01];
        let (q, s) = quantize_rows(&w, 3, 3);
        assert_eq!(q[1], -127);
        assert_eq!(s[1], 0.0, "an all-zero row keeps scale 0");
        assert_eq!(q[6], 127);
        for r in 0..3 {
            for c in 0..3 {
                let back = q[r * 3 + c] as f32 * s[r];
                assert!((back - w[r * 3 + c]).abs() <= s[r] / 2.0 + 1e-7);
            }
        }
        assert!(is_quantized("bert.pooler.dense.weight", &[4, 4]));
        assert!(!is_quantized("bert.embeddings.LayerNorm.weight", &[4]));
        assert!(!is_quantized("classifier.bias", &[2]));
    }
}
