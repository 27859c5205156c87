//! The loop over epochs and accumulation groups: a step (see `step.rs`), a `metrics.jsonl` train
//! line every `log_every_steps`, evaluations on their schedule (every N steps, or after each
//! epoch), checkpoints every `checkpoint.every_steps` and at each epoch's end, and a checkpoint
//! and [`RunError::Interrupted`] when SIGTERM/SIGINT was received.

use super::metrics::MetricsWriter;
use super::optim::AdamW;
use super::report::{fmt_eval, log};
use super::state::{Ctx, Position};
use super::task::Task;
use crate::data;
use crate::error::RunError;
use burn::tensor::backend::AutodiffBackend;
use finetune_spec::contract::{ExitReason, MetricsRecord, TrainLog};
use std::time::Instant;

impl<B: AutodiffBackend, T: Task<B>> Ctx<'_, B, T> {
    /// Trains from `pos` until the run completes, reaches `max_steps` or stops early, and says
    /// which. `process_start` is for the start-up-to-first-step log line.
    pub(super) fn run_loop(
        &self,
        net: &mut T::Net,
        opt: &mut AdamW<B::InnerBackend>,
        pos: &mut Position,
        metrics: &mut MetricsWriter,
        process_start: Option<Instant>,
    ) -> Result<ExitReason, RunError> {
        let t = &self.job.train;
        let accum = t.grad_accum.get();
        let bs = t.batch_size.get();
        let limit_reason = if t.max_steps.is_some_and(|m| {
            m.get() < self.batches_per_epoch.div_ceil(accum) as u64 * t.epochs.get() as u64
        }) {
            ExitReason::MaxSteps
        } else {
            ExitReason::Completed
        };
        if pos.step >= self.total_steps {
            return Ok(limit_reason);
        }
        if self.patience_spent(pos) {
            // Killed after the checkpoint that recorded the stop, before `run.json`.
            return Ok(ExitReason::EarlyStopped);
        }
        let mut window_samples = 0usize;
        let mut window_time = 0.0f64;
        let mut first_step_logged = false;
        let mut last_saved = pos.step;
        while pos.epoch < t.epochs.get() {
            let batches = data::epoch_batches(self.task.train_rows(), bs, t.seed, pos.epoch);
            while pos.batch_in_epoch < batches.len() {
                let t0 = Instant::now();
                let group_end = (pos.batch_in_epoch + accum).min(batches.len());
                let stepped = self.step(net, opt, pos, &batches[pos.batch_in_epoch..group_end])?;
                pos.step += 1;
                pos.batch_in_epoch = group_end;
                pos.loss_sum += stepped.loss;
                pos.loss_count += 1;
                pos.loss_scale = stepped.loss_scale;
                if stepped.skipped {
                    let scale = stepped.loss_scale.map_or(1.0, |s| s.scale);
                    log(format!(
                        "step {}: f16 gradients overflowed, update skipped; loss scale now {scale}",
                        pos.step
                    ));
                }
                window_samples += stepped.samples;
                window_time += t0.elapsed().as_secs_f64();
                if !first_step_logged {
                    first_step_logged = true;
                    if let Some(p) = process_start {
                        log(format!(
                            "first step done {:.2}s after start ({:.2}s for the step)",
                            p.elapsed().as_secs_f64(),
                            t0.elapsed().as_secs_f64()
                        ));
                    }
                }
                let epoch_f = pos.epoch as f64 + pos.batch_in_epoch as f64 / batches.len() as f64;
                if pos.step.is_multiple_of(t.log_every_steps.get()) || pos.step == self.total_steps
                {
                    let rec = TrainLog {
                        step: pos.step,
                        epoch: epoch_f,
                        loss: pos.loss_sum / pos.loss_count.max(1) as f64,
                        lr: stepped.lr,
                        samples_per_s: window_samples as f64 / window_time.max(1e-9),
                        total_steps: Some(self.total_steps),
                    };
                    log(format!(
                        "step {}/{} epoch {:.2} loss {:.4} lr {:.3e} {:.1} samples/s",
                        rec.step, self.total_steps, rec.epoch, rec.loss, rec.lr, rec.samples_per_s
                    ));
                    pos.last_logged_loss = Some(rec.loss);
                    self.write(metrics, &MetricsRecord::Train(rec))?;
                    pos.loss_sum = 0.0;
                    pos.loss_count = 0;
                    window_samples = 0;
                    window_time = 0.0;
                }
                let end_of_epoch = pos.batch_in_epoch >= batches.len();
                let done = pos.step >= self.total_steps;
                let mut stop = false;
                if let Some(every) = t.eval_every_steps.map(|e| e.get()) {
                    if pos.step.is_multiple_of(every) && self.task.has_eval() {
                        let m = self.eval(net, pos, metrics)?;
                        log(format!("eval at step {}: {}", pos.step, fmt_eval(&m)));
                        stop = self.early_stop(net, pos, &m)?;
                    }
                }
                if end_of_epoch || done || stop {
                    break;
                }
                let every = self.job.checkpoint.every_steps;
                if every > 0 && pos.step.is_multiple_of(every) {
                    self.save(net, opt, pos)?;
                    last_saved = pos.step;
                }
                if crate::signal::requested() {
                    if last_saved != pos.step {
                        self.save(net, opt, pos)?;
                    }
                    return Err(RunError::Interrupted { step: pos.step });
                }
            }
            // End of an epoch, of max_steps, or early stop.
            let end_of_epoch = pos.batch_in_epoch >= batches.len();
            let mut stop = self.patience_spent(pos);
            if end_of_epoch {
                if t.eval_every_steps.is_none() && self.task.has_eval() {
                    let m = self.eval(net, pos, metrics)?;
                    log(format!(
                        "eval after epoch {}: {}",
                        pos.epoch + 1,
                        fmt_eval(&m)
                    ));
                    stop |= self.early_stop(net, pos, &m)?;
                }
                pos.epoch += 1;
                pos.batch_in_epoch = 0;
            }
            self.save(net, opt, pos)?;
            last_saved = pos.step;
            if stop {
                log(format!("early stopping at step {}", pos.step));
                return Ok(ExitReason::EarlyStopped);
            }
            if pos.step >= self.total_steps {
                return Ok(limit_reason);
            }
            if crate::signal::requested() {
                return Err(RunError::Interrupted { step: pos.step });
            }
        }
        Ok(ExitReason::Completed)
    }
}
