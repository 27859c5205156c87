//! Causal language models (`task: text-generation`) as burn modules, and their exports.
//!
//! - [`gpt2`]: GPT-2 (`GPT2LMHeadModel`), loaded by [`gpt2_load::load_gpt2`].
//! - [`export`]: the HF model directory and the PEFT adapter, for any architecture.

pub mod export;
pub mod gpt2;
pub mod gpt2_config;
pub mod gpt2_load;
