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

pub mod best;
pub mod early_stop;
pub mod eval;
pub mod metrics;
pub mod optim;
pub mod params;
pub mod schedule;

use crate::artifact::{self, OutputDir};
use crate::checkpoint::{self, Manifest, OptimizerState, RngState, SchedulerState};
use crate::data::{self, Dataset};
use crate::error::RunError;
use crate::model::{self, init::SeededRng};
use crate::tokenize::TextTokenizer;
use burn::module::AutodiffModule;
use burn::optim::GradientsParams;
use burn::tensor::backend::{AutodiffBackend, Backend};
use early_stop::StopState;
use finetune_spec::contract::Status;
use finetune_spec::contract::{EvalMetrics, ExitReason, MetricsRecord, RunRecord, TrainLog};
use finetune_spec::{JobSpec, Schedule};
use metrics::MetricsWriter;
use optim::AdamW;
use schedule::LrSchedule;
use std::time::Instant;

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

/// Where the loop stands; what a checkpoint saves besides tensors.
struct Position {
    step: u64,
    epoch: usize,
    batch_in_epoch: usize,
    stop: StopState,
    loss_sum: f64,
    loss_count: u64,
    last_eval: Option<EvalMetrics>,
    last_eval_step: Option<u64>,
    /// The loss of the last log line (not checkpointed; only for `run.json`).
    last_logged_loss: Option<f64>,
}

fn log(msg: impl AsRef<str>) {
    eprintln!("[finetune] {}", msg.as_ref());
}

