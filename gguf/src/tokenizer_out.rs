//! The other way: a Hugging Face byte-level BPE tokenizer (`tokenizer.json` and
//! `tokenizer_config.json`) as GGUF `tokenizer.*` metadata, for exporting a model whose
//! tokenizer came from a Hugging Face directory. The inverse of [`crate::GgufTokenizer`].

use crate::error::{GgufError, Result};
use crate::types::{MetaType, MetaValue};
use serde_json::Value;
use std::collections::HashMap;

/// GGUF `tokenizer.*` metadata for `tokenizer` (a `tokenizer.json`), with special tokens and
/// the chat template from `config` (a `tokenizer_config.json`, if there is one).
pub fn tokenizer_metadata(
    tokenizer: &Value,
    config: Option<&Value>,
) -> Result<Vec<(String, MetaValue)>> {
    let unsupported = |what: String| GgufError::Unsupported(format!("tokenizer.json: {what}"));
    let model = &tokenizer["model"];
    if model["type"] != "BPE" {
        return Err(unsupported(format!(
            "model type {} (BPE is exported)",
            model["type"]
        )));
    }
    let pre = pre_name(&tokenizer["pre_tokenizer"])
        .ok_or_else(|| unsupported(format!("pre_tokenizer {}", tokenizer["pre_tokenizer"])))?;

    // Ids from the vocabulary and the added tokens; every id below the largest must be used.
    let mut by_id: HashMap<u64, String> = HashMap::new();
    let vocab = model["vocab"]
        .as_object()
        .ok_or_else(|| unsupported("no model.vocab".into()))?;
    for (t, id) in vocab {
        let id = id
            .as_u64()
            .ok_or_else(|| unsupported(format!("vocab id of {t:?}")))?;
        by_id.insert(id, t.clone());
    }
    let mut types: HashMap<u64, i32> = HashMap::new();
    for a in tokenizer["added_tokens"].as_array().into_iter().flatten() {
        let (Some(id), Some(t)) = (a["id"].as_u64(), a["content"].as_str()) else {
            return Err(unsupported(format!("added token {a}")));
        };
        by_id.insert(id, t.to_string());
        types.insert(id, if a["special"] == true { 3 } else { 4 });
    }
    let n = by_id.len() as u64;
    let mut tokens = Vec::with_capacity(by_id.len());
    for id in 0..n {
        let t = by_id
            .remove(&id)
            .ok_or_else(|| unsupported(format!("no token has id {id} of {n}")))?;
        tokens.push(t);
    }
    let merges = model["merges"]
        .as_array()
        .ok_or_else(|| unsupported("no model.merges".into()))?
        .iter()
        .map(|m| match m {
            Value::String(s) => Ok(s.clone()),
            Value::Array(p) if p.len() == 2 && p.iter().all(Value::is_string) => Ok(format!(
                "{} {}",
                p[0].as_str().unwrap_or(""),
                p[1].as_str().unwrap_or("")
            )),
            other => Err(unsupported(format!("merge {other}"))),
        })
        .collect::<Result<Vec<_>>>()?;

    let strs = |v: Vec<String>| {
        MetaValue::Array(
            MetaType::String,
            v.into_iter().map(MetaValue::String).collect(),
        )
    };
    let mut out = vec![
        (
            "tokenizer.ggml.model".to_string(),
            MetaValue::String("gpt2".into()),
        ),
        ("tokenizer.ggml.pre".into(), MetaValue::String(pre.into())),
        (
            "tokenizer.ggml.token_type".into(),
            MetaValue::Array(
                MetaType::I32,
                (0..n)
                    .map(|id| MetaValue::I32(*types.get(&id).unwrap_or(&1)))
                    .collect(),
            ),
        ),
        ("tokenizer.ggml.merges".into(), strs(merges)),
    ];
    let id_of = |t: &str| tokens.iter().position(|x| x == t).map(|i| i as u32);
    if let Some(cfg) = config {
        for (field, key) in [
            ("bos_token", "tokenizer.ggml.bos_token_id"),
            ("eos_token", "tokenizer.ggml.eos_token_id"),
            ("unk_token", "tokenizer.ggml.unknown_token_id"),
            ("pad_token", "tokenizer.ggml.padding_token_id"),
        ] {
            // A string, or an AddedToken object with its content.
            let name = cfg[field]
                .as_str()
                .or_else(|| cfg[field]["content"].as_str());
            if let Some(id) = name.and_then(id_of) {
                out.push((key.into(), MetaValue::U32(id)));
            }
        }
        let add_bos = cfg["add_bos_token"].as_bool().unwrap_or(false);
        out.push((
            "tokenizer.ggml.add_bos_token".into(),
            MetaValue::Bool(add_bos),
        ));
        if let Some(t) = cfg["chat_template"].as_str() {
            out.push((
                "tokenizer.chat_template".into(),
                MetaValue::String(t.into()),
            ));
        }
    }
    out.insert(2, ("tokenizer.ggml.tokens".into(), strs(tokens)));
    Ok(out)
}

/// llama.cpp's name for a pre-tokenizer [`crate::GgufTokenizer`] writes.
fn pre_name(pre: &Value) -> Option<&'static str> {
    let byte_level = |v: &Value| v["type"] == "ByteLevel";
    if byte_level(pre) {
        return Some("gpt2");
    }
    let parts = pre["pretokenizers"].as_array()?;
    match parts.as_slice() {
        [d, b] if d["type"] == "Digits" && d["individual_digits"] == true && byte_level(b) => {
            Some("smollm")
        }
        [s, b]
            if s["type"] == "Split"
                && s["pattern"]["Regex"] == crate::tokenizer::LLAMA3_SPLIT
                && byte_level(b) =>
        {
            Some("llama-bpe")
        }
        _ => None,
    }
}
