//! SentencePiece vocabularies in GGUF (`tokenizer.ggml.model = llama`: Llama 2, TinyLlama,
//! Mistral, Gemma-style `▁` pieces with scores) as a Hugging Face `tokenizer.json`, built the
//! way transformers' GGUF loader builds it, so the ids match what `from_pretrained(...,
//! gguf_file=...)` gives:
//!
//! - a BPE model over the pieces, with byte fallback (`<0x41>` tokens) and the unknown token;
//! - merges rebuilt from the scores (GGUF stores none for SentencePiece): every split of every
//!   piece into two pieces of the vocabulary, a piece's splits ordered by their halves' scores,
//!   then all of them by the piece's score, both orders stable and descending;
//! - a Metaspace pre-tokenizer that writes spaces as `▁` and, with `add_space_prefix`, puts
//!   one before the text's first piece only (transformers 5; its older versions prepended one to
//!   every piece between special tokens), and the matching decoder;
//! - unknown and control tokens (`<unk>`, `<s>`, `</s>`) matched whole, as special tokens; the
//!   BPE model itself has no unknown token (byte fallback covers every character).

use crate::error::{GgufError, Result};
use crate::read::Gguf;
use serde_json::{json, Map, Value};
use std::collections::{HashMap, HashSet};

/// llama.cpp's token types of the unknown token and of control tokens.
const UNKNOWN: i64 = 2;
const CONTROL: i64 = 3;
/// SentencePiece's word-boundary mark.
const SPACE: &str = "\u{2581}";

/// The `model`, `pre_tokenizer`, `decoder` and `added_tokens` of a SentencePiece tokenizer.json.
pub(crate) struct SpmParts {
    pub model: Value,
    pub pre_tokenizer: Value,
    pub decoder: Value,
    pub added: Vec<Value>,
}

pub(crate) fn spm_parts(g: &Gguf, tokens: &[&str], types: &[i64]) -> Result<SpmParts> {
    let scores: Vec<f64> = match g.get_array("tokenizer.ggml.scores")? {
        None => return Err(missing("tokenizer.ggml.scores")),
        Some(a) => a
            .iter()
            .map(|v| {
                v.as_f64().ok_or_else(|| GgufError::Metadata {
                    key: "tokenizer.ggml.scores".into(),
                    why: "expected numbers".into(),
                })
            })
            .collect::<Result<_>>()?,
    };
    if scores.len() != tokens.len() {
        return Err(GgufError::Metadata {
            key: "tokenizer.ggml.scores".into(),
            why: format!("{} scores for {} tokens", scores.len(), tokens.len()),
        });
    }
    let prefix = g
        .get_bool("tokenizer.ggml.add_space_prefix")?
        .unwrap_or(true);

    // A piece listed twice keeps its last id, as a Python dict built in order does.
    let mut vocab = Map::new();
    for (id, t) in tokens.iter().enumerate() {
        vocab.insert(t.to_string(), json!(id));
    }
    let merges: Vec<Value> = merges_from_scores(tokens, &scores)
        .into_iter()
        .map(|(a, b)| json!([a, b]))
        .collect();
    let added = tokens
        .iter()
        .zip(types)
        .enumerate()
        .filter(|(_, (_, &ty))| ty == CONTROL || ty == UNKNOWN)
        .map(|(id, (t, _))| {
            json!({"id": id, "content": t, "single_word": false, "lstrip": false,
                   "rstrip": false, "normalized": false, "special": true})
        })
        .collect();

    let pre_tokenizer = json!({"type": "Metaspace", "replacement": SPACE, "split": false,
                               "prepend_scheme": if prefix { "first" } else { "never" }});
    let mut decoders = vec![
        json!({"type": "Replace", "pattern": {"String": SPACE}, "content": " "}),
        json!({"type": "ByteFallback"}),
        json!({"type": "Fuse"}),
    ];
    if prefix {
        decoders.push(json!({"type": "Strip", "content": " ", "start": 1, "stop": 0}));
    }
    Ok(SpmParts {
        model: json!({
            "type": "BPE", "dropout": null, "unk_token": null,
            "continuing_subword_prefix": null, "end_of_word_suffix": null,
            "fuse_unk": true, "byte_fallback": true, "ignore_merges": false,
            "vocab": vocab, "merges": merges,
        }),
        pre_tokenizer,
        decoder: json!({"type": "Sequence", "decoders": decoders}),
        added,
    })
}

/// The merges a SentencePiece BPE vocabulary implies: for each distinct piece (in first-seen
/// order), every split into two pieces that are both in the vocabulary, ordered by the halves'
/// scores (left, then right, descending); then all merges by the whole piece's score,
/// descending. Both sorts are stable. Scores are the last listed for a repeated piece.
pub(crate) fn merges_from_scores(tokens: &[&str], scores: &[f64]) -> Vec<(String, String)> {
    let mut score: HashMap<&str, f64> = HashMap::new();
    let mut order: Vec<&str> = Vec::new();
    for (t, &s) in tokens.iter().zip(scores) {
        if score.insert(t, s).is_none() {
            order.push(t);
        }
    }
    let known: HashSet<&str> = tokens.iter().copied().collect();
    let mut merges: Vec<(&str, &str, f64)> = Vec::new();
    for piece in order {
        let mut local: Vec<(&str, &str, f64)> = piece
            .char_indices()
            .skip(1)
            .map(|(i, _)| piece.split_at(i))
            .filter(|(l, r)| known.contains(l) && known.contains(r))
            .map(|(l, r)| (l, r, score[piece]))
            .collect();
        local.sort_by(|a, b| {
            (score[b.0], score[b.1])
                .partial_cmp(&(score[a.0], score[a.1]))
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        merges.extend(local);
    }
    merges.sort_by(|a, b| b.2.partial_cmp(&a.2).unwrap_or(std::cmp::Ordering::Equal));
    merges
        .into_iter()
        .map(|(l, r, _)| (l.to_string(), r.to_string()))
        .collect()
}

fn missing(key: &str) -> GgufError {
    GgufError::Metadata {
        key: key.into(),
        why: "missing".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_follow_the_piece_scores_then_the_halves_scores() {
        let tokens = ["a", "b", "c", "ab", "abc", "bc"];
        let scores = [-5.0, -6.0, -7.0, -1.0, -0.5, -2.0];
        let m = merges_from_scores(&tokens, &scores);
        // abc (-0.5) is the best piece; of its splits, ab+c comes first because the left
        // halves are compared first, descending: ab (-1) > a (-5).
        assert_eq!(
            m,
            [("ab", "c"), ("a", "bc"), ("a", "b"), ("b", "c")]
                .map(|(a, b)| (a.to_string(), b.to_string()))
        );
    }

    #[test]
    fn repeated_pieces_use_the_last_score_and_multibyte_pieces_split_on_chars() {
        let tokens = ["\u{2581}", "x", "\u{2581}x", "x"];
        let scores = [-1.0, -9.0, -2.0, -0.1];
        let m = merges_from_scores(&tokens, &scores);
        assert_eq!(m, [("\u{2581}".to_string(), "x".to_string())]);
    }
}
