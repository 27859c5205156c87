//! Evaluations during a run: scoring the eval set into `metrics.jsonl`, the base model's score
//! before the first step (text generation), and early stopping's bookkeeping, which saves the
//! best evaluation's weights to `checkpoints/best/` (see [`super::best`]) as they happen.

use super::metrics::MetricsWriter;
use super::report::{fmt_eval, log};
use super::state::{Ctx, Position};
use super::task::Task;
use super::{best, params};
use crate::error::RunError;
use burn::module::AutodiffModule;
use burn::tensor::backend::AutodiffBackend;
use finetune_spec::contract::{EvalMetrics, MetricsRecord, RunRecord};
use std::path::Path;

impl<B: AutodiffBackend, T: Task<B>> Ctx<'_, B, T> {
    /// Text generation: the eval set scored by the model as loaded, before the first step, so
    /// the run can say how much training gained (`run.json`'s `base_eval`, and an eval line at
    /// step 0 in `metrics.jsonl`). A resumed run reads back the line its first start wrote: the
    /// base weights are gone by then. Classifiers skip it, as their head starts random and a
    /// base score would say nothing about the checkpoint.
    pub(super) fn score_base(
        &self,
        net: &T::Net,
        metrics: &mut MetricsWriter,
    ) -> Result<Option<EvalMetrics>, RunError> {
        if self.job.task != finetune_spec::Task::TextGeneration || !self.task.has_eval() {
            return Ok(None);
        }
        if self.resumed_from.is_some() {
            return Ok(step_zero_eval(metrics.path()));
        }
        let m = self.task.evaluate(&net.valid(), self.device)?;
        self.write(
            metrics,
            &MetricsRecord::Eval {
                step: 0,
                epoch: 0.0,
                eval: m.clone(),
            },
        )?;
        log(format!(
            "base model eval, before training: {}",
            fmt_eval(&m)
        ));
        Ok(Some(m))
    }

    /// Evaluates `net` on the eval set at `pos`, writes the metrics line and remembers it as
    /// the last evaluation.
    pub(super) fn eval(
        &self,
        net: &T::Net,
        pos: &mut Position,
        metrics: &mut MetricsWriter,
    ) -> Result<EvalMetrics, RunError> {
        let inner = net.valid();
        let m = self.task.evaluate(&inner, self.device)?;
        self.write(
            metrics,
            &MetricsRecord::Eval {
                step: pos.step,
                epoch: self.epoch_at(pos),
                eval: m.clone(),
            },
        )?;
        pos.last_eval = Some(m.clone());
        pos.last_eval_step = Some(pos.step);
        Ok(m)
    }

    /// Feeds an evaluation of `net` to early stopping; when it is the best so far, saves `net`'s
    /// weights as the best. Returns true when training should stop.
    pub(super) fn early_stop(
        &self,
        net: &T::Net,
        pos: &mut Position,
        m: &EvalMetrics,
    ) -> Result<bool, RunError> {
        let Some(cfg) = &self.job.train.early_stopping else {
            return Ok(false);
        };
        let stop = pos.stop.observe(cfg, pos.step, m);
        if pos.stop.best_step == Some(pos.step) {
            best::save(
                &self.out.best(),
                pos.step,
                &params::named_params(&net.valid()),
            )?;
        }
        Ok(stop)
    }

    /// Whether early stopping's patience ran out (the run stopped, or must).
    pub(super) fn patience_spent(&self, pos: &Position) -> bool {
        self.job
            .train
            .early_stopping
            .as_ref()
            .is_some_and(|c| pos.stop.bad_evals >= c.patience.get())
    }
}

/// The eval line at step 0 of `metrics.jsonl` (the base model's score), if the file has one.
fn step_zero_eval(path: &Path) -> Option<EvalMetrics> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines()
        .find_map(|l| match serde_json::from_str::<MetricsRecord>(l) {
            Ok(MetricsRecord::Eval { step: 0, eval, .. }) => Some(eval),
            _ => None,
        })
}

/// `eval loss 2.8123 -> 2.1034 (-25.2% against the base model)`, for the end of a run that
/// scored its base model; `None` otherwise.
pub(super) fn gain_on_base(rec: &RunRecord) -> Option<String> {
    let (base, last) = (rec.base_eval.as_ref()?, rec.final_eval.as_ref()?);
    let change = if base.loss > 0.0 {
        format!(
            " ({:+.1}% against the base model)",
            (last.loss / base.loss - 1.0) * 100.0
        )
    } else {
        String::new()
    };
    Some(format!(
        "eval loss {:.4} -> {:.4}{change}",
        base.loss, last.loss
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use finetune_spec::contract::TrainLog;

    fn lm_eval(loss: f64) -> EvalMetrics {
        EvalMetrics {
            loss,
            accuracy: 0.5,
            macro_f1: None,
            perplexity: Some(loss.exp()),
            samples: 4,
            tokens: Some(40),
            per_class: Default::default(),
        }
    }

    #[test]
    fn a_resumed_run_reads_its_base_score_back_from_step_zero() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("metrics.jsonl");
        assert_eq!(step_zero_eval(&p), None, "no file");
        let mut w = MetricsWriter::open(&p, None).unwrap();
        let train = MetricsRecord::Train(TrainLog {
            step: 1,
            epoch: 0.1,
            loss: 3.0,
            lr: 1e-3,
            samples_per_s: 1.0,
            total_steps: Some(8),
        });
        w.write(&train).unwrap();
        assert_eq!(step_zero_eval(&p), None, "no step-0 eval");
        let later = MetricsRecord::Eval {
            step: 4,
            epoch: 0.5,
            eval: lm_eval(2.0),
        };
        let base = MetricsRecord::Eval {
            step: 0,
            epoch: 0.0,
            eval: lm_eval(2.5),
        };
        w.write(&later).unwrap();
        w.write(&base).unwrap();
        assert_eq!(step_zero_eval(&p), Some(lm_eval(2.5)));
    }

    #[test]
    fn the_gain_is_said_against_the_base_loss() {
        let job: finetune_spec::JobSpec = serde_json::from_value(serde_json::json!({
            "name": "j", "model": "/m", "data": {"train": "/t.jsonl"}, "output": "/o"
        }))
        .unwrap();
        let mut rec =
            crate::artifact::run_record(&job, finetune_spec::contract::ExitReason::Completed);
        rec.final_eval = Some(lm_eval(1.5));
        assert_eq!(gain_on_base(&rec), None, "no base score");
        rec.base_eval = Some(lm_eval(2.0));
        assert_eq!(
            gain_on_base(&rec).as_deref(),
            Some("eval loss 2.0000 -> 1.5000 (-25.0% against the base model)")
        );
        rec.final_eval = None;
        assert_eq!(gain_on_base(&rec), None, "no final score");
    }
}
