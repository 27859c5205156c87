//! Dropout with masks from a counter-based generator, for every transformer in the trainer.
//!
//! burn's `nn::Dropout` samples a Bernoulli tensor element by element through the backend's
//! ChaCha generator and then runs two full-size ops (`x * mask`, `* 1/keep`), each recorded for
//! backward: on short batches that was 7 % of a MiniLM step. Here one backend draw per call gives
//! a 64-bit key, the mask (`0` or `1/keep`, the scale folded in) is a pure function of
//! (key, element index) through SplitMix64, built on the host in parallel, and applied with one
//! multiplication. The key comes from the backend's generator, so `B::seed` still fixes every
//! mask: seeded runs repeat bit for bit, at any thread count (the index, not the thread, picks
//! the bits), and a resumed run draws the same masks as an uninterrupted one.
//!
//! As burn's, it is active only on autodiff backends (train there, evaluate on the inner one).

use burn::module::Module;
use burn::tensor::backend::Backend;
use burn::tensor::{Distribution, Tensor, TensorData};
use rayon::prelude::*;

/// Inverted dropout: zeroes each element with probability `prob`, scales the rest by
/// `1 / (1 - prob)`.
#[derive(Module, Clone, Debug)]
pub struct Dropout {
    pub prob: f64,
}

impl Dropout {
    /// A dropout of probability `prob`, in `[0, 1)`.
    pub fn new(prob: f64) -> Self {
        Dropout { prob }
    }

    /// Applies the mask on autodiff backends; returns `input` unchanged otherwise.
    pub fn forward<B: Backend, const D: usize>(&self, input: Tensor<B, D>) -> Tensor<B, D> {
        let device = input.device();
        if !B::ad_enabled(&device) || self.prob == 0.0 {
            return input;
        }
        let shape = input.shape();
        let key = draw_key::<B>(&device);
        let mask = mask_values(key, shape.num_elements(), self.prob);
        input * Tensor::<B, D>::from_data(TensorData::new(mask, shape), &device)
    }
}

/// 64 bits from the backend's seeded generator: two uniform draws of 24 bits and one of 16.
pub(crate) fn draw_key<B: Backend>(device: &B::Device) -> u64 {
    let draws = Tensor::<B, 1>::random([3], Distribution::Uniform(0.0, 1.0), device)
        .into_data()
        .convert::<f32>()
        .to_vec::<f32>()
        .unwrap_or_default();
    draws
        .iter()
        .fold(0u64, |k, &u| (k << 24) ^ ((u as f64 * 16_777_216.0) as u64))
}

/// The mask of `n` elements for `key`: each `0` with probability `prob`, else `1 / (1 - prob)`.
pub fn mask_values(key: u64, n: usize, prob: f64) -> Vec<f32> {
    let keep = 1.0 - prob;
    let scale = (1.0 / keep) as f32;
    // Element i is kept when its 32 random bits are below keep · 2^32.
    let threshold = (keep * 4_294_967_296.0).min(u32::MAX as f64) as u64;
    let mut out = vec![0.0f32; n];
    // Two elements per 64-bit draw; chunks of 8192 keep rayon's overhead negligible.
    out.par_chunks_mut(8192).enumerate().for_each(|(c, chunk)| {
        let base = (c * 8192 / 2) as u64;
        for (j, pair) in chunk.chunks_mut(2).enumerate() {
            let bits = splitmix64(key ^ (base + j as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            for (half, v) in pair.iter_mut().enumerate() {
                let r = (bits >> (32 * half)) & 0xFFFF_FFFF;
                *v = if r < threshold { scale } else { 0.0 };
            }
        }
    });
    out
}

/// SplitMix64's output function: a bijective 64-bit mix.
fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_asked_share_scaled_and_repeats() {
        let m = mask_values(7, 100_000, 0.1);
        assert_eq!(m, mask_values(7, 100_000, 0.1));
        assert_ne!(m, mask_values(8, 100_000, 0.1));
        let kept = m.iter().filter(|&&v| v != 0.0).count() as f64 / m.len() as f64;
        assert!((kept - 0.9).abs() < 0.005, "{kept}");
        assert!(m.iter().all(|&v| v == 0.0 || v == (1.0f64 / 0.9) as f32));
        // The index picks the bits: a prefix is the same mask.
        assert_eq!(&mask_values(7, 10_000, 0.1)[..], &m[..10_000]);
    }

    #[test]
    fn is_identity_off_autodiff() {
        let x = Tensor::<crate::backend::Cpu, 1>::from_floats([1.0, 2.0, 3.0], &Default::default());
        let y = Dropout::new(0.5).forward(x.clone());
        assert_eq!(x.into_data(), y.into_data());
    }
}
