//! `validate`'s checks of a job's model directory, all reported at the job's `model:` key.
//!
//! The trainer needs `config.json`, weights (`model.safetensors`, else `pytorch_model.bin`) and
//! `tokenizer.json`. Each must be present, and each is opened the cheap way the trainer would
//! fail on it: the safetensors header and byte ranges, the `pytorch_model.bin` container and the
//! `config.json` `model_type` through [`finetune_spec::model_files`], and the tokenizer by
//! loading it with the `tokenizers` crate, as the trainer does. A truncated download or a
//! checkpoint of an unsupported architecture is then refused on the host, not in the container.
//!
//! A `task: text-generation` job's `config.json` must name a causal architecture (Llama, GPT-2),
//! and its LoRA targets must be that architecture's module names (at `method.lora.targets`). Its
//! model may also be a `.gguf` file, checked here by its magic only: its metadata (architecture,
//! tokenizer, chat template) is the GGUF reader's.

use crate::diagnostic::Diagnostic;
use crate::project::Job;
use finetune_spec::model_files::{self, ModelFileError};
use finetune_spec::{Architecture, Method, Task};

/// Every problem of the job's model directory (or, for text-generation, GGUF file).
pub fn check_model_dir(job: &Job) -> Vec<Diagnostic> {
    let dir = &job.spec.model;
    let task = job.spec.task;
    let error = |message: String, hint: &str| {
        Diagnostic::error(
            job.position_of("model"),
            format!("{}.model", job.key_path),
            message,
        )
        .with_hint(hint)
    };
    if task == Task::TextGeneration && dir.is_file() {
        return match model_files::check_gguf_magic(dir) {
            Ok(()) => Vec::new(),
            Err(e) => vec![file_error(&e, task, error)],
        };
    }
    if !dir.is_dir() {
        let what = if dir.exists() {
            "is not a directory"
        } else {
            "does not exist"
        };
        return vec![error(
            format!("model directory {} {what}", dir.display()),
            match task {
                Task::TextClassification => "point `model` at a Hugging Face-format directory with config.json, model.safetensors and tokenizer.json",
                Task::TextGeneration => "point `model` at a Hugging Face-format directory (config.json, model.safetensors, tokenizer.json) or a .gguf file",
            },
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
    } else {
        match model_files::check_config_for(&dir.join("config.json"), task) {
            Ok(model_type) => {
                let arch = model_type
                    .as_deref()
                    .and_then(Architecture::from_model_type);
                out.extend(arch.and_then(|a| check_lora_targets(job, a)));
            }
            Err(e) => out.push(file_error(&e, task, error)),
        }
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
        out.push(file_error(&e, task, error));
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

/// A text-generation job's LoRA targets that its architecture lacks, at `method.lora.targets`.
fn check_lora_targets(job: &Job, arch: Architecture) -> Option<Diagnostic> {
    let Method::Lora(lora) = &job.spec.method else {
        return None;
    };
    if job.spec.task != Task::TextGeneration {
        return None;
    }
    let unknown = arch.unknown_lora_targets(lora);
    if unknown.is_empty() {
        return None;
    }
    let listed: Vec<String> = unknown.iter().map(|t| format!("`{t}`")).collect();
    let known = arch.lora_modules().join(", ");
    let mut d = Diagnostic::error(
        job.position_of("method.lora.targets"),
        format!("{}.method.lora.targets", job.key_path),
        format!(
            "LoRA target(s) {} are not linear layers of this {} model; it has: {known}",
            listed.join(", "),
            arch.name()
        ),
    );
    let guess = unknown
        .first()
        .and_then(|t| crate::diagnostic::suggest(t, arch.lora_modules().iter().copied()));
    d = match guess {
        Some(g) => d.with_hint(format!("did you mean `{g}`?")),
        None => d.with_hint(format!(
            "name some of: {known} (the attention's are {})",
            arch.default_lora_targets().join(", ")
        )),
    };
    Some(d)
}

/// A model file's problem with the hint that fixes it.
fn file_error(
    e: &ModelFileError,
    task: Task,
    error: impl Fn(String, &str) -> Diagnostic,
) -> Diagnostic {
    let hint = match e {
        ModelFileError::UnsupportedModelType { .. } if task == Task::TextGeneration => {
            "use a Llama-family (SmolLM, TinyLlama, Llama, Mistral) or GPT-2 checkpoint, or `task: text-classification` for a BERT-family one"
        }
        ModelFileError::UnsupportedModelType { .. } => {
            "use a BERT-family checkpoint (BERT, MiniLM), or `task: text-generation` for a Llama or GPT-2 one"
        }
        ModelFileError::NoModelType { .. } => {
            "download the model's config.json again: Hugging Face's names `model_type`"
        }
        ModelFileError::NotGguf { .. } => {
            "download the .gguf file again, or point `model` at a Hugging Face-format directory"
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
