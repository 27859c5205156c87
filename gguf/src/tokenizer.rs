//! The tokenizer in GGUF metadata (`tokenizer.ggml.*`) as a Hugging Face `tokenizer.json`
//! that the `tokenizers` crate loads, with the same ids as the model's own Hugging Face
//! tokenizer, and the chat template and special tokens for `tokenizer_config.json`.
//!
//! Read: `tokenizer.ggml.model = gpt2` (byte-level BPE: vocabulary, merges, token types) with
//! the pre-tokenizers llama.cpp names in `tokenizer.ggml.pre` for GPT-2, SmolLM and Llama 3; and
//! `llama`, SentencePiece pieces with scores ([`crate::tokenizer_spm`]: Llama 2, TinyLlama,
//! Mistral).

use crate::error::{GgufError, Result};
use crate::read::Gguf;
use crate::tokenizer_spm::spm_parts;
use crate::types::MetaValue;
use serde_json::{json, Map, Value};

/// llama.cpp's token types.
const CONTROL: i64 = 3;
const USER_DEFINED: i64 = 4;

/// Llama 3's split (llama.cpp's `llama-bpe`), as its tokenizer.json writes it.
pub(crate) const LLAMA3_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// The tokenizer a GGUF file carries.
#[derive(Debug, Clone)]
pub struct GgufTokenizer {
    /// A Hugging Face `tokenizer.json`.
    pub json: Value,
    /// `tokenizer.chat_template` (Jinja, as Hugging Face writes it), when present.
    pub chat_template: Option<String>,
    pub bos_token: Option<String>,
    pub eos_token: Option<String>,
    pub pad_token: Option<String>,
    pub unk_token: Option<String>,
    /// Whether the model expects BOS before each text (`tokenizer.ggml.add_bos_token`).
    pub add_bos_token: bool,
}

