//! `y = x·W + b` on `[rows, d_in]` as one autodiff node, with the products written straight into
//! the buffers that become the tensors.
//!
//! burn's linear on flex allocates each output as bytes, copies it into an aligned buffer, and
//! then adds the bias in a second, single-threaded pass; the backward adds a transpose-free but
//! equally copied product per gradient and a reduction for the bias. On a full-length MiniLM
//! step those copies, zero-fills and the page faults of fresh buffers ran on the calling thread
//! while both cores waited: about a tenth of the step (issue #8). Here the forward writes the
//! bias rows and accumulates the product onto them; the backward reads `W` and `x` transposed
//! through strides:
//!
//! ```text
//! dx = g·Wᵀ      dW = xᵀ·g      db = Σ_rows g
//! ```
//!
//! Products with at least 192³ multiply-adds use rayon's pool (see [`gemm`](super::gemm)).
//! `db` is summed per block of [`ROWS`] rows and the blocks added in order, so no result depends
//! on the thread count.

use std::borrow::Cow;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::NodeId;
use burn::backend::flex::{Flex, FlexTensor};
use burn::tensor::{Shape, Tensor, TensorPrimitive};
use rayon::prelude::*;

use super::gemm::{matmul, Threads, View};
use super::{tensor, values, Fast};

/// Rows per block of the bias gradient's column sums.
const ROWS: usize = 16;

/// What the backward needs: `x` for `dW`, `W` for `dx` (each kept only when the other side is
/// tracked).
#[derive(Debug, Clone)]
struct Saved {
    x: Option<FlexTensor>,
    weight: Option<FlexTensor>,
    rows: usize,
    d_in: usize,
    d_out: usize,
}

#[derive(Debug)]
struct WithBias;

#[derive(Debug)]
struct NoBias;

impl Backward<Flex, 3> for WithBias {
    type State = Saved;

    fn backward(self, ops: Ops<Saved, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [x, w, b] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let parents = [x.map(|n| n.id), w.map(|n| n.id), b.map(|n| n.id)];
        backward(&ops.state, grad, parents, grads);
    }
}

impl Backward<Flex, 2> for NoBias {
    type State = Saved;

    fn backward(self, ops: Ops<Saved, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [x, w] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let parents = [x.map(|n| n.id), w.map(|n| n.id), None];
        backward(&ops.state, grad, parents, grads);
    }
}

/// Registers `dx`, `dW` and `db` for the parents that are tracked.
fn backward(s: &Saved, grad: FlexTensor, parents: [Option<NodeId>; 3], grads: &mut Gradients) {
    let [x_id, w_id, b_id] = parents;
    let g = values(&grad);
    let (rows, d_in, d_out) = (s.rows, s.d_in, s.d_out);
    let g_view = (&g[..], View::dense(rows, d_out));
    if let (Some(id), Some(w)) = (x_id, &s.weight) {
        let (w, w_view) = matrix(w);
        let mut dx = vec![0.0f32; rows * d_in];
        let wt = (&w[..], w_view.t());
        matmul(
            &mut dx,
            View::dense(rows, d_in),
            g_view,
            wt,
            false,
            Threads::Pool,
        );
        grads.register::<Flex>(id, tensor(dx, Shape::new([rows, d_in])));
    }
    if let (Some(id), Some(x)) = (w_id, &s.x) {
        let (x, x_view) = matrix(x);
        let mut dw = vec![0.0f32; d_in * d_out];
        let xt = (&x[..], x_view.t());
        matmul(
            &mut dw,
            View::dense(d_in, d_out),
            xt,
            g_view,
            false,
            Threads::Pool,
        );
        grads.register::<Flex>(id, tensor(dw, Shape::new([d_in, d_out])));
    }
    if let Some(id) = b_id {
        grads.register::<Flex>(id, tensor(column_sums(&g, d_out), Shape::new([d_out])));
    }
}

