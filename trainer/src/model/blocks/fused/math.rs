//! Branch-free `exp` and `erf` for f32 that the compiler can vectorise, and the element loops
//! built on them, and the fixed-order 16-lane reductions
//! (`lanes`, `sum`, `dot`) every fused kernel uses.
//!
//! libm's `expf`/`erff` are scalar calls: a loop over them runs one element at a time whatever
//! the CPU. These are polynomials plus bit tricks with no calls and no data-dependent branches,
//! so each loop compiles to 8- or 16-lane code; `multiversion` builds the AVX-512 and AVX2+FMA
//! copies and picks one at run time. Results do not depend on the copy picked: Rust never
//! contracts `a * b + c` into an FMA on its own, so every lane rounds as the scalar code does.
//!
//! Accuracy (checked in the tests against f64): `exp` within 2 ulp over its range, `erf` within
//! 6e-7 absolute (Abramowitz & Stegun 7.1.26, evaluated in f32), far inside the 1e-4 parity the model keeps with
//! transformers.

use multiversion::multiversion;

const LOG2E: f32 = std::f32::consts::LOG2_E;
// ln 2 split in two so that `n * LN2_HI` is exact for the |n| <= 127 used here.
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;
/// Below this, `exp` is 0 (the result would be subnormal).
const EXP_MIN: f32 = -87.336_55;
/// Above this, `exp` is `+inf` (f32 overflows at 88.72; the last 0.72 are given up so that the
/// power of two below stays a normal float).
const EXP_MAX: f32 = 88.0;

/// `e^x`; exactly 0 below `EXP_MIN` (so a masked attention score gives a zero probability, as
/// libm's `expf` of `-1e9` does), `+inf` above `EXP_MAX`.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    let c = x.clamp(EXP_MIN, EXP_MAX);
    let n = (c * LOG2E + 0.5).floor();
    let r = c - n * LN2_HI - n * LN2_LO;
    // Cephes' minimax polynomial for e^r on |r| <= ln2/2.
    let p = 1.987_569_2e-4_f32;
    let p = p * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 0.166_666_65;
    let p = p * r + 0.5;
    let e = p * (r * r) + r + 1.0;
    let scale = f32::from_bits(((n as i32 + 127) as u32) << 23);
    let v = e * scale;
    let v = if x > EXP_MAX { f32::INFINITY } else { v };
    if x < EXP_MIN {
        0.0
    } else {
        v
    }
}

/// The error function (Abramowitz & Stegun 7.1.26, |error| < 1.5e-7 before rounding).
#[inline(always)]
pub fn erf(x: f32) -> f32 {
    erf_and_gauss(x).0
}

/// `(erf(x), e^(−x²))`: A&S 7.1.26 computes the Gaussian factor anyway, and GELU's backward
/// needs it too.
#[inline(always)]
fn erf_and_gauss(x: f32) -> (f32, f32) {
    let a = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * a);
    let p = 1.061_405_4_f32;
    let p = p * t - 1.453_152_1;
    let p = p * t + 1.421_413_7;
    let p = p * t - 0.284_496_72;
    let p = p * t + 0.254_829_6;
    let gauss = exp(-a * a);
    let y = 1.0 - p * t * gauss;
    (if x < 0.0 { -y } else { y }, gauss)
}

const FRAC_1_SQRT_2: f32 = std::f32::consts::FRAC_1_SQRT_2;
/// 1 / √(2π).
const FRAC_1_SQRT_2PI: f32 = 0.398_942_3;

/// Exact GELU, `x · Φ(x)`, of every element of `x` into `out`.
#[multiversion(targets("x86_64+avx512f+avx512vl+avx2+fma", "x86_64+avx2+fma"))]
pub fn gelu(x: &[f32], out: &mut [f32]) {
    for (o, &v) in out.iter_mut().zip(x) {
        *o = 0.5 * v * (1.0 + erf(v * FRAC_1_SQRT_2));
    }
}

/// GELU's backward: `grad · (Φ(x) + x · φ(x))` into `grad`.
#[multiversion(targets("x86_64+avx512f+avx512vl+avx2+fma", "x86_64+avx2+fma"))]
pub fn gelu_backward(x: &[f32], grad: &mut [f32]) {
    for (g, &v) in grad.iter_mut().zip(x) {
        // One exp: with z = x/√2, erf's e^(−z²) is e^(−x²/2) = √(2π)·φ(x).
        let (erf, gauss) = erf_and_gauss(v * FRAC_1_SQRT_2);
        let cdf = 0.5 * (1.0 + erf);
        let pdf = FRAC_1_SQRT_2PI * gauss;
        *g *= cdf + v * pdf;
    }
}

