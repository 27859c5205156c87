//! Rotary position embeddings as Hugging Face Llama applies them: per head,
//! `x·cos + rotate_half(x)·sin`, where `rotate_half([x1, x2]) = [-x2, x1]` (the two halves of
//! the head dimension) and frequency `i` of `head_dim / 2` is `theta^(-2i / head_dim)`, divided
//! by the factor of linear rope scaling. Positions start at the KV cache's length, so a token
//! gets the same rotation whether it is run alone or with the whole prompt.
//!
//! The angle tables are computed on the host in f32 as HF does (`inv_freq` in f32, then
//! `position · inv_freq`), one `[positions, head_dim]` table per forward pass.

use burn::module::Module;
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};

/// The rotary embedding of one model (it has no weights).
#[derive(Module, Clone, Debug)]
pub struct Rope {
    pub head_dim: usize,
    pub theta: f64,
    /// Linear rope scaling: positions are divided by it (1 without scaling).
    pub scale: f64,
}

impl Rope {
    pub fn new(head_dim: usize, theta: f64, linear_scaling: Option<f64>) -> Self {
        Rope {
            head_dim,
            theta,
            scale: linear_scaling.unwrap_or(1.0),
        }
    }

    /// `cos` and `sin` tables for positions `start..start + len`, `[1, 1, len, head_dim]` each.
    pub fn tables<B: Backend>(
        &self,
        start: usize,
        len: usize,
        device: &B::Device,
    ) -> (Tensor<B, 4>, Tensor<B, 4>) {
        let half = self.head_dim / 2;
        let inv_freq: Vec<f32> = (0..half)
            .map(|i| {
                let exponent = (2 * i) as f32 / self.head_dim as f32;
                1.0 / (self.theta as f32).powf(exponent) / self.scale as f32
            })
            .collect();
        let (mut cos, mut sin) = (Vec::new(), Vec::new());
        for p in start..start + len {
            for _ in 0..2 {
                for f in &inv_freq {
                    let angle = p as f32 * f;
                    cos.push(angle.cos());
                    sin.push(angle.sin());
                }
            }
        }
        let t = |v| Tensor::from_data(TensorData::new(v, [1, 1, len, self.head_dim]), device);
        (t(cos), t(sin))
    }

    /// `x` (`[batch, heads, len, head_dim]`) rotated by the tables of [`Rope::tables`].
    pub fn apply<B: Backend>(
        x: Tensor<B, 4>,
        cos: Tensor<B, 4>,
        sin: Tensor<B, 4>,
    ) -> Tensor<B, 4> {
        let half = x.dims()[3] / 2;
        let x1 = x.clone().narrow(3, 0, half);
        let x2 = x.clone().narrow(3, half, half);
        let rotated = Tensor::cat(vec![x2.neg(), x1], 3);
        x * cos + rotated * sin
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Cpu;

    #[test]
    fn rotates_pairs_of_halves_by_position() {
        let device = Default::default();
        // head_dim 4: frequencies 1 and theta^-0.5 = 0.01; position 2 (cache of 2).
        let rope = Rope::new(4, 10_000.0, None);
        let (cos, sin) = rope.tables::<Cpu>(2, 1, &device);
        let x = Tensor::<Cpu, 4>::from_floats([[[[1.0, 2.0, 3.0, 4.0]]]], &device);
        let got = Rope::apply(x, cos, sin)
            .into_data()
            .into_vec::<f32>()
            .unwrap();
        let (a, b) = (2.0f32, 0.02f32);
        let want = [
            a.cos() - 3.0 * a.sin(),
            2.0 * b.cos() - 4.0 * b.sin(),
            3.0 * a.cos() + a.sin(),
            4.0 * b.cos() + 2.0 * b.sin(),
        ];
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-6, "{got:?} vs {want:?}");
        }
        // Linear scaling 2 at position 4 is position 2 unscaled.
        let scaled = Rope::new(4, 10_000.0, Some(2.0)).tables::<Cpu>(4, 1, &device);
        let plain = rope.tables::<Cpu>(2, 1, &device);
        scaled
            .0
            .into_data()
            .assert_approx_eq::<f32>(&plain.0.into_data(), Default::default());
    }
}
