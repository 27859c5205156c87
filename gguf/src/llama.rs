//! Llama-family GGUF files as Hugging Face models: the config from `llama.*` metadata, tensor
//! names mapped both ways, and llama.cpp's rotary reordering of q/k rows undone (and redone for
//! export). llama.cpp's convert script turns each head's rows `[first half; second half]` of
//! q_proj and k_proj into pairs `(r0, r_half), (r1, r_half+1), ...`, the layout of its
//! interleaved rotary kernel; Hugging Face's rotate-half layout needs them back.

use crate::error::{GgufError, Result};
use crate::read::{Gguf, GgufFile};
use crate::types::MetaValue;
use serde_json::{json, Value};
use std::path::Path;

/// Per-block tensors: GGUF name part, Hugging Face name part.
const BLOCK: &[(&str, &str)] = &[
    ("attn_q", "self_attn.q_proj"),
    ("attn_k", "self_attn.k_proj"),
    ("attn_v", "self_attn.v_proj"),
    ("attn_output", "self_attn.o_proj"),
    ("ffn_gate", "mlp.gate_proj"),
    ("ffn_up", "mlp.up_proj"),
    ("ffn_down", "mlp.down_proj"),
    ("attn_norm", "input_layernorm"),
    ("ffn_norm", "post_attention_layernorm"),
];
/// Whole-model tensors.
const GLOBAL: &[(&str, &str)] = &[
    ("token_embd", "model.embed_tokens"),
    ("output_norm", "model.norm"),
    ("output", "lm_head"),
];

/// The Hugging Face name of llama GGUF tensor `name` (`blk.3.attn_q.weight` →
/// `model.layers.3.self_attn.q_proj.weight`), if it is one of a Llama's.
pub fn hf_name(name: &str) -> Option<String> {
    let (stem, suffix) = name.rsplit_once('.')?;
    if suffix != "weight" && suffix != "bias" {
        return None;
    }
    if let Some((_, hf)) = GLOBAL.iter().find(|(g, _)| *g == stem) {
        return Some(format!("{hf}.{suffix}"));
    }
    let rest = stem.strip_prefix("blk.")?;
    let (layer, part) = rest.split_once('.')?;
    let layer: usize = layer.parse().ok()?;
    let (_, hf) = BLOCK.iter().find(|(g, _)| *g == part)?;
    Some(format!("model.layers.{layer}.{hf}.{suffix}"))
}

/// The llama GGUF name of Hugging Face tensor `name` (the inverse of [`hf_name`]).
pub fn gguf_name(name: &str) -> Option<String> {
    let (stem, suffix) = name.rsplit_once('.')?;
    if suffix != "weight" && suffix != "bias" {
        return None;
    }
    if let Some((g, _)) = GLOBAL.iter().find(|(_, hf)| *hf == stem) {
        return Some(format!("{g}.{suffix}"));
    }
    let rest = stem.strip_prefix("model.layers.")?;
    let (layer, part) = rest.split_once('.')?;
    let layer: usize = layer.parse().ok()?;
    let (g, _) = BLOCK.iter().find(|(_, hf)| *hf == part)?;
    Some(format!("blk.{layer}.{g}.{suffix}"))
}

/// Rows of a `[rows, cols]` q/k weight (or a `[rows]` bias, cols = 1) from llama.cpp's rotary
/// order back to Hugging Face's, for `n_head` heads (k_proj: the KV head count).
pub fn unpermute_rows(data: &[f32], cols: usize, n_head: usize) -> Vec<f32> {
    reorder(data, cols, n_head, false)
}

/// Rows from Hugging Face's order to llama.cpp's (the inverse of [`unpermute_rows`]).
pub fn permute_rows(data: &[f32], cols: usize, n_head: usize) -> Vec<f32> {
    reorder(data, cols, n_head, true)
}

