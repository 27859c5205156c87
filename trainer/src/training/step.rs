//! One optimizer step: the micro-batches of a gradient-accumulation group, each with its dropout
//! seed, their gradients summed, the global norm clipped, and an AdamW update at the schedule's
//! learning rate for this step. In an f16 run the loss is scaled before `backward` and a step
//! whose scaled gradients overflow is skipped ([`loss_scale`](super::loss_scale)).

use super::loss_scale::{LossScale, Verdict};
use super::state::{Ctx, Position};
use super::task::Task;
use super::{optim, optim::AdamW};
use crate::error::RunError;
use crate::model::init::SeededRng;
use burn::optim::GradientsParams;
use burn::tensor::backend::AutodiffBackend;

/// What a step did, for the log line.
pub(super) struct Stepped {
    /// The group's mean loss.
    pub(super) loss: f64,
    pub(super) lr: f64,
    /// Rows trained on.
    pub(super) samples: usize,
    /// The f16 loss scaler after this step (None outside f16 runs).
    pub(super) loss_scale: Option<LossScale>,
    /// The update was skipped: the f16-scaled gradients overflowed.
    pub(super) skipped: bool,
}

impl<B: AutodiffBackend, T: Task<B>> Ctx<'_, B, T> {
    /// Trains `net` on the micro-batches `group` (row indices each) as step `pos.step + 1`.
    /// Only `net` and `opt` change; the caller advances `pos`.
    pub(super) fn step(
        &self,
        net: &mut T::Net,
        opt: &mut AdamW<B::InnerBackend>,
        pos: &Position,
        group: &[Vec<usize>],
    ) -> Result<Stepped, RunError> {
        let t = &self.job.train;
        let mut acc = GradientsParams::new();
        let mut step_loss = 0.0;
        let mut samples = 0;
        let mut scaler = pos.loss_scale;
        // Each micro-batch's share of the group's loss (see `Task::weight`).
        let weights: Vec<f64> = group.iter().map(|idx| self.task.weight(idx)).collect();
        let total: f64 = weights.iter().sum();
        let scale = scaler.map_or(1.0, |s| s.scale);
        for (micro, idx) in group.iter().enumerate() {
            let share = if total > 0.0 {
                weights[micro] / total
            } else {
                0.0
            };
            // Dropout masks depend on (seed, step, micro-batch) only.
            let mut rng = SeededRng::new(t.seed ^ 0xD809_0000_0000_0000, pos.step);
            for _ in 0..micro {
                rng.next_u64();
            }
            B::seed(self.device, rng.next_u64());
            let micro_loss = self.task.loss(net, idx, self.device)?;
            let loss = micro_loss.loss;
            // The f16 scale folded with the micro-batch's share.
            let scaled = loss.clone().mul_scalar(scale * share);
            let grads = GradientsParams::from_grads(scaled.backward(), net);
            optim::accumulate(net, &mut acc, grads);
            let l: Vec<f32> = loss
                .into_data()
                .convert::<f32>()
                .to_vec()
                .unwrap_or_default();
            step_loss += l.first().copied().unwrap_or(f32::NAN) as f64 * share;
            samples += micro_loss.rows;
        }
        if !step_loss.is_finite() {
            return Err(RunError::Failed(format!(
                "training diverged: loss is {step_loss} at step {}; lower train.learning_rate",
                pos.step + 1
            )));
        }
        let lr = self.sched.lr(pos.step);
        let norm = optim::global_grad_norm(net, &acc);
        let unscale = match scaler.as_mut().map(|s| s.judge(norm)) {
            None => 1.0,
            Some(Verdict::Apply { unscale }) => unscale,
            // Weights and AdamW moments stay as they were; the schedule still advances, as
            // torch's scheduler does when GradScaler skips `optimizer.step()`.
            Some(Verdict::Skip) => {
                return Ok(Stepped {
                    loss: step_loss,
                    lr,
                    samples,
                    loss_scale: scaler,
                    skipped: true,
                });
            }
        };
        let factor = optim::clip_factor(norm * unscale, t.max_grad_norm.map(|m| m.get())) * unscale;
        opt.step_in_place(lr, factor, net, acc);
        Ok(Stepped {
            loss: step_loss,
            lr,
            samples,
            loss_scale: scaler,
            skipped: false,
        })
    }
}
