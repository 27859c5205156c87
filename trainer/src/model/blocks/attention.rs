//! Multi-head scaled dot-product self-attention over already projected queries, keys and
//! values, with an additive padding mask and dropout on the attention probabilities, as
//! Hugging Face's eager attention computes it: `softmax(q·kᵀ/√d + mask)·v` per head.
//!
//! The head split is a strided view (`[b, s, h·d]` → `[b, h, s, d]`): flex's batched GEMM reads
//! any strides, so the split copies nothing; only the merge back to `[b, s, h·d]` copies, once.
//! Both products run in the [`autocast`](super::autocast) compute type; softmax stays f32.
//!
//! [`grouped_attention`] is the causal LMs' variant: heads already split (rotary embeddings
//! apply per head), keys and values longer than the queries (a KV cache) and shared by groups
//! of query heads (grouped-query attention).

use burn::tensor::activation::softmax;
use burn::tensor::backend::Backend;
use burn::tensor::{DType, Int, Tensor};

use crate::backend::{cast, is, Cpu, Train};

use super::autocast::matmul;
use super::Dropout;

/// Added to attention scores of padding positions. Finite (unlike -inf) so that a row can never
/// become NaN; large enough that `exp` of it is exactly 0 in f32, as HF's `finfo.min` is.
pub const MASKED_SCORE: f32 = -1.0e9;

/// `[batch, seq]` attention mask (1 = attend, 0 = padding) → `[batch, 1, 1, seq]` additive
/// scores (0 or [`MASKED_SCORE`]), broadcast over heads and queries.
pub fn additive_mask<B: Backend>(attention_mask: Tensor<B, 2, Int>) -> Tensor<B, 4> {
    let [batch, seq] = attention_mask.dims();
    let device = attention_mask.device();
    // mask_fill rather than `mask * MASKED_SCORE`: in f16 the constant is -inf and 0 * -inf
    // would be NaN.
    Tensor::<B, 2>::zeros([batch, seq], &device)
        .mask_fill(attention_mask.equal_elem(0), MASKED_SCORE)
        .reshape([batch, 1, 1, seq])
}

/// Self-attention of `q`, `k`, `v` (`[batch, seq, heads·head_dim]` each) under `mask_add`
/// (`[batch, 1, 1, seq]`): the per-head contexts merged back to `[batch, seq, heads·head_dim]`.
pub fn self_attention<B: Backend>(
    q: Tensor<B, 3>,
    k: Tensor<B, 3>,
    v: Tensor<B, 3>,
    mask_add: Tensor<B, 4>,
    heads: usize,
    probs_dropout: &Dropout,
) -> Tensor<B, 3> {
    // Training on the CPU backend: the fused kernel (one autodiff node, no head copies).
    if is::<B, Train<Cpu>>() && q.dtype() == DType::F32 && q.dims()[2].is_multiple_of(heads) {
        let (q, k, v, m) = (cast(q), cast(k), cast(v), cast(mask_add));
        return cast(super::fused::attention(
            q,
            k,
            v,
            m,
            heads,
            probs_dropout.prob,
        ));
    }
    let [batch, seq, hidden] = q.dims();
    let head_dim = hidden / heads;
    let split = |t: Tensor<B, 3>| t.reshape([batch, seq, heads, head_dim]).swap_dims(1, 2);
    // kᵀ straight from the projection's layout: [b, s, h, d] → [b, h, d, s], a view.
    let kt = k
        .reshape([batch, seq, heads, head_dim])
        .permute([0, 2, 3, 1]);
    let scores = matmul(split(q), kt).div_scalar((head_dim as f64).sqrt()) + mask_add;
    let probs = probs_dropout.forward(softmax(scores, 3));
    matmul(probs, split(v))
        .swap_dims(1, 2)
        .reshape([batch, seq, hidden])
}

/// Attention of `q` (`[batch, heads, q_len, head_dim]`) over `k`, `v` (`[batch, kv_heads,
/// k_len, head_dim]`, `heads` a multiple of `kv_heads`) under `mask_add` (`[batch, 1, q_len or
/// 1, k_len]`): the contexts merged to `[batch, q_len, heads·head_dim]`.
///
/// Query head `h` reads KV head `h / (heads / kv_heads)`, as Hugging Face's `repeat_kv`. Rather
/// than repeating K and V, the group's queries are stacked along the query axis (`[b, kv,
/// group·q_len, d]`, a free reshape of contiguous heads), so each KV head is read once by one
/// batched product; only the small mask is repeated to match.
pub fn grouped_attention<B: Backend>(
    q: Tensor<B, 4>,
    k: Tensor<B, 4>,
    v: Tensor<B, 4>,
    mask_add: Tensor<B, 4>,
    probs_dropout: &Dropout,
) -> Tensor<B, 3> {
    let [batch, heads, q_len, head_dim] = q.dims();
    let [_, kv_heads, k_len, _] = k.dims();
    let group = heads / kv_heads;
    let q = q.reshape([batch, kv_heads, group * q_len, head_dim]);
    let mask_add = match mask_add.dims()[2] {
        1 => mask_add,
        _ => mask_add.repeat_dim(2, group),
    };
    let scores = matmul(q, k.swap_dims(2, 3)).div_scalar((head_dim as f64).sqrt()) + mask_add;
    let probs = probs_dropout.forward(softmax(scores, 3));
    debug_assert_eq!(probs.dims()[3], k_len);
    matmul(probs, v)
        .reshape([batch, heads, q_len, head_dim])
        .swap_dims(1, 2)
        .reshape([batch, q_len, heads * head_dim])
}