/// Runs (or resumes, or recognises as done) the job on backend `B`.
pub fn train<B: AutodiffBackend>(
    job: &JobSpec,
    opts: &TrainOptions,
    device: &B::Device,
    backend_name: &str,
) -> Result<Outcome, RunError> {
    let started = Instant::now();
    let started_at = artifact::now_rfc3339();
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

    let ds = data::load(&job.data, job.train.seed)?;
    if ds.eval.is_empty() && job.train.early_stopping.is_some() {
        return Err(RunError::BadInput(
            "train.early_stopping needs an eval set: set data.eval or data.eval_split".into(),
        ));
    }
    let tok = TextTokenizer::from_dir(&job.model, job.train.max_length.get())?;

    // Resume point, before building the model (a refusal should not cost a model load).
    let resume = checkpoint::newest_valid(&out.checkpoints(), &mut |w| log(w));
    if let Some(l) = &resume {
        let m = &l.manifest;
        let same_data = m.dataset_sha256 == ds.sha256;
        if (m.config_hash != config_hash || !same_data) && !opts.force_resume {
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
                short(&config_hash)
            )));
        }
        if m.labels != ds.labels {
            return Err(RunError::ResumeRefused(format!(
                "{} has labels {:?} but the data has {:?}",
                l.dir.display(),
                m.labels,
                ds.labels
            )));
        }
    }

    let loaded =
        model::load_classifier::<B>(&job.model, &ds.labels, &job.method, job.train.seed, device)?;
    let mut net = loaded.model;
    let (trainable, total) = net.param_counts();
    log(format!(
        "model {} ({} labels, {total} params, {trainable} trainable), backend {backend_name}, {} train / {} eval rows",
        job.model.display(),
        ds.labels.len(),
        ds.train.len(),
        ds.eval.len()
    ));

    let batch_size = job.train.batch_size.get();
    let accum = job.train.grad_accum.get();
    let batches_per_epoch = ds.train.len().div_ceil(batch_size);
    let steps_per_epoch = batches_per_epoch.div_ceil(accum) as u64;
    let mut total_steps = steps_per_epoch * job.train.epochs.get() as u64;
    if let Some(max) = job.train.max_steps {
        total_steps = total_steps.min(max.get());
    }
    let sched = LrSchedule::new(
        job.train.learning_rate.get(),
        job.train.warmup_ratio.get(),
        total_steps,
        job.train.schedule,
    );
    let mut opt = AdamW::<B::InnerBackend>::new(job.train.weight_decay.get());
    let mut pos = Position {
        step: 0,
        epoch: 0,
        batch_in_epoch: 0,
        stop: StopState::default(),
        loss_sum: 0.0,
        loss_count: 0,
        last_eval: None,
        last_eval_step: None,
        last_logged_loss: None,
    };
    let resumed_from = resume.as_ref().map(|l| l.manifest.step);
    if let Some(l) = resume {
        let (m, problems) = params::load_named_params(net, &l.model);
        if !problems.is_empty() {
            return Err(RunError::ResumeRefused(format!(
                "{} does not fit this model ({}); use another output directory",
                l.dir.display(),
                problems.join(", ")
            )));
        }
        net = m;
        opt.import_state(l.manifest.optimizer.steps, &l.optimizer, device);
        let mf = l.manifest;
        pos = Position {
            step: mf.step,
            epoch: mf.epoch,
            batch_in_epoch: mf.batch_in_epoch,
            stop: mf.early_stopping,
            loss_sum: mf.loss_sum,
            loss_count: mf.loss_count,
            last_eval: mf.last_eval,
            last_eval_step: mf.last_eval_step,
            last_logged_loss: None,
        };
        log(format!(
            "resuming from {} (step {}, epoch {}, batch {})",
            l.dir.display(),
            pos.step,
            pos.epoch + 1,
            pos.batch_in_epoch
        ));
    }
    let mut metrics = MetricsWriter::open(&out.metrics(), resumed_from)
        .map_err(|e| RunError::output(&out.metrics(), e))?;

    let mut status = Status {
        state: "running".into(),
        job: job.name.clone(),
        pid: std::process::id(),
        total_steps,
        steps_per_epoch,
        epochs: job.train.epochs.get(),
        step: pos.step,
        resumed_from_step: resumed_from,
        started_at: started_at.clone(),
        updated_at: artifact::now_rfc3339(),
    };
    out.write_status(&status)?;

    let ctx = Ctx {
        job,
        ds: &ds,
        tok: &tok,
        out: &out,
        device,
        config_hash: &config_hash,
        sched,
        batches_per_epoch,
        total_steps,
    };
    let run = ctx.run_loop(&mut net, &mut opt, &mut pos, &mut metrics, opts);
    let reason = match run {
        Ok(r) => r,
        Err(RunError::Interrupted { step }) => {
            status.state = "interrupted".into();
            status.step = step;
            status.updated_at = artifact::now_rfc3339();
            let _ = out.write_status(&status);
            let mut rec = ctx.record(&pos, ExitReason::Interrupted, backend_name, &started_at);
            rec.resumed_from_step = resumed_from;
            rec.duration_s = started.elapsed().as_secs_f64();
            let _ = out.write_run_record(&rec);
            return Err(RunError::Interrupted { step });
        }
        Err(e) => return Err(e),
    };

    // Final evaluation, unless the last step was just evaluated.
    if !ds.eval.is_empty() && pos.last_eval_step != Some(pos.step) {
        let m = ctx.eval(&net, &mut pos, &mut metrics)?;
        log(format!("final eval: {}", fmt_eval(&m)));
        ctx.early_stop(&net, &mut pos, &m)?;
    }
    // With early stopping, export the best evaluation's weights.
    let mut best_step = None;
    if let (Some(_), Some(step)) = (&job.train.early_stopping, pos.stop.best_step) {
        if step == pos.step {
            best_step = Some(step);
        } else {
            match best::load(&out.best(), step) {
                Ok(values) => {
                    let (m, problems) = params::load_named_params(net, &values);
                    if !problems.is_empty() {
                        return Err(RunError::Failed(format!(
                            "{} does not fit this model ({})",
                            out.best().display(),
                            problems.join(", ")
                        )));
                    }
                    net = m;
                    best_step = Some(step);
                    log(format!(
                        "exporting the best evaluation's weights (step {step}, last step {})",
                        pos.step
                    ));
                }
                Err(e) => log(format!(
                    "warning: the best weights in {} cannot be used ({e}); exporting the last step's",
                    out.best().display()
                )),
            }
        }
    }
    log(format!("exporting the model to {}", out.model().display()));
    let inner = net.valid();
    model::export_model(&inner, &loaded.config, &ds.labels, &job.model, &out.model()).map_err(
        |e| match e {
            model::ModelError::Io { path, source } => RunError::output(&path, source),
            other => RunError::Failed(other.to_string()),
        },
    )?;
    let mut rec = ctx.record(&pos, reason, backend_name, &started_at);
    rec.resumed_from_step = resumed_from;
    rec.duration_s = started.elapsed().as_secs_f64();
    if best_step.is_some() {
        rec.best_step = best_step;
        rec.final_eval = pos.stop.best_eval.clone();
    }
    out.write_run_record(&rec)?;
    status.state = "finished".into();
    status.step = pos.step;
    status.updated_at = artifact::now_rfc3339();
    out.write_status(&status)?;
    log(format!(
        "done: {:?} at step {} in {:.1}s",
        reason, pos.step, rec.duration_s
    ));
    Ok(Outcome {
        record: rec,
        already_done: false,
    })
}

