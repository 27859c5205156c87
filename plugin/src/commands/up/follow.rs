//! `up` after the start: a progress bar (or plain lines when stderr is not a terminal) per job,
//! fed from its `metrics.jsonl`, and the report of how each job ended. A tracked job (see
//! [`crate::service::mlflow`]) also has a tracking thread, ticked with the bar and closed with
//! the job's exit code.

use crate::exit::{describe_job_exit, ExitCode};
use crate::service::containers::Outcome;
use crate::service::mlflow::{self, live::Live, sync::Syncer};
use crate::service::progress::{self, format_duration, format_line, Snapshot, Tail};
use crate::ui;
use finetune_spec::contract::output;
use finetune_spec::JobSpec;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use std::path::PathBuf;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long `up` waits at the end for tracking threads to send the last metrics, artifacts and
/// status; what is left then is for `runs --sync`.
const TRACKING_GRACE: Duration = Duration::from_secs(60);

/// A job as `up` follows it.
pub struct Running {
    pub name: String,
    pub service: String,
    output: PathBuf,
    tail: Tail,
    snap: Snapshot,
    started: Instant,
    /// The first step seen in this run and when, for the rate behind the ETA.
    first: Option<(u64, Instant)>,
    bar: ProgressBar,
    last_plain: Option<u64>,
    tracking: Option<Live>,
}

/// A finished job, for the summary.
pub struct Finished {
    pub name: String,
    pub outcome: Outcome,
    /// The tracking thread's last poll.
    tracking: Option<JoinHandle<()>>,
}

/// The tracking thread of `spec` in project `project`, if the job is tracked. Smoke runs are
/// not: they are checks, not experiments.
pub fn tracking(spec: &JobSpec, project: &str, smoke: bool) -> Option<Live> {
    let target = mlflow::target_from_env(spec, project).filter(|_| !smoke)?;
    match Syncer::new(target, spec, project) {
        Ok(s) => Some(Live::start(s)),
        Err(e) => {
            mlflow::warn_once(&e);
            None
        }
    }
}

