//! BERT's self-attention core as one autodiff node over the projected `q`, `k`, `v`
//! (`[batch, seq, heads·head_dim]`, as the projections give them): per batch item and head,
//! `P = softmax(q·kᵀ/√d + mask)`, dropout on `P`, and the context `P·v` written straight into
//! `[batch, seq, heads·head_dim]`, so no head split or merge is ever copied.
//!
//! At BERT's sizes on tweets (head_dim 32, 20 to 60 tokens) the per-head products are tiny
//! next to the projections, so they are plain loops over contiguous `head_dim` slices rather
//! than GEMM calls. Batch items run in parallel, each writing its own slab of every output.
//!
//! The backward, with `Pd = P ⊙ M` (the dropout mask, already scaled by `1/keep`):
//!
//! ```text
//! dv = Pdᵀ·dO      dPd = dO·vᵀ      dP = dPd ⊙ M
//! dS = P ⊙ (dP − rowsum(dP ⊙ P)) / √d      dq = dS·k      dk = dSᵀ·q
//! ```

use std::sync::Arc;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::{Flex, FlexTensor};
use burn::tensor::{Shape, Tensor, TensorPrimitive};
use multiversion::multiversion;
use rayon::prelude::*;

use super::super::dropout::{draw_key, mask_values};
use super::{math, tensor, values, Fast};

/// The sizes of one call.
#[derive(Debug, Clone, Copy)]
struct Dims {
    seq: usize,
    heads: usize,
    head_dim: usize,
    scale: f32,
}

impl Dims {
    fn hidden(&self) -> usize {
        self.heads * self.head_dim
    }
}

#[derive(Debug, Clone)]
struct Saved {
    q: FlexTensor,
    k: FlexTensor,
    v: FlexTensor,
    /// Softmax probabilities before dropout, `[batch, heads, seq, seq]`.
    probs: Arc<Vec<f32>>,
    /// Dropout mask (`0` or `1/keep`) in the layout of `probs`; `None` without dropout.
    mask: Option<Arc<Vec<f32>>>,
    dims: Dims,
}

#[derive(Debug)]
struct AttentionBackward;

impl Backward<Flex, 3> for AttentionBackward {
    type State = Saved;

    fn backward(self, ops: Ops<Saved, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [q_node, k_node, v_node] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let s = ops.state;
        let shape = grad.layout().shape().clone();
        let d_out = values(&grad);
        let (q, k, v) = (values(&s.q), values(&s.k), values(&s.v));
        let slab = s.dims.seq * s.dims.hidden();
        let square = s.dims.heads * s.dims.seq * s.dims.seq;
        let mut dq = vec![0.0f32; d_out.len()];
        let mut dk = vec![0.0f32; d_out.len()];
        let mut dv = vec![0.0f32; d_out.len()];
        dq.par_chunks_mut(slab)
            .zip(dk.par_chunks_mut(slab))
            .zip(dv.par_chunks_mut(slab))
            .enumerate()
            .for_each(|(b, ((dq, dk), dv))| {
                let at = |t| item(t, b, slab);
                let probs = &s.probs[b * square..(b + 1) * square];
                let mask = s.mask.as_ref().map(|m| &m[b * square..(b + 1) * square]);
                let inputs = [at(&d_out), at(&q), at(&k), at(&v)];
                item_backward(s.dims, inputs, probs, mask, [dq, dk, dv]);
            });
        for (node, g) in [(q_node, dq), (k_node, dk), (v_node, dv)] {
            if let Some(node) = node {
                grads.register::<Flex>(node.id, tensor(g, shape.clone()));
            }
        }
    }
}

pub(super) fn forward(
    q: Tensor<Fast, 3>,
    k: Tensor<Fast, 3>,
    v: Tensor<Fast, 3>,
    mask_add: Tensor<Fast, 4>,
    heads: usize,
    dropout: f64,
) -> Tensor<Fast, 3> {
    let device = q.device();
    let [batch, seq, hidden] = q.dims();
    let head_dim = hidden / heads;
    let dims = Dims {
        seq,
        heads,
        head_dim,
        scale: 1.0 / (head_dim as f32).sqrt(),
    };
    let bias = mask_add.into_primitive().tensor().primitive;
    let bias = values(&bias);
    let (q, k, v) = (
        q.into_primitive().tensor(),
        k.into_primitive().tensor(),
        v.into_primitive().tensor(),
    );
    let square = heads * seq * seq;
    // Drawn after nothing else, as the composed path draws it for its dropout on the probabilities.
    let mask = (dropout > 0.0).then(|| {
        Arc::new(mask_values(
            draw_key::<Fast>(&device),
            batch * square,
            dropout,
        ))
    });
    let mut probs = vec![0.0f32; batch * square];
    let mut context = vec![0.0f32; batch * seq * hidden];
    {
        let (qv, kv, vv) = (
            values(&q.primitive),
            values(&k.primitive),
            values(&v.primitive),
        );
        let slab = seq * hidden;
        context
            .par_chunks_mut(slab)
            .zip(probs.par_chunks_mut(square))
            .enumerate()
            .for_each(|(b, (ctx, p))| {
                let at = |t| item(t, b, slab);
                let m = mask.as_ref().map(|m| &m[b * square..(b + 1) * square]);
                let row_bias = &bias[b * seq..(b + 1) * seq];
                item_forward(dims, [at(&qv), at(&kv), at(&vv)], row_bias, m, p, ctx);
            });
    }
    let y = tensor(context, Shape::new([batch, seq, hidden]));
    let nodes = [q.node.clone(), k.node.clone(), v.node.clone()];
    let out = match AttentionBackward
        .prepare::<NoCheckpointing>(nodes)
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => {
            let saved = Saved {
                q: q.primitive.clone(),
                k: k.primitive.clone(),
                v: v.primitive.clone(),
                probs: Arc::new(probs),
                mask,
                dims,
            };
            prep.finish(saved, y)
        }
        OpsKind::UnTracked(prep) => prep.finish(y),
    };
    Tensor::from_primitive(TensorPrimitive::Float(out))
}

