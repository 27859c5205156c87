//! A tiny random BERT checkpoint in Hugging Face format (`config.json`, `model.safetensors`,
//! `tokenizer.json`) and a small learnable dataset, for tests where speed matters more than
//! realism (resume, concurrency, ps/logs/down). Tests about real training use MiniLM instead.
//!
//! Everything is written from fixed seeds, so two projects get byte-identical inputs.

use anyhow::Result;
use serde_json::{json, Map, Value};
use std::path::Path;

/// Shape of the tiny model.
#[derive(Debug, Clone, Copy)]
pub struct TinyConfig {
    pub hidden: usize,
    pub layers: usize,
    pub heads: usize,
    pub intermediate: usize,
    pub max_positions: usize,
}

impl Default for TinyConfig {
    fn default() -> Self {
        TinyConfig {
            hidden: 32,
            layers: 2,
            heads: 2,
            intermediate: 64,
            max_positions: 64,
        }
    }
}

const SPECIALS: [&str; 5] = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"];

/// WordPiece vocabulary: specials, single characters, and `##` continuations, so every ASCII
/// word tokenizes without `[UNK]`.
fn vocab() -> Vec<String> {
    let mut v: Vec<String> = SPECIALS.iter().map(|s| s.to_string()).collect();
    let chars: Vec<char> = ('a'..='z').chain('0'..='9').collect();
    v.extend(chars.iter().map(|c| c.to_string()));
    v.extend(
        "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
            .chars()
            .map(|c| c.to_string()),
    );
    v.extend(chars.iter().map(|c| format!("##{c}")));
    v
}

/// xorshift64*: deterministic weights without a rand dependency.
struct Rng(u64);
impl Rng {
    fn next_f32(&mut self) -> f32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D);
        // Uniform in [-1, 1).
        ((x >> 40) as f32 / (1u64 << 23) as f32) - 1.0
    }
}

/// Writes the checkpoint into `dir` (created if needed).
pub fn write_checkpoint(dir: &Path, cfg: TinyConfig, seed: u64) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let vocab = vocab();
    let (h, i, p) = (cfg.hidden, cfg.intermediate, cfg.max_positions);

    let config = json!({
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": vocab.len(),
        "hidden_size": h,
        "num_hidden_layers": cfg.layers,
        "num_attention_heads": cfg.heads,
        "intermediate_size": i,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": p,
        "type_vocab_size": 2,
        "initializer_range": 0.02,
        "layer_norm_eps": 1e-12,
        "pad_token_id": 0,
        "position_embedding_type": "absolute"
    });
    std::fs::write(
        dir.join("config.json"),
        serde_json::to_string_pretty(&config)?,
    )?;

    // (name, shape, kind): kind 0 = random N(0, ~0.02), 1 = ones, 2 = zeros.
    let mut tensors: Vec<(String, Vec<usize>, u8)> = vec![
        (
            "embeddings.word_embeddings.weight".into(),
            vec![vocab.len(), h],
            0,
        ),
        (
            "embeddings.position_embeddings.weight".into(),
            vec![p, h],
            0,
        ),
        (
            "embeddings.token_type_embeddings.weight".into(),
            vec![2, h],
            0,
        ),
        ("embeddings.LayerNorm.weight".into(), vec![h], 1),
        ("embeddings.LayerNorm.bias".into(), vec![h], 2),
    ];
    for l in 0..cfg.layers {
        let pre = format!("encoder.layer.{l}");
        for m in ["query", "key", "value"] {
            tensors.push((format!("{pre}.attention.self.{m}.weight"), vec![h, h], 0));
            tensors.push((format!("{pre}.attention.self.{m}.bias"), vec![h], 2));
        }
        tensors.push((
            format!("{pre}.attention.output.dense.weight"),
            vec![h, h],
            0,
        ));
        tensors.push((format!("{pre}.attention.output.dense.bias"), vec![h], 2));
        tensors.push((
            format!("{pre}.attention.output.LayerNorm.weight"),
            vec![h],
            1,
        ));
        tensors.push((format!("{pre}.attention.output.LayerNorm.bias"), vec![h], 2));
        tensors.push((format!("{pre}.intermediate.dense.weight"), vec![i, h], 0));
        tensors.push((format!("{pre}.intermediate.dense.bias"), vec![i], 2));
        tensors.push((format!("{pre}.output.dense.weight"), vec![h, i], 0));
        tensors.push((format!("{pre}.output.dense.bias"), vec![h], 2));
        tensors.push((format!("{pre}.output.LayerNorm.weight"), vec![h], 1));
        tensors.push((format!("{pre}.output.LayerNorm.bias"), vec![h], 2));
    }
    tensors.push(("pooler.dense.weight".into(), vec![h, h], 0));
    tensors.push(("pooler.dense.bias".into(), vec![h], 2));

    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut header = Map::new();
    let mut data: Vec<u8> = Vec::new();
    for (name, shape, kind) in &tensors {
        let n: usize = shape.iter().product();
        let start = data.len();
        for _ in 0..n {
            let x = match kind {
                0 => rng.next_f32() * 0.0346, // uniform with std 0.02
                1 => 1.0,
                _ => 0.0,
            };
            data.extend_from_slice(&x.to_le_bytes());
        }
        header.insert(
            name.clone(),
            json!({"dtype": "F32", "shape": shape, "data_offsets": [start, data.len()]}),
        );
    }
    let mut header = serde_json::to_vec(&Value::Object(header))?;
    while !header.len().is_multiple_of(8) {
        header.push(b' ');
    }
    let mut file = Vec::with_capacity(8 + header.len() + data.len());
    file.extend_from_slice(&(header.len() as u64).to_le_bytes());
    file.extend_from_slice(&header);
    file.extend_from_slice(&data);
    std::fs::write(dir.join("model.safetensors"), file)?;

    std::fs::write(
        dir.join("tokenizer.json"),
        serde_json::to_string_pretty(&tokenizer_json(&vocab))?,
    )?;
    Ok(())
}

