//! Evaluations during a run: scoring the eval set into `metrics.jsonl`, and early stopping's
//! bookkeeping, which saves the best evaluation's weights to `checkpoints/best/` (see
//! [`super::best`]) as they happen.

use super::metrics::MetricsWriter;
use super::state::{Ctx, Position};
use super::task::Task;
use super::{best, params};
use crate::error::RunError;
use burn::module::AutodiffModule;
use burn::tensor::backend::AutodiffBackend;
use finetune_spec::contract::{EvalMetrics, MetricsRecord};

impl<B: AutodiffBackend, T: Task<B>> Ctx<'_, B, T> {
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
