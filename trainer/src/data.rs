//! The training data of a run: rows read with `finetune_spec::dataset`, labels mapped to class
//! ids, the eval set (a file, or a seeded `eval_split` of the training rows), and the per-epoch
//! order of batches, a pure function of (seed, epoch) so a resumed run sees the same order.

use crate::model::init::SeededRng;
use finetune_spec::dataset::{self, warnings, DatasetError, Row};
use finetune_spec::DataSpec;
use std::collections::{BTreeMap, BTreeSet};

/// One example with its class id and the line it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Example {
    pub line: usize,
    pub text: String,
    pub label: usize,
}

/// Train and eval examples over one label set.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// Label names in class-id order.
    pub labels: Vec<String>,
    pub train: Vec<Example>,
    pub eval: Vec<Example>,
    /// sha256 of each file read, by role (`train`, `eval`).
    pub sha256: BTreeMap<String, String>,
    /// What `data.redact` replaced in the rows' text ([`crate::redaction::apply`]).
    pub redaction: Option<finetune_spec::contract::Redaction>,
}

/// Problems with a run's data beyond a single file's rows.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error(transparent)]
    File(#[from] DatasetError),
    #[error("data.labels lists `{0}` twice; each label must appear once")]
    DuplicateLabel(String),
    #[error("the training data has a single label `{0}`; a classifier needs at least two (check data.label)")]
    OneLabel(String),
    /// An eval label the train file lacks (without `data.labels`): the first such row, then
    /// every such label, in the words `validate --data` uses.
    #[error("{row}; {}; list every label in `data.labels`, or fix the eval file", dataset::eval_only_labels_message(&labels.iter().map(String::as_str).collect::<Vec<_>>()))]
    EvalOnlyLabels { row: String, labels: Vec<String> },
    #[error("data.eval_split must be in (0, 1), got {0}")]
    BadSplit(f64),
    #[error("data.eval_split {split} of {rows} rows leaves no {which} rows; use more data or another split")]
    SplitTooSmall {
        split: f64,
        rows: usize,
        which: &'static str,
    },
}

/// The label set: `spec.labels` if given, else the train labels sorted (numerically when they are
/// all integers, so `2` comes before `10`).
pub fn label_set(spec: &DataSpec, train: &[Row]) -> Result<Vec<String>, DataError> {
    if let Some(labels) = &spec.labels {
        let mut seen = BTreeSet::new();
        for l in labels {
            if !seen.insert(l) {
                return Err(DataError::DuplicateLabel(l.clone()));
            }
        }
        return Ok(labels.clone());
    }
    let set: BTreeSet<&str> = train.iter().map(|r| r.label.as_str()).collect();
    let mut labels: Vec<String> = set.into_iter().map(String::from).collect();
    if labels.iter().all(|l| l.parse::<i64>().is_ok()) {
        labels.sort_by_key(|l| l.parse::<i64>().unwrap_or(0));
    }
    if labels.len() == 1 {
        return Err(DataError::OneLabel(labels.remove(0)));
    }
    Ok(labels)
}

/// Reads the train (and eval) files of `spec` and splits off the eval set. `seed` fixes the
/// `eval_split` selection.
pub fn load(spec: &DataSpec, seed: u64) -> Result<Dataset, DataError> {
    let train_rows = dataset::read_all(&spec.train, spec)?;
    let labels = label_set(spec, &train_rows)?;
    let mut sha256 = BTreeMap::new();
    sha256.insert("train".to_string(), dataset::file_sha256(&spec.train)?);
    let ids: BTreeMap<&str, usize> = labels
        .iter()
        .enumerate()
        .map(|(i, l)| (l.as_str(), i))
        .collect();
    let to_examples = |rows: Vec<Row>| -> Vec<Example> {
        rows.into_iter()
            .map(|r| Example {
                line: r.line,
                label: ids[r.label.as_str()],
                text: r.text,
            })
            .collect()
    };
    if let Some(eval_path) = &spec.eval {
        // Eval labels must be known to the head: read with the closed label set.
        let mut eval_spec = spec.clone();
        eval_spec.labels = Some(labels.clone());
        let eval_rows = match dataset::read_all(eval_path, &eval_spec) {
            Err(e @ DatasetError::UnknownLabel { .. }) if spec.labels.is_none() => {
                return Err(eval_only_labels(e, eval_path, spec, &labels));
            }
            r => r?,
        };
        sha256.insert("eval".to_string(), dataset::file_sha256(eval_path)?);
        return Ok(Dataset {
            train: to_examples(train_rows),
            eval: to_examples(eval_rows),
            labels,
            sha256,
            redaction: None,
        });
    }
    let all = to_examples(train_rows);
    let (train, eval) = match spec.eval_split {
        None => (all, Vec::new()),
        Some(f) => split(all, f.get(), seed)?,
    };
    Ok(Dataset {
        labels,
        train,
        eval,
        sha256,
        redaction: None,
    })
}

