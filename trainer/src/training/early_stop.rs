//! Early stopping: stop after `patience` evaluations without an improvement of at least
//! `min_delta` in the watched metric. Its state is saved in checkpoints, including where the best
//! evaluation was (its weights are kept in `checkpoints/best/`, see `training::best`).

use finetune_spec::contract::EvalMetrics;
use finetune_spec::{EarlyStopping, StopMetric};
use serde::{Deserialize, Serialize};

/// Best value seen and evaluations since it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StopState {
    pub best: Option<f64>,
    pub bad_evals: usize,
    /// Step and metrics of the best evaluation (absent in checkpoints of older trainers).
    #[serde(default)]
    pub best_step: Option<u64>,
    #[serde(default)]
    pub best_eval: Option<EvalMetrics>,
}

impl StopState {
    /// Records the evaluation at `step`; returns true when training should stop. After it,
    /// `best_step == Some(step)` tells that this evaluation is the new best.
    pub fn observe(&mut self, cfg: &EarlyStopping, step: u64, m: &EvalMetrics) -> bool {
        let (value, lower_is_better) = match cfg.metric {
            StopMetric::EvalLoss => (m.loss, true),
            StopMetric::Accuracy => (m.accuracy, false),
            // A language model has none; the spec refuses `macro_f1` for text generation.
            StopMetric::MacroF1 => (m.macro_f1.unwrap_or(0.0), false),
        };
        let improved = match self.best {
            None => true,
            Some(b) if lower_is_better => value < b - cfg.min_delta.get(),
            Some(b) => value > b + cfg.min_delta.get(),
        };
        if improved {
            self.best = Some(value);
            self.bad_evals = 0;
            self.best_step = Some(step);
            self.best_eval = Some(m.clone());
        } else {
            self.bad_evals += 1;
        }
        self.bad_evals >= cfg.patience.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use finetune_spec::{Count, NonNegative};

    fn m(loss: f64, acc: f64) -> EvalMetrics {
        EvalMetrics {
            loss,
            accuracy: acc,
            macro_f1: Some(acc),
            perplexity: None,
            samples: 1,
            tokens: None,
            per_class: Default::default(),
        }
    }

    #[test]
    fn stops_after_patience_without_improvement() {
        let cfg = EarlyStopping {
            patience: Count::of(2),
            metric: StopMetric::EvalLoss,
            min_delta: NonNegative::of(0.01),
        };
        let mut s = StopState::default();
        assert!(!s.observe(&cfg, 1, &m(1.0, 0.0)));
        assert!(!s.observe(&cfg, 2, &m(0.995, 0.0))); // below min_delta: not an improvement
        assert!(!s.observe(&cfg, 3, &m(0.5, 0.0)));
        assert!(!s.observe(&cfg, 4, &m(0.6, 0.0)));
        assert!(s.observe(&cfg, 5, &m(0.7, 0.0)));
        assert_eq!(s.best_step, Some(3));
        assert_eq!(s.best_eval, Some(m(0.5, 0.0)));
        let acc = EarlyStopping {
            patience: Count::of(1),
            metric: StopMetric::Accuracy,
            min_delta: NonNegative::of(0.0),
        };
        let mut s = StopState::default();
        assert!(!s.observe(&acc, 6, &m(0.0, 0.5)));
        assert!(!s.observe(&acc, 7, &m(0.0, 0.6)));
        assert!(s.observe(&acc, 8, &m(0.0, 0.6)));
    }
}