fn reorder(data: &[f32], cols: usize, n_head: usize, to_gguf: bool) -> Vec<f32> {
    let rows = data.len() / cols;
    let half = rows / n_head / 2;
    let mut out = vec![0f32; data.len()];
    for h in 0..n_head {
        for i in 0..2 {
            for j in 0..half {
                let hf = h * 2 * half + i * half + j;
                let gg = h * 2 * half + 2 * j + i;
                let (src, dst) = if to_gguf { (hf, gg) } else { (gg, hf) };
                out[dst * cols..(dst + 1) * cols]
                    .copy_from_slice(&data[src * cols..(src + 1) * cols]);
            }
        }
    }
    out
}

/// A Llama's configuration, as GGUF metadata declares it.
#[derive(Debug, Clone, PartialEq)]
pub struct LlamaConfig {
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub num_key_value_heads: usize,
    pub head_dim: usize,
    pub max_position_embeddings: usize,
    pub rms_norm_eps: f64,
    pub rope_theta: f64,
    /// The factor of linear rope scaling, if any.
    pub rope_scaling_linear: Option<f64>,
    pub vocab_size: usize,
    /// No `output.weight`: the LM head is the embedding.
    pub tie_word_embeddings: bool,
    pub bos_token_id: Option<u64>,
    pub eos_token_id: Option<u64>,
    pub pad_token_id: Option<u64>,
}

impl LlamaConfig {
    /// The config of a `general.architecture = llama` file.
    pub fn from_gguf(g: &Gguf) -> Result<Self> {
        let arch = g.get_str("general.architecture")?.unwrap_or("");
        if arch != "llama" {
            return Err(GgufError::Unsupported(format!(
                "general.architecture {arch:?}: only \"llama\" GGUF files are read"
            )));
        }
        let req = |key: &str| -> Result<usize> {
            let v = g.get_u64(key)?.ok_or_else(|| GgufError::Metadata {
                key: key.into(),
                why: "missing".into(),
            })?;
            usize::try_from(v)
                .ok()
                .filter(|&v| v > 0)
                .ok_or_else(|| GgufError::Metadata {
                    key: key.into(),
                    why: format!("{v} is not a usable size"),
                })
        };
        let hidden_size = req("llama.embedding_length")?;
        let heads = req("llama.attention.head_count")?;
        let kv_heads = match g.get_u64("llama.attention.head_count_kv")? {
            Some(_) => req("llama.attention.head_count_kv")?,
            None => heads,
        };
        let head_dim = hidden_size / heads;
        if !hidden_size.is_multiple_of(heads)
            || !heads.is_multiple_of(kv_heads)
            || !head_dim.is_multiple_of(2)
        {
            return Err(GgufError::Unsupported(format!(
                "hidden size {hidden_size} with {heads} heads and {kv_heads} KV heads"
            )));
        }
        if let Some(rot) = g.get_u64("llama.rope.dimension_count")? {
            if rot != head_dim as u64 {
                return Err(GgufError::Unsupported(format!(
                    "partial rotary embeddings ({rot} of {head_dim} head dimensions)"
                )));
            }
        }
        let rope_scaling_linear = match g.get_str("llama.rope.scaling.type")? {
            None | Some("none") => None,
            Some("linear") => Some(float(g, "llama.rope.scaling.factor")?.unwrap_or(1.0)),
            Some(other) => {
                return Err(GgufError::Unsupported(format!(
                    "rope scaling {other:?} (none and linear are)"
                )))
            }
        };
        let vocab_size = match g.get_u64("llama.vocab_size")? {
            Some(_) => req("llama.vocab_size")?,
            None => g
                .get_array("tokenizer.ggml.tokens")?
                .map(<[_]>::len)
                .or_else(|| g.tensor("token_embd.weight").map(|t| t.shape()[0]))
                .ok_or_else(|| GgufError::Metadata {
                    key: "llama.vocab_size".into(),
                    why: "missing, and no tokenizer.ggml.tokens to count".into(),
                })?,
        };
        // Each block has 9 tensors: a count past the file's is corrupt, not a model to list.
        let num_hidden_layers = req("llama.block_count")?;
        if num_hidden_layers > g.tensors().len() / 9 {
            return Err(GgufError::Metadata {
                key: "llama.block_count".into(),
                why: format!(
                    "{num_hidden_layers} blocks, but the file has {} tensors",
                    g.tensors().len()
                ),
            });
        }
        Ok(Self {
            hidden_size,
            intermediate_size: req("llama.feed_forward_length")?,
            num_hidden_layers,
            num_attention_heads: heads,
            num_key_value_heads: kv_heads,
            head_dim,
            max_position_embeddings: req("llama.context_length")?,
            rms_norm_eps: float(g, "llama.attention.layer_norm_rms_epsilon")?.unwrap_or(1e-5),
            rope_theta: float(g, "llama.rope.freq_base")?.unwrap_or(10_000.0),
            rope_scaling_linear,
            vocab_size,
            tie_word_embeddings: g.tensor("output.weight").is_none(),
            bos_token_id: g.get_u64("tokenizer.ggml.bos_token_id")?,
            eos_token_id: g.get_u64("tokenizer.ggml.eos_token_id")?,
            pad_token_id: g.get_u64("tokenizer.ggml.padding_token_id")?,
        })
    }

