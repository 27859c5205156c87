//! Transformer building blocks shared by every model family the trainer runs (BERT today; the
//! causal LMs reuse them): token-wise linear layers, scaled dot-product self-attention with an
//! additive mask, and dropout. Each is written for the CPU backend's costs on short, padded
//! batches, where per-op overhead and memory traffic, not FLOPs, decide the step time (see
//! docs/benchmarks.md for the profiles they answer).

pub mod attention;
pub mod autocast;
pub mod causal;
pub mod dropout;
pub mod linear;

pub use attention::{additive_mask, self_attention, MASKED_SCORE};
pub use causal::causal_mask_add;
pub use dropout::Dropout;
pub use linear::linear_tokens;
