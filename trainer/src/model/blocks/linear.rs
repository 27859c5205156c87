//! A linear layer applied to every token of a `[.., tokens, d_in]` tensor as one matrix product.
//!
//! burn's `linear` on a 3-D input broadcasts the weight over the batch: the forward becomes one
//! small GEMM per row of the batch, and the weight gradient one `[d_in, d_out]` product per row
//! (inner dimension = the row's length, 20 to 60 tokens on tweets) followed by a sum over the
//! batch, a `batch × d_in × d_out` temporary for every layer. Folding the leading dimensions
//! into one `[tokens, d_in]` matrix (free for a contiguous tensor) makes each of them a single
//! GEMM with the whole batch's tokens as its inner or outer dimension. The product runs in the
//! [`autocast`](super::autocast) compute type.

use super::autocast::linear2;
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

/// `x · weight (+ bias)` over the last dimension of `x`; `weight` is `[d_in, d_out]`.
pub fn linear_tokens<B: Backend, const D: usize>(
    x: Tensor<B, D>,
    weight: Tensor<B, 2>,
    bias: Option<Tensor<B, 1>>,
) -> Tensor<B, D> {
    let mut dims = x.dims();
    let d_in = dims[D - 1];
    let rows = x.shape().num_elements() / d_in.max(1);
    let [_, d_out] = weight.dims();
    dims[D - 1] = d_out;
    // One `[rows, d_in]` product whatever the rank; in the autocast compute type.
    linear2(x.reshape([rows, d_in]), weight, bias).reshape(dims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Cpu;

    #[test]
    fn matches_the_broadcast_product() {
        let device = Default::default();
        let x = Tensor::<Cpu, 3>::from_floats(
            [
                [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]],
                [[0.5, -1.0], [2.0, 0.0], [1.0, 1.0]],
            ],
            &device,
        );
        let w = Tensor::<Cpu, 2>::from_floats([[1.0, 0.0, 2.0], [-1.0, 3.0, 1.0]], &device);
        let b = Tensor::<Cpu, 1>::from_floats([0.1, 0.2, 0.3], &device);
        let ours = linear_tokens(x.clone(), w.clone(), Some(b.clone()));
        let reference = x.matmul(w.unsqueeze::<3>()) + b.unsqueeze::<3>();
        assert_eq!(ours.dims(), [2, 3, 3]);
        ours.into_data()
            .assert_approx_eq::<f32>(&reference.into_data(), Default::default());
    }
}