    /// The config of a Hugging Face Llama `config.json` (`model_type: llama`), the inverse of
    /// [`LlamaConfig::to_hf_json`]: HF's defaults where a field is optional. `Err` is a
    /// one-line reason (the caller names the file).
    pub fn from_hf_json(v: &Value) -> std::result::Result<Self, String> {
        let model_type = v["model_type"].as_str().unwrap_or("");
        if model_type != "llama" {
            return Err(format!(
                "model_type {model_type:?}: this loader reads \"llama\" checkpoints"
            ));
        }
        let size = |key: &str| -> std::result::Result<Option<usize>, String> {
            match &v[key] {
                Value::Null => Ok(None),
                x => x
                    .as_u64()
                    .filter(|&n| n > 0)
                    .map(|n| Some(n as usize))
                    .ok_or_else(|| format!("{key} is {x}, expected a positive integer")),
            }
        };
        let req = |key: &str| size(key)?.ok_or_else(|| format!("{key} is missing"));
        let hidden_size = req("hidden_size")?;
        let heads = req("num_attention_heads")?;
        let kv_heads = size("num_key_value_heads")?.unwrap_or(heads);
        let head_dim = size("head_dim")?.unwrap_or(hidden_size / heads);
        if !heads.is_multiple_of(kv_heads) || !head_dim.is_multiple_of(2) {
            return Err(format!(
                "{heads} heads over {kv_heads} KV heads of dimension {head_dim} is not a Llama shape"
            ));
        }
        if let Some(act) = v["hidden_act"].as_str().filter(|a| *a != "silu") {
            return Err(format!("hidden_act {act:?}: only \"silu\" is implemented"));
        }
        for bias in ["attention_bias", "mlp_bias"] {
            if v[bias].as_bool() == Some(true) {
                return Err(format!(
                    "{bias}: biased Llama projections are not implemented"
                ));
            }
        }
        // transformers 5 writes `rope_parameters` (theta and scaling in one object); older
        // configs a top-level `rope_theta` and `rope_scaling`.
        let rope = match &v["rope_parameters"] {
            Value::Null => &v["rope_scaling"],
            p => p,
        };
        let rope_theta = v["rope_theta"]
            .as_f64()
            .or(rope["rope_theta"].as_f64())
            .unwrap_or(10_000.0);
        let rope_scaling_linear = match rope {
            Value::Null => None,
            s => match s["rope_type"].as_str().or(s["type"].as_str()) {
                Some("linear") => Some(s["factor"].as_f64().unwrap_or(1.0)),
                Some("default") | None => None,
                Some(other) => {
                    return Err(format!(
                        "rope_scaling {other:?}: only linear is implemented"
                    ))
                }
            },
        };
        let id = |key: &str| v[key].as_u64().or_else(|| v[key][0].as_u64());
        Ok(Self {
            hidden_size,
            intermediate_size: req("intermediate_size")?,
            num_hidden_layers: req("num_hidden_layers")?,
            num_attention_heads: heads,
            num_key_value_heads: kv_heads,
            head_dim,
            max_position_embeddings: size("max_position_embeddings")?.unwrap_or(2048),
            rms_norm_eps: v["rms_norm_eps"].as_f64().unwrap_or(1e-6),
            rope_theta,
            rope_scaling_linear,
            vocab_size: req("vocab_size")?,
            tie_word_embeddings: v["tie_word_embeddings"].as_bool().unwrap_or(false),
            bos_token_id: id("bos_token_id"),
            eos_token_id: id("eos_token_id"),
            pad_token_id: id("pad_token_id"),
        })
    }

