//! Evaluation metrics (accuracy, macro-F1) and the `metrics.jsonl` writer (one JSON object per
//! line, flushed per line so the plugin can tail it).

use finetune_spec::contract::{EvalMetrics, MetricsRecord};
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

/// Accuracy and macro-F1 of `predicted` against `gold` (class ids < `num_classes`). Classes that
/// appear in neither count as F1 = 0 only if they appear in one of them (sklearn's behaviour for
/// labels present in the data).
pub fn accuracy_and_macro_f1(
    predicted: &[usize],
    gold: &[usize],
    num_classes: usize,
) -> (f64, f64) {
    if gold.is_empty() {
        return (0.0, 0.0);
    }
    let mut tp = vec![0u64; num_classes];
    let mut fp = vec![0u64; num_classes];
    let mut fn_ = vec![0u64; num_classes];
    let mut correct = 0u64;
    for (&p, &g) in predicted.iter().zip(gold) {
        if p == g {
            correct += 1;
            tp[g] += 1;
        } else {
            fp[p] += 1;
            fn_[g] += 1;
        }
    }
    let mut f1_sum = 0.0;
    let mut classes = 0usize;
    for c in 0..num_classes {
        if tp[c] + fp[c] + fn_[c] == 0 {
            continue;
        }
        classes += 1;
        let denom = 2 * tp[c] + fp[c] + fn_[c];
        f1_sum += 2.0 * tp[c] as f64 / denom as f64;
    }
    let acc = correct as f64 / gold.len() as f64;
    (
        acc,
        if classes == 0 {
            0.0
        } else {
            f1_sum / classes as f64
        },
    )
}

/// Builds [`EvalMetrics`] from summed loss and predictions.
pub fn eval_metrics(
    loss_sum: f64,
    predicted: &[usize],
    gold: &[usize],
    num_classes: usize,
) -> EvalMetrics {
    let (accuracy, macro_f1) = accuracy_and_macro_f1(predicted, gold, num_classes);
    EvalMetrics {
        loss: if gold.is_empty() {
            0.0
        } else {
            loss_sum / gold.len() as f64
        },
        accuracy,
        macro_f1,
        samples: gold.len() as u64,
    }
}

/// Appends records to `metrics.jsonl`.
pub struct MetricsWriter {
    path: PathBuf,
    file: File,
}

impl MetricsWriter {
    /// Opens `path` for appending, first dropping lines for steps after `keep_through_step`
    /// (written after the checkpoint a resumed run restarts from), so the file reads as one run.
    pub fn open(path: &Path, keep_through_step: Option<u64>) -> io::Result<Self> {
        if let (Some(keep), true) = (keep_through_step, path.exists()) {
            let kept: Vec<String> = BufReader::new(File::open(path)?)
                .lines()
                .collect::<io::Result<Vec<_>>>()?
                .into_iter()
                .filter(|l| match serde_json::from_str::<MetricsRecord>(l) {
                    Ok(MetricsRecord::Train(t)) => t.step <= keep,
                    Ok(MetricsRecord::Eval { step, .. }) => step <= keep,
                    Err(_) => false,
                })
                .collect();
            let tmp = path.with_extension("jsonl.tmp");
            let mut f = File::create(&tmp)?;
            for l in kept {
                writeln!(f, "{l}")?;
            }
            f.sync_all()?;
            std::fs::rename(&tmp, path)?;
        } else if keep_through_step.is_none() && path.exists() {
            // A fresh start: a previous attempt's lines belong to no checkpoint.
            File::create(path)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(MetricsWriter {
            path: path.into(),
            file,
        })
    }

    pub fn write(&mut self, rec: &MetricsRecord) -> io::Result<()> {
        let line = serde_json::to_string(rec).map_err(io::Error::other)?;
        self.file.write_all(line.as_bytes())?;
        self.file.write_all(b"\n")?;
        self.file.flush()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use finetune_spec::contract::TrainLog;

    #[test]
    fn macro_f1_matches_sklearn() {
        // sklearn: f1_score([0,0,1,1,2,2], [0,1,1,1,2,0], average="macro") == 0.6555...
        let (acc, f1) = accuracy_and_macro_f1(&[0, 1, 1, 1, 2, 0], &[0, 0, 1, 1, 2, 2], 3);
        assert!((acc - 4.0 / 6.0).abs() < 1e-12);
        let want = (0.5 + 0.8 + 2.0 / 3.0) / 3.0;
        assert!((f1 - want).abs() < 1e-12, "{f1}");
    }

    #[test]
    fn resume_drops_lines_after_the_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("metrics.jsonl");
        let log = |step| {
            MetricsRecord::Train(TrainLog {
                step,
                epoch: 0.0,
                loss: 1.0,
                lr: 0.1,
                samples_per_s: 1.0,
                total_steps: None,
            })
        };
        let mut w = MetricsWriter::open(&p, None).unwrap();
        for s in [1, 2, 3, 4] {
            w.write(&log(s)).unwrap();
        }
        let mut w = MetricsWriter::open(&p, Some(2)).unwrap();
        w.write(&log(3)).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        let steps: Vec<u64> = text
            .lines()
            .map(
                |l| match serde_json::from_str::<MetricsRecord>(l).unwrap() {
                    MetricsRecord::Train(t) => t.step,
                    _ => 0,
                },
            )
            .collect();
        assert_eq!(steps, vec![1, 2, 3]);
        MetricsWriter::open(&p, None).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "");
    }
}
