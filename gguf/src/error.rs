//! The one error type of the crate: every way a file can be wrong gets its own variant, so the
//! plugin's `validate` and the trainer can say what is wrong in one line (and branch on it).

use crate::types::GgmlType;

/// Why a GGUF file could not be read, written or converted.
#[derive(Debug, thiserror::Error)]
pub enum GgufError {
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("not a GGUF file: magic bytes {0:02x?}, expected \"GGUF\"")]
    BadMagic([u8; 4]),
    #[error("unsupported GGUF version {0} (versions 2 and 3 are read; a huge number means a big-endian file)")]
    UnsupportedVersion(u32),
    #[error("truncated file: {what} at byte {offset} runs past the end ({len} bytes)")]
    Truncated {
        what: &'static str,
        offset: u64,
        len: u64,
    },
    #[error("corrupt file: {what} of {count} at byte {offset} is larger than the file allows")]
    TooLarge {
        what: &'static str,
        count: u64,
        offset: u64,
    },
    #[error("corrupt file: unknown metadata value type {ty} at byte {offset}")]
    UnknownValueType { ty: u32, offset: u64 },
    #[error("corrupt file: metadata arrays nested deeper than {0} levels")]
    NestedTooDeep(usize),
    #[error("corrupt file: a string at byte {offset} is not UTF-8")]
    InvalidUtf8 { offset: u64 },
    #[error("corrupt file: metadata key {0:?} appears twice")]
    DuplicateKey(String),
    #[error("corrupt file: tensor {0:?} appears twice")]
    DuplicateTensor(String),
    #[error("bad general.alignment: {0}")]
    BadAlignment(String),
    #[error("tensor {tensor:?}: unknown ggml type {ty}")]
    UnknownTensorType { tensor: String, ty: u32 },
    #[error("tensor {tensor:?}: {why}")]
    BadTensor { tensor: String, why: String },
    #[error("tensors {first:?} and {second:?} overlap in the data section")]
    Overlap { first: String, second: String },
    #[error("no tensor {0:?} in the file")]
    NoTensor(String),
    #[error("tensor {tensor:?} is stored as {ty}, which is not supported (F32, F16, BF16, Q8_0, Q4_0 and Q4_1 are)")]
    UnsupportedType { tensor: String, ty: GgmlType },
    #[error("metadata key {key:?}: {why}")]
    Metadata { key: String, why: String },
    #[error("unsupported model: {0}")]
    Unsupported(String),
}

/// The crate's result.
pub type Result<T, E = GgufError> = std::result::Result<T, E>;
