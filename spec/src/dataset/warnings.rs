//! The two warnings about data that trains but misleads, worded once for `validate --data` (on
//! the host) and the trainer (in the job's log): classes over [`MAX_IMBALANCE`]:1, and eval rows
//! whose text is also a training row's. Both are about counts and label names, never row text.

use std::collections::{BTreeMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};

/// The largest class may have at most this many times the rows of the smallest before a warning.
pub const MAX_IMBALANCE: usize = 10;

/// The imbalance warning for per-label row counts, or `None` when the classes are within
/// [`MAX_IMBALANCE`]:1 (or fewer than two).
pub fn imbalance(counts: &BTreeMap<String, usize>) -> Option<String> {
    let (min, max) = (*counts.values().min()?, *counts.values().max()?);
    if counts.len() < 2 || max <= MAX_IMBALANCE * min {
        return None;
    }
    let mut by_size: Vec<(&String, &usize)> = counts.iter().collect();
    by_size.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let listed: Vec<String> = by_size.iter().map(|(l, n)| format!("`{l}` {n}")).collect();
    Some(format!(
        "the training classes are imbalanced over {MAX_IMBALANCE}:1 ({:.1}:1): {} rows",
        max as f64 / min.max(1) as f64,
        listed.join(", ")
    ))
}

/// The hint that goes with [`imbalance`].
pub const IMBALANCE_HINT: &str = "the model may learn to predict the large classes; balance the data, and read the per-class F1 in `docker finetune runs`";

/// The duplicate-rows warning: `dups` of `eval_rows` eval rows have a training row's text.
pub fn duplicates(dups: usize, eval_rows: usize) -> Option<String> {
    (dups > 0).then(|| {
        format!("{dups} of {eval_rows} eval rows have a text that is also in the training data")
    })
}

/// The hint that goes with [`duplicates`].
pub const DUPLICATES_HINT: &str =
    "their scores overstate how the model does on new text; remove them from one file";

/// A hash of a row's trimmed text: the same text hashes the same in every file and process
/// (`DefaultHasher::new()` has fixed keys).
pub fn text_hash(text: &str) -> u64 {
    let mut h = DefaultHasher::new();
    text.trim().hash(&mut h);
    h.finish()
}

/// How many of `eval` have a text (trimmed) that one of `train` has.
pub fn count_duplicates<'a>(
    train: impl IntoIterator<Item = &'a str>,
    eval: impl IntoIterator<Item = &'a str>,
) -> usize {
    let seen: HashSet<u64> = train.into_iter().map(text_hash).collect();
    eval.into_iter()
        .filter(|t| seen.contains(&text_hash(t)))
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imbalance_over_ten_to_one_is_named_with_its_counts() {
        let mut c = BTreeMap::new();
        c.insert("pos".to_string(), 100);
        c.insert("neg".to_string(), 10);
        assert_eq!(imbalance(&c), None, "exactly 10:1 is fine");
        c.insert("neg".to_string(), 9);
        let w = imbalance(&c).unwrap();
        assert!(w.contains("(11.1:1): `pos` 100, `neg` 9 rows"), "{w}");
        c.remove("neg");
        assert_eq!(imbalance(&c), None, "one class");
    }

    #[test]
    fn duplicates_compare_trimmed_text() {
        let n = count_duplicates(["a b", " c "], ["c", "a  b", "a b\n", "d"]);
        assert_eq!(n, 2);
        assert_eq!(duplicates(0, 5), None);
        assert_eq!(
            duplicates(2, 5).unwrap(),
            "2 of 5 eval rows have a text that is also in the training data"
        );
    }
}