impl GgufTokenizer {
    pub fn from_gguf(g: &Gguf) -> Result<Self> {
        let model = g
            .get_str("tokenizer.ggml.model")?
            .ok_or_else(|| missing("tokenizer.ggml.model"))?;
        let spm = match model {
            "gpt2" => false,
            "llama" => true,
            _ => {
                return Err(GgufError::Unsupported(format!(
                    "tokenizer.ggml.model {model:?} (byte-level BPE, \"gpt2\", and SentencePiece, \"llama\", are read)"
                )))
            }
        };
        let tokens = strings(g, "tokenizer.ggml.tokens")?;
        let types = match g.get_array("tokenizer.ggml.token_type")? {
            None => vec![1; tokens.len()],
            Some(a) => a.iter().map(|v| v.as_i64().unwrap_or(1)).collect(),
        };
        if types.len() != tokens.len() {
            return Err(GgufError::Metadata {
                key: "tokenizer.ggml.token_type".into(),
                why: format!("{} types for {} tokens", types.len(), tokens.len()),
            });
        }
        let token = |key: &str| -> Result<Option<String>> {
            match g.get_u64(key)? {
                None => Ok(None),
                Some(id) => tokens
                    .get(id as usize)
                    .map(|t| Some(t.to_string()))
                    .ok_or_else(|| GgufError::Metadata {
                        key: key.into(),
                        why: format!("id {id} is past the vocabulary ({})", tokens.len()),
                    }),
            }
        };
        let bos_token = token("tokenizer.ggml.bos_token_id")?;
        // llama.cpp's default: SentencePiece models start each text with BOS, BPE ones do not.
        let add_bos_token = g.get_bool("tokenizer.ggml.add_bos_token")?.unwrap_or(spm);
        let post = match (&bos_token, add_bos_token) {
            (Some(bos), true) => {
                let id = g.get_u64("tokenizer.ggml.bos_token_id")?;
                json!({"type": "TemplateProcessing",
                       "single": [{"SpecialToken": {"id": bos, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                       "pair": [{"SpecialToken": {"id": bos, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                                {"SpecialToken": {"id": bos, "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
                       "special_tokens": {bos: {"id": bos, "ids": [id], "tokens": [bos]}}})
            }
            _ if spm => Value::Null,
            _ => {
                json!({"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true})
            }
        };
        let json = if spm {
            let parts = spm_parts(g, &tokens, &types)?;
            json!({
                "version": "1.0", "truncation": null, "padding": null,
                "added_tokens": parts.added, "normalizer": null,
                "pre_tokenizer": parts.pre_tokenizer, "post_processor": post,
                "decoder": parts.decoder, "model": parts.model,
            })
        } else {
            bpe_json(g, &tokens, &types, post)?
        };
        Ok(Self {
            json,
            chat_template: g.get_str("tokenizer.chat_template")?.map(str::to_string),
            bos_token,
            eos_token: token("tokenizer.ggml.eos_token_id")?,
            pad_token: token("tokenizer.ggml.padding_token_id")?,
            unk_token: token("tokenizer.ggml.unknown_token_id")?,
            add_bos_token,
        })
    }

    /// A Hugging Face `tokenizer_config.json` for this tokenizer (special tokens, chat
    /// template).
    pub fn tokenizer_config(&self) -> Value {
        json!({
            "tokenizer_class": "PreTrainedTokenizerFast",
            "bos_token": self.bos_token,
            "eos_token": self.eos_token,
            "pad_token": self.pad_token,
            "unk_token": self.unk_token,
            "add_bos_token": self.add_bos_token,
            "clean_up_tokenization_spaces": false,
            "chat_template": self.chat_template,
        })
    }
}

/// The `tokenizer.json` of a byte-level BPE vocabulary (`tokenizer.ggml.model = gpt2`).
fn bpe_json(g: &Gguf, tokens: &[&str], types: &[i64], post: Value) -> Result<Value> {
    let merges = strings(g, "tokenizer.ggml.merges")?;
    let pre = pre_tokenizer(g.get_str("tokenizer.ggml.pre")?)?;
    let mut vocab = Map::new();
    for (id, t) in tokens.iter().enumerate() {
        // A token listed twice keeps its first id, as Hugging Face's converters do.
        vocab.entry(t.to_string()).or_insert(json!(id));
    }
    let merges: Vec<Value> = merges
        .iter()
        .map(|m| match m.split_once(' ') {
            Some((a, b)) => Ok(json!([a, b])),
            None => Err(GgufError::Metadata {
                key: "tokenizer.ggml.merges".into(),
                why: format!("merge {m:?} is not two tokens"),
            }),
        })
        .collect::<Result<_>>()?;
    // Control and user-defined tokens match whole before the BPE runs (`<|im_start|>`).
    let mut added = Vec::new();
    for (id, (t, &ty)) in tokens.iter().zip(types).enumerate() {
        if ty == CONTROL || ty == USER_DEFINED {
            added.push(
                json!({"id": id, "content": t, "single_word": false, "lstrip": false,
                              "rstrip": false, "normalized": false, "special": ty == CONTROL}),
            );
        }
    }
    let json = json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": null,
        "pre_tokenizer": pre,
        "post_processor": post,
        "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
        "model": {
            "type": "BPE", "dropout": null, "unk_token": null,
            "continuing_subword_prefix": null, "end_of_word_suffix": null,
            "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
            "vocab": vocab, "merges": merges,
        },
    });
    Ok(json)
}

/// The pre-tokenizer llama.cpp's `tokenizer.ggml.pre` names, as Hugging Face writes it.
fn pre_tokenizer(pre: Option<&str>) -> Result<Value> {
    let byte_level = |use_regex: bool| json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": use_regex});
    Ok(match pre {
        None | Some("default" | "gpt2" | "gpt-2") => byte_level(true),
        // SmolLM's tokenizer.json: each digit on its own, then GPT-2's split.
        Some("smollm") => json!({"type": "Sequence", "pretokenizers": [
            {"type": "Digits", "individual_digits": true}, byte_level(true)]}),
        Some("llama-bpe" | "llama3") => json!({"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": LLAMA3_SPLIT}, "behavior": "Isolated", "invert": false},
            byte_level(false)]}),
        Some(other) => {
            return Err(GgufError::Unsupported(format!(
                "tokenizer.ggml.pre {other:?} (gpt2, smollm and llama-bpe are read)"
            )))
        }
    })
}

fn strings<'a>(g: &'a Gguf, key: &str) -> Result<Vec<&'a str>> {
    g.get_array(key)?
        .ok_or_else(|| missing(key))?
        .iter()
        .map(|v| {
            v.as_str().ok_or_else(|| GgufError::Metadata {
                key: key.into(),
                why: format!("expected strings, found {:?}", MetaValue::ty(v)),
            })
        })
        .collect()
}

fn missing(key: &str) -> GgufError {
    GgufError::Metadata {
        key: key.into(),
        why: "missing".into(),
    }
}