/// Batch item `b`'s slab of `t`.
fn item(t: &[f32], b: usize, slab: usize) -> &[f32] {
    &t[b * slab..(b + 1) * slab]
}

/// `Σ a·b` with 16 independent accumulators (vectorisable, fixed order).
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 16];
    let (ca, cb) = (a.chunks_exact(16), b.chunks_exact(16));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for l in 0..16 {
            acc[l] += x[l] * y[l];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// `y += a·x`.
#[inline(always)]
fn axpy(y: &mut [f32], a: f32, x: &[f32]) {
    for (y, x) in y.iter_mut().zip(x) {
        *y += a * x;
    }
}

/// One batch item: `qkv` are its `[seq, hidden]` slabs, `bias` its `[seq]` additive key mask;
/// writes its probabilities (`[heads, seq, seq]`) and context (`[seq, hidden]`).
#[multiversion(targets("x86_64+avx512f+avx512vl+avx2+fma", "x86_64+avx2+fma"))]
fn item_forward(
    dims: Dims,
    qkv: [&[f32]; 3],
    bias: &[f32],
    mask: Option<&[f32]>,
    probs: &mut [f32],
    context: &mut [f32],
) {
    let [q, k, v] = qkv;
    let (s, hd, dh) = (dims.seq, dims.hidden(), dims.head_dim);
    let row = |i: usize, h: usize| i * hd + h * dh..i * hd + (h + 1) * dh;
    for h in 0..dims.heads {
        for i in 0..s {
            let p = &mut probs[(h * s + i) * s..(h * s + i + 1) * s];
            let qi = &q[row(i, h)];
            for (j, pj) in p.iter_mut().enumerate() {
                *pj = dot(qi, &k[row(j, h)]);
            }
            math::softmax_row(p, dims.scale, bias);
            let ctx = &mut context[row(i, h)];
            for (j, &pj) in p.iter().enumerate() {
                let pd = match mask {
                    Some(m) => pj * m[(h * s + i) * s + j],
                    None => pj,
                };
                if pd != 0.0 {
                    axpy(ctx, pd, &v[row(j, h)]);
                }
            }
        }
    }
}

/// One batch item's gradients: `inputs` are the `[seq, hidden]` slabs of dO, q, k, v; writes
/// the slabs of dq, dk, dv.
#[multiversion(targets("x86_64+avx512f+avx512vl+avx2+fma", "x86_64+avx2+fma"))]
fn item_backward(
    dims: Dims,
    inputs: [&[f32]; 4],
    probs: &[f32],
    mask: Option<&[f32]>,
    outputs: [&mut [f32]; 3],
) {
    let [d_out, q, k, v] = inputs;
    let [dq, dk, dv] = outputs;
    let (s, hd, dh) = (dims.seq, dims.hidden(), dims.head_dim);
    let row = |i: usize, h: usize| i * hd + h * dh..i * hd + (h + 1) * dh;
    let mut dp = vec![0.0f32; s];
    for h in 0..dims.heads {
        for i in 0..s {
            let base = (h * s + i) * s;
            let p = &probs[base..base + s];
            let go = &d_out[row(i, h)];
            for j in 0..s {
                let m = mask.map_or(1.0, |m| m[base + j]);
                let pd = p[j] * m;
                if pd != 0.0 {
                    axpy(&mut dv[row(j, h)], pd, go);
                }
                dp[j] = dot(go, &v[row(j, h)]) * m;
            }
            let c: f32 = {
                let mut acc = [0.0f32; 16];
                for j in 0..s {
                    acc[j % 16] += dp[j] * p[j];
                }
                acc.iter().sum()
            };
            let qi = &q[row(i, h)];
            for j in 0..s {
                let ds = p[j] * (dp[j] - c) * dims.scale;
                if ds != 0.0 {
                    axpy(&mut dq[row(i, h)], ds, &k[row(j, h)]);
                    axpy(&mut dk[row(j, h)], ds, qi);
                }
            }
        }
    }
}
