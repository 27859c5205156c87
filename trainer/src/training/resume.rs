//! Checkpoints from the loop's side: saving one (the [`Manifest`] of where the loop stands, the
//! weights and AdamW's moments), and, at start-up, finding the newest valid one, refusing it when
//! it was written for another config, data or label set, and restoring the model, optimizer and
//! [`Position`] from it.

use super::optim::AdamW;
use super::params;
use super::report::{log, short};
use super::state::{Ctx, Position};
use super::task::Task;
use crate::artifact::{self, OutputDir};
use crate::checkpoint::{self, Loaded, Manifest, OptimizerState, RngState, SchedulerState};
use crate::error::RunError;
use burn::module::AutodiffModule;
use burn::tensor::backend::AutodiffBackend;
use finetune_spec::Schedule;
use std::collections::BTreeMap;

/// The newest valid checkpoint in `out`, if any, once it is known to fit this run: same config
/// hash and data (`sha256`, unless `force`), same `labels`. Runs before the model is built, so a
/// refusal does not cost a model load.
pub(super) fn find(
    out: &OutputDir,
    sha256: &BTreeMap<String, String>,
    labels: &[String],
    config_hash: &str,
    force: bool,
) -> Result<Option<Loaded>, RunError> {
    let Some(l) = checkpoint::newest_valid(&out.checkpoints(), &mut |w| log(w)) else {
        return Ok(None);
    };
    let m = &l.manifest;
    let same_data = &m.dataset_sha256 == sha256;
    if (m.config_hash != config_hash || !same_data) && !force {
        let what = if m.config_hash != config_hash {
            "a different config"
        } else {
            "different data"
        };
        return Err(RunError::ResumeRefused(format!(
            "{} was written for {what} (config hash {} vs {}); use another output directory, \
             delete its checkpoints, or pass --force-resume",
            l.dir.display(),
            short(&m.config_hash),
            short(config_hash)
        )));
    }
    if m.labels != labels {
        return Err(RunError::ResumeRefused(format!(
            "{} has labels {:?} but the data has {:?}",
            l.dir.display(),
            m.labels,
            labels
        )));
    }
    Ok(Some(l))
}

/// `net` and `opt` as checkpoint `l` saved them, and the position to continue from.
pub(super) fn restore<B: AutodiffBackend, M: AutodiffModule<B>>(
    net: M,
    opt: &mut AdamW<B::InnerBackend>,
    l: Loaded,
    device: &B::Device,
) -> Result<(M, Position), RunError> {
    let (net, problems) = params::load_named_params(net, &l.model);
    if !problems.is_empty() {
        return Err(RunError::ResumeRefused(format!(
            "{} does not fit this model ({}); use another output directory",
            l.dir.display(),
            problems.join(", ")
        )));
    }
    opt.import_state(l.manifest.optimizer.steps, &l.optimizer, device);
    let pos = Position::from_manifest(l.manifest);
    log(format!(
        "resuming from {} (step {}, epoch {}, batch {})",
        l.dir.display(),
        pos.step,
        pos.epoch + 1,
        pos.batch_in_epoch
    ));
    Ok((net, pos))
}

impl<B: AutodiffBackend, T: Task<B>> Ctx<'_, B, T> {
    /// Saves a checkpoint of `net` and `opt` at `pos` (pruning to `checkpoint.keep`).
    pub(super) fn save(
        &self,
        net: &T::Net,
        opt: &AdamW<B::InnerBackend>,
        pos: &Position,
    ) -> Result<(), RunError> {
        let manifest = Manifest {
            format: 1,
            step: pos.step,
            epoch: pos.epoch,
            batch_in_epoch: pos.batch_in_epoch,
            optimizer: OptimizerState {
                kind: "adamw".into(),
                steps: opt.steps,
                beta1: opt.beta1,
                beta2: opt.beta2,
                eps: opt.eps,
                weight_decay: opt.weight_decay,
            },
            scheduler: SchedulerState {
                kind: match self.sched.kind {
                    Schedule::Linear => "linear",
                    Schedule::Cosine => "cosine",
                    Schedule::Constant => "constant",
                }
                .into(),
                base_lr: self.sched.base_lr,
                warmup_steps: self.sched.warmup_steps,
                total_steps: self.sched.total_steps,
                next_step: pos.step,
            },
            rng: RngState {
                scheme: "splitmix64(seed, step, micro-batch) per micro-batch; shuffle from (seed, epoch)"
                    .into(),
                seed: self.job.train.seed,
                next_step: pos.step,
            },
            early_stopping: pos.stop.clone(),
            loss_sum: pos.loss_sum,
            loss_count: pos.loss_count,
            last_eval: pos.last_eval.clone(),
            last_eval_step: pos.last_eval_step,
            loss_scale: pos.loss_scale,
            config_hash: self.config_hash.to_string(),
            dataset_sha256: self.task.dataset_sha256().clone(),
            labels: self.task.labels().to_vec(),
            trainer_version: artifact::trainer_version(),
            files: Default::default(),
        };
        let tensors = params::named_params(&net.valid());
        let dir = checkpoint::save(
            &self.out.checkpoints(),
            manifest,
            &tensors,
            &opt.export_state(),
            self.job.checkpoint.keep.get(),
        )?;
        log(format!("checkpoint {}", dir.display()));
        Ok(())
    }
}
