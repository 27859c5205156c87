//! Transformer building blocks shared by every model family the trainer runs (BERT today; the
//! causal LMs reuse them): token-wise linear layers, scaled dot-product self-attention with an
//! additive mask, and dropout; for the causal LMs, grouped-query attention over a KV cache
//! with a causal mask ([`causal`]), RMSNorm ([`norm`]) and rotary position embeddings
//! ([`rope`]). Each is written for the CPU backend's costs on short, padded batches, where
//! per-op overhead and memory traffic, not FLOPs, decide the step time (see
//! docs/benchmarks.md for the profiles they answer).

pub mod attention;
pub mod autocast;
pub mod causal;
pub mod dropout;
pub mod fused;
pub mod linear;
pub mod norm;
pub mod rope;

pub use attention::{additive_mask, grouped_attention, self_attention, MASKED_SCORE};
pub use causal::{causal_mask_add, KvCache};
pub use dropout::Dropout;
pub use linear::linear_tokens;
pub use norm::rms_norm;
pub use rope::Rope;
