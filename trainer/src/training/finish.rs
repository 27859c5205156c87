//! The end of a run. After SIGTERM/SIGINT: `status.json` and `run.json` record the
//! interruption. After the loop: a final evaluation (unless the last step was just evaluated),
//! the best evaluation's weights loaded back under early stopping, the export to `model/`, then
//! `run.json` and a finished `status.json`, in that order, so a run with a `run.json` has its model.

use super::metrics::MetricsWriter;
use super::report::{fmt_eval, log};
use super::state::{Ctx, Position};
use super::task::Task;
use super::{best, params};
use crate::error::RunError;
use burn::module::AutodiffModule;
use burn::tensor::backend::AutodiffBackend;
use finetune_spec::contract::{ExitReason, RunRecord, Status};
use finetune_spec::time::now_rfc3339;

impl<B: AutodiffBackend, T: Task<B>> Ctx<'_, B, T> {
    /// Records an interruption at `step` in `status.json` and `run.json`, best effort: the
    /// checkpoint, already saved, is what the next run needs.
    pub(super) fn record_interrupted(&self, pos: &Position, status: &mut Status, step: u64) {
        status.state = "interrupted".into();
        status.step = step;
        status.updated_at = now_rfc3339();
        let _ = self.out.write_status(status);
        let _ = self
            .out
            .write_run_record(&self.record(pos, ExitReason::Interrupted));
    }

    /// Finishes a run whose loop ended for `reason`, and returns its record.
    pub(super) fn finish(
        &self,
        net: T::Net,
        pos: &mut Position,
        metrics: &mut MetricsWriter,
        reason: ExitReason,
        status: &mut Status,
    ) -> Result<RunRecord, RunError> {
        if self.task.has_eval() && pos.last_eval_step != Some(pos.step) {
            let m = self.eval(&net, pos, metrics)?;
            log(format!("final eval: {}", fmt_eval(&m)));
            self.early_stop(&net, pos, &m)?;
        }
        let (net, best_step) = self.best_weights(net, pos)?;
        log(format!(
            "exporting the model to {}",
            self.out.model().display()
        ));
        self.task.export(&net.valid(), &self.out.model())?;
        let mut rec = self.record(pos, reason);
        if best_step.is_some() {
            rec.best_step = best_step;
            rec.final_eval = pos.stop.best_eval.clone();
        }
        self.out.write_run_record(&rec)?;
        status.state = "finished".into();
        status.step = pos.step;
        status.updated_at = now_rfc3339();
        self.out.write_status(status)?;
        log(format!(
            "done: {:?} at step {} in {:.1}s",
            reason, pos.step, rec.duration_s
        ));
        Ok(rec)
    }

    /// With early stopping, the best evaluation's weights and its step (`net` itself when the
    /// last step was the best). Without, or when the saved best cannot be read (logged), `net`.
    fn best_weights(&self, net: T::Net, pos: &Position) -> Result<(T::Net, Option<u64>), RunError> {
        let (Some(_), Some(step)) = (&self.job.train.early_stopping, pos.stop.best_step) else {
            return Ok((net, None));
        };
        if step == pos.step {
            return Ok((net, Some(step)));
        }
        match best::load(&self.out.best(), step) {
            Ok(values) => {
                let (net, problems) = params::load_named_params(net, &values);
                if !problems.is_empty() {
                    return Err(RunError::Failed(format!(
                        "{} does not fit this model ({})",
                        self.out.best().display(),
                        problems.join(", ")
                    )));
                }
                log(format!(
                    "exporting the best evaluation's weights (step {step}, last step {})",
                    pos.step
                ));
                Ok((net, Some(step)))
            }
            Err(e) => {
                log(format!(
                    "warning: the best weights in {} cannot be used ({e}); exporting the last step's",
                    self.out.best().display()
                ));
                Ok((net, None))
            }
        }
    }
}
