//! A rendered row's loss spans as per-token labels: the token's id where it carries the loss,
//! [`IGNORE_INDEX`] elsewhere, aligned with the input ids as Hugging Face's `labels` are (the
//! model shifts them by one itself). It takes the tokenizer's offsets, not the tokenizer, so the
//! trainer and `validate --data` share it without either pulling the other's dependencies in.

use std::ops::Range;

/// The label of a token that carries no loss (PyTorch's `CrossEntropyLoss` default).
pub const IGNORE_INDEX: i64 = -100;

/// Labels for `ids`, whose byte ranges in the rendered text are `offsets` (the `tokenizers`
/// crate's `Encoding::get_offsets`, which are byte offsets). A token carries the loss when its
/// range overlaps a span; a token with an empty range (a special token the tokenizer added, such
/// as a BOS, which is in no span) does not.
pub fn label_mask(ids: &[u32], offsets: &[(usize, usize)], spans: &[Range<usize>]) -> Vec<i64> {
    ids.iter()
        .zip(offsets)
        .map(|(&id, &(start, end))| {
            let trained = start < end && spans.iter().any(|s| start < s.end && s.start < end);
            if trained {
                i64::from(id)
            } else {
                IGNORE_INDEX
            }
        })
        .collect()
}

// A list of one loss span (`&[4..13]`) is what these tests mean, not the range's elements.
#[cfg(test)]
#[allow(clippy::single_range_in_vec_init)]
mod tests {
    use super::*;

    #[test]
    fn tokens_inside_or_across_a_span_are_trained_and_the_rest_ignored() {
        // "Hi there<eos>": tokens "Hi", " the", "re", "<eos>", and an added BOS at (0, 0).
        let ids = [1, 10, 11, 12, 2];
        let offsets = [(0, 0), (0, 2), (2, 6), (6, 8), (8, 13)];
        // The span starts inside " the": that token is trained, as TRL marks every token holding
        // a character of the assistant's text.
        let labels = label_mask(&ids, &offsets, &[4..13]);
        assert_eq!(labels, [IGNORE_INDEX, IGNORE_INDEX, 11, 12, 2]);
        assert_eq!(label_mask(&ids, &offsets, &[]), [IGNORE_INDEX; 5]);
        let all = label_mask(&ids, &offsets, &[0..13]);
        assert_eq!(all, [IGNORE_INDEX, 10, 11, 12, 2]);
        // Two spans, a gap between them.
        assert_eq!(
            label_mask(&ids, &offsets, &[0..2, 8..13]),
            [IGNORE_INDEX, 10, IGNORE_INDEX, IGNORE_INDEX, 2]
        );
    }
}
