//! The learning-rate schedule: linear warmup over `warmup_ratio` of the steps, then linear, cosine
//! or constant. A pure function of the step, so resuming needs no scheduler state beyond it.

use finetune_spec::Schedule;

/// Learning rate as a function of the optimizer step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LrSchedule {
    pub base_lr: f64,
    pub warmup_steps: u64,
    pub total_steps: u64,
    pub kind: Schedule,
}

impl LrSchedule {
    pub fn new(base_lr: f64, warmup_ratio: f64, total_steps: u64, kind: Schedule) -> Self {
        let warmup_steps = (warmup_ratio.clamp(0.0, 1.0) * total_steps as f64).ceil() as u64;
        LrSchedule {
            base_lr,
            warmup_steps,
            total_steps,
            kind,
        }
    }

    /// The rate for optimizer step `step` (0-based: the first update uses `lr(0)`), as
    /// Hugging Face's `get_linear_schedule_with_warmup` / `get_cosine_schedule_with_warmup`.
    pub fn lr(&self, step: u64) -> f64 {
        if step < self.warmup_steps {
            return self.base_lr * step as f64 / self.warmup_steps.max(1) as f64;
        }
        let decay_steps = self.total_steps.saturating_sub(self.warmup_steps).max(1) as f64;
        let progress = ((step - self.warmup_steps) as f64 / decay_steps).min(1.0);
        match self.kind {
            Schedule::Constant => self.base_lr,
            Schedule::Linear => self.base_lr * (1.0 - progress).max(0.0),
            Schedule::Cosine => {
                self.base_lr * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warmup_then_linear_decay() {
        let s = LrSchedule::new(1.0, 0.1, 100, Schedule::Linear);
        assert_eq!(s.warmup_steps, 10);
        assert_eq!(s.lr(0), 0.0);
        assert!((s.lr(5) - 0.5).abs() < 1e-12);
        assert_eq!(s.lr(10), 1.0);
        assert!((s.lr(55) - 0.5).abs() < 1e-12);
        assert_eq!(s.lr(100), 0.0);
    }

    #[test]
    fn cosine_and_constant() {
        let c = LrSchedule::new(2.0, 0.0, 10, Schedule::Cosine);
        assert_eq!(c.lr(0), 2.0);
        assert!((c.lr(5) - 1.0).abs() < 1e-12);
        assert!(c.lr(10).abs() < 1e-12);
        let k = LrSchedule::new(2.0, 0.5, 10, Schedule::Constant);
        assert_eq!(k.lr(2), 0.8);
        assert_eq!(k.lr(9), 2.0);
    }
}
