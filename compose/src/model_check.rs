//! `validate`'s checks of a job's model directory, all reported at the job's `model:` key.
//!
//! The trainer needs `config.json`, weights (`model.safetensors`, else `pytorch_model.bin`) and
//! `tokenizer.json`. Each must be present, and each is opened the cheap way the trainer would
//! fail on it: the safetensors header and byte ranges, the `pytorch_model.bin` container and the
//! `config.json` `model_type` through [`finetune_spec::model_files`], and the tokenizer by
//! loading it with the `tokenizers` crate, as the trainer does. A truncated download or a
//! checkpoint of an unsupported architecture is then refused on the host, not in the container.

use crate::diagnostic::Diagnostic;
use crate::project::Job;
use finetune_spec::model_files::{self, ModelFileError};

/// Every problem of the job's model directory.
pub fn check_model_dir(job: &Job) -> Vec<Diagnostic> {
    let dir = &job.spec.model;
    let error = |message: String, hint: &str| {
        Diagnostic::error(
            job.position_of("model"),
            format!("{}.model", job.key_path),
            message,
        )
        .with_hint(hint)
    };
    if !dir.is_dir() {
        let what = if dir.exists() {
            "is not a directory"
        } else {
            "does not exist"
        };
        return vec![error(
            format!("model directory {} {what}", dir.display()),
            "point `model` at a Hugging Face-format directory with config.json, model.safetensors and tokenizer.json",
        )];
    }
    let mut out = Vec::new();
    let has = |f: &str| dir.join(f).is_file();
    let missing = |what: &str| format!("model directory {} has no {what}", dir.display());
    if !has("config.json") {
        out.push(error(
            missing("config.json"),
            "download the model's config.json into the directory",
        ));
    } else if let Err(e) = model_files::check_config(&dir.join("config.json")) {
        out.push(file_error(&e, error));
    }
    let weights = if has("model.safetensors") {
        model_files::check_safetensors(&dir.join("model.safetensors")).map(|_| ())
    } else if has("pytorch_model.bin") {
        model_files::check_pytorch_bin(&dir.join("pytorch_model.bin"))
    } else {
        out.push(error(
            missing("weights (model.safetensors or pytorch_model.bin)"),
            "download the model's model.safetensors into the directory",
        ));
        Ok(())
    };
    if let Err(e) = weights {
        out.push(file_error(&e, error));
    }
    let tokenizer = dir.join("tokenizer.json");
    if !has("tokenizer.json") {
        out.push(error(
            missing("tokenizer.json"),
            "download the model's tokenizer.json (fast tokenizer) into the directory",
        ));
    } else if let Err(e) = tokenizers::Tokenizer::from_file(&tokenizer) {
        out.push(error(
            format!("{}: does not load as a tokenizer: {e}", tokenizer.display()),
            "download the model's tokenizer.json (the fast tokenizer file) again",
        ));
    }
    out
}

/// A model file's problem with the hint that fixes it.
fn file_error(e: &ModelFileError, error: impl Fn(String, &str) -> Diagnostic) -> Diagnostic {
    let hint = match e {
        ModelFileError::UnsupportedModelType { .. } => {
            "use a BERT-family checkpoint (BERT, MiniLM); other architectures are not implemented"
        }
        ModelFileError::ConfigNotJson { .. } => "download the model's config.json again",
        ModelFileError::Unreadable { .. } => "check the file's permissions",
        ModelFileError::Empty { .. } | ModelFileError::NotZip { .. } => {
            "download pytorch_model.bin again, or use the model's model.safetensors"
        }
        _ => "download model.safetensors again: an interrupted download leaves a broken file",
    };
    error(e.to_string(), hint)
}
