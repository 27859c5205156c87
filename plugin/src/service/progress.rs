//! A job's progress, read from the trainer's `metrics.jsonl` through the output bind mount.
//!
//! [`Tail`] reads the lines appended since the last poll (a partly written last line waits for
//! its newline); [`Snapshot`] folds records into what `up` and `ps` show; the `format_*`
//! functions render it as one plain line, the way it reads on a terminal without bars.

use finetune_spec::contract::{output, MetricsRecord, Status};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Follows a `metrics.jsonl` that the trainer appends to.
#[derive(Debug)]
pub struct Tail {
    path: PathBuf,
    offset: u64,
    partial: String,
}

impl Tail {
    pub fn new(output_dir: &Path) -> Tail {
        Tail {
            path: output_dir.join(output::METRICS),
            offset: 0,
            partial: String::new(),
        }
    }

    /// Records appended since the last call. A missing file is no records yet; a file that
    /// shrank (a fresh run truncated it) is read again from the start.
    pub fn poll(&mut self) -> Vec<MetricsRecord> {
        let Ok(mut f) = std::fs::File::open(&self.path) else {
            return Vec::new();
        };
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        if len < self.offset {
            self.offset = 0;
            self.partial.clear();
        }
        if f.seek(SeekFrom::Start(self.offset)).is_err() {
            return Vec::new();
        }
        let mut buf = Vec::new();
        if f.read_to_end(&mut buf).is_err() {
            return Vec::new();
        }
        self.offset += buf.len() as u64;
        self.partial.push_str(&String::from_utf8_lossy(&buf));
        let mut out = Vec::new();
        while let Some(nl) = self.partial.find('\n') {
            let line: String = self.partial.drain(..=nl).collect();
            if let Ok(r) = serde_json::from_str::<MetricsRecord>(line.trim()) {
                out.push(r);
            }
        }
        out
    }
}

/// What is known about a job's progress.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    pub step: u64,
    pub total_steps: Option<u64>,
    pub epoch: f64,
    pub loss: Option<f64>,
    pub samples_per_s: Option<f64>,
    pub eval_accuracy: Option<f64>,
    pub eval_loss: Option<f64>,
}

impl Snapshot {
    pub fn apply(&mut self, r: &MetricsRecord) {
        match r {
            MetricsRecord::Train(t) => {
                self.step = t.step;
                self.epoch = t.epoch;
                self.loss = Some(t.loss);
                self.samples_per_s = Some(t.samples_per_s);
                if t.total_steps.is_some() {
                    self.total_steps = t.total_steps;
                }
            }
            MetricsRecord::Eval { step, epoch, eval } => {
                self.step = self.step.max(*step);
                self.epoch = self.epoch.max(*epoch);
                self.eval_accuracy = Some(eval.accuracy);
                self.eval_loss = Some(eval.loss);
            }
            // Counts only; `runs` reads them from run.json.
            MetricsRecord::Redaction { .. } => {}
        }
    }

    /// Read a whole output directory's metrics (for `ps`), plus `status.json`'s `total_steps`.
    pub fn read(output_dir: &Path) -> Snapshot {
        let mut s = Snapshot::default();
        for r in Tail::new(output_dir).poll() {
            s.apply(&r);
        }
        if s.total_steps.is_none() {
            s.total_steps = status_total_steps(output_dir);
        }
        s
    }

    /// `step/total` or `step`.
    pub fn steps_text(&self) -> String {
        match self.total_steps {
            Some(t) => format!("{}/{}", self.step, t),
            None => self.step.to_string(),
        }
    }

    /// Time left, from the rate observed so far: `elapsed` is the time the first `steps_done`
    /// steps of this run took.
    pub fn eta(&self, steps_done: u64, elapsed: Duration) -> Option<Duration> {
        eta(self.step, self.total_steps?, steps_done, elapsed)
    }
}

/// `total_steps` from the trainer's `status.json`, if it has one.
pub fn status_total_steps(output_dir: &Path) -> Option<u64> {
    Status::read(output_dir).map(|s| s.total_steps)
}

/// Time left to reach `total` from `step`, given that `steps_done` steps took `elapsed`.
pub fn eta(step: u64, total: u64, steps_done: u64, elapsed: Duration) -> Option<Duration> {
    if steps_done == 0 || step >= total {
        return (step >= total).then_some(Duration::ZERO);
    }
    let per_step = elapsed.as_secs_f64() / steps_done as f64;
    Some(Duration::from_secs_f64(per_step * (total - step) as f64))
}

