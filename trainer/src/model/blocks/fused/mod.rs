//! Fused CPU kernels for the training backend (`Autodiff<Flex>`): linear layers, embedding
//! lookups, GELU, LayerNorm, dropout + residual and BERT's self-attention core, each one
//! autodiff node with a hand-written backward.
//!
//! Under autodiff, burn builds LayerNorm, softmax and attention from generic tensor ops: every
//! step of the formula is its own full pass over memory, its own node, and, on flex, a
//! single-threaded scalar loop (`expf`/`erff` from libm). On short tweet batches those passes
//! took about half of a MiniLM step while the GEMMs ran near the CPU's peak (docs/benchmarks.md,
//! issue #8). Here each block is one parallel pass forward and one backward, over vectorised
//! `exp`/`erf` ([`math`]), with the backward written from the saved forward values. The
//! linear and embedding nodes answer a second cost: flex zero-fills and copies every new
//! buffer on the calling thread while the pool waits, so they write their results straight
//! into the buffers that become the tensors.
//!
//! The public functions take any backend: on `Train<Cpu>` with f32 tensors they run the fused
//! kernels, elsewhere (inference on the plain backend, CUDA, half precision) burn's own ops, so
//! the models stay generic. The check is a `TypeId` comparison and the move between the generic
//! and the concrete tensor type is a `Box<dyn Any>` downcast (`backend::{is, cast}`): no unsafe
//! dispatch, no new trait bound on every model. (The one `unsafe` block is the `gemm` call in
//! `gemm.rs`, behind bounds checks.)
//!
//! Every kernel is deterministic at any thread count: work is split by rows or by batch item,
//! never by thread, and partial sums are added in a fixed order.

mod attention;
mod embedding;
mod gelu;
mod gemm;
mod layer_norm;
mod linear;
pub mod math;
mod residual;

use std::borrow::Cow;

use burn::backend::flex::FlexTensor;
use burn::nn::{Embedding, LayerNorm};
use burn::tensor::backend::Backend;
use burn::tensor::{DType, Int, Shape, Tensor, TensorData};

use super::Dropout;
use crate::backend::{cast, Cpu, Train};

/// The backend the fused kernels are written for.
type Fast = Train<Cpu>;

/// Elements per parallel task in element-wise kernels: large enough that rayon's overhead
/// vanishes, small enough that both threads get work on a short batch.
pub(crate) const CHUNK: usize = 16 * 1024;

/// Exact GELU (`x · Φ(x)`).
pub fn gelu<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    if is_fast::<B>() && x.dtype() == DType::F32 {
        return cast(gelu::forward(cast::<_, Tensor<Fast, D>>(x)));
    }
    burn::tensor::activation::gelu(x)
}

/// `norm` (burn's LayerNorm, whose epsilon is private, hence `eps`) over the last dimension.
pub fn layer_norm<B: Backend, const D: usize>(
    norm: &LayerNorm<B>,
    eps: f64,
    x: Tensor<B, D>,
) -> Tensor<B, D> {
    match &norm.beta {
        Some(beta) if is_fast::<B>() && x.dtype() == DType::F32 => cast(layer_norm::forward(
            cast::<_, Tensor<Fast, D>>(x),
            cast(norm.gamma.val()),
            cast(beta.val()),
            eps,
        )),
        _ => norm.forward(x),
    }
}

/// `x·weight (+ bias)` for `x` `[rows, d_in]` and `weight` `[d_in, d_out]`, in f32.
pub fn linear<B: Backend>(
    x: Tensor<B, 2>,
    weight: Tensor<B, 2>,
    bias: Option<Tensor<B, 1>>,
) -> Tensor<B, 2> {
    if is_fast::<B>() && x.dtype() == DType::F32 && weight.dtype() == DType::F32 {
        return cast(linear::forward(cast(x), cast(weight), bias.map(cast)));
    }
    burn::tensor::module::linear(x, weight, bias)
}

/// `embedding`'s rows for `ids` (`[batch, seq]`), `[batch, seq, d]`.
pub fn embedding<B: Backend>(embedding: &Embedding<B>, ids: Tensor<B, 2, Int>) -> Tensor<B, 3> {
    let weight = embedding.weight.val();
    let [vocab, d] = weight.dims();
    let [batch, seq] = ids.dims();
    if is_fast::<B>() && weight.dtype() == DType::F32 {
        let rows = ids
            .to_data()
            .convert::<i64>()
            .into_vec::<i64>()
            .unwrap_or_default();
        // Out-of-range ids take burn's path and its error.
        if rows.len() == batch * seq && rows.iter().all(|&i| (0..vocab as i64).contains(&i)) {
            let rows = rows.into_iter().map(|i| i as usize).collect();
            let out: Tensor<B, 2> = cast(embedding::forward(cast(weight), rows));
            return out.reshape([batch, seq, d]);
        }
    }
    embedding.forward(ids)
}

/// `dropout(x) + residual`: one fused node on `Train<Cpu>` (f32), burn's ops elsewhere.
pub fn dropout_add<B: Backend, const D: usize>(
    dropout: &Dropout,
    x: Tensor<B, D>,
    residual: Tensor<B, D>,
) -> Tensor<B, D> {
    let fused = dropout.prob > 0.0 && x.shape() == residual.shape();
    if fused && is_fast::<B>() && x.dtype() == DType::F32 && residual.dtype() == DType::F32 {
        return cast(residual::forward::<D>(
            cast(x),
            cast(residual),
            dropout.prob,
        ));
    }
    dropout.forward(x) + residual
}

/// BERT's attention core on `Train<Cpu>` (f32): [`super::self_attention`] dispatches here.
pub(in crate::model::blocks) use attention::forward as attention;

fn is_fast<B: Backend>() -> bool {
    crate::backend::is::<B, Fast>()
}

/// The elements of `t` in row-major order: borrowed when contiguous, else copied.
pub(crate) fn values(t: &FlexTensor) -> Cow<'_, [f32]> {
    match t.as_slice::<f32>() {
        Some(s) => Cow::Borrowed(s),
        None => Cow::Owned(owned_values(t.clone())),
    }
}

/// `t` as an owned, contiguous buffer to write into (copied only when shared or strided).
pub(crate) fn owned_values(t: FlexTensor) -> Vec<f32> {
    t.into_data().into_vec::<f32>().unwrap_or_default()
}

pub(crate) fn tensor(values: Vec<f32>, shape: Shape) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}

#[cfg(test)]
mod tests;
