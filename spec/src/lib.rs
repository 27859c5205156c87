//! `finetune-spec` is what the plugin and the trainer agree on, declared once.
//!
//! - [`job`] is the job spec ([`JobSpec`] and its parts): what one job is after `defaults` are
//!   merged, variables interpolated and paths resolved. The compose side builds it from the user's
//!   `x-finetune` section and writes it as `job.json`; the trainer reads that file back into the
//!   same type. [`bounded`] holds its range-checked numbers and [`resources`] its host resources.
//! - [`describe`] is every key's documentation and default, the source of docs/spec.md; [`options`]
//!   the flat option names (provider options, trainer flags) and where each goes in the spec.
//! - [`tree`] and [`de`]: the spec types read from untyped trees (positioned YAML on the compose
//!   side, nested flat options), with errors that name the node at fault.
//! - [`contract`] is the rest of the plugin-to-trainer contract: container paths, the files under
//!   the output directory (`metrics.jsonl`, `status.json`, `run.json`), exit codes, and the one rule
//!   for "this run is finished".
//! - [`dataset`] reads the dataset files (JSONL, CSV, Parquet) the same way on both sides, so
//!   `validate --data` on the host reports exactly what the trainer would refuse.
//! - [`model_files`] checks a model directory's files (the safetensors header and its byte ranges,
//!   `pytorch_model.bin`'s container, `config.json`'s `model_type`) without loading any weights.
//! - [`redact`] is the PII redaction engine (emails, phones, cards, IBANs, IPs, URLs): the trainer
//!   runs it on the text before tokenisation (`data.redact`), and `validate --data` reports the
//!   counts it would redact.
//! - [`serving`] is the packaged-model contract: where a model image holds the model, `serve`'s
//!   port and paths, and the INT8 report (`quantization.json`).
//! - [`generation`] holds what only `task: text-generation` uses (row shapes, `loss_on`, GGUF
//!   exports, the causal-LM architectures' LoRA module names); [`chat`] renders its rows (chat
//!   templates, the loss spans) and turns the spans into token labels, for the trainer and
//!   `validate --data` alike.
//! - [`digest`] and [`time`]: the sha256 and RFC 3339 forms those files use; [`image_ref`]: image
//!   references (`data.image`) as the engine reads them.
//!
//! This crate knows neither YAML nor Compose nor burn: the trainer depends on it alone.

pub mod bounded;
pub mod chat;
pub mod contract;
pub mod data_spec;
pub mod dataset;
pub mod de;
pub mod describe;
pub mod digest;
mod forms;
pub mod generation;
pub mod image_ref;
pub mod job;
pub mod model_files;
pub mod options;
pub mod redact;
pub mod resources;
pub mod serving;
pub mod time;
pub mod tree;

pub use bounded::{Count, Fraction, NonNegative, Positive, Ratio, SeqLen, Steps};
pub use data_spec::*;
pub use generation::{Architecture, DataShape, ExportFormat, LossOn};
pub use job::*;
pub use resources::*;
