//! RMSNorm as Hugging Face's `LlamaRMSNorm`: `weight · x / √(mean(x²) + eps)` over the last
//! dimension, computed in f32. burn-nn's `RmsNorm` is exactly that (f32 statistics, cast back
//! before the weight), so it is used as is; this builds one from checkpoint values.

use burn::module::Param;
use burn::nn::{RmsNorm, RmsNormConfig};
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};

/// An RMSNorm over `weight.len()` features with the checkpoint's `weight` and `eps`.
pub fn rms_norm<B: Backend>(weight: Vec<f32>, eps: f64, device: &B::Device) -> RmsNorm<B> {
    let d = weight.len();
    let mut norm = RmsNormConfig::new(d).with_epsilon(eps).init::<B>(device);
    norm.gamma = Param::from_tensor(Tensor::from_data(TensorData::new(weight, [d]), device));
    norm
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Cpu;

    #[test]
    fn matches_the_llama_formula() {
        let device = Default::default();
        let x = [[1.0f32, -2.0, 3.0, 0.5], [0.0, 0.1, -0.2, 4.0]];
        let w = vec![1.0f32, 0.5, 2.0, -1.0];
        let eps = 1e-5;
        let got = rms_norm::<Cpu>(w.clone(), eps, &device)
            .forward(Tensor::<Cpu, 2>::from_floats(x, &device))
            .into_data()
            .into_vec::<f32>()
            .unwrap();
        for (r, row) in x.iter().enumerate() {
            let ms = row.iter().map(|v| (v * v) as f64).sum::<f64>() / 4.0;
            for c in 0..4 {
                let want = w[c] as f64 * row[c] as f64 / (ms + eps).sqrt();
                assert!((got[r * 4 + c] as f64 - want).abs() < 1e-6, "{r},{c}");
            }
        }
    }
}