/// The warnings `validate --data` gives for the same data (worded in
/// `finetune_spec::dataset::warnings`): classes over 10:1 in the training rows, and eval rows
/// whose text a training row has. Label names and counts only, never row text.
pub fn warnings(ds: &Dataset) -> Vec<String> {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for ex in &ds.train {
        *counts.entry(ds.labels[ex.label].clone()).or_default() += 1;
    }
    let mut out = Vec::new();
    out.extend(warnings::imbalance(&counts));
    let dups = warnings::count_duplicates(
        ds.train.iter().map(|e| e.text.as_str()),
        ds.eval.iter().map(|e| e.text.as_str()),
    );
    out.extend(warnings::duplicates(dups, ds.eval.len()));
    out
}

/// The error for eval labels outside the train file's: `first` (the first such row's error) and
/// every eval label the train labels lack, from a second pass over the eval file.
fn eval_only_labels(
    first: DatasetError,
    eval_path: &std::path::Path,
    spec: &DataSpec,
    train_labels: &[String],
) -> DataError {
    let known: BTreeSet<&str> = train_labels.iter().map(String::as_str).collect();
    let labels = match dataset::scan(eval_path, spec, 0) {
        Ok(scan) => scan
            .labels
            .into_keys()
            .filter(|l| !known.contains(l.as_str()))
            .collect(),
        Err(_) => return DataError::File(first),
    };
    DataError::EvalOnlyLabels {
        row: first.to_string(),
        labels,
    }
}

/// Holds out `ceil(fraction * n)` examples chosen by `seed`; both parts keep file order. Generic
/// so text-generation rows ([`crate::causal_data`]) are held out the same way.
pub fn split<T>(all: Vec<T>, fraction: f64, seed: u64) -> Result<(Vec<T>, Vec<T>), DataError> {
    if !(fraction > 0.0 && fraction < 1.0) {
        return Err(DataError::BadSplit(fraction));
    }
    let n = all.len();
    let n_eval = (fraction * n as f64).ceil() as usize;
    let which = if n_eval == 0 { "eval" } else { "train" };
    if n_eval == 0 || n_eval >= n {
        return Err(DataError::SplitTooSmall {
            split: fraction,
            rows: n,
            which,
        });
    }
    let order = permutation(n, &mut SeededRng::new(seed, 0x5EED_5B17));
    let mut held = vec![false; n];
    for &i in &order[..n_eval] {
        held[i] = true;
    }
    let (mut train, mut eval) = (Vec::new(), Vec::new());
    for (ex, h) in all.into_iter().zip(held) {
        if h {
            eval.push(ex)
        } else {
            train.push(ex)
        }
    }
    Ok((train, eval))
}

/// A Fisher-Yates permutation of `0..n`.
fn permutation(n: usize, rng: &mut SeededRng) -> Vec<usize> {
    let mut v: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        v.swap(i, j);
    }
    v
}

