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
