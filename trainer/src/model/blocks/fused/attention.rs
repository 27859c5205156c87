//! BERT's self-attention core as one autodiff node over the projected `q`, `k`, `v`
//! (`[batch, seq, heads·head_dim]`, as the projections give them): per batch item and head,
//! `P = softmax(q·kᵀ/√d + mask)`, dropout on `P`, and the context `P·v` written straight into
//! `[batch, seq, heads·head_dim]`, so no head split or merge is ever copied.
//!
//! The per-head products are single-threaded GEMM calls with strides that pick a head's
//! columns (or a transpose) out of the slabs; batch items run in parallel, each writing its own
//! slab of every output.
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
use rayon::prelude::*;

use super::super::dropout::{draw_key, mask_values};
use super::gemm::{self, Threads, View};
use super::{math, tensor, values, Fast};

/// The sizes of one call.
#[derive(Debug, Clone, Copy)]
struct Dims {
    seq: usize,
    heads: usize,
    head_dim: usize,
}

impl Dims {
    fn hidden(&self) -> usize {
        self.heads * self.head_dim
    }

    /// `1/√head_dim`, the scores' scale.
    fn scale(&self) -> f32 {
        1.0 / (self.head_dim as f32).sqrt()
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

pub(in crate::model::blocks) fn forward(
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

/// `dst = lhs · rhs` on this thread: the caller is already one of rayon's tasks.
fn matmul(dst: &mut [f32], d: View, lhs: &[f32], l: View, rhs: &[f32], r: View) {
    gemm::matmul(dst, d, (lhs, l), (rhs, r), false, Threads::One);
}

/// Head `h`'s `[seq, head_dim]` columns of a `[seq, heads·head_dim]` slab.
fn head(dims: Dims, h: usize) -> View {
    View {
        offset: h * dims.head_dim,
        rows: dims.seq,
        cols: dims.head_dim,
        rs: dims.hidden(),
        cs: 1,
    }
}

/// `P ⊙ M` for head `h` into `out` (`[seq, seq]`); `P` itself without dropout.
fn dropped<'a>(
    probs: &'a [f32],
    mask: Option<&[f32]>,
    h: usize,
    s: usize,
    out: &'a mut Vec<f32>,
) -> (&'a [f32], View) {
    match mask {
        None => (probs, square_at(h, s)),
        Some(m) => {
            let block = h * s * s..(h + 1) * s * s;
            out.clear();
            out.extend(
                probs[block.clone()]
                    .iter()
                    .zip(&m[block])
                    .map(|(p, m)| p * m),
            );
            (out, square_at(0, s))
        }
    }
}

/// Head `h`'s `[seq, seq]` block of a `[heads, seq, seq]` slab.
fn square_at(h: usize, s: usize) -> View {
    View {
        offset: h * s * s,
        rows: s,
        cols: s,
        rs: s,
        cs: 1,
    }
}

/// One batch item: `qkv` are its `[seq, hidden]` slabs, `bias` its `[seq]` additive key mask;
/// writes its probabilities (`[heads, seq, seq]`) and context (`[seq, hidden]`).
fn item_forward(
    dims: Dims,
    qkv: [&[f32]; 3],
    bias: &[f32],
    mask: Option<&[f32]>,
    probs: &mut [f32],
    context: &mut [f32],
) {
    let [q, k, v] = qkv;
    let s = dims.seq;
    let mut scratch = Vec::with_capacity(s * s);
    for h in 0..dims.heads {
        matmul(
            probs,
            square_at(h, s),
            q,
            head(dims, h),
            k,
            head(dims, h).t(),
        );
        for row in probs[h * s * s..(h + 1) * s * s].chunks_exact_mut(s) {
            math::softmax_row(row, dims.scale(), bias);
        }
        let (pd, pd_view) = dropped(probs, mask, h, s, &mut scratch);
        matmul(context, head(dims, h), pd, pd_view, v, head(dims, h));
    }
}

/// One batch item's gradients: `inputs` are the `[seq, hidden]` slabs of dO, q, k, v; writes
/// the slabs of dq, dk, dv.
fn item_backward(
    dims: Dims,
    inputs: [&[f32]; 4],
    probs: &[f32],
    mask: Option<&[f32]>,
    outputs: [&mut [f32]; 3],
) {
    let [d_out, q, k, v] = inputs;
    let [dq, dk, dv] = outputs;
    let s = dims.seq;
    let mut scratch = Vec::with_capacity(s * s);
    let mut ds = vec![0.0f32; s * s];
    let one = square_at(0, s);
    for h in 0..dims.heads {
        let (pd, pd_view) = dropped(probs, mask, h, s, &mut scratch);
        matmul(dv, head(dims, h), pd, pd_view.t(), d_out, head(dims, h));
        // dPd = dO·vᵀ, then dP = dPd ⊙ M and the softmax backward, row by row, in place.
        matmul(&mut ds, one, d_out, head(dims, h), v, head(dims, h).t());
        for (i, row) in ds.chunks_exact_mut(s).enumerate() {
            let base = (h * s + i) * s;
            let p = &probs[base..base + s];
            if let Some(m) = mask {
                for (x, m) in row.iter_mut().zip(&m[base..base + s]) {
                    *x *= m;
                }
            }
            let c = math::dot(row, p);
            for (x, &p) in row.iter_mut().zip(p) {
                *x = p * (*x - c) * dims.scale();
            }
        }
        matmul(dq, head(dims, h), &ds, one, k, head(dims, h));
        matmul(dk, head(dims, h), &ds, one.t(), q, head(dims, h));
    }
}
