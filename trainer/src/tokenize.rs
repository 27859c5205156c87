//! Tokenisation with the `tokenizers` crate from a model's `tokenizer.json`: special tokens
//! added, truncation to `max_length`, padding per batch to its longest row (the file's own
//! padding, often fixed to 128, is turned off), attention masks and token type ids, and their
//! conversion to burn `Int` tensors.

use std::path::Path;

use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use tokenizers::{Tokenizer, TruncationParams};

use crate::model::ModelError;

/// A loaded tokenizer with the run's `max_length`.
#[derive(Clone)]
pub struct TextTokenizer {
    inner: Tokenizer,
    max_length: usize,
    pad_id: u32,
}

impl std::fmt::Debug for TextTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextTokenizer")
            .field("max_length", &self.max_length)
            .field("pad_id", &self.pad_id)
            .finish()
    }
}

/// A tokenised batch, row-major `[batch, seq]`, padded to the longest row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedBatch {
    pub batch: usize,
    pub seq: usize,
    pub input_ids: Vec<i64>,
    /// 1 for tokens, 0 for padding.
    pub attention_mask: Vec<i64>,
    pub token_type_ids: Vec<i64>,
}

/// An [`EncodedBatch`] on a device.
#[derive(Debug, Clone)]
pub struct BatchTensors<B: Backend> {
    pub input_ids: Tensor<B, 2, Int>,
    pub attention_mask: Tensor<B, 2, Int>,
    pub token_type_ids: Tensor<B, 2, Int>,
}

impl TextTokenizer {
    /// Loads `tokenizer.json` from a model directory.
    pub fn from_dir(dir: &Path, max_length: usize) -> Result<Self, ModelError> {
        Self::from_file(&dir.join("tokenizer.json"), max_length)
    }

    /// Loads a `tokenizer.json` file; rows are truncated to `max_length` tokens (specials
    /// included).
    pub fn from_file(path: &Path, max_length: usize) -> Result<Self, ModelError> {
        let bytes = std::fs::read(path).map_err(|e| ModelError::io(path, e))?;
        Self::from_bytes(&bytes, max_length)
            .map_err(|e| ModelError::Tokenizer(format!("{}: {e}", path.display())))
    }

    /// Loads a tokenizer from `tokenizer.json` bytes.
    pub fn from_bytes(bytes: &[u8], max_length: usize) -> Result<Self, ModelError> {
        if max_length < 2 {
            return Err(ModelError::Invalid(format!(
                "max_length {max_length} is too small: it must leave room for [CLS] and [SEP]"
            )));
        }
        let mut inner = Tokenizer::from_bytes(bytes)
            .map_err(|e| ModelError::Tokenizer(format!("invalid tokenizer.json: {e}")))?;
        let pad_id = inner
            .get_padding()
            .map(|p| p.pad_id)
            .or_else(|| inner.token_to_id("[PAD]"))
            .unwrap_or(0);
        inner.with_padding(None);
        inner
            .with_truncation(Some(TruncationParams {
                max_length,
                ..TruncationParams::default()
            }))
            .map_err(|e| ModelError::Tokenizer(format!("cannot truncate to {max_length}: {e}")))?;
        Ok(TextTokenizer {
            inner,
            max_length,
            pad_id,
        })
    }

    /// The truncation length.
    pub fn max_length(&self) -> usize {
        self.max_length
    }

    /// The padding token id.
    pub fn pad_id(&self) -> u32 {
        self.pad_id
    }

    /// The underlying `tokenizers` tokenizer.
    pub fn inner(&self) -> &Tokenizer {
        &self.inner
    }

