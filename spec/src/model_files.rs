//! Checks of a Hugging Face model directory's files that need neither the weights in memory nor
//! any model code, so that `validate` can refuse a broken checkpoint before a container starts.
//!
//! - [`check_safetensors`] reads only the header of `model.safetensors`: the 8-byte little-endian
//!   length, the JSON metadata, and every tensor's `data_offsets` (contiguous from 0, as long as
//!   its dtype and shape need, as the `safetensors` crate checks them), then whether the file holds
//!   all those bytes: an interrupted download leaves a file that is too short.
//! - [`check_pytorch_bin`]: `pytorch_model.bin` is the zip archive `torch.save` writes.
//! - [`check_config`]: `config.json` is a JSON object whose `model_type`, when present, is one of
//!   [`SUPPORTED_MODEL_TYPES`].

use crate::contract::{CAUSAL_MODEL_TYPES, SUPPORTED_MODEL_TYPES};
use crate::Task;
use safetensors::tensor::Metadata;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// The largest safetensors header the `safetensors` crate accepts.
const MAX_HEADER: u64 = 100_000_000;

/// Why a model file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ModelFileError {
    #[error("{}: cannot read: {source}", path.display())]
    Unreadable {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{}: is empty", path.display())]
    Empty { path: PathBuf },
    #[error("{}: truncated: {len} bytes, too short for the 8-byte header length", path.display())]
    TooShort { path: PathBuf, len: u64 },
    #[error("{}: the header length ({header} bytes) runs past the end of the file ({len} bytes)", path.display())]
    HeaderPastEnd {
        path: PathBuf,
        header: u64,
        len: u64,
    },
    #[error("{}: the header is not JSON: {message}", path.display())]
    HeaderNotJson { path: PathBuf, message: String },
    #[error("{}: invalid tensor metadata: {message}", path.display())]
    BadTensors { path: PathBuf, message: String },
    #[error("{}: truncated: the tensors need {need} bytes of data, the file holds {have}", path.display())]
    Truncated { path: PathBuf, need: u64, have: u64 },
    #[error("{}: {extra} bytes after the last tensor's data", path.display())]
    TrailingBytes { path: PathBuf, extra: u64 },
    #[error("{}: not a zip archive (the format `torch.save` writes)", path.display())]
    NotZip { path: PathBuf },
    #[error("{}: invalid JSON: {message}", path.display())]
    ConfigNotJson { path: PathBuf, message: String },
    #[error("{}: model_type `{model_type}` is not supported{}; the trainer supports: {}", path.display(), for_task(*task), supported(*task).join(", "))]
    UnsupportedModelType {
        path: PathBuf,
        model_type: String,
        task: Task,
    },
    #[error("{}: no model_type; a text-generation model's config.json names its architecture ({})", path.display(), CAUSAL_MODEL_TYPES.join(", "))]
    NoModelType { path: PathBuf },
    #[error("{}: not a GGUF file (it does not start with `GGUF`)", path.display())]
    NotGguf { path: PathBuf },
}

/// What a good safetensors header describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SafetensorsSummary {
    pub tensors: usize,
    /// Bytes of tensor data after the header.
    pub data_len: u64,
}

/// Checks a `model.safetensors` file from its header and its length.
pub fn check_safetensors(path: &Path) -> Result<SafetensorsSummary, ModelFileError> {
    let unreadable = |source| ModelFileError::Unreadable {
        path: path.into(),
        source,
    };
    let mut file = File::open(path).map_err(unreadable)?;
    let len = file.metadata().map_err(unreadable)?.len();
    let mut n = [0u8; 8];
    if len < 8 {
        return Err(ModelFileError::TooShort {
            path: path.into(),
            len,
        });
    }
    file.read_exact(&mut n).map_err(unreadable)?;
    let header = u64::from_le_bytes(n);
    if header > MAX_HEADER || header > len - 8 {
        return Err(ModelFileError::HeaderPastEnd {
            path: path.into(),
            header,
            len,
        });
    }
    let mut bytes = vec![0u8; header as usize];
    file.read_exact(&mut bytes).map_err(unreadable)?;
    let json: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| ModelFileError::HeaderNotJson {
            path: path.into(),
            message: e.to_string(),
        })?;
    let metadata: Metadata =
        serde_json::from_value(json).map_err(|e| ModelFileError::BadTensors {
            path: path.into(),
            message: e.to_string(),
        })?;
    let need = metadata.data_len() as u64;
    let have = len - 8 - header;
    if need > have {
        return Err(ModelFileError::Truncated {
            path: path.into(),
            need,
            have,
        });
    }
    if need < have {
        return Err(ModelFileError::TrailingBytes {
            path: path.into(),
            extra: have - need,
        });
    }
    Ok(SafetensorsSummary {
        tensors: metadata.tensors().len(),
        data_len: need,
    })
}

