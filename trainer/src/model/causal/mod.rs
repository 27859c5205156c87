//! Causal language models (`task: text-generation`), Hugging Face checkpoints as burn modules,
//! and their exports.
//!
//! - [`Llama`]: `LlamaForCausalLM` (SmolLM2, TinyLlama, Llama 2/3 shapes), loaded by
//!   [`load_llama`] from an HF directory or a llama `.gguf` file; its config is
//!   `finetune_gguf::llama::LlamaConfig`, the one type both formats read into.
//! - [`gpt2`]: GPT-2 (`GPT2LMHeadModel`), loaded by [`gpt2_load::load_gpt2`].
//! - [`export`]: the HF model directory and the PEFT adapter, for any architecture.
//!
//! The blocks they share with BERT (attention, causal mask, KV cache, RMSNorm, rotary
//! embeddings) are in [`super::blocks`].

pub mod export;
pub mod gguf_export;
pub mod gpt2;
pub mod gpt2_config;
pub mod gpt2_load;
pub mod llama;
pub mod load;

pub mod llama_lora;
pub mod lm;

pub use finetune_gguf::llama::LlamaConfig;
pub use llama::{Llama, LlamaAttention, LlamaLayer, LlamaMlp};
pub use load::{load_llama, read_hf_config};

/// A tensor as an export writes it: HF name, shape, row-major f32 values.
pub type NamedTensor = (String, Vec<usize>, Vec<f32>);

/// `t` (detached) as a [`NamedTensor`].
pub(crate) fn named_tensor<B: burn::tensor::backend::Backend, const D: usize>(
    name: &str,
    t: burn::tensor::Tensor<B, D>,
) -> NamedTensor {
    let shape = t.dims().to_vec();
    let values = t
        .detach()
        .into_data()
        .convert::<f32>()
        .into_vec::<f32>()
        .unwrap_or_default();
    (name.to_string(), shape, values)
}
