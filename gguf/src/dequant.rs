//! Storage types to f32 and back. Block layouts as llama.cpp's ggml-common.h declares them:
//!
//! - Q8_0: 32 values per 34-byte block: f16 scale `d`, then 32 i8 `q`; x = d·q.
//! - Q4_0: 32 values per 18-byte block: f16 `d`, then 16 bytes whose low nibbles hold values
//!   0..16 and high nibbles values 16..32; x = d·(nibble − 8).
//! - Q4_1: 32 values per 20-byte block: f16 `d`, f16 minimum `m`, then nibbles as Q4_0;
//!   x = d·nibble + m.

use crate::error::{GgufError, Result};
use crate::types::GgmlType;
use half::{bf16, f16};

/// `n` values of type `ty` stored in `bytes`, as f32.
pub fn dequantize(ty: GgmlType, bytes: &[u8], n: usize) -> Result<Vec<f32>> {
    let (bs, ts) = (ty.block_size() as usize, ty.type_size() as usize);
    if !n.is_multiple_of(bs) || bytes.len() != n / bs * ts {
        return Err(GgufError::BadTensor {
            tensor: format!("<{ty} buffer>"),
            why: format!("{} bytes do not hold {n} {ty} values", bytes.len()),
        });
    }
    let half = |b: &[u8]| f16::from_le_bytes([b[0], b[1]]).to_f32();
    let mut out = Vec::with_capacity(n);
    match ty {
        GgmlType::F32 => out.extend(
            bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        ),
        GgmlType::F16 => out.extend(bytes.chunks_exact(2).map(half)),
        GgmlType::BF16 => out.extend(
            bytes
                .chunks_exact(2)
                .map(|b| bf16::from_le_bytes([b[0], b[1]]).to_f32()),
        ),
        GgmlType::Q8_0 => {
            for b in bytes.chunks_exact(ts) {
                let d = half(b);
                out.extend(b[2..].iter().map(|&q| d * f32::from(q as i8)));
            }
        }
        GgmlType::Q4_0 => {
            for b in bytes.chunks_exact(ts) {
                let d = half(b);
                nibbles(&b[2..], &mut out, |q| d * (f32::from(q) - 8.0));
            }
        }
        GgmlType::Q4_1 => {
            for b in bytes.chunks_exact(ts) {
                let (d, m) = (half(b), half(&b[2..]));
                nibbles(&b[4..], &mut out, |q| d * f32::from(q) + m);
            }
        }
        _ => {
            return Err(GgufError::UnsupportedType {
                tensor: format!("<{ty} buffer>"),
                ty,
            })
        }
    }
    Ok(out)
}

/// The 32 values of a 4-bit block: low nibbles first (values 0..16), then high nibbles.
fn nibbles(qs: &[u8], out: &mut Vec<f32>, f: impl Fn(u8) -> f32) {
    out.extend(qs.iter().map(|&q| f(q & 0x0f)));
    out.extend(qs.iter().map(|&q| f(q >> 4)));
}

/// The storage types the writer produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteType {
    F32,
    F16,
    Q8_0,
}

impl WriteType {
    pub fn ggml(self) -> GgmlType {
        match self {
            Self::F32 => GgmlType::F32,
            Self::F16 => GgmlType::F16,
            Self::Q8_0 => GgmlType::Q8_0,
        }
    }
}

/// `values` stored as `ty` (for Q8_0, `values.len()` must be a multiple of 32).
pub fn quantize(ty: WriteType, values: &[f32]) -> Vec<u8> {
    match ty {
        WriteType::F32 => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        WriteType::F16 => values
            .iter()
            .flat_map(|&v| f16::from_f32(v).to_le_bytes())
            .collect(),
        WriteType::Q8_0 => {
            let mut out = Vec::with_capacity(values.len() / 32 * 34);
            for block in values.chunks(32) {
                // As ggml's reference quantiser: the scale maps the largest magnitude to 127.
                let amax = block.iter().fold(0f32, |m, v| m.max(v.abs()));
                let d = amax / 127.0;
                let inv = if d == 0.0 { 0.0 } else { 1.0 / d };
                out.extend(f16::from_f32(d).to_le_bytes());
                out.extend(block.iter().map(|v| (v * inv).round() as i8 as u8));
            }
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f16b(v: f32) -> [u8; 2] {
        f16::from_f32(v).to_le_bytes()
    }

    #[test]
    fn q4_0_puts_low_nibbles_first_and_centres_on_8() {
        let mut block = f16b(0.5).to_vec();
        // byte j: low nibble j % 16, high nibble 15 - j % 16.
        block.extend((0..16u8).map(|j| j | ((15 - j) << 4)));
        let v = dequantize(GgmlType::Q4_0, &block, 32).unwrap();
        assert_eq!(v[0], -4.0);
        assert_eq!(v[15], 0.5 * 7.0);
        assert_eq!(v[16], 0.5 * 7.0);
        assert_eq!(v[31], -4.0);
    }

    #[test]
    fn q4_1_adds_the_minimum() {
        let mut block = f16b(0.25).to_vec();
        block.extend(f16b(-1.0));
        block.extend((0..16u8).map(|j| j | (j << 4)));
        let v = dequantize(GgmlType::Q4_1, &block, 32).unwrap();
        assert_eq!(v[0], -1.0);
        assert_eq!(v[5], 0.25 * 5.0 - 1.0);
        assert_eq!(v[21], 0.25 * 5.0 - 1.0);
    }

    #[test]
    fn q8_0_round_trips_within_half_a_step() {
        let x: Vec<f32> = (0..64)
            .map(|i| ((i * 37 % 64) as f32 - 31.5) / 9.0)
            .collect();
        let back = dequantize(GgmlType::Q8_0, &quantize(WriteType::Q8_0, &x), 64).unwrap();
        for (a, b) in x.chunks(32).zip(back.chunks(32)) {
            let step = a.iter().fold(0f32, |m, v| m.max(v.abs())) / 127.0;
            for (p, q) in a.iter().zip(b) {
                // Half a step of rounding, plus the f16 rounding of the scale (2^-11 of 127 steps).
                assert!((p - q).abs() <= step * 0.57, "{p} vs {q}");
            }
        }
    }

    #[test]
    fn a_buffer_of_the_wrong_size_is_an_error() {
        assert!(dequantize(GgmlType::Q8_0, &[0; 33], 32).is_err());
        assert!(dequantize(GgmlType::F32, &[0; 8], 3).is_err());
        assert!(matches!(
            dequantize(GgmlType::Q4_K, &[0; 144], 256),
            Err(GgufError::UnsupportedType { .. })
        ));
    }
}