/// Checks that `pytorch_model.bin` is a non-empty zip archive (it starts with `PK`).
pub fn check_pytorch_bin(path: &Path) -> Result<(), ModelFileError> {
    let mut head = Vec::with_capacity(4);
    File::open(path)
        .and_then(|f| f.take(4).read_to_end(&mut head))
        .map_err(|source| ModelFileError::Unreadable {
            path: path.into(),
            source,
        })?;
    match head.as_slice() {
        [] => Err(ModelFileError::Empty { path: path.into() }),
        [b'P', b'K', ..] => Ok(()),
        _ => Err(ModelFileError::NotZip { path: path.into() }),
    }
}

/// The `model_type`s the trainer fine-tunes for `task`.
pub fn supported(task: Task) -> &'static [&'static str] {
    match task {
        Task::TextClassification => SUPPORTED_MODEL_TYPES,
        Task::TextGeneration => CAUSAL_MODEL_TYPES,
    }
}

/// ` for text-generation` (the classifier's message stays as it was).
fn for_task(task: Task) -> &'static str {
    match task {
        Task::TextClassification => "",
        Task::TextGeneration => " for text-generation",
    }
}

/// Checks `config.json`: a JSON object whose `model_type`, when present, the trainer supports.
/// Returns the `model_type`.
pub fn check_config(path: &Path) -> Result<Option<String>, ModelFileError> {
    check_config_for(path, Task::TextClassification)
}

/// Checks that a `.gguf` model file starts with the GGUF magic (reading its tensors and metadata
/// is the GGUF reader's).
pub fn check_gguf_magic(path: &Path) -> Result<(), ModelFileError> {
    let mut head = Vec::with_capacity(4);
    File::open(path)
        .and_then(|f| f.take(4).read_to_end(&mut head))
        .map_err(|source| ModelFileError::Unreadable {
            path: path.into(),
            source,
        })?;
    match head.as_slice() {
        [] => Err(ModelFileError::Empty { path: path.into() }),
        b"GGUF" => Ok(()),
        _ => Err(ModelFileError::NotGguf { path: path.into() }),
    }
}

