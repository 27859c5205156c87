//! The training loop: data → model → AdamW steps with warmup/decay, accumulation and clipping →
//! evaluation, early stopping, `metrics.jsonl`, checkpoints, export and `run.json`.
//!
//! With early stopping the exported model is the best evaluation's, not the last step's: every
//! improving evaluation saves its weights to `checkpoints/best/` (see [`best`]), and the export
//! loads them back; `run.json` then reports that evaluation as `final_eval` with its `best_step`.
//!
//! Exact resume: the shuffle is a function of (seed, epoch), the backend RNG (dropout) is seeded
//! before every micro-batch from (seed, step, micro-batch), the schedule is a function of the
//! step, and checkpoints hold every parameter and AdamW moment bit for bit. So a run resumed from
//! step N computes the same steps N+1.. as one that never stopped.
//!
//! The loop is the same for every task: a [`task::Task`] (`classify.rs` for sequence
//! classification) supplies the rows, the network, a micro-batch's loss, the evaluation and the
//! export.
//!
//! [`train`] here sets a run up and hands over: `run_loop.rs` (epochs and groups) drives
//! `step.rs` (one optimizer step), `evals.rs` (evaluations, the base model's score, early
//! stopping) and `resume.rs` (checkpoints in and out); `finish.rs` ends the run; `state.rs`
//! holds what they share; `memory.rs` refuses, before the first step, a causal job whose
//! estimated memory is over the container's limit.

pub mod best;
mod causal;
mod classify;
pub mod early_stop;
pub mod eval;
mod evals;
mod finish;
pub mod lm_loss;
pub mod loss_scale;
mod memory;
pub mod metrics;
pub mod optim;
mod optim_cpu;
pub mod params;
mod report;
mod resume;
mod run_loop;
pub mod schedule;
mod state;
mod step;
mod task;

use crate::artifact::OutputDir;
use crate::error::RunError;
use crate::model::blocks::autocast::{self, Compute};
use burn::tensor::backend::AutodiffBackend;
use finetune_spec::contract::{MetricsRecord, RunRecord, Status};
use finetune_spec::time::now_rfc3339;
use finetune_spec::JobSpec;
use metrics::MetricsWriter;
use optim::AdamW;
use report::log;
use schedule::LrSchedule;
use state::{Ctx, Position};
use std::time::Instant;
use task::Task;

/// How `train` was asked to run.
#[derive(Debug, Clone, Default)]
pub struct TrainOptions {
    /// Resume from a checkpoint even if it was written for another config or dataset.
    pub force_resume: bool,
    /// When the process started, for the start-up-to-first-step figure.
    pub process_start: Option<Instant>,
}

/// How a `train` ended without error.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub record: RunRecord,
    /// True when a finished run with this config was found and nothing was trained.
    pub already_done: bool,
}

/// Runs (or resumes, or recognises as done) the job on backend `B`.
pub fn train<B: AutodiffBackend>(
    job: &JobSpec,
    opts: &TrainOptions,
    device: &B::Device,
    backend_name: &str,
) -> Result<Outcome, RunError> {
    let started = Instant::now();
    let started_at = now_rfc3339();
    let config_hash = job.config_hash();
    // Ranges are the spec types' own; what no single field can say is `check`.
    if let Some(p) = job.check().into_iter().next() {
        return Err(RunError::BadInput(p.to_string()));
    }
    let out = OutputDir::create(&job.output)?;
    if let Some(record) = out.finished_run(&config_hash) {
        log(format!(
            "run already finished ({:?} at step {}); nothing to do",
            record.exit_reason, record.steps
        ));
        return Ok(Outcome {
            record,
            already_done: true,
        });
    }

    let run = Run {
        job,
        opts,
        device,
        backend_name,
        out: &out,
        config_hash: &config_hash,
        started,
        started_at: &started_at,
    };
    match job.task {
        finetune_spec::Task::TextClassification => {
            let task = classify::Classification::load(job)?;
            // Before building the network: a refused resume should fail fast.
            let resume = run.find_resume(&task)?;
            let net = task.build::<B>(device, backend_name)?;
            run.drive(&task, net, resume)
        }
        finetune_spec::Task::TextGeneration => {
            let (task, net) = causal::CausalTask::load::<B>(job, device, backend_name)?;
            let resume = run.find_resume(&task)?;
            run.drive(&task, net, resume)
        }
    }
}