    /// The Hugging Face `config.json` of this model (`LlamaForCausalLM`, float32).
    pub fn to_hf_json(&self) -> Value {
        json!({
            "architectures": ["LlamaForCausalLM"],
            "model_type": "llama",
            "hidden_size": self.hidden_size,
            "intermediate_size": self.intermediate_size,
            "num_hidden_layers": self.num_hidden_layers,
            "num_attention_heads": self.num_attention_heads,
            "num_key_value_heads": self.num_key_value_heads,
            "head_dim": self.head_dim,
            "max_position_embeddings": self.max_position_embeddings,
            "rms_norm_eps": self.rms_norm_eps,
            "rope_theta": self.rope_theta,
            "rope_scaling": self.rope_scaling_linear.map(|f| json!({"rope_type": "linear", "factor": f})),
            "vocab_size": self.vocab_size,
            "tie_word_embeddings": self.tie_word_embeddings,
            "bos_token_id": self.bos_token_id,
            "eos_token_id": self.eos_token_id,
            "pad_token_id": self.pad_token_id,
            "hidden_act": "silu",
            "attention_bias": false,
            "mlp_bias": false,
            "torch_dtype": "float32",
        })
    }

    /// The `general.architecture` and `llama.*` metadata that [`LlamaConfig::from_gguf`] reads
    /// back as this config (for export; tied embeddings are declared by leaving out
    /// `output.weight`, special token ids by the tokenizer's keys).
    pub fn to_gguf_metadata(&self) -> Vec<(String, MetaValue)> {
        let u = |v: usize| MetaValue::U32(v as u32);
        let mut out = vec![
            ("general.architecture", MetaValue::String("llama".into())),
            ("llama.block_count", u(self.num_hidden_layers)),
            ("llama.context_length", u(self.max_position_embeddings)),
            ("llama.embedding_length", u(self.hidden_size)),
            ("llama.feed_forward_length", u(self.intermediate_size)),
            ("llama.attention.head_count", u(self.num_attention_heads)),
            ("llama.attention.head_count_kv", u(self.num_key_value_heads)),
            (
                "llama.rope.freq_base",
                MetaValue::F32(self.rope_theta as f32),
            ),
            (
                "llama.attention.layer_norm_rms_epsilon",
                MetaValue::F32(self.rms_norm_eps as f32),
            ),
            ("llama.rope.dimension_count", u(self.head_dim)),
            ("llama.vocab_size", u(self.vocab_size)),
        ];
        if let Some(f) = self.rope_scaling_linear {
            out.push((
                "llama.rope.scaling.type",
                MetaValue::String("linear".into()),
            ));
            out.push(("llama.rope.scaling.factor", MetaValue::F32(f as f32)));
        }
        out.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
    }

    /// Every tensor a Llama of this config has: Hugging Face name and shape.
    pub fn hf_tensors(&self) -> Vec<(String, Vec<usize>)> {
        let (h, f, hd) = (self.hidden_size, self.intermediate_size, self.head_dim);
        let (q, kv) = (self.num_attention_heads * hd, self.num_key_value_heads * hd);
        let mut out = vec![(
            "model.embed_tokens.weight".to_string(),
            vec![self.vocab_size, h],
        )];
        for l in 0..self.num_hidden_layers {
            let p = |s: &str| format!("model.layers.{l}.{s}.weight");
            out.extend([
                (p("self_attn.q_proj"), vec![q, h]),
                (p("self_attn.k_proj"), vec![kv, h]),
                (p("self_attn.v_proj"), vec![kv, h]),
                (p("self_attn.o_proj"), vec![h, q]),
                (p("mlp.gate_proj"), vec![f, h]),
                (p("mlp.up_proj"), vec![f, h]),
                (p("mlp.down_proj"), vec![h, f]),
                (p("input_layernorm"), vec![h]),
                (p("post_attention_layernorm"), vec![h]),
            ]);
        }
        out.push(("model.norm.weight".into(), vec![h]));
        if !self.tie_word_embeddings {
            out.push(("lm_head.weight".into(), vec![self.vocab_size, h]));
        }
        out
    }
}