/// The micro-batches of `epoch`: example indices shuffled from (seed, epoch), cut into
/// `batch_size` chunks (the last may be smaller).
pub fn epoch_batches(n: usize, batch_size: usize, seed: u64, epoch: usize) -> Vec<Vec<usize>> {
    let order = permutation(n, &mut SeededRng::new(seed, 0xE90C_0000 + epoch as u64));
    order
        .chunks(batch_size.max(1))
        .map(<[usize]>::to_vec)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn spec_for(dir: &std::path::Path, train: &str, eval: Option<&str>) -> DataSpec {
        let t = dir.join("train.jsonl");
        std::fs::File::create(&t)
            .unwrap()
            .write_all(train.as_bytes())
            .unwrap();
        let mut spec: DataSpec = serde_json::from_value(serde_json::json!({ "train": t })).unwrap();
        if let Some(e) = eval {
            let p = dir.join("eval.jsonl");
            std::fs::File::create(&p)
                .unwrap()
                .write_all(e.as_bytes())
                .unwrap();
            spec.eval = Some(p);
        }
        spec
    }

    fn rows(labels: &[&str]) -> String {
        labels
            .iter()
            .enumerate()
            .map(|(i, l)| format!("{{\"text\":\"t{i}\",\"label\":{l}}}\n"))
            .collect()
    }

    #[test]
    fn integer_labels_sort_numerically_and_eval_labels_must_be_known() {
        let d = tempfile::tempdir().unwrap();
        let spec = spec_for(d.path(), &rows(&["10", "2", "2"]), Some(&rows(&["2", "7"])));
        let err = load(&spec, 1).unwrap_err().to_string();
        assert!(err.contains("eval.jsonl:2: unknown label `7`"), "{err}");
        assert!(
            err.ends_with("; the eval data has labels the training data lacks: 7; list every label in `data.labels`, or fix the eval file"),
            "{err}"
        );
        let spec = spec_for(d.path(), &rows(&["10", "2", "2"]), Some(&rows(&["2"])));
        let ds = load(&spec, 1).unwrap();
        assert_eq!(ds.labels, vec!["2", "10"]);
        assert_eq!(
            ds.train.iter().map(|e| e.label).collect::<Vec<_>>(),
            vec![1, 0, 0]
        );
        assert_eq!(ds.eval[0].label, 0);
        assert!(ds.sha256.contains_key("eval"));
    }

    #[test]
    fn three_classes_and_every_eval_only_label_are_named() {
        let d = tempfile::tempdir().unwrap();
        let train = rows(&["\"neutral\"", "\"positive\"", "\"negative\"", "\"neutral\""]);
        let eval = rows(&["\"positive\"", "\"mixed\"", "\"sarcastic\"", "\"mixed\""]);
        let spec = spec_for(d.path(), &train, Some(&eval));
        let err = load(&spec, 1).unwrap_err();
        assert!(
            matches!(&err, DataError::EvalOnlyLabels { labels, .. } if labels == &["mixed", "sarcastic"])
        );
        let err = err.to_string();
        assert!(err.contains("eval.jsonl:2: unknown label `mixed`"), "{err}");
        assert!(
            err.contains("the eval data has labels the training data lacks: mixed, sarcastic"),
            "{err}"
        );
        let spec = spec_for(
            d.path(),
            &train,
            Some(&rows(&["\"neutral\"", "\"negative\""])),
        );
        let ds = load(&spec, 1).unwrap();
        assert_eq!(ds.labels, ["negative", "neutral", "positive"]);
        assert_eq!(ds.eval.iter().map(|e| e.label).collect::<Vec<_>>(), [1, 0]);
    }

    #[test]
    fn explicit_labels_fix_the_order_and_reject_others() {
        let d = tempfile::tempdir().unwrap();
        let mut spec = spec_for(d.path(), &rows(&["\"neg\"", "\"pos\"", "\"meh\""]), None);
        spec.labels = Some(vec!["pos".into(), "neg".into()]);
        let err = load(&spec, 1).unwrap_err().to_string();
        assert!(err.contains("train.jsonl:3: unknown label `meh`"), "{err}");
        let spec = spec_for(d.path(), &rows(&["\"a\"", "\"a\""]), None);
        assert!(matches!(load(&spec, 1), Err(DataError::OneLabel(_))));
    }

    #[test]
    fn eval_split_is_seeded_and_disjoint() {
        let d = tempfile::tempdir().unwrap();
        let labels: Vec<String> = (0..50).map(|i| format!("{}", i % 2)).collect();
        let refs: Vec<&str> = labels.iter().map(String::as_str).collect();
        let mut spec = spec_for(d.path(), &rows(&refs), None);
        spec.eval_split = finetune_spec::Fraction::new(0.2);
        let a = load(&spec, 7).unwrap();
        let b = load(&spec, 7).unwrap();
        let c = load(&spec, 8).unwrap();
        assert_eq!((a.train.len(), a.eval.len()), (40, 10));
        assert_eq!(a.eval, b.eval);
        assert_ne!(a.eval, c.eval);
        let lines: BTreeSet<usize> = a.train.iter().chain(&a.eval).map(|e| e.line).collect();
        assert_eq!(lines.len(), 50);
        // Out of (0, 1) a split cannot be built: the spec type refuses it.
        assert!(finetune_spec::Fraction::new(1.5).is_none());
        assert!(matches!(
            split(Vec::<Example>::new(), 1.5, 7),
            Err(DataError::BadSplit(_))
        ));
    }

    #[test]
    fn epoch_order_depends_on_seed_and_epoch_only() {
        let a = epoch_batches(10, 3, 42, 0);
        assert_eq!(a, epoch_batches(10, 3, 42, 0));
        assert_ne!(a, epoch_batches(10, 3, 42, 1));
        assert_eq!(a.len(), 4);
        assert_eq!(a[3].len(), 1);
        let mut all: Vec<usize> = a.concat();
        all.sort();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
    }
}
