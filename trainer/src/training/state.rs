//! The state a run carries: [`Ctx`], what the loop reads but does not change (the job, data,
//! output directory, schedule and run identity), and [`Position`], where the loop stands (what a
//! checkpoint saves besides tensors). Also the step arithmetic and the `run.json` record built
//! from both.

use super::early_stop::StopState;
use super::loss_scale::LossScale;
use super::metrics::MetricsWriter;
use super::schedule::LrSchedule;
use super::task::Task;
use crate::artifact::{self, OutputDir};
use crate::checkpoint::Manifest;
use crate::error::RunError;
use crate::model::blocks::autocast;
use burn::tensor::backend::AutodiffBackend;
use finetune_spec::contract::{EvalMetrics, ExitReason, MetricsRecord, RunRecord};
use finetune_spec::time::now_rfc3339;
use finetune_spec::{JobSpec, TrainSpec};
use std::time::Instant;

/// Where the loop stands; what a checkpoint saves besides tensors.
pub(super) struct Position {
    pub(super) step: u64,
    pub(super) epoch: usize,
    pub(super) batch_in_epoch: usize,
    pub(super) stop: StopState,
    pub(super) loss_sum: f64,
    pub(super) loss_count: u64,
    pub(super) last_eval: Option<EvalMetrics>,
    pub(super) last_eval_step: Option<u64>,
    /// The loss of the last log line (not checkpointed; only for `run.json`).
    pub(super) last_logged_loss: Option<f64>,
    /// The f16 loss scaler's state (f16 runs only).
    pub(super) loss_scale: Option<LossScale>,
}

impl Position {
    /// The start of a fresh run.
    pub(super) fn start() -> Self {
        Position {
            step: 0,
            epoch: 0,
            batch_in_epoch: 0,
            stop: StopState::default(),
            loss_sum: 0.0,
            loss_count: 0,
            last_eval: None,
            last_eval_step: None,
            last_logged_loss: None,
            loss_scale: None,
        }
    }

    /// Where the run that wrote `m` stood.
    pub(super) fn from_manifest(m: Manifest) -> Self {
        Position {
            step: m.step,
            epoch: m.epoch,
            batch_in_epoch: m.batch_in_epoch,
            stop: m.early_stopping,
            loss_sum: m.loss_sum,
            loss_count: m.loss_count,
            last_eval: m.last_eval,
            last_eval_step: m.last_eval_step,
            last_logged_loss: None,
            loss_scale: m.loss_scale,
        }
    }
}

/// How many batches and optimizer steps a run of `t` over `rows` training rows has:
/// (batches per epoch, steps per epoch, total steps with `max_steps` applied).
pub(super) fn step_counts(t: &TrainSpec, rows: usize) -> (usize, u64, u64) {
    let batches_per_epoch = rows.div_ceil(t.batch_size.get());
    let steps_per_epoch = batches_per_epoch.div_ceil(t.grad_accum.get()) as u64;
    let mut total_steps = steps_per_epoch * t.epochs.get() as u64;
    if let Some(max) = t.max_steps {
        total_steps = total_steps.min(max.get());
    }
    (batches_per_epoch, steps_per_epoch, total_steps)
}

/// What the loop reads but does not change.
pub(super) struct Ctx<'a, B: AutodiffBackend, T: Task<B>> {
    pub(super) job: &'a JobSpec,
    /// The data, the loss, the evaluation and the export.
    pub(super) task: &'a T,
    pub(super) out: &'a OutputDir,
    pub(super) device: &'a B::Device,
    pub(super) config_hash: &'a str,
    pub(super) sched: LrSchedule,
    pub(super) batches_per_epoch: usize,
    pub(super) total_steps: u64,
    /// The backend's name, for `run.json`.
    pub(super) backend: &'a str,
    pub(super) started: Instant,
    pub(super) started_at: &'a str,
    /// The checkpoint step this process resumed from.
    pub(super) resumed_from: Option<u64>,
    /// Text generation: the eval set scored before the first step (see `evals.rs`).
    pub(super) base_eval: Option<EvalMetrics>,
}

impl<B: AutodiffBackend, T: Task<B>> Ctx<'_, B, T> {
    /// The fractional epoch `pos` is at.
    pub(super) fn epoch_at(&self, pos: &Position) -> f64 {
        pos.epoch as f64 + pos.batch_in_epoch as f64 / self.batches_per_epoch.max(1) as f64
    }

    /// Appends a line to `metrics.jsonl`.
    pub(super) fn write(
        &self,
        metrics: &mut MetricsWriter,
        rec: &MetricsRecord,
    ) -> Result<(), RunError> {
        metrics
            .write(rec)
            .map_err(|e| RunError::output(metrics.path(), e))
    }

    /// The `run.json` record of this run ending at `pos` for `reason`.
    pub(super) fn record(&self, pos: &Position, reason: ExitReason) -> RunRecord {
        let mut rec = artifact::run_record(self.job, reason);
        rec.dataset_sha256 = self.task.dataset_sha256().clone();
        rec.redaction = self.task.redaction().cloned();
        rec.backend = self.backend.to_string();
        // The matrix products' type; the weights are always f32 (see autocast).
        rec.precision = Some(autocast::current().name().to_string());
        rec.started_at = self.started_at.to_string();
        rec.finished_at = now_rfc3339();
        rec.steps = pos.step;
        rec.epochs = self.epoch_at(pos);
        rec.final_eval = pos.last_eval.clone();
        rec.final_train_loss = if pos.loss_count > 0 {
            Some(pos.loss_sum / pos.loss_count as f64)
        } else {
            pos.last_logged_loss
        };
        rec.resumed_from_step = self.resumed_from;
        rec.base_eval = self.base_eval.clone();
        rec.duration_s = self.started.elapsed().as_secs_f64();
        rec
    }
}
