//! The docker-finetune trainer: fine-tunes Hugging Face BERT-family checkpoints for text
//! classification on burn. It knows burn, tokenizers and datasets, and nothing of Compose or
//! Docker: its input is a [`finetune_spec::JobSpec`] and its outputs follow
//! [`finetune_spec::contract`].

pub mod artifact;
pub mod backend;
pub mod causal_data;
pub mod checkpoint;
pub mod data;
pub mod error;
pub mod generate;
pub mod healthcheck;
pub mod inference;
pub mod model;
pub mod quantize;
pub mod redaction;
pub mod serve;
pub mod signal;
pub mod tokenize;
pub mod training;
