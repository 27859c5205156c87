//! Shared helpers of the trainer's integration tests: where the real fixtures are (skipping when
//! they are absent, failing instead under CI=true), the tiny model and data a training run
//! needs, and reading or rewinding a run's output directory.

use finetune_fixtures::TinyBert;
use std::path::{Path, PathBuf};
use std::process::Command;

/// `$FINETUNE_FIXTURES`, else `<repo>/.fixtures`.
pub fn fixtures_dir() -> PathBuf {
    std::env::var_os("FINETUNE_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.fixtures"))
}

/// `fixtures_dir()/dir` when every file in `files` is there, or `None` (with a message naming
/// the fixture `what`) when one is absent; panics under CI=true.
fn fixture(dir: &str, what: &str, files: &[&str]) -> Option<PathBuf> {
    let dir = fixtures_dir().join(dir);
    if files.iter().all(|f| dir.join(f).is_file()) {
        return Some(dir);
    }
    let msg = format!(
        "{what} fixture not found in {}: run scripts/fetch-fixtures.sh",
        dir.display()
    );
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{msg} (CI=true: fixtures are required)");
    }
    eprintln!("SKIPPED: {msg}");
    None
}

/// The MiniLM fixture dir, or `None` (with a message) when it is absent; panics under CI=true.
pub fn minilm_dir() -> Option<PathBuf> {
    fixture("minilm", "MiniLM", &["model.safetensors", "tokenizer.json"])
}

/// The SmolLM2 GGUF fixture dir, or `None` as for [`minilm_dir`].
pub fn smollm2_dir() -> Option<PathBuf> {
    fixture("smollm2", "SmolLM2", &["SmolLM2-135M-Instruct.Q4_1.gguf"])
}

/// The tweets fixture dir (`train.jsonl`, `eval.jsonl`), or `None` as for [`minilm_dir`].
pub fn tweets_dir() -> Option<PathBuf> {
    fixture("tweets", "tweets", &["train.jsonl", "eval.jsonl"])
}

/// A tiny model (`model/`, [`TinyBert::WORDS`], seed 7) and a sentiment dataset
/// (`train.jsonl` with `train_rows` rows, `eval.jsonl` with `eval_rows`) under `dir`.
pub fn tiny_run_inputs(
    dir: &Path,
    train_rows: usize,
    eval_rows: usize,
) -> (PathBuf, PathBuf, PathBuf) {
    let (model, train, eval) = (
        dir.join("model"),
        dir.join("train.jsonl"),
        dir.join("eval.jsonl"),
    );
    TinyBert::WORDS.write(&model, 7).unwrap();
    finetune_fixtures::write_sentiment(&train, train_rows, 1).unwrap();
    finetune_fixtures::write_sentiment(&eval, eval_rows, 2).unwrap();
    (model, train, eval)
}

/// The trainer binary.
pub fn trainer() -> Command {
    Command::new(env!("CARGO_BIN_EXE_finetune-trainer"))
}

/// `finetune-trainer --threads N train` on these inputs; callers add the training flags.
pub fn train_cmd(threads: u32, model: &Path, train: &Path, eval: &Path, out: &Path) -> Command {
    let mut cmd = trainer();
    cmd.arg("--threads")
        .arg(threads.to_string())
        .arg("train")
        .arg("--model")
        .arg(model)
        .arg("--train")
        .arg(train)
        .arg("--eval")
        .arg(eval)
        .arg("--output")
        .arg(out);
    cmd
}

/// The exported weights of a run.
pub fn model_bytes(out: &Path) -> Vec<u8> {
    std::fs::read(out.join("model/model.safetensors")).unwrap()
}

/// A run's `run.json`.
pub fn run_json(out: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(out.join("run.json")).unwrap()).unwrap()
}

/// Makes `out` look like a run killed right after checkpoint `step` was written.
pub fn rewind_to(out: &Path, step: u64) {
    for name in ["run.json", "status.json"] {
        let _ = std::fs::remove_file(out.join(name));
    }
    let _ = std::fs::remove_dir_all(out.join("model"));
    for e in std::fs::read_dir(out.join("checkpoints"))
        .unwrap()
        .flatten()
    {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(s) = name
            .strip_prefix("step-")
            .and_then(|s| s.parse::<u64>().ok())
        {
            if s > step {
                std::fs::remove_dir_all(e.path()).unwrap();
            }
        }
    }
}