/// What [`train`] set up before the task took over.
struct Run<'a, B: AutodiffBackend> {
    job: &'a JobSpec,
    opts: &'a TrainOptions,
    device: &'a B::Device,
    backend_name: &'a str,
    out: &'a OutputDir,
    config_hash: &'a str,
    started: Instant,
    started_at: &'a str,
}

impl<B: AutodiffBackend> Run<'_, B> {
    /// The newest checkpoint of this output that `task`'s data and this config may resume from.
    fn find_resume<T: Task<B>>(
        &self,
        task: &T,
    ) -> Result<Option<crate::checkpoint::Loaded>, RunError> {
        resume::find(
            self.out,
            task.dataset_sha256(),
            task.labels(),
            self.config_hash,
            self.opts.force_resume,
        )
    }

    /// Trains `net` on `task` from the start or from the checkpoint `resume`, to the end.
    fn drive<T: Task<B>>(
        &self,
        task: &T,
        net: T::Net,
        resume: Option<crate::checkpoint::Loaded>,
    ) -> Result<Outcome, RunError> {
        let (job, out, device) = (self.job, self.out, self.device);
        let (batches_per_epoch, steps_per_epoch, total_steps) =
            state::step_counts(&job.train, task.train_rows());
        let sched = LrSchedule::new(
            job.train.learning_rate.get(),
            job.train.warmup_ratio.get(),
            total_steps,
            job.train.schedule,
        );
        let mut opt = AdamW::<B::InnerBackend>::new(job.train.weight_decay.get());
        let resumed_from = resume.as_ref().map(|l| l.manifest.step);
        let (mut net, mut pos) = match resume {
            Some(l) => resume::restore(net, &mut opt, l, device)?,
            None => (net, Position::start()),
        };
        // f16 products need loss scaling; a resumed run keeps its checkpointed scale. Other
        // precisions never scale (a checkpoint's scale, from an f16 run, is dropped: with
        // --force-resume a run may change precision).
        pos.loss_scale = match autocast::current() {
            Compute::F16 => Some(pos.loss_scale.unwrap_or_default()),
            Compute::F32 | Compute::Bf16 => None,
        };
        let mut metrics = MetricsWriter::open(&out.metrics(), resumed_from)
            .map_err(|e| RunError::output(&out.metrics(), e))?;
        // A resumed run keeps the step-0 record it wrote the first time.
        if let (Some(r), None) = (task.redaction(), resumed_from) {
            let rec = MetricsRecord::Redaction {
                step: 0,
                redaction: r.clone(),
            };
            metrics
                .write(&rec)
                .map_err(|e| RunError::output(&out.metrics(), e))?;
        }

        let mut status = Status {
            state: "running".into(),
            job: job.name.clone(),
            pid: std::process::id(),
            total_steps,
            steps_per_epoch,
            epochs: job.train.epochs.get(),
            step: pos.step,
            resumed_from_step: resumed_from,
            started_at: self.started_at.to_string(),
            updated_at: now_rfc3339(),
        };
        out.write_status(&status)?;

        let mut ctx = Ctx {
            job,
            task,
            out,
            device,
            config_hash: self.config_hash,
            sched,
            batches_per_epoch,
            total_steps,
            backend: self.backend_name,
            started: self.started,
            started_at: self.started_at,
            resumed_from,
            base_eval: None,
        };
        ctx.base_eval = ctx.score_base(&net, &mut metrics)?;
        let reason = match ctx.run_loop(
            &mut net,
            &mut opt,
            &mut pos,
            &mut metrics,
            self.opts.process_start,
        ) {
            Ok(r) => r,
            Err(RunError::Interrupted { step }) => {
                ctx.record_interrupted(&pos, &mut status, step);
                return Err(RunError::Interrupted { step });
            }
            Err(e) => return Err(e),
        };
        let record = ctx.finish(net, &mut pos, &mut metrics, reason, &mut status)?;
        if let Some(line) = evals::gain_on_base(&record) {
            log(line);
        }
        Ok(Outcome {
            record,
            already_done: false,
        })
    }
}
