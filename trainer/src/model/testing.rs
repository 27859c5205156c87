//! Tiny random BERT checkpoints for fast tests (no fixtures needed): a `config.json`, a
//! `model.safetensors` with HF `BertModel` names (no `bert.` prefix, no classifier, like
//! all-MiniLM) and a small WordPiece `tokenizer.json`, all written from a seed.

use std::path::Path;

use serde_json::json;

use super::error::ModelError;
use super::export::{write_atomic, F32Tensor};
use super::init::SeededRng;

/// The tiny model's vocabulary; ids are positions.
pub const TINY_VOCAB: [&str; 40] = [
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "a", "this", "it", "is", "was", "not",
    "i", "love", "hate", "good", "bad", "great", "terrible", "movie", "film", "fun", "boring",
    "very", "really", "and", "but", "awful", "nice", "best", "worst", "ok", "##s", "##ing", "##ly",
    ".", "!", ",", "?", "so",
];

/// The tiny model's shape.
pub const TINY_HIDDEN: usize = 16;
pub const TINY_LAYERS: usize = 2;
pub const TINY_HEADS: usize = 2;
pub const TINY_INTERMEDIATE: usize = 32;
pub const TINY_MAX_POS: usize = 64;

/// `config.json` of the tiny model.
pub fn tiny_config() -> serde_json::Value {
    json!({
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": TINY_VOCAB.len(),
        "hidden_size": TINY_HIDDEN,
        "num_hidden_layers": TINY_LAYERS,
        "num_attention_heads": TINY_HEADS,
        "intermediate_size": TINY_INTERMEDIATE,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": TINY_MAX_POS,
        "type_vocab_size": 2,
        "initializer_range": 0.02,
        "layer_norm_eps": 1e-12,
        "pad_token_id": 0,
        "position_embedding_type": "absolute"
    })
}

/// A BERT WordPiece `tokenizer.json` over [`TINY_VOCAB`] (lowercasing, BERT pre-tokenizer,
/// `[CLS] … [SEP]`).
pub fn tiny_tokenizer_json() -> serde_json::Value {
    let vocab: serde_json::Map<String, serde_json::Value> = TINY_VOCAB
        .iter()
        .enumerate()
        .map(|(i, t)| (t.to_string(), json!(i)))
        .collect();
    let added: Vec<_> = TINY_VOCAB[..5]
        .iter()
        .enumerate()
        .map(|(i, t)| {
            json!({"id": i, "content": t, "single_word": false, "lstrip": false,
                   "rstrip": false, "normalized": false, "special": true})
        })
        .collect();
    json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": {"type": "BertNormalizer", "clean_text": true,
                       "handle_chinese_chars": true, "strip_accents": null, "lowercase": true},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {"type": "BertProcessing", "sep": ["[SEP]", 3], "cls": ["[CLS]", 2]},
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": true},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100, "vocab": vocab}
    })
}

/// Writes a tiny random BERT checkpoint (config, weights, tokenizer) into `dir`.
pub fn tiny_checkpoint(dir: &Path, seed: u64) -> Result<(), ModelError> {
    std::fs::create_dir_all(dir).map_err(|e| ModelError::io(dir, e))?;
    let mut rng = SeededRng::new(seed, 0xBE27);
    let (h, i, v) = (TINY_HIDDEN, TINY_INTERMEDIATE, TINY_VOCAB.len());
    let mut tensors: Vec<(String, F32Tensor)> = Vec::new();
    let mut normal = |name: String, shape: Vec<usize>, std: f64, offset: f32| {
        let n = shape.iter().product();
        let vals: Vec<f32> = rng.normal(n, std).into_iter().map(|x| x + offset).collect();
        tensors.push((name, F32Tensor::from_values(shape, &vals)));
    };
    normal(
        "embeddings.word_embeddings.weight".into(),
        vec![v, h],
        0.5,
        0.0,
    );
    normal(
        "embeddings.position_embeddings.weight".into(),
        vec![TINY_MAX_POS, h],
        0.1,
        0.0,
    );
    normal(
        "embeddings.token_type_embeddings.weight".into(),
        vec![2, h],
        0.1,
        0.0,
    );
    normal("embeddings.LayerNorm.weight".into(), vec![h], 0.1, 1.0);
    normal("embeddings.LayerNorm.bias".into(), vec![h], 0.1, 0.0);
    for n in 0..TINY_LAYERS {
        let p = format!("encoder.layer.{n}");
        for (name, d_in, d_out) in [
            ("attention.self.query", h, h),
            ("attention.self.key", h, h),
            ("attention.self.value", h, h),
            ("attention.output.dense", h, h),
            ("intermediate.dense", h, i),
            ("output.dense", i, h),
        ] {
            normal(format!("{p}.{name}.weight"), vec![d_out, d_in], 0.3, 0.0);
            normal(format!("{p}.{name}.bias"), vec![d_out], 0.1, 0.0);
        }
        for ln in ["attention.output.LayerNorm", "output.LayerNorm"] {
            normal(format!("{p}.{ln}.weight"), vec![h], 0.1, 1.0);
            normal(format!("{p}.{ln}.bias"), vec![h], 0.1, 0.0);
        }
    }
    normal("pooler.dense.weight".into(), vec![h, h], 0.3, 0.0);
    normal("pooler.dense.bias".into(), vec![h], 0.1, 0.0);

    let st = dir.join("model.safetensors");
    let bytes = safetensors::serialize(tensors.iter().map(|(n, t)| (n.as_str(), t)), None)
        .map_err(|e| ModelError::Safetensors {
            path: st.clone(),
            message: e.to_string(),
        })?;
    write_atomic(&st, &bytes)?;
    let pretty = |v: serde_json::Value| serde_json::to_vec_pretty(&v).expect("JSON serialises");
    write_atomic(&dir.join("config.json"), &pretty(tiny_config()))?;
    write_atomic(&dir.join("tokenizer.json"), &pretty(tiny_tokenizer_json()))?;
    Ok(())
}
