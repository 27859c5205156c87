//! GELU as one autodiff node: the forward saves its input, the backward computes
//! `grad · (Φ(x) + x · φ(x))` from it in one parallel pass.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{unary, Backward, Ops, OpsKind};
use burn::backend::flex::{Flex, FlexTensor};
use burn::tensor::{Tensor, TensorPrimitive};
use rayon::prelude::*;

use super::{math, owned_values, tensor, values, Fast, CHUNK};

#[derive(Debug)]
struct GeluBackward;

impl Backward<Flex, 1> for GeluBackward {
    /// The forward's input.
    type State = FlexTensor;

    fn backward(self, ops: Ops<FlexTensor, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let x = ops.state;
        unary::<Flex, _>(ops.parents, ops.node, grads, |grad| {
            let shape = grad.layout().shape().clone();
            let x = values(&x);
            let mut g = owned_values(grad);
            g.par_chunks_mut(CHUNK)
                .zip(x.par_chunks(CHUNK))
                .for_each(|(g, x)| math::gelu_backward(x, g));
            tensor(g, shape)
        });
    }
}

pub(super) fn forward<const D: usize>(x: Tensor<Fast, D>) -> Tensor<Fast, D> {
    let x = x.into_primitive().tensor();
    let y = {
        let input = values(&x.primitive);
        let mut out = vec![0.0f32; input.len()];
        out.par_chunks_mut(CHUNK)
            .zip(input.par_chunks(CHUNK))
            .for_each(|(o, i)| math::gelu(i, o));
        tensor(out, x.primitive.layout().shape().clone())
    };
    let out = match GeluBackward
        .prepare::<NoCheckpointing>([x.node.clone()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(x.primitive.clone(), y),
        OpsKind::UnTracked(prep) => prep.finish(y),
    };
    Tensor::from_primitive(TensorPrimitive::Float(out))
}