impl Running {
    pub fn new(
        multi: &MultiProgress,
        name: &str,
        service: String,
        spec: &JobSpec,
        tracking: Option<Live>,
    ) -> Running {
        let bar = multi.add(ProgressBar::new(0));
        bar.set_style(
            ProgressStyle::with_template("{prefix:>14} [{bar:30}] {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_prefix(name.to_string());
        bar.set_message("starting");
        Running {
            name: name.to_string(),
            service,
            output: spec.output.clone(),
            tail: Tail::new(&spec.output),
            snap: Snapshot::default(),
            started: Instant::now(),
            first: None,
            bar,
            last_plain: None,
            tracking,
        }
    }

    fn eta(&self) -> Option<Duration> {
        let (s0, t0) = self.first?;
        self.snap
            .eta(self.snap.step.saturating_sub(s0), t0.elapsed())
    }

    /// Read new metrics and update the bar (or print a plain line when the bar is hidden).
    pub fn poll(&mut self) {
        if let Some(t) = &self.tracking {
            t.tick();
        }
        let records = self.tail.poll();
        if records.is_empty() {
            return;
        }
        for rec in &records {
            self.snap.apply(rec);
        }
        if self.snap.total_steps.is_none() {
            self.snap.total_steps = progress::status_total_steps(&self.output);
        }
        if self.first.is_none() {
            self.first = Some((self.snap.step, Instant::now()));
        }
        let line = format_line(&self.snap, self.eta());
        if let Some(t) = self.snap.total_steps {
            self.bar.set_length(t);
        }
        self.bar.set_position(self.snap.step);
        self.bar.set_message(line.clone());
        if self.bar.is_hidden() && self.last_plain != Some(self.snap.step) {
            self.last_plain = Some(self.snap.step);
            eprintln!("{}: {line}", self.name);
        }
    }

    /// The job ended: a last poll, the bar removed, one line saying how it went.
    pub fn finish(mut self, multi: &MultiProgress, outcome: Outcome, smoke: bool) -> Finished {
        self.poll();
        self.bar.finish_and_clear();
        multi.remove(&self.bar);
        self.report(&outcome, smoke);
        let tracking = self.tracking.take().map(|t| t.ended(outcome.status));
        Finished {
            name: self.name,
            outcome,
            tracking,
        }
    }

    fn report(&self, o: &Outcome, smoke: bool) {
        let took = format_duration(self.started.elapsed());
        let what = describe_job_exit(o.status, o.oom);
        if smoke {
            let pass = o.succeeded();
            ui::status(format!(
                "[+] smoke `{}`: {} in {took} ({}{})",
                self.name,
                if pass { "pass" } else { "FAIL" },
                if pass {
                    format!("{} steps", self.snap.step)
                } else {
                    what.to_string()
                },
                self.snap
                    .loss
                    .map(|l| format!(", loss {l:.4}"))
                    .unwrap_or_default()
            ));
            return;
        }
        if o.succeeded() {
            ui::status(format!(
                "[+] job `{}`: done in {took}{}; model in {}",
                self.name,
                self.snap
                    .eval_accuracy
                    .map(|a| format!(", eval accuracy {a:.4}"))
                    .unwrap_or_default(),
                self.output.join(output::MODEL).display()
            ));
        } else {
            ui::error(format!(
                "job `{}`: {what} (exit {}) after {took}",
                self.name, o.status
            ));
        }
    }
}

/// Gives the tracking threads of the finished jobs [`TRACKING_GRACE`] to send what is left.
pub async fn wait_for_tracking(finished: &mut [Finished]) {
    wait(
        finished
            .iter_mut()
            .filter_map(|f| f.tracking.take())
            .collect(),
    )
    .await;
}

/// Closes the tracking of jobs that were stopped (Ctrl-C) with `code`, within the same grace.
pub async fn end_tracking(running: impl Iterator<Item = Running>, code: i64) {
    wait(
        running
            .filter_map(|r| r.tracking)
            .map(|t| t.ended(code))
            .collect(),
    )
    .await;
}

async fn wait(threads: Vec<JoinHandle<()>>) {
    let deadline = Instant::now() + TRACKING_GRACE;
    for t in threads {
        while !t.is_finished() {
            if Instant::now() >= deadline {
                ui::note("MLflow tracking has not finished sending; `docker finetune runs --sync` sends the rest");
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let _ = t.join();
    }
}

/// The exit code of the whole run (the worst job's), with the out-of-memory advice per job and
/// the smoke tally. `spec` finds a job's spec by name.
pub fn summarize<'a>(
    finished: &[Finished],
    spec: impl Fn(&str) -> Option<&'a JobSpec>,
    smoke: bool,
) -> ExitCode {
    let mut code = ExitCode::Success;
    for f in finished {
        let (name, o) = (&f.name, &f.outcome);
        let c = ExitCode::from_job(o.status, o.oom);
        if let (ExitCode::OutOfMemory, Some(spec)) = (c, spec(name)) {
            ui::error(format!(
                "job `{name}` ran out of memory (limit {})",
                o.memory_limit
                    .filter(|m| *m > 0)
                    .map(|m| finetune_spec::ByteSize(m as u64).to_string())
                    .or_else(|| spec.resources.memory.map(|m| m.to_string()))
                    .unwrap_or_else(|| "none: the host's memory".to_string())
            ));
            ui::hint(format!(
                "raise `resources.memory` of job `{name}` (now {}), or lower `train.batch_size` ({}) or `train.max_length` ({})",
                spec.resources.memory.map(|m| m.to_string()).unwrap_or_else(|| "unset".into()),
                spec.train.batch_size,
                spec.train.max_length
            ));
        }
        code = code.worst(c);
    }
    if smoke {
        let passed = finished.iter().filter(|f| f.outcome.succeeded()).count();
        ui::status(format!(
            "[+] smoke: {passed}/{} job(s) passed",
            finished.len()
        ));
    }
    if code != ExitCode::Success {
        ui::hint("`docker finetune logs JOB` shows the trainer's output");
    }
    code
}
