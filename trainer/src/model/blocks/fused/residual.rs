//! A residual connection after dropout, `x ⊙ M + residual`, as one autodiff node.
//!
//! Composed, it is a mask tensor, a multiplication and an addition, each a single-threaded pass
//! on the calling thread while the pool waits, and each recorded for backward. Here one parallel
//! pass writes the sum; the backward is `dx = g ⊙ M` (one pass) and `dresidual = g` (no pass).
//! The mask is the one [`Dropout`](super::super::Dropout) would draw: the same key from the
//! backend's generator, the same [`mask_values`].

use std::sync::Arc;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::Flex;
use burn::tensor::{Tensor, TensorPrimitive};
use rayon::prelude::*;

use super::super::dropout::{draw_key, mask_values};
use super::{tensor, values, Fast, CHUNK};

#[derive(Debug)]
struct DropoutAddBackward;

impl Backward<Flex, 2> for DropoutAddBackward {
    /// The mask: `0` or `1/keep` per element.
    type State = Arc<Vec<f32>>;

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [x_node, residual_node] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        if let Some(node) = x_node {
            let g = values(&grad);
            let dx = g
                .par_iter()
                .zip(&ops.state[..])
                .with_min_len(CHUNK)
                .map(|(g, m)| g * m)
                .collect();
            grads.register::<Flex>(node.id, tensor(dx, grad.layout().shape().clone()));
        }
        if let Some(node) = residual_node {
            grads.register::<Flex>(node.id, grad);
        }
    }
}

/// `x ⊙ M + residual` with `M` a fresh dropout mask of probability `prob` (> 0).
pub(super) fn forward<const D: usize>(
    x: Tensor<Fast, D>,
    residual: Tensor<Fast, D>,
    prob: f64,
) -> Tensor<Fast, D> {
    let device = x.device();
    let x = x.into_primitive().tensor();
    let residual = residual.into_primitive().tensor();
    let shape = x.primitive.layout().shape().clone();
    let mask = Arc::new(mask_values(
        draw_key::<Fast>(&device),
        shape.num_elements(),
        prob,
    ));
    // Collected in parallel straight into the new buffer: nothing is zero-filled first.
    let out = values(&x.primitive)
        .par_iter()
        .zip(&mask[..])
        .zip(&values(&residual.primitive)[..])
        .with_min_len(CHUNK)
        .map(|((x, m), r)| x * m + r)
        .collect();
    let y = tensor(out, shape);
    let nodes = [x.node.clone(), residual.node.clone()];
    let out = match DropoutAddBackward
        .prepare::<NoCheckpointing>(nodes)
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(mask, y),
        OpsKind::UnTracked(prep) => prep.finish(y),
    };
    Tensor::from_primitive(TensorPrimitive::Float(out))
}
