//! The training data of a text-generation run: the rows of `data.train` (and `data.eval`, or a
//! seeded `data.eval_split` of the training rows, as the classifier path splits) read with
//! [`finetune_spec::chat::read_examples`], encoded with the model's tokenizer and chat template
//! ([`ModelAssets`]: a Hugging Face directory or a GGUF file), cut to `train.max_length`, and
//! batched per epoch ([`batch`]).
//!
//! A row that the cut leaves without a trained token (a long prompt whose reply lies past
//! `max_length`) is dropped and counted ([`LmStats::untrained`], [`warnings`]); training on it
//! would only add padding. The counts are what `run.json` and the log report.

mod batch;
mod encode;

pub use batch::{collate, epoch_batches, eval_batches, pack, Batching, LmBatch, LmBatchTensors};
pub use encode::LmEncoder;

use crate::data::{split, DataError};
use finetune_spec::chat::{read_examples, ChatError, ModelAssets};
use finetune_spec::dataset::{file_sha256, DatasetError};
use finetune_spec::{DataShape, JobSpec};
use std::collections::BTreeMap;

/// One encoded row: ids and labels of the same length (at most `max_length`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LmExample {
    /// The 1-based line of the row (of the first row, for a packed one).
    pub line: usize,
    pub input_ids: Vec<u32>,
    /// The id where the token carries the loss, `IGNORE_INDEX` (-100) elsewhere.
    pub labels: Vec<i64>,
}

/// What encoding one file gave.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LmStats {
    /// Rows read.
    pub rows: usize,
    /// Rows kept (`rows - untrained`).
    pub examples: usize,
    /// Tokens of the kept rows, after the cut.
    pub tokens: usize,
    /// Of those, tokens that carry the loss.
    pub trained_tokens: usize,
    /// Rows longer than `max_length`, cut.
    pub truncated: usize,
    /// Rows dropped: no trained token left after the cut.
    pub untrained: usize,
}

/// The encoded train and eval sets of a run.
#[derive(Debug)]
pub struct LmDataset {
    pub train: Vec<LmExample>,
    pub eval: Vec<LmExample>,
    pub train_stats: LmStats,
    pub eval_stats: LmStats,
    /// The shape the training rows were read as.
    pub shape: DataShape,
    /// sha256 of each file read, by role (`train`, `eval`).
    pub sha256: BTreeMap<String, String>,
    /// The encoder (tokenizer, template, pad and EOS ids), for batching and generation.
    pub encoder: LmEncoder,
}

/// Why a run's text-generation data cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum LmDataError {
    #[error(transparent)]
    File(#[from] DatasetError),
    #[error(transparent)]
    Split(#[from] DataError),
    #[error("{0}")]
    Model(#[from] ChatError),
    #[error("the model has no tokenizer (no tokenizer.json in its directory)")]
    NoTokenizer,
    #[error("{0}")]
    Tokenizer(String),
    #[error("the model names neither a pad token nor an EOS token, so batches cannot be padded")]
    NoPadToken,
    #[error("the special token {0:?} is not in the tokenizer's vocabulary")]
    UnknownToken(String),
    #[error("{place}: {message}")]
    Row { place: String, message: String },
    #[error("no row of {file} has a trained token within max_length {max_length}; raise `train.max_length` or check `train.loss_on`")]
    NothingTrained { file: String, max_length: usize },
}

/// Reads, splits and encodes the data of a text-generation `job`.
pub fn load(job: &JobSpec) -> Result<LmDataset, LmDataError> {
    let data = &job.data;
    let max_length = job.train.max_length.get();
    let assets = ModelAssets::load(&job.model, data.chat_template.as_deref())?;
    let encoder = LmEncoder::new(assets, max_length, job.train.loss_on)?;
    let (rows, shape) = read_examples(&data.train, data, job.train.loss_on)?;
    let mut sha256 = BTreeMap::new();
    sha256.insert("train".to_string(), file_sha256(&data.train)?);
    let (train_rows, eval_rows, eval_path) = match (&data.eval, data.eval_split) {
        (Some(path), _) => {
            let (eval, _) = read_examples(path, data, job.train.loss_on)?;
            sha256.insert("eval".to_string(), file_sha256(path)?);
            (rows, eval, path.clone())
        }
        (None, Some(f)) => {
            let (train, eval) = split(rows, f.get(), job.train.seed)?;
            (train, eval, data.train.clone())
        }
        (None, None) => (rows, Vec::new(), data.train.clone()),
    };
    let (train, train_stats) = encoder.encode_rows(&data.train, &train_rows)?;
    let (eval, eval_stats) = encoder.encode_rows(&eval_path, &eval_rows)?;
    if train.is_empty() {
        return Err(LmDataError::NothingTrained {
            file: data.train.display().to_string(),
            max_length,
        });
    }
    Ok(LmDataset {
        train,
        eval,
        train_stats,
        eval_stats,
        shape,
        sha256,
        encoder,
    })
}

/// Warnings for the log: rows cut, rows dropped for training nothing. Counts only, never text.
pub fn warnings(ds: &LmDataset, max_length: usize) -> Vec<String> {
    let mut out = Vec::new();
    for (role, s) in [("train", &ds.train_stats), ("eval", &ds.eval_stats)] {
        if s.truncated > 0 {
            out.push(format!(
                "{} of {} {role} rows are longer than max_length {max_length} and were cut",
                s.truncated, s.rows
            ));
        }
        if s.untrained > 0 {
            out.push(format!(
                "{} of {} {role} rows have no trained token within max_length {max_length} and were dropped; raise `train.max_length` to keep them",
                s.untrained, s.rows
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests;