/// [`check_config`] for a job's task: a classifier's `config.json` may omit `model_type` (read
/// as BERT); a text-generation model's names one of [`CAUSAL_MODEL_TYPES`].
pub fn check_config_for(path: &Path, task: Task) -> Result<Option<String>, ModelFileError> {
    let text = std::fs::read(path).map_err(|source| ModelFileError::Unreadable {
        path: path.into(),
        source,
    })?;
    let not_json = |message: String| ModelFileError::ConfigNotJson {
        path: path.into(),
        message,
    };
    let value: serde_json::Value =
        serde_json::from_slice(&text).map_err(|e| not_json(e.to_string()))?;
    let obj = value
        .as_object()
        .ok_or_else(|| not_json("expected a JSON object".into()))?;
    match obj.get("model_type") {
        None | Some(serde_json::Value::Null) if task == Task::TextGeneration => {
            Err(ModelFileError::NoModelType { path: path.into() })
        }
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(t)) if supported(task).contains(&t.as_str()) => {
            Ok(Some(t.clone()))
        }
        Some(other) => Err(ModelFileError::UnsupportedModelType {
            path: path.into(),
            model_type: other
                .as_str()
                .map_or_else(|| other.to_string(), str::to_string),
            task,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A safetensors file: the header length, `header`, then `data` zero bytes.
    fn safetensors(dir: &Path, header: &str, data: usize) -> PathBuf {
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(header.as_bytes());
        bytes.resize(bytes.len() + data, 0);
        let path = dir.join("model.safetensors");
        std::fs::write(&path, bytes).unwrap();
        path
    }

    const TWO: &str = r#"{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F16","shape":[1,3],"data_offsets":[8,14]}}"#;

    #[test]
    fn a_good_header_matches_the_file_length() {
        let d = tempfile::tempdir().unwrap();
        let p = safetensors(d.path(), TWO, 14);
        assert_eq!(
            check_safetensors(&p).unwrap(),
            SafetensorsSummary {
                tensors: 2,
                data_len: 14
            }
        );
    }

    #[test]
    fn broken_safetensors_files_are_refused_with_their_reason() {
        let d = tempfile::tempdir().unwrap();
        let p = safetensors(d.path(), TWO, 10);
        let e = check_safetensors(&p).unwrap_err();
        assert!(
            matches!(
                e,
                ModelFileError::Truncated {
                    need: 14,
                    have: 10,
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("truncated"), "{e}");
        let p = safetensors(d.path(), TWO, 20);
        assert!(matches!(
            check_safetensors(&p),
            Err(ModelFileError::TrailingBytes { extra: 6, .. })
        ));
        std::fs::write(&p, b"\x05\0\0").unwrap();
        assert!(matches!(
            check_safetensors(&p),
            Err(ModelFileError::TooShort { len: 3, .. })
        ));
        std::fs::write(&p, [200u8, 0, 0, 0, 0, 0, 0, 0, b'{', b'}']).unwrap();
        assert!(matches!(
            check_safetensors(&p),
            Err(ModelFileError::HeaderPastEnd { header: 200, .. })
        ));
        let p = safetensors(d.path(), "{not json", 0);
        assert!(matches!(
            check_safetensors(&p),
            Err(ModelFileError::HeaderNotJson { .. })
        ));
        // Offsets inconsistent with the dtype and shape (F32 x 2 is 8 bytes, not 6).
        let p = safetensors(
            d.path(),
            r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,6]}}"#,
            6,
        );
        assert!(matches!(
            check_safetensors(&p),
            Err(ModelFileError::BadTensors { .. })
        ));
        // A gap between tensors.
        let p = safetensors(
            d.path(),
            r#"{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[2],"data_offsets":[4,6]}}"#,
            6,
        );
        assert!(matches!(
            check_safetensors(&p),
            Err(ModelFileError::BadTensors { .. })
        ));
    }

    #[test]
    fn pytorch_bin_must_be_a_zip() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("pytorch_model.bin");
        std::fs::write(&p, b"PK\x03\x04rest").unwrap();
        check_pytorch_bin(&p).unwrap();
        std::fs::write(&p, b"").unwrap();
        assert!(matches!(
            check_pytorch_bin(&p),
            Err(ModelFileError::Empty { .. })
        ));
        std::fs::write(&p, b"\x80\x02legacy pickle").unwrap();
        assert!(matches!(
            check_pytorch_bin(&p),
            Err(ModelFileError::NotZip { .. })
        ));
    }

    #[test]
    fn config_model_type_must_be_supported() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("config.json");
        for (text, ok) in [
            (r#"{"model_type":"bert"}"#, true),
            (r#"{"hidden_size":4}"#, true),
            (r#"{"model_type":"roberta"}"#, false),
            (r#"{"model_type":3}"#, false),
            ("[1]", false),
            ("{", false),
        ] {
            std::fs::write(&p, text).unwrap();
            assert_eq!(check_config(&p).is_ok(), ok, "{text}");
        }
        std::fs::write(&p, r#"{"model_type":"llama"}"#).unwrap();
        assert_eq!(
            check_config(&p).unwrap_err().to_string(),
            format!(
                "{}: model_type `llama` is not supported; the trainer supports: bert",
                p.display()
            )
        );
    }

    #[test]
    fn a_text_generation_model_names_a_causal_architecture() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("config.json");
        let generation = |text: &str| {
            std::fs::write(&p, text).unwrap();
            check_config_for(&p, Task::TextGeneration)
        };
        assert_eq!(
            generation(r#"{"model_type":"llama"}"#).unwrap().as_deref(),
            Some("llama")
        );
        assert_eq!(
            generation(r#"{"model_type":"gpt2"}"#).unwrap().as_deref(),
            Some("gpt2")
        );
        let e = generation(r#"{"model_type":"bert"}"#)
            .unwrap_err()
            .to_string();
        assert!(e.ends_with("model_type `bert` is not supported for text-generation; the trainer supports: llama, mistral, gpt2"), "{e}");
        assert!(matches!(
            generation("{}"),
            Err(ModelFileError::NoModelType { .. })
        ));
        let g = d.path().join("m.gguf");
        std::fs::write(&g, b"GGUF\x03\0\0\0").unwrap();
        check_gguf_magic(&g).unwrap();
        std::fs::write(&g, b"<html>").unwrap();
        assert!(matches!(
            check_gguf_magic(&g),
            Err(ModelFileError::NotGguf { .. })
        ));
        std::fs::write(&g, b"").unwrap();
        assert!(matches!(
            check_gguf_magic(&g),
            Err(ModelFileError::Empty { .. })
        ));
    }
}
