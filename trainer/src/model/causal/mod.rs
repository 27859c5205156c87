//! Causal language models (`task: text-generation`), Hugging Face checkpoints as burn modules.
//!
//! - [`Llama`]: `LlamaForCausalLM` (SmolLM2, TinyLlama, Llama 2/3 shapes), loaded by
//!   [`load_llama`] from an HF directory or a llama `.gguf` file; its config is
//!   `finetune_gguf::llama::LlamaConfig`, the one type both formats read into.
//!
//! The blocks they share with BERT and GPT-2 (attention, causal mask, KV cache, RMSNorm, rotary
//! embeddings) are in [`super::blocks`].

pub mod llama;
pub mod load;

pub use finetune_gguf::llama::LlamaConfig;
pub use llama::{Llama, LlamaAttention, LlamaLayer, LlamaMlp};
pub use load::{load_llama, read_hf_config};
