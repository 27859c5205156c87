//! Dropout with masks from a counter-based generator, for every transformer in the trainer.
//!
//! burn's `nn::Dropout` samples a Bernoulli tensor element by element through the backend's
//! ChaCha generator and then runs two full-size ops (`x * mask`, `* 1/keep`), each recorded for
//! backward: on short batches that was 7 % of a MiniLM step. Here one backend draw per call gives
//! a 64-bit key, the mask (`0` or `1/keep`, the scale folded in) is a pure function of
//! (key, element index) through a vectorised 32-bit hash, built on the host in parallel, and
//! applied with one multiplication. The key comes from the backend's generator, so `B::seed` still fixes every
//! mask: seeded runs repeat bit for bit, at any thread count (the index, not the thread, picks
//! the bits), and a resumed run draws the same masks as an uninterrupted one.
//!
//! As burn's, it is active only on autodiff backends (train there, evaluate on the inner one).

use burn::module::Module;
use burn::tensor::backend::Backend;
use burn::tensor::{Distribution, Tensor, TensorData};
use multiversion::multiversion;
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
    let threshold = (keep * 4_294_967_296.0).min(u32::MAX as f64) as u32;
    let mut out = vec![0.0f32; n];
    // Chunks of 8192 keep rayon's overhead negligible, and never straddle a multiple of 2^32,
    // so each chunk's high index bits are one constant.
    out.par_chunks_mut(8192)
        .enumerate()
        .for_each(|(c, chunk)| fill(chunk, (c * 8192) as u64, key, threshold, scale));
    out
}

/// Elements `start..start + out.len()` of the mask: two rounds of MurmurHash3's 32-bit
/// finaliser over (index, key). Branch-free 32-bit arithmetic, so the loop runs 8 or 16 lanes
/// wide; the bits depend only on the index and the key.
#[multiversion(targets("x86_64+avx512f+avx512vl+avx2+fma", "x86_64+avx2+fma"))]
fn fill(out: &mut [f32], start: u64, key: u64, threshold: u32, scale: f32) {
    let (k0, k1) = (key as u32, (key >> 32) as u32);
    let high = ((start >> 32) as u32).wrapping_mul(0x85EB_CA6B) ^ k1;
    let low = start as u32;
    for (j, v) in out.iter_mut().enumerate() {
        let h = fmix32(fmix32(low.wrapping_add(j as u32) ^ k0) ^ high);
        *v = if h < threshold { scale } else { 0.0 };
    }
}

/// MurmurHash3's finaliser: a bijective 32-bit mix with full avalanche.
#[inline(always)]
fn fmix32(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x85EB_CA6B);
    h ^= h >> 13;
    h = h.wrapping_mul(0xC2B2_AE35);
    h ^ (h >> 16)
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