/// In place over one row: `row = softmax(row · scale + bias)`, `bias` added per column.
///
/// Each pass is its own loop and the max and the sum keep 16 running lanes: a loop that mixes
/// `exp` with a scalar running sum cannot be vectorised without reordering the additions.
#[multiversion(targets("x86_64+avx512f+avx512vl+avx2+fma", "x86_64+avx2+fma"))]
pub fn softmax_row(row: &mut [f32], scale: f32, bias: &[f32]) {
    for (v, &b) in row.iter_mut().zip(bias) {
        *v = *v * scale + b;
    }
    let max = lanes(row, f32::NEG_INFINITY, f32::max)
        .into_iter()
        .fold(f32::NEG_INFINITY, f32::max);
    for v in row.iter_mut() {
        *v = exp(*v - max);
    }
    let inv = 1.0 / lanes(row, 0.0, |a, b| a + b).iter().sum::<f32>();
    for v in row.iter_mut() {
        *v *= inv;
    }
}

/// `x` folded into 16 lanes (element `i` into lane `i % 16`) with `f`, starting from `init`.
#[inline(always)]
pub fn lanes(x: &[f32], init: f32, f: impl Fn(f32, f32) -> f32) -> [f32; 16] {
    let mut acc = [init; 16];
    let chunks = x.chunks_exact(16);
    for (l, &v) in chunks.remainder().iter().enumerate() {
        acc[l] = f(acc[l], v);
    }
    for c in chunks {
        for l in 0..16 {
            acc[l] = f(acc[l], c[l]);
        }
    }
    acc
}

/// Sum of `x` with 16 independent accumulators, added up in a fixed order: vectorisable
/// without reassociating, and the same result on every run.
#[inline(always)]
pub fn sum(x: impl Iterator<Item = f32>) -> f32 {
    let mut acc = [0.0f32; 16];
    for (i, v) in x.enumerate() {
        acc[i % 16] += v;
    }
    acc.iter().sum()
}

/// `Σ a·b` with 16 independent accumulators (vectorisable, fixed order).
#[inline(always)]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 16];
    let (ca, cb) = (a.chunks_exact(16), b.chunks_exact(16));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for l in 0..16 {
            acc[l] += x[l] * y[l];
        }
    }
    acc.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_within_two_ulp_and_zero_below_its_range() {
        let mut worst = 0.0f64;
        let mut x = -87.0f32;
        while x < 88.0 {
            let want = (x as f64).exp();
            let got = exp(x) as f64;
            worst = worst.max(((got - want) / want).abs());
            x += 0.013;
        }
        assert!(worst < 2.5e-7, "relative error {worst}");
        assert_eq!(exp(-1.0e9), 0.0);
        assert_eq!(exp(-100.0), 0.0);
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(1000.0), f32::INFINITY);
    }

    #[test]
    fn erf_is_within_6e7() {
        let mut worst = 0.0f64;
        let mut x = -6.0f32;
        while x < 6.0 {
            let want = libm::erf(x as f64);
            worst = worst.max((erf(x) as f64 - want).abs());
            x += 0.0007;
        }
        assert!(worst < 6e-7, "absolute error {worst}");
    }

    #[test]
    fn gelu_and_its_gradient_match_the_f64_formulas() {
        let x: Vec<f32> = (0..1000).map(|i| (i as f32 - 500.0) * 0.017).collect();
        let mut y = vec![0.0; x.len()];
        gelu(&x, &mut y);
        let mut g = vec![1.0; x.len()];
        gelu_backward(&x, &mut g);
        for ((&v, &yv), &gv) in x.iter().zip(&y).zip(&g) {
            let v = v as f64;
            let cdf = 0.5 * (1.0 + libm::erf(v / 2f64.sqrt()));
            let pdf = (-0.5 * v * v).exp() / (2.0 * std::f64::consts::PI).sqrt();
            assert!((yv as f64 - v * cdf).abs() < 2e-6, "gelu({v})");
            assert!((gv as f64 - (cdf + v * pdf)).abs() < 2e-6, "gelu'({v})");
        }
    }

    #[test]
    fn softmax_row_sums_to_one_and_masks() {
        let mut row = vec![1.0, 2.0, 3.0, 4.0];
        softmax_row(&mut row, 0.5, &[0.0, 0.0, 0.0, -1.0e9]);
        assert_eq!(row[3], 0.0);
        let e: Vec<f64> = [0.5f64, 1.0, 1.5].iter().map(|v| v.exp()).collect();
        let s: f64 = e.iter().sum();
        for (got, want) in row.iter().zip(&e) {
            assert!((*got as f64 - want / s).abs() < 1e-7);
        }
    }
}