/// `1h02m`, `3m05s`, `42s`.
pub fn format_duration(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

/// The one-line progress of a job: `epoch 1.50 step 120/600 loss 0.4312 acc 0.8700 35.2
/// samples/s ETA 2m13s`. Parts that are not known yet are left out.
pub fn format_line(s: &Snapshot, eta: Option<Duration>) -> String {
    let mut parts = vec![
        format!("epoch {:.2}", s.epoch),
        format!("step {}", s.steps_text()),
    ];
    if let Some(l) = s.loss {
        parts.push(format!("loss {l:.4}"));
    }
    if let Some(a) = s.eval_accuracy {
        parts.push(format!("acc {a:.4}"));
    }
    if let Some(r) = s.samples_per_s {
        parts.push(format!("{r:.1} samples/s"));
    }
    if let Some(e) = eta {
        parts.push(format!("ETA {}", format_duration(e)));
    }
    parts.join("  ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn tail_reads_only_complete_new_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(output::METRICS);
        let mut f = std::fs::File::create(&path).unwrap();
        let mut t = Tail::new(dir.path());
        assert!(t.poll().is_empty());
        writeln!(
            f,
            r#"{{"step":10,"epoch":0.1,"loss":0.9,"lr":1e-5,"samples_per_s":12.5,"total_steps":100}}"#
        )
        .unwrap();
        write!(f, r#"{{"step":20,"epoch":0.2,"lo"#).unwrap();
        f.flush().unwrap();
        let got = t.poll();
        assert_eq!(got.len(), 1);
        f.write_all(
            br#"ss":0.8,"lr":1e-5,"samples_per_s":13.0}
{"step":20,"epoch":0.2,"eval":{"loss":0.7,"accuracy":0.75,"macro_f1":0.7,"samples":40}}
not json
"#,
        )
        .unwrap();
        f.flush().unwrap();
        let got = t.poll();
        assert_eq!(got.len(), 2, "{got:?}");
        let mut s = Snapshot::default();
        for r in &got {
            s.apply(r);
        }
        assert_eq!(s.step, 20);
        assert_eq!(s.loss, Some(0.8));
        assert_eq!(s.eval_accuracy, Some(0.75));
        assert_eq!(Snapshot::read(dir.path()).total_steps, Some(100));
    }

    #[test]
    fn a_truncated_file_is_read_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(output::METRICS);
        let line = r#"{"step":1,"epoch":0.0,"loss":1.0,"lr":0.0,"samples_per_s":1.0}"#;
        std::fs::write(&path, format!("{line}\n{line}\n")).unwrap();
        let mut t = Tail::new(dir.path());
        assert_eq!(t.poll().len(), 2);
        std::fs::write(&path, format!("{line}\n")).unwrap();
        assert_eq!(t.poll().len(), 1);
    }

    #[test]
    fn eta_and_durations() {
        assert_eq!(
            eta(50, 100, 50, Duration::from_secs(100)),
            Some(Duration::from_secs(100))
        );
        assert_eq!(eta(0, 100, 0, Duration::from_secs(1)), None);
        assert_eq!(eta(100, 100, 0, Duration::ZERO), Some(Duration::ZERO));
        assert_eq!(format_duration(Duration::from_secs(42)), "42s");
        assert_eq!(format_duration(Duration::from_secs(185)), "3m05s");
        assert_eq!(format_duration(Duration::from_secs(3720)), "1h02m");
    }

    #[test]
    fn progress_line_shows_what_is_known() {
        let mut s = Snapshot {
            step: 120,
            total_steps: Some(600),
            epoch: 1.5,
            ..Default::default()
        };
        assert_eq!(format_line(&s, None), "epoch 1.50  step 120/600");
        s.loss = Some(0.43121);
        s.eval_accuracy = Some(0.87);
        s.samples_per_s = Some(35.24);
        assert_eq!(
            format_line(&s, Some(Duration::from_secs(133))),
            "epoch 1.50  step 120/600  loss 0.4312  acc 0.8700  35.2 samples/s  ETA 2m13s"
        );
    }

    #[test]
    fn status_json_supplies_total_steps() {
        let dir = tempfile::tempdir().unwrap();
        let status = Status {
            state: "training".into(),
            job: "j".into(),
            pid: 7,
            total_steps: 42,
            steps_per_epoch: 14,
            epochs: 3,
            step: 5,
            resumed_from_step: None,
            started_at: "2026-12-01T00:00:00Z".into(),
            updated_at: "2026-12-01T00:00:05Z".into(),
        };
        std::fs::write(
            dir.path().join(output::STATUS),
            serde_json::to_vec(&status).unwrap(),
        )
        .unwrap();
        assert_eq!(Snapshot::read(dir.path()).total_steps, Some(42));
    }
}