    /// Tokenises `texts` with special tokens, padded to the longest row.
    pub fn encode_batch(&self, texts: &[&str]) -> Result<EncodedBatch, ModelError> {
        let mut rows = Vec::with_capacity(texts.len());
        for text in texts {
            let enc = self
                .inner
                .encode(*text, true)
                .map_err(|e| ModelError::Tokenizer(format!("cannot tokenise text: {e}")))?;
            rows.push(enc);
        }
        let seq = rows
            .iter()
            .map(|r| r.get_ids().len())
            .max()
            .unwrap_or(0)
            .max(1);
        let batch = rows.len();
        let mut out = EncodedBatch {
            batch,
            seq,
            input_ids: vec![self.pad_id as i64; batch * seq],
            attention_mask: vec![0; batch * seq],
            token_type_ids: vec![0; batch * seq],
        };
        for (r, enc) in rows.iter().enumerate() {
            let base = r * seq;
            for (j, ((&id, &mask), &tt)) in enc
                .get_ids()
                .iter()
                .zip(enc.get_attention_mask())
                .zip(enc.get_type_ids())
                .enumerate()
            {
                out.input_ids[base + j] = id as i64;
                out.attention_mask[base + j] = mask as i64;
                out.token_type_ids[base + j] = tt as i64;
            }
        }
        Ok(out)
    }
}

impl EncodedBatch {
    /// The batch as burn `Int` tensors on `device`.
    pub fn to_tensors<B: Backend>(&self, device: &B::Device) -> BatchTensors<B> {
        let t = |v: &Vec<i64>| {
            Tensor::<B, 2, Int>::from_data(
                TensorData::new(v.clone(), [self.batch, self.seq]),
                device,
            )
        };
        BatchTensors {
            input_ids: t(&self.input_ids),
            attention_mask: t(&self.attention_mask),
            token_type_ids: t(&self.token_type_ids),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use finetune_fixtures::TinyBert;

    fn tiny_tokenizer_json() -> serde_json::Value {
        TinyBert::WORDS.tokenizer_json()
    }

    fn tiny(max_length: usize) -> TextTokenizer {
        let json = serde_json::to_vec(&tiny_tokenizer_json()).unwrap();
        TextTokenizer::from_bytes(&json, max_length).unwrap()
    }

    #[test]
    fn pads_to_longest_with_masks() {
        let b = tiny(16)
            .encode_batch(&["I love this MOVIE!", "bad"])
            .unwrap();
        assert_eq!((b.batch, b.seq), (2, 7));
        // [CLS] i love this movie ! [SEP] / [CLS] bad [SEP] pad...
        assert_eq!(
            b.input_ids,
            vec![2, 12, 13, 7, 19, 36, 3, 2, 16, 3, 0, 0, 0, 0]
        );
        assert_eq!(
            b.attention_mask,
            vec![1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0]
        );
        assert_eq!(b.token_type_ids, vec![0; 14]);
    }

    #[test]
    fn truncates_keeping_specials_and_maps_unknown_words() {
        let b = tiny(4)
            .encode_batch(&["i love this movie", "zebra"])
            .unwrap();
        assert_eq!(b.seq, 4);
        assert_eq!(&b.input_ids[..4], &[2, 12, 13, 3]);
        assert_eq!(&b.input_ids[4..], &[2, 1, 3, 0]);
    }

    #[test]
    fn ignores_the_files_fixed_padding_and_builds_tensors() {
        let mut json = tiny_tokenizer_json();
        json["padding"] = serde_json::json!({"strategy": {"Fixed": 128}, "direction": "Right",
            "pad_to_multiple_of": null, "pad_id": 0, "pad_type_id": 0, "pad_token": "[PAD]"});
        let tok = TextTokenizer::from_bytes(&serde_json::to_vec(&json).unwrap(), 32).unwrap();
        let b = tok.encode_batch(&["good"]).unwrap();
        assert_eq!(b.seq, 3);
        let t = b.to_tensors::<crate::backend::Cpu>(&Default::default());
        assert_eq!(t.input_ids.dims(), [1, 3]);
        assert_eq!(
            t.attention_mask
                .into_data()
                .convert::<i64>()
                .into_vec::<i64>()
                .unwrap(),
            vec![1, 1, 1]
        );
    }

    #[test]
    fn rejects_bad_input() {
        assert!(TextTokenizer::from_bytes(b"{}", 8).is_err());
        let json = serde_json::to_vec(&tiny_tokenizer_json()).unwrap();
        assert!(TextTokenizer::from_bytes(&json, 1).is_err());
    }
}