fn short(h: &str) -> &str {
    &h[..h.len().min(12)]
}

fn fmt_eval(m: &EvalMetrics) -> String {
    format!(
        "loss {:.4} accuracy {:.4} macro_f1 {:.4} ({} samples)",
        m.loss, m.accuracy, m.macro_f1, m.samples
    )
}

/// What the loop reads but does not change.
struct Ctx<'a, B: Backend> {
    job: &'a JobSpec,
    ds: &'a Dataset,
    tok: &'a TextTokenizer,
    out: &'a OutputDir,
    device: &'a B::Device,
    config_hash: &'a str,
    sched: LrSchedule,
    batches_per_epoch: usize,
    total_steps: u64,
}

impl<B: AutodiffBackend> Ctx<'_, B> {
    fn run_loop(
        &self,
        net: &mut model::BertClassifier<B>,
        opt: &mut AdamW<B::InnerBackend>,
        pos: &mut Position,
        metrics: &mut MetricsWriter,
        opts: &TrainOptions,
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
            let batches = data::epoch_batches(self.ds.train.len(), bs, t.seed, pos.epoch);
            while pos.batch_in_epoch < batches.len() {
                let t0 = Instant::now();
                let group_end = (pos.batch_in_epoch + accum).min(batches.len());
                let group = &batches[pos.batch_in_epoch..group_end];
                let mut acc = GradientsParams::new();
                let mut step_loss = 0.0;
                for (micro, idx) in group.iter().enumerate() {
                    // Dropout masks depend on (seed, step, micro-batch) only.
                    let mut rng = SeededRng::new(t.seed ^ 0xD809_0000_0000_0000, pos.step);
                    for _ in 0..micro {
                        rng.next_u64();
                    }
                    B::seed(self.device, rng.next_u64());
                    let texts: Vec<&str> = idx
                        .iter()
                        .map(|&i| self.ds.train[i].text.as_str())
                        .collect();
                    let gold: Vec<usize> = idx.iter().map(|&i| self.ds.train[i].label).collect();
                    let logits = eval::logits(net, self.tok, &texts, self.device)?;
                    let loss = eval::cross_entropy(logits, &gold).mean();
                    let scaled = loss.clone().div_scalar(group.len() as f64);
                    let grads = GradientsParams::from_grads(scaled.backward(), net);
                    optim::accumulate(net, &mut acc, grads);
                    let l: Vec<f32> = loss
                        .into_data()
                        .convert::<f32>()
                        .to_vec()
                        .unwrap_or_default();
                    step_loss += l.first().copied().unwrap_or(f32::NAN) as f64 / group.len() as f64;
                    window_samples += idx.len();
                }
                if !step_loss.is_finite() {
                    return Err(RunError::Failed(format!(
                        "training diverged: loss is {step_loss} at step {}; lower train.learning_rate",
                        pos.step + 1
                    )));
                }
                let norm = optim::global_grad_norm(net, &acc);
                let factor = optim::clip_factor(norm, t.max_grad_norm.map(|n| n.get()));
                let lr = self.sched.lr(pos.step);
                *net = opt.step(lr, factor, net.clone(), acc);
                pos.step += 1;
                pos.batch_in_epoch = group_end;
                pos.loss_sum += step_loss;
                pos.loss_count += 1;
                window_time += t0.elapsed().as_secs_f64();
                if !first_step_logged {
                    first_step_logged = true;
                    if let Some(p) = opts.process_start {
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
                        lr,
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
                    if pos.step.is_multiple_of(every) && !self.ds.eval.is_empty() {
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
                if t.eval_every_steps.is_none() && !self.ds.eval.is_empty() {
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

    fn patience_spent(&self, pos: &Position) -> bool {
        self.job
            .train
            .early_stopping
            .as_ref()
            .is_some_and(|c| pos.stop.bad_evals >= c.patience.get())
    }

    /// Feeds an evaluation of `net` to early stopping; when it is the best so far, saves `net`'s
    /// weights as the best. Returns true when training should stop.
    fn early_stop(
        &self,
        net: &model::BertClassifier<B>,
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

    fn eval(
        &self,
        net: &model::BertClassifier<B>,
        pos: &mut Position,
        metrics: &mut MetricsWriter,
    ) -> Result<EvalMetrics, RunError> {
        let inner = net.valid();
        let m = eval::evaluate(
            &inner,
            self.tok,
            &self.ds.eval,
            self.job.train.batch_size.get() * 2,
            self.device,
        )?;
        let epoch =
            pos.epoch as f64 + pos.batch_in_epoch as f64 / self.batches_per_epoch.max(1) as f64;
        self.write(
            metrics,
            &MetricsRecord::Eval {
                step: pos.step,
                epoch,
                eval: m.clone(),
            },
        )?;
        pos.last_eval = Some(m.clone());
        pos.last_eval_step = Some(pos.step);
        Ok(m)
    }

    fn write(&self, metrics: &mut MetricsWriter, rec: &MetricsRecord) -> Result<(), RunError> {
        metrics
            .write(rec)
            .map_err(|e| RunError::output(metrics.path(), e))
    }

    fn save(
        &self,
        net: &model::BertClassifier<B>,
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
            config_hash: self.config_hash.to_string(),
            dataset_sha256: self.ds.sha256.clone(),
            labels: self.ds.labels.clone(),
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

    fn record(
        &self,
        pos: &Position,
        reason: ExitReason,
        backend: &str,
        started_at: &str,
    ) -> RunRecord {
        let mut rec = artifact::run_record(self.job, reason);
        rec.dataset_sha256 = self.ds.sha256.clone();
        rec.backend = backend.to_string();
        rec.precision = Some(
            format!("{:?}", <B::FloatElem as burn::tensor::Element>::dtype()).to_ascii_lowercase(),
        );
        rec.started_at = started_at.to_string();
        rec.finished_at = artifact::now_rfc3339();
        rec.steps = pos.step;
        rec.epochs =
            pos.epoch as f64 + pos.batch_in_epoch as f64 / self.batches_per_epoch.max(1) as f64;
        rec.final_eval = pos.last_eval.clone();
        rec.final_train_loss = if pos.loss_count > 0 {
            Some(pos.loss_sum / pos.loss_count as f64)
        } else {
            pos.last_logged_loss
        };
        rec
    }
}
