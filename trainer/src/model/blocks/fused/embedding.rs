//! An embedding lookup as one autodiff node whose backward builds the dense `[vocab, d]`
//! gradient in parallel.
//!
//! burn's embedding backward on flex zero-fills the gradient as bytes and copies it into an
//! aligned buffer before scattering the rows: for MiniLM's 30 522 × 384 table that is two
//! serial passes over 47 MB on the calling thread, every step, while the pool waits. Here the
//! gradient is one zeroed allocation (fresh pages from the kernel, no pass at all) and the rows
//! are accumulated by vocabulary block in parallel. Each block adds its tokens' rows in token
//! order, so the sums do not depend on the thread count. The gradient stays dense, as
//! PyTorch's is, so AdamW's update is the same.

use std::sync::Arc;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{unary, Backward, Ops, OpsKind};
use burn::backend::flex::Flex;
use burn::tensor::{Shape, Tensor, TensorPrimitive};
use rayon::prelude::*;

use super::{tensor, values, Fast};

/// Vocabulary rows per parallel task of the backward.
const BLOCK: usize = 1024;

#[derive(Debug, Clone)]
struct Saved {
    ids: Arc<Vec<usize>>,
    vocab: usize,
    d: usize,
}

#[derive(Debug)]
struct EmbeddingBackward;

impl Backward<Flex, 1> for EmbeddingBackward {
    type State = Saved;

    fn backward(self, ops: Ops<Saved, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let s = ops.state;
        unary::<Flex, _>(ops.parents, ops.node, grads, |grad| {
            let g = values(&grad);
            let d = s.d;
            let mut dw = vec![0.0f32; s.vocab * d];
            dw.par_chunks_mut(BLOCK * d)
                .enumerate()
                .for_each(|(block, rows)| {
                    let first = block * BLOCK;
                    let range = first..first + rows.len() / d.max(1);
                    for (t, &id) in s.ids.iter().enumerate() {
                        if range.contains(&id) {
                            let row = &mut rows[(id - first) * d..(id - first + 1) * d];
                            row.iter_mut()
                                .zip(&g[t * d..(t + 1) * d])
                                .for_each(|(w, g)| *w += g);
                        }
                    }
                });
            tensor(dw, Shape::new([s.vocab, d]))
        });
    }
}

/// Rows `ids` (each below `weight`'s row count: the caller checks) of `weight`
/// (`[vocab, d]`), shaped `[ids.len(), d]`.
pub(super) fn forward(weight: Tensor<Fast, 2>, ids: Vec<usize>) -> Tensor<Fast, 2> {
    let [vocab, d] = weight.dims();
    let weight = weight.into_primitive().tensor();
    let out = {
        let w = values(&weight.primitive);
        let mut out = vec![0.0f32; ids.len() * d];
        out.par_chunks_mut(d.max(1) * 64)
            .zip(ids.par_chunks(64))
            .for_each(|(rows, ids)| {
                for (row, &id) in rows.chunks_exact_mut(d).zip(ids) {
                    row.copy_from_slice(&w[id * d..(id + 1) * d]);
                }
            });
        tensor(out, Shape::new([ids.len(), d]))
    };
    let out = match EmbeddingBackward
        .prepare::<NoCheckpointing>([weight.node.clone()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(
            Saved {
                ids: Arc::new(ids),
                vocab,
                d,
            },
            out,
        ),
        OpsKind::UnTracked(prep) => prep.finish(out),
    };
    Tensor::from_primitive(TensorPrimitive::Float(out))
}
