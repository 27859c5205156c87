//! Shared helpers of the trainer's integration tests: where the fixtures are, and skipping
//! when they are absent (failing instead under CI=true).

#![allow(dead_code)]

use std::path::PathBuf;

/// `$FINETUNE_FIXTURES`, else `<repo>/.fixtures`.
pub fn fixtures_dir() -> PathBuf {
    std::env::var_os("FINETUNE_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.fixtures"))
}

/// The MiniLM fixture dir, or `None` (with a message) when it is absent; panics under CI=true.
pub fn minilm_dir() -> Option<PathBuf> {
    let dir = fixtures_dir().join("minilm");
    if dir.join("model.safetensors").is_file() && dir.join("tokenizer.json").is_file() {
        return Some(dir);
    }
    let msg = format!(
        "MiniLM fixture not found in {}: run scripts/fetch-fixtures.sh",
        dir.display()
    );
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{msg} (CI=true: fixtures are required)");
    }
    eprintln!("SKIPPED: {msg}");
    None
}
