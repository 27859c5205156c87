//! Errors of loading, building and exporting models. One line each, naming the file, the tensor
//! or the setting at fault and, where there is one, the fix.

use std::path::PathBuf;

/// What can go wrong with a model directory, its weights or an export.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// `config.json` is not valid JSON or lacks a required field.
    #[error("{path}: invalid config.json: {message}")]
    Config { path: PathBuf, message: String },
    /// The checkpoint's architecture is not one this trainer implements.
    #[error("{path}: {message}")]
    Unsupported { path: PathBuf, message: String },
    /// The directory has no weights file we can read.
    #[error("{dir}: no model.safetensors or pytorch_model.bin found{hint}")]
    NoWeights { dir: PathBuf, hint: String },
    /// The weights file could not be parsed.
    #[error("{path}: invalid safetensors file: {message}")]
    Safetensors { path: PathBuf, message: String },
    /// `pytorch_model.bin` could not be read.
    #[error("{path}: cannot read this PyTorch checkpoint: {message}")]
    Pytorch { path: PathBuf, message: String },
    /// A tensor the model needs is absent from the checkpoint.
    #[error("{path}: missing tensor `{name}` (also looked for `{alt}`)")]
    MissingTensor {
        path: PathBuf,
        name: String,
        alt: String,
    },
    /// A tensor has a shape the config does not predict.
    #[error("{path}: tensor `{name}` has shape {found:?}, expected {expected:?} (does config.json match the weights?)")]
    ShapeMismatch {
        path: PathBuf,
        name: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },
    /// A tensor has an element type we cannot convert to f32.
    #[error(
        "{path}: tensor `{name}` has dtype {dtype}, expected F32, F16, BF16, or I8 with a scale"
    )]
    DType {
        path: PathBuf,
        name: String,
        dtype: String,
    },
    /// An int8 tensor of a quantized model without its scale, or with a scale that does not fit.
    #[error("{path}: corrupt quantized weights: `{name}` {message}")]
    Quantized {
        path: PathBuf,
        name: String,
        message: String,
    },
    /// A quantized model given to a command that needs f32 weights (training).
    #[error("{path}: this model is quantized ({method}): {message}")]
    QuantizedModel {
        path: PathBuf,
        method: String,
        message: String,
    },
    /// A GGUF file that cannot be read as a model (corrupt, truncated, not a llama).
    #[error("{path}: {message}")]
    Gguf { path: PathBuf, message: String },
    /// An invalid setting (LoRA rank, targets, label count...).
    #[error("{0}")]
    Invalid(String),
    /// The tokenizer could not be loaded or run.
    #[error("{0}")]
    Tokenizer(String),
}

impl ModelError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ModelError::Io {
            path: path.into(),
            source,
        }
    }
}
