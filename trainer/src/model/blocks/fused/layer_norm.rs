//! LayerNorm over the last dimension as one autodiff node with three parents (input, gamma,
//! beta). The forward saves the normalised input `x̂` and each row's `1/σ`; the backward is
//! the closed form
//!
//! ```text
//! dx = (1/σ) · (g·γ − mean(g·γ) − x̂ · mean(g·γ·x̂))      per row
//! dγ = Σ_rows g·x̂,   dβ = Σ_rows g
//! ```
//!
//! Rows run in parallel; the column sums for dγ and dβ are formed per block of [`ROWS`] rows and
//! the blocks added in order, so the result does not depend on the thread count.

use std::sync::Arc;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::Flex;
use burn::tensor::{Shape, Tensor, TensorPrimitive};
use multiversion::multiversion;
use rayon::prelude::*;

use super::math::sum;
use super::{owned_values, tensor, values, Fast};

/// Rows per parallel task.
const ROWS: usize = 16;

#[derive(Debug, Clone)]
struct Saved {
    /// `x̂`, row-major `[rows, d]`.
    normed: Arc<Vec<f32>>,
    /// `1/σ` per row.
    inv_std: Arc<Vec<f32>>,
    gamma: Arc<Vec<f32>>,
    shape: Shape,
}

#[derive(Debug)]
struct LayerNormBackward;

impl Backward<Flex, 3> for LayerNormBackward {
    type State = Saved;

    fn backward(self, ops: Ops<Saved, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [x_node, gamma_node, beta_node] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let s = ops.state;
        let d = s.gamma.len();
        let g = values(&grad);

        if let Some(node) = x_node {
            let mut dx = vec![0.0f32; g.len()];
            dx.par_chunks_mut(d * ROWS)
                .zip(g.par_chunks(d * ROWS))
                .zip(s.normed.par_chunks(d * ROWS))
                .zip(s.inv_std.par_chunks(ROWS))
                .for_each(|(((dx, g), xh), inv)| input_grad(dx, g, xh, inv, &s.gamma));
            grads.register::<Flex>(node.id, tensor(dx, s.shape.clone()));
        }
        if gamma_node.is_some() || beta_node.is_some() {
            let (dgamma, dbeta) = param_grads(&g, &s.normed, d);
            if let Some(node) = gamma_node {
                grads.register::<Flex>(node.id, tensor(dgamma, Shape::new([d])));
            }
            if let Some(node) = beta_node {
                grads.register::<Flex>(node.id, tensor(dbeta, Shape::new([d])));
            }
        }
    }
}

pub(super) fn forward<const D: usize>(
    x: Tensor<Fast, D>,
    gamma: Tensor<Fast, 1>,
    beta: Tensor<Fast, 1>,
    eps: f64,
) -> Tensor<Fast, D> {
    let x = x.into_primitive().tensor();
    let gamma = gamma.into_primitive().tensor();
    let beta = beta.into_primitive().tensor();
    let shape = x.primitive.layout().shape().clone();
    let g = Arc::new(owned_values(gamma.primitive.clone()));
    let b = values(&beta.primitive);
    let d = g.len();
    let input = values(&x.primitive);
    let rows = input.len() / d.max(1);
    let mut out = vec![0.0f32; input.len()];
    let mut normed = vec![0.0f32; input.len()];
    let mut inv_std = vec![0.0f32; rows];
    out.par_chunks_mut(d * ROWS)
        .zip(normed.par_chunks_mut(d * ROWS))
        .zip(inv_std.par_chunks_mut(ROWS))
        .zip(input.par_chunks(d * ROWS))
        .for_each(|(((o, n), s), i)| normalise(i, o, n, s, &g, &b, eps as f32));
    drop(input);
    let y = tensor(out, shape.clone());
    let nodes = [x.node.clone(), gamma.node.clone(), beta.node.clone()];
    let out = match LayerNormBackward
        .prepare::<NoCheckpointing>(nodes)
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => {
            let saved = Saved {
                normed: Arc::new(normed),
                inv_std: Arc::new(inv_std),
                gamma: g,
                shape,
            };
            prep.finish(saved, y)
        }
        OpsKind::UnTracked(prep) => prep.finish(y),
    };
    Tensor::from_primitive(TensorPrimitive::Float(out))
}

#[multiversion(targets("x86_64+avx512f+avx512vl+avx2+fma", "x86_64+avx2+fma"))]
fn normalise(
    input: &[f32],
    out: &mut [f32],
    normed: &mut [f32],
    inv_std: &mut [f32],
    gamma: &[f32],
    beta: &[f32],
    eps: f32,
) {
    let d = gamma.len();
    for (r, x) in input.chunks_exact(d).enumerate() {
        let mean = sum(x.iter().copied()) / d as f32;
        let var = sum(x.iter().map(|v| (v - mean) * (v - mean))) / d as f32;
        let inv = 1.0 / (var + eps).sqrt();
        inv_std[r] = inv;
        let n = &mut normed[r * d..(r + 1) * d];
        let o = &mut out[r * d..(r + 1) * d];
        for j in 0..d {
            n[j] = (x[j] - mean) * inv;
            o[j] = n[j] * gamma[j] + beta[j];
        }
    }
}

#[multiversion(targets("x86_64+avx512f+avx512vl+avx2+fma", "x86_64+avx2+fma"))]
fn input_grad(dx: &mut [f32], grad: &[f32], normed: &[f32], inv_std: &[f32], gamma: &[f32]) {
    let d = gamma.len();
    for (r, (g, xh)) in grad.chunks_exact(d).zip(normed.chunks_exact(d)).enumerate() {
        let mean_gg = sum(g.iter().zip(gamma).map(|(g, w)| g * w)) / d as f32;
        let mean_ggx = sum((0..d).map(|j| g[j] * gamma[j] * xh[j])) / d as f32;
        let out = &mut dx[r * d..(r + 1) * d];
        for j in 0..d {
            out[j] = inv_std[r] * (g[j] * gamma[j] - mean_gg - xh[j] * mean_ggx);
        }
    }
}

/// `(dγ, dβ)`: column sums of `g·x̂` and `g`, per block of rows, blocks added in order.
fn param_grads(grad: &[f32], normed: &[f32], d: usize) -> (Vec<f32>, Vec<f32>) {
    let partials: Vec<(Vec<f32>, Vec<f32>)> = grad
        .par_chunks(d * ROWS)
        .zip(normed.par_chunks(d * ROWS))
        .map(|(g, xh)| block_sums(g, xh, d))
        .collect();
    let mut dgamma = vec![0.0f32; d];
    let mut dbeta = vec![0.0f32; d];
    for (pg, pb) in partials {
        for j in 0..d {
            dgamma[j] += pg[j];
            dbeta[j] += pb[j];
        }
    }
    (dgamma, dbeta)
}

#[multiversion(targets("x86_64+avx512f+avx512vl+avx2+fma", "x86_64+avx2+fma"))]
fn block_sums(grad: &[f32], normed: &[f32], d: usize) -> (Vec<f32>, Vec<f32>) {
    let mut dgamma = vec![0.0f32; d];
    let mut dbeta = vec![0.0f32; d];
    for (g, xh) in grad.chunks_exact(d).zip(normed.chunks_exact(d)) {
        for j in 0..d {
            dgamma[j] += g[j] * xh[j];
            dbeta[j] += g[j];
        }
    }
    (dgamma, dbeta)
}
