//! What the training loop asks of a task. The loop (steps, accumulation, clipping, schedule,
//! evaluations, early stopping, checkpoints, exact resume, `run.json`) is the same for every
//! task; a [`Task`] supplies the rows, the network, the loss of a micro-batch, the evaluation
//! and the export. Classification ([`super::classify`]) is one; causal language modelling is
//! the other.

use crate::error::RunError;
use burn::module::AutodiffModule;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::Tensor;
use finetune_spec::contract::{EvalMetrics, Redaction};
use std::collections::BTreeMap;
use std::path::Path;

/// One micro-batch's loss.
pub(crate) struct MicroLoss<B: AutodiffBackend> {
    /// The micro-batch's mean loss, `[1]`, still on the autodiff graph.
    pub(crate) loss: Tensor<B, 1>,
    /// Rows it holds (for samples/s).
    pub(crate) rows: usize,
}

/// A task the loop can train.
pub(crate) trait Task<B: AutodiffBackend> {
    type Net: AutodiffModule<B> + Clone;

    /// Training rows; batches are lists of indices into them.
    fn train_rows(&self) -> usize;
    /// Whether there is an eval set.
    fn has_eval(&self) -> bool;
    /// sha256 of each data file read, by role: a checkpoint resumes only on the same data.
    fn dataset_sha256(&self) -> &BTreeMap<String, String>;
    /// The label names a checkpoint must match (empty where the task has none).
    fn labels(&self) -> &[String];
    /// What `data.redact` replaced, for `run.json`.
    fn redaction(&self) -> Option<&Redaction>;

    /// How much micro-batch `rows` weighs in its accumulation group. The group's loss is the
    /// weighted mean of its micro-batches' mean losses: a classifier weighs each micro-batch
    /// the same (as HF's Trainer divides by the accumulation steps), a language model by its
    /// trained tokens (so the group's loss is the mean over all its tokens, as HF's
    /// `num_items_in_batch` makes it).
    fn weight(&self, rows: &[usize]) -> f64;
    /// The mean loss of the training rows `rows` under `net` (dropout on).
    fn loss(
        &self,
        net: &Self::Net,
        rows: &[usize],
        device: &B::Device,
    ) -> Result<MicroLoss<B>, RunError>;
    /// The eval set's metrics under `net`.
    fn evaluate(
        &self,
        net: &<Self::Net as AutodiffModule<B>>::InnerModule,
        device: &B::Device,
    ) -> Result<EvalMetrics, RunError>;
    /// Writes `net` as the run's model directory `dir`.
    fn export(
        &self,
        net: &<Self::Net as AutodiffModule<B>>::InnerModule,
        dir: &Path,
    ) -> Result<(), RunError>;
}