/// A standard BERT WordPiece `tokenizer.json` over `vocab`.
fn tokenizer_json(vocab: &[String]) -> Value {
    let ids: Map<String, Value> = vocab
        .iter()
        .enumerate()
        .map(|(i, t)| (t.clone(), json!(i)))
        .collect();
    let added: Vec<Value> = SPECIALS
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
        "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true,
                       "strip_accents": null, "lowercase": true},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}},
                       {"Sequence": {"id": "A", "type_id": 0}},
                       {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}},
                     {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": "[SEP]", "type_id": 0}},
                     {"Sequence": {"id": "B", "type_id": 1}},
                     {"SpecialToken": {"id": "[SEP]", "type_id": 1}}],
            "special_tokens": {
                "[CLS]": {"id": "[CLS]", "ids": [2], "tokens": ["[CLS]"]},
                "[SEP]": {"id": "[SEP]", "ids": [3], "tokens": ["[SEP]"]}
            }
        },
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": true},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100, "vocab": ids}
    })
}

/// A learnable two-class dataset: positive rows use one word list, negative rows another.
/// Writes `rows` JSONL lines `{"text": ..., "label": "positive"|"negative"}` to `path`.
pub fn write_dataset(path: &Path, rows: usize, seed: u64) -> Result<()> {
    const POS: [&str; 8] = [
        "good",
        "great",
        "lovely",
        "happy",
        "excellent",
        "nice",
        "fun",
        "wonderful",
    ];
    const NEG: [&str; 8] = [
        "bad", "awful", "sad", "terrible", "poor", "boring", "ugly", "horrible",
    ];
    const FILL: [&str; 6] = ["the", "movie", "was", "today", "really", "day"];
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut pick = |n: usize| ((rng.next_f32() + 1.0) * 0.5 * n as f32) as usize % n;
    let mut out = String::new();
    for r in 0..rows {
        let positive = r.is_multiple_of(2);
        let words = if positive { &POS } else { &NEG };
        let text = format!(
            "{} {} {} {}",
            FILL[pick(FILL.len())],
            words[pick(words.len())],
            FILL[pick(FILL.len())],
            words[pick(words.len())]
        );
        let label = if positive { "positive" } else { "negative" };
        out.push_str(&serde_json::to_string(
            &json!({"text": text, "label": label}),
        )?);
        out.push('\n');
    }
    std::fs::write(path, out)?;
    Ok(())
}