/// `x·weight (+ bias)`; `x` is `[rows, d_in]`, `weight` `[d_in, d_out]`.
pub(super) fn forward(
    x: Tensor<Fast, 2>,
    weight: Tensor<Fast, 2>,
    bias: Option<Tensor<Fast, 1>>,
) -> Tensor<Fast, 2> {
    let [rows, d_in] = x.dims();
    let [_, d_out] = weight.dims();
    let x = x.into_primitive().tensor();
    let w = weight.into_primitive().tensor();
    let b = bias.map(|b| b.into_primitive().tensor());
    let mut y = vec![0.0f32; rows * d_out];
    if let Some(b) = &b {
        let b = values(&b.primitive);
        y.par_chunks_mut(d_out * ROWS).for_each(|block| {
            block
                .chunks_exact_mut(d_out)
                .for_each(|r| r.copy_from_slice(&b))
        });
    }
    {
        let ((xv, x_view), (wv, w_view)) = (matrix(&x.primitive), matrix(&w.primitive));
        let (lhs, rhs) = ((&xv[..], x_view), (&wv[..], w_view));
        matmul(
            &mut y,
            View::dense(rows, d_out),
            lhs,
            rhs,
            b.is_some(),
            Threads::Pool,
        );
    }
    let y = tensor(y, Shape::new([rows, d_out]));
    // Keep `x` only when `dW` will be asked for, and `W` only for `dx`.
    let saved = Saved {
        x: (!w.node.requirement.is_none()).then(|| x.primitive.clone()),
        weight: (!x.node.requirement.is_none()).then(|| w.primitive.clone()),
        rows,
        d_in,
        d_out,
    };
    let out = match b {
        Some(b) => {
            let nodes = [x.node.clone(), w.node.clone(), b.node.clone()];
            match WithBias
                .prepare::<NoCheckpointing>(nodes)
                .compute_bound()
                .stateful()
            {
                OpsKind::Tracked(prep) => prep.finish(saved, y),
                OpsKind::UnTracked(prep) => prep.finish(y),
            }
        }
        None => {
            let nodes = [x.node.clone(), w.node.clone()];
            match NoBias
                .prepare::<NoCheckpointing>(nodes)
                .compute_bound()
                .stateful()
            {
                OpsKind::Tracked(prep) => prep.finish(saved, y),
                OpsKind::UnTracked(prep) => prep.finish(y),
            }
        }
    };
    Tensor::from_primitive(TensorPrimitive::Float(out))
}

/// A 2-D tensor's elements and where its matrix lies in them: a strided view (a transposed
/// weight, as a tied LM head reads the embedding table) is read in place, not copied, which
/// for a 49 152-row vocabulary is 113 MB a step saved.
fn matrix(t: &FlexTensor) -> (Cow<'_, [f32]>, View) {
    let layout = t.layout();
    let dims = layout.shape().dims::<2>();
    match layout.strides() {
        &[rs, cs] if rs > 0 && cs > 0 => (
            Cow::Borrowed(t.storage::<f32>()),
            View {
                offset: layout.start_offset(),
                rows: dims[0],
                cols: dims[1],
                rs: rs as usize,
                cs: cs as usize,
            },
        ),
        _ => (values(t), View::dense(dims[0], dims[1])),
    }
}

/// Column sums of a row-major `[rows, d]` matrix, per block of [`ROWS`] rows, blocks added in
/// order.
fn column_sums(m: &[f32], d: usize) -> Vec<f32> {
    let partials: Vec<Vec<f32>> = m
        .par_chunks(d * ROWS)
        .map(|block| {
            let mut s = vec![0.0f32; d];
            for row in block.chunks_exact(d) {
                s.iter_mut().zip(row).for_each(|(s, v)| *s += v);
            }
            s
        })
        .collect();
    let mut sums = vec![0.0f32; d];
    for p in partials {
        sums.iter_mut().zip(&p).for_each(|(s, v)| *s += v);
    }
    sums
}