/// Number `key`; an f32 (as llama.cpp stores floats: rms eps 1e-5 is 9.99999974738e-06) as
/// the shortest decimal that is that f32, so configs read as the original `config.json` did.
fn float(g: &Gguf, key: &str) -> Result<Option<f64>> {
    Ok(match g.get(key) {
        Some(MetaValue::F32(v)) => v.to_string().parse().ok(),
        _ => g.get_f64(key)?,
    })
}

/// A llama GGUF file read as a Hugging Face Llama: config, and tensors by Hugging Face name.
pub struct LlamaGguf {
    pub file: GgufFile,
    pub config: LlamaConfig,
}

impl LlamaGguf {
    /// Opens `path` and checks, without reading tensor data, that every tensor a Llama of its
    /// config needs is there with the right shape and a type that dequantises.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let file = GgufFile::open(path)?;
        let config = LlamaConfig::from_gguf(&file.header)?;
        check_tensors(&file.header, &config)?;
        Ok(Self { file, config })
    }

    /// Hugging Face tensor `hf` as f32 with its shape, q/k rows in Hugging Face order.
    pub fn tensor(&mut self, hf: &str) -> Result<(Vec<usize>, Vec<f32>)> {
        let name = gguf_name(hf).ok_or_else(|| GgufError::NoTensor(hf.into()))?;
        let shape = self
            .file
            .header
            .tensor(&name)
            .ok_or_else(|| GgufError::NoTensor(name.clone()))?
            .shape();
        let data = self.file.tensor_f32(&name)?;
        let cols = shape[1..].iter().product::<usize>().max(1);
        let data = if hf.contains("self_attn.q_proj") {
            unpermute_rows(&data, cols, self.config.num_attention_heads)
        } else if hf.contains("self_attn.k_proj") {
            unpermute_rows(&data, cols, self.config.num_key_value_heads)
        } else {
            data
        };
        Ok((shape, data))
    }
}

