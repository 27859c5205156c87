//! Evaluation metrics (accuracy, macro-F1, per-class precision/recall/F1) and the `metrics.jsonl` writer (one JSON object per
//! line, flushed per line so the plugin can tail it).

use finetune_spec::contract::{ClassMetrics, EvalMetrics, MetricsRecord};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

/// Per-class counts of a confusion: true positives, false positives, false negatives.
struct Counts {
    tp: Vec<u64>,
    fp: Vec<u64>,
    fn_: Vec<u64>,
    correct: u64,
}

impl Counts {
    fn new(predicted: &[usize], gold: &[usize], num_classes: usize) -> Counts {
        let mut c = Counts {
            tp: vec![0; num_classes],
            fp: vec![0; num_classes],
            fn_: vec![0; num_classes],
            correct: 0,
        };
        for (&p, &g) in predicted.iter().zip(gold) {
            if p == g {
                c.correct += 1;
                c.tp[g] += 1;
            } else {
                c.fp[p] += 1;
                c.fn_[g] += 1;
            }
        }
        c
    }

    /// F1 of class `c`, or `None` when it appears in neither predictions nor gold.
    fn f1(&self, c: usize) -> Option<f64> {
        let denom = 2 * self.tp[c] + self.fp[c] + self.fn_[c];
        (denom > 0).then(|| 2.0 * self.tp[c] as f64 / denom as f64)
    }

    fn class(&self, c: usize) -> ClassMetrics {
        let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        ClassMetrics {
            precision: ratio(self.tp[c], self.tp[c] + self.fp[c]),
            recall: ratio(self.tp[c], self.tp[c] + self.fn_[c]),
            f1: self.f1(c).unwrap_or(0.0),
            support: self.tp[c] + self.fn_[c],
        }
    }
}

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
    let counts = Counts::new(predicted, gold, num_classes);
    let f1s: Vec<f64> = (0..num_classes).filter_map(|c| counts.f1(c)).collect();
    let acc = counts.correct as f64 / gold.len() as f64;
    let macro_f1 = if f1s.is_empty() {
        0.0
    } else {
        f1s.iter().sum::<f64>() / f1s.len() as f64
    };
    (acc, macro_f1)
}

/// Precision, recall, F1 and support of every class, by its name in `labels` (class id order).
pub fn per_class(
    predicted: &[usize],
    gold: &[usize],
    labels: &[String],
) -> BTreeMap<String, ClassMetrics> {
    let counts = Counts::new(predicted, gold, labels.len());
    labels
        .iter()
        .enumerate()
        .map(|(c, name)| (name.clone(), counts.class(c)))
        .collect()
}

/// Builds [`EvalMetrics`] from summed loss and predictions; `labels` names the classes in id
/// order.
pub fn eval_metrics(
    loss_sum: f64,
    predicted: &[usize],
    gold: &[usize],
    labels: &[String],
) -> EvalMetrics {
    let (accuracy, macro_f1) = accuracy_and_macro_f1(predicted, gold, labels.len());
    EvalMetrics {
        loss: if gold.is_empty() {
            0.0
        } else {
            loss_sum / gold.len() as f64
        },
        accuracy,
        macro_f1: Some(macro_f1),
        perplexity: None,
        samples: gold.len() as u64,
        tokens: None,
        per_class: per_class(predicted, gold, labels),
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
                    Ok(MetricsRecord::Redaction { step, .. }) => step <= keep,
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
    fn per_class_scores_match_sklearn() {
        // sklearn: classification_report([0,0,1,1,2,2], [0,1,1,1,2,0]):
        //   a: precision 0.5 recall 0.5, b: 0.667 1.0 (f1 0.8), c: 1.0 0.5 (f1 0.667); d unseen.
        let labels: Vec<String> = ["a", "b", "c", "d"].map(String::from).into();
        let m = eval_metrics(3.0, &[0, 1, 1, 1, 2, 0], &[0, 0, 1, 1, 2, 2], &labels);
        assert_eq!(m.per_class.len(), 4);
        let close = |x: f64, y: f64| (x - y).abs() < 1e-12;
        let b = &m.per_class["b"];
        assert!(close(b.precision, 2.0 / 3.0) && close(b.recall, 1.0) && close(b.f1, 0.8));
        assert_eq!(b.support, 2);
        let c = &m.per_class["c"];
        assert!(close(c.precision, 1.0) && close(c.recall, 0.5) && close(c.f1, 2.0 / 3.0));
        assert_eq!(
            m.per_class["d"],
            ClassMetrics {
                precision: 0.0,
                recall: 0.0,
                f1: 0.0,
                support: 0
            }
        );
        // Macro-F1 averages the classes present, as before.
        assert!(close(m.macro_f1.unwrap(), (0.5 + 0.8 + 2.0 / 3.0) / 3.0));
        assert!(close(m.loss, 0.5));
        // Written and read back through a metrics line; older lines without it still load.
        let line = serde_json::to_string(&m).unwrap();
        assert!(
            line.contains("\"per_class\":{\"a\":{\"precision\":0.5"),
            "{line}"
        );
        let old: EvalMetrics =
            serde_json::from_str(r#"{"loss":1,"accuracy":0.5,"macro_f1":0.4,"samples":2}"#)
                .unwrap();
        assert!(old.per_class.is_empty());
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
