//! Shared helpers of the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// `/work/shared` (or `$FINETUNE_SHARED`): `None` with a printed message when absent, unless
/// `CI=true`, where its absence fails the test.
pub fn shared() -> Option<PathBuf> {
    let dir = std::env::var_os("FINETUNE_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared"));
    if dir.is_dir() {
        return Some(dir);
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!(
            "{} is absent and CI=true: the shared schemas and fixtures are required",
            dir.display()
        );
    }
    eprintln!(
        "skipping: {} is absent (set FINETUNE_SHARED or run with ../shared)",
        dir.display()
    );
    None
}

/// Write `files` (relative path, contents) under a new temporary directory.
pub fn project(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for (p, text) in files {
        let path = dir.path().join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}

/// Options for a project directory with no process environment.
pub fn options(dir: &Path) -> finetune_compose::ProjectOptions {
    finetune_compose::ProjectOptions {
        working_dir: Some(dir.to_path_buf()),
        ..Default::default()
    }
}

/// The bytes of a safetensors file: the header length, `header`, then `data` zero bytes.
pub fn safetensors_bytes(header: &str, data: usize) -> Vec<u8> {
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    bytes.resize(bytes.len() + data, 0);
    bytes
}

/// A one-tensor header (`w`, 2 x f32 = 8 bytes of data).
pub const TINY_HEADER: &str = r#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#;

/// A word-level `tokenizer.json` the `tokenizers` crate loads.
pub const TINY_TOKENIZER: &str = r#"{"version":"1.0","truncation":null,"padding":null,"added_tokens":[],"normalizer":null,"pre_tokenizer":{"type":"Whitespace"},"post_processor":null,"decoder":null,"model":{"type":"WordLevel","vocab":{"[UNK]":0,"a":1},"unk_token":"[UNK]"}}"#;

/// Writes a model directory that passes `validate`'s file checks (not a trainable model).
pub fn write_tiny_model(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("config.json"), r#"{"model_type":"bert"}"#).unwrap();
    std::fs::write(
        dir.join("model.safetensors"),
        safetensors_bytes(TINY_HEADER, 8),
    )
    .unwrap();
    std::fs::write(dir.join("tokenizer.json"), TINY_TOKENIZER).unwrap();
}