/// Every tensor of `cfg` present in `g` with its shape and a dequantisable type.
pub fn check_tensors(g: &Gguf, cfg: &LlamaConfig) -> Result<()> {
    for (hf, shape) in cfg.hf_tensors() {
        let name = gguf_name(&hf).expect("every Llama tensor has a GGUF name");
        let t = g
            .tensor(&name)
            .ok_or_else(|| GgufError::NoTensor(name.clone()))?;
        if t.shape() != shape {
            return Err(GgufError::BadTensor {
                tensor: name,
                why: format!("shape {:?}, the config needs {shape:?}", t.shape()),
            });
        }
        if !t.ty.dequantizable() {
            return Err(GgufError::UnsupportedType {
                tensor: name,
                ty: t.ty,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{GgufWriter, WriteType};

    #[test]
    fn an_exported_llama_reads_back_as_itself() {
        let cfg = LlamaConfig {
            hidden_size: 64,
            intermediate_size: 96,
            num_hidden_layers: 2,
            num_attention_heads: 4,
            num_key_value_heads: 2,
            head_dim: 16,
            max_position_embeddings: 256,
            rms_norm_eps: 1e-6,
            rope_theta: 500_000.0,
            rope_scaling_linear: Some(2.0),
            vocab_size: 40,
            tie_word_embeddings: false,
            bos_token_id: None,
            eos_token_id: None,
            pad_token_id: None,
        };
        let mut w = GgufWriter::new();
        for (k, v) in cfg.to_gguf_metadata() {
            w.metadata(k, v).unwrap();
        }
        let mut originals = Vec::new();
        for (i, (hf, shape)) in cfg.hf_tensors().into_iter().enumerate() {
            let n: usize = shape.iter().product();
            let v: Vec<f32> = (0..n)
                .map(|j| ((i * 131 + j * 7) % 97) as f32 / 97.0)
                .collect();
            let heads = if hf.contains("q_proj") { 4 } else { 2 };
            let stored = if hf.contains("q_proj") || hf.contains("k_proj") {
                permute_rows(&v, shape[1], heads)
            } else {
                v.clone()
            };
            w.tensor(gguf_name(&hf).unwrap(), &shape, &stored, WriteType::F32)
                .unwrap();
            originals.push((hf, shape, v));
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tiny.gguf");
        w.write(&path).unwrap();
        let mut back = LlamaGguf::open(&path).unwrap();
        assert_eq!(back.config, cfg);
        for (hf, shape, v) in originals {
            assert_eq!(back.tensor(&hf).unwrap(), (shape, v), "{hf}");
        }
    }

    #[test]
    fn hf_config_json_reads_back() {
        let cfg = LlamaConfig {
            hidden_size: 64,
            intermediate_size: 96,
            num_hidden_layers: 2,
            num_attention_heads: 4,
            num_key_value_heads: 2,
            head_dim: 16,
            max_position_embeddings: 256,
            rms_norm_eps: 1e-6,
            rope_theta: 500_000.0,
            rope_scaling_linear: Some(2.0),
            vocab_size: 40,
            tie_word_embeddings: true,
            bos_token_id: Some(1),
            eos_token_id: Some(2),
            pad_token_id: None,
        };
        assert_eq!(
            LlamaConfig::from_hf_json(&cfg.to_hf_json()),
            Ok(cfg.clone())
        );
        let mut gpt2 = cfg.to_hf_json();
        gpt2["model_type"] = json!("gpt2");
        let e = LlamaConfig::from_hf_json(&gpt2).unwrap_err();
        assert!(e.contains("\"gpt2\""), "{e}");
        let mut bad = cfg.to_hf_json();
        bad["num_key_value_heads"] = json!(3);
        assert!(LlamaConfig::from_hf_json(&bad).is_err());
    }

    #[test]
    fn names_map_both_ways() {
        for (g, hf) in [
            (
                "blk.12.attn_q.weight",
                "model.layers.12.self_attn.q_proj.weight",
            ),
            (
                "blk.0.ffn_down.weight",
                "model.layers.0.mlp.down_proj.weight",
            ),
            (
                "blk.3.ffn_norm.weight",
                "model.layers.3.post_attention_layernorm.weight",
            ),
            (
                "blk.3.attn_norm.weight",
                "model.layers.3.input_layernorm.weight",
            ),
            ("token_embd.weight", "model.embed_tokens.weight"),
            ("output_norm.weight", "model.norm.weight"),
            ("output.weight", "lm_head.weight"),
        ] {
            assert_eq!(hf_name(g).as_deref(), Some(hf));
            assert_eq!(gguf_name(hf).as_deref(), Some(g));
        }
        assert_eq!(hf_name("blk.x.attn_q.weight"), None);
        assert_eq!(hf_name("rope_freqs.weight"), None);
    }

    #[test]
    fn unpermute_interleaves_back_into_halves() {
        // 2 heads of dim 4, one column: llama.cpp order per head is (0, 2, 1, 3).
        let hf: Vec<f32> = (0..8).map(|v| v as f32).collect();
        let gg = permute_rows(&hf, 1, 2);
        assert_eq!(gg, [0., 2., 1., 3., 4., 6., 5., 7.]);
        assert_eq!(unpermute_rows(&gg, 1, 2), hf);
        // Whole rows move, columns stay.
        let hf: Vec<f32> = (0..16).map(|v| v as f32).collect();
        assert_eq!(unpermute_rows(&permute_rows(&hf, 4, 1), 4, 1), hf);
        assert_eq!(&permute_rows(&hf, 4, 1)[4..8], &hf[8..12]);
    }
}
