//! Dynamic loss scaling for f16 matrix products, by the rule of PyTorch's `GradScaler`.
//!
//! f16 has five exponent bits: gradients below 2⁻²⁴ flush to zero in the backward products. The
//! loss is multiplied by a large scale before `backward`, which lifts the gradients into f16's
//! range, and the optimizer divides it out again (folded into the clipping factor, so no extra
//! pass over the gradients). When the scaled gradients overflow (a non-finite global norm), the
//! step is skipped, the weights and the optimizer state stay as they were, and the scale halves;
//! after [`GROWTH_INTERVAL`] good steps in a row it doubles again.
//!
//! bf16 has f32's exponent range and needs none of this; f32 neither. The scaler's state is part
//! of a checkpoint, so a resumed f16 run scales (and skips) exactly as the uninterrupted one.

use serde::{Deserialize, Serialize};

/// `GradScaler`'s defaults.
pub const INITIAL_SCALE: f64 = 65536.0;
pub const GROWTH_INTERVAL: u64 = 2000;
const GROWTH_FACTOR: f64 = 2.0;
const BACKOFF_FACTOR: f64 = 0.5;
/// Never scale below 1: a loss that overflows even unscaled is a diverged run, which the step's
/// own non-finite loss check reports.
const MIN_SCALE: f64 = 1.0;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LossScale {
    pub scale: f64,
    /// Good steps since the scale last changed.
    pub good_steps: u64,
    /// Steps skipped for overflow over the whole run (reported in the log).
    #[serde(default)]
    pub skipped: u64,
}

impl Default for LossScale {
    fn default() -> Self {
        LossScale::new(INITIAL_SCALE)
    }
}

/// What to do with a step's (scaled) gradients.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Verdict {
    /// Apply them, multiplied by this factor (`1 / scale`).
    Apply { unscale: f64 },
    /// They overflowed: skip the update.
    Skip,
}

impl LossScale {
    pub fn new(scale: f64) -> Self {
        LossScale {
            scale,
            good_steps: 0,
            skipped: 0,
        }
    }

    /// Judges a step by its scaled gradients' global norm and updates the scale.
    pub fn judge(&mut self, scaled_grad_norm: f64) -> Verdict {
        if !scaled_grad_norm.is_finite() {
            self.scale = (self.scale * BACKOFF_FACTOR).max(MIN_SCALE);
            self.good_steps = 0;
            self.skipped += 1;
            return Verdict::Skip;
        }
        let unscale = 1.0 / self.scale;
        self.good_steps += 1;
        if self.good_steps >= GROWTH_INTERVAL {
            self.scale *= GROWTH_FACTOR;
            self.good_steps = 0;
        }
        Verdict::Apply { unscale }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_overflow_skips_and_halves_and_good_steps_grow_it_back() {
        let mut s = LossScale::default();
        assert_eq!(s.judge(f64::INFINITY), Verdict::Skip);
        assert_eq!(s.judge(f64::NAN), Verdict::Skip);
        assert_eq!(s.scale, INITIAL_SCALE / 4.0);
        assert_eq!(s.skipped, 2);
        for _ in 0..GROWTH_INTERVAL - 1 {
            assert_eq!(
                s.judge(3.0),
                Verdict::Apply {
                    unscale: 4.0 / INITIAL_SCALE
                }
            );
        }
        assert_eq!(s.scale, INITIAL_SCALE / 4.0, "not yet");
        s.judge(3.0);
        assert_eq!(s.scale, INITIAL_SCALE / 2.0);
        assert_eq!(s.good_steps, 0);
    }

    #[test]
    fn the_scale_never_drops_below_one() {
        let mut s = LossScale::new(2.0);
        for _ in 0..5 {
            s.judge(f64::INFINITY);
        }
        assert_eq!(s.scale, 1.0);
    }

    #[test]
    fn it_round_trips_through_a_manifest() {
        let s = LossScale {
            scale: 1024.0,
            good_steps: 7,
            skipped: 3,
        };
        let text = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<LossScale>(&text).unwrap(), s);
    }
}
