//! Encoded rows to the batches a causal LM trains on: the epoch's order from (seed, epoch)
//! ([`crate::data::epoch_batches`], as the classifier path shuffles), optionally packed into
//! rows of `max_length`, then right-padded to the longest row of each batch with the pad id,
//! with an attention mask (1 on tokens) and labels [`IGNORE_INDEX`] on padding.
//!
//! Packing (`train.packing: true`) concatenates the shuffled examples and cuts the stream into
//! rows of `max_length` tokens (the last row may be shorter), as TRL's `wrapped` packing does:
//! every token appears once, an example may continue on the next row, and attention is NOT
//! reset at example boundaries (a packed row is one causal sequence; resetting would need a
//! block-diagonal mask or per-example position ids, which the model interface does not take).
//! Each example ends with its end-of-turn or EOS token, so the model still sees where one stops.

use super::LmExample;
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use finetune_spec::chat::IGNORE_INDEX;

/// A batch, row-major `[batch, seq]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LmBatch {
    pub batch: usize,
    pub seq: usize,
    pub input_ids: Vec<i64>,
    /// 1 on tokens, 0 on padding.
    pub attention_mask: Vec<i64>,
    /// The token's id where it carries the loss, [`IGNORE_INDEX`] elsewhere (not yet shifted:
    /// the loss shifts, as Hugging Face's models do).
    pub labels: Vec<i64>,
}

/// An [`LmBatch`] on a device: `[batch, seq]` Int tensors.
#[derive(Debug, Clone)]
pub struct LmBatchTensors<B: Backend> {
    pub input_ids: Tensor<B, 2, Int>,
    pub attention_mask: Tensor<B, 2, Int>,
    pub labels: Tensor<B, 2, Int>,
}

/// How an epoch is cut into batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Batching {
    pub batch_size: usize,
    pub max_length: usize,
    pub packing: bool,
    pub pad_id: u32,
}

/// The batches of `epoch`: `examples` in the order of (seed, epoch), packed when asked, cut
/// into `batch_size` rows (the last batch may be smaller).
pub fn epoch_batches(
    examples: &[LmExample],
    how: Batching,
    seed: u64,
    epoch: usize,
) -> Vec<LmBatch> {
    let n = examples.len();
    let order = crate::data::epoch_batches(n, n, seed, epoch).concat();
    let rows: Vec<LmExample> = if how.packing {
        pack(order.iter().map(|&i| &examples[i]), how.max_length)
    } else {
        order.iter().map(|&i| examples[i].clone()).collect()
    };
    rows.chunks(how.batch_size.max(1))
        .map(|c| collate(c, how.pad_id))
        .collect()
}

/// The batches of the eval set, in file order and never packed, so eval loss compares across
/// runs and epochs.
pub fn eval_batches(examples: &[LmExample], batch_size: usize, pad_id: u32) -> Vec<LmBatch> {
    examples
        .chunks(batch_size.max(1))
        .map(|c| collate(c, pad_id))
        .collect()
}

/// The examples concatenated in order and cut into rows of `max_length` tokens. A packed row
/// keeps the line of the example it starts with.
pub fn pack<'a>(
    examples: impl IntoIterator<Item = &'a LmExample>,
    max_length: usize,
) -> Vec<LmExample> {
    let max_length = max_length.max(1);
    let mut rows = Vec::new();
    let mut cur = LmExample::default();
    for ex in examples {
        let mut at = 0;
        while at < ex.input_ids.len() {
            if cur.input_ids.is_empty() {
                cur.line = ex.line;
            }
            let take = (max_length - cur.input_ids.len()).min(ex.input_ids.len() - at);
            cur.input_ids
                .extend_from_slice(&ex.input_ids[at..at + take]);
            cur.labels.extend_from_slice(&ex.labels[at..at + take]);
            at += take;
            if cur.input_ids.len() == max_length {
                rows.push(std::mem::take(&mut cur));
            }
        }
    }
    if !cur.input_ids.is_empty() {
        rows.push(cur);
    }
    rows
}

/// Rows right-padded with `pad_id` to the longest of them.
pub fn collate(rows: &[LmExample], pad_id: u32) -> LmBatch {
    let batch = rows.len();
    let seq = rows.iter().map(|r| r.input_ids.len()).max().unwrap_or(0);
    let mut out = LmBatch {
        batch,
        seq,
        input_ids: vec![i64::from(pad_id); batch * seq],
        attention_mask: vec![0; batch * seq],
        labels: vec![IGNORE_INDEX; batch * seq],
    };
    for (r, row) in rows.iter().enumerate() {
        let base = r * seq;
        for (j, (&id, &label)) in row.input_ids.iter().zip(&row.labels).enumerate() {
            out.input_ids[base + j] = i64::from(id);
            out.attention_mask[base + j] = 1;
            out.labels[base + j] = label;
        }
    }
    out
}

impl LmBatch {
    /// Tokens that carry the loss before the shift (the loss counts the shifted ones:
    /// [`crate::training::lm_loss::trained_positions`]).
    pub fn trained_tokens(&self) -> usize {
        self.labels.iter().filter(|&&l| l != IGNORE_INDEX).count()
    }

    /// The batch as `[batch, seq]` Int tensors on `device`.
    pub fn tensors<B: Backend>(&self, device: &B::Device) -> LmBatchTensors<B> {
        let t = |v: &[i64]| {
            Tensor::<B, 2, Int>::from_data(
                TensorData::new(v.to_vec(), [self.batch, self.seq]),
                device,
            )
        };
        LmBatchTensors {
            input_ids: t(&self.input_ids),
            attention_mask: t(&self.attention_mask),
            labels: t(&self.labels),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(line: usize, ids: &[u32], trained_from: usize) -> LmExample {
        let labels = ids
            .iter()
            .enumerate()
            .map(|(i, &id)| {
                if i >= trained_from {
                    i64::from(id)
                } else {
                    IGNORE_INDEX
                }
            })
            .collect();
        LmExample {
            line,
            input_ids: ids.to_vec(),
            labels,
        }
    }

    #[test]
    fn collate_right_pads_with_mask_zero_and_ignored_labels() {
        let b = collate(&[ex(1, &[5, 6, 7], 1), ex(2, &[8], 0)], 0);
        assert_eq!((b.batch, b.seq), (2, 3));
        assert_eq!(b.input_ids, [5, 6, 7, 8, 0, 0]);
        assert_eq!(b.attention_mask, [1, 1, 1, 1, 0, 0]);
        assert_eq!(
            b.labels,
            [IGNORE_INDEX, 6, 7, 8, IGNORE_INDEX, IGNORE_INDEX]
        );
        assert_eq!(b.trained_tokens(), 3);
    }

    #[test]
    fn packing_keeps_every_token_once_in_order_and_fills_rows() {
        let exs: Vec<LmExample> = (0..7)
            .map(|i| {
                let ids: Vec<u32> = (0..(i * 3 % 5 + 1)).map(|k| 100 * i + k).collect();
                ex(i as usize + 1, &ids, 1)
            })
            .collect();
        let rows = pack(&exs, 4);
        let flat: Vec<u32> = rows.iter().flat_map(|r| r.input_ids.clone()).collect();
        let want: Vec<u32> = exs.iter().flat_map(|e| e.input_ids.clone()).collect();
        assert_eq!(flat, want);
        let flat_labels: Vec<i64> = rows.iter().flat_map(|r| r.labels.clone()).collect();
        let want_labels: Vec<i64> = exs.iter().flat_map(|e| e.labels.clone()).collect();
        assert_eq!(flat_labels, want_labels);
        let (last, full) = rows.split_last().unwrap();
        assert!(full.iter().all(|r| r.input_ids.len() == 4));
        assert!(!last.input_ids.is_empty() && last.input_ids.len() <= 4);
        assert_eq!(rows[0].line, 1);
    }

    #[test]
    fn epoch_order_is_seeded_and_covers_every_example_once() {
        let exs: Vec<LmExample> = (0..10).map(|i| ex(i + 1, &[i as u32 + 10], 0)).collect();
        let how = Batching {
            batch_size: 3,
            max_length: 8,
            packing: false,
            pad_id: 0,
        };
        let a = epoch_batches(&exs, how, 7, 0);
        assert_eq!(a, epoch_batches(&exs, how, 7, 0));
        assert_ne!(a, epoch_batches(&exs, how, 7, 1));
        assert_eq!(a.iter().map(|b| b.batch).collect::<Vec<_>>(), [3, 3, 3, 1]);
        let mut seen: Vec<i64> = a.iter().flat_map(|b| b.input_ids.clone()).collect();
        seen.sort();
        assert_eq!(seen, (10..20).collect::<Vec<i64>>());
        let how = Batching {
            packing: true,
            max_length: 5,
            ..how
        };
        let packed = epoch_batches(&exs, how, 7, 0);
        assert_eq!(packed.len(), 1);
        assert_eq!((packed[0].batch, packed[0].seq), (2, 5));
        assert!(packed[0].attention_mask.iter().all(|&m| m == 1));
        // The packed stream is the unpacked epoch's order.
        let order: Vec<i64> = a.iter().flat_map(|b| b.input_ids.clone()).collect();
        assert_eq!(packed[0].input_ids[..10], order[..10]);
    }

    #[test]
    fn tensors_have_the_batch_shape() {
        let b = collate(&[ex(1, &[5, 6, 7], 1), ex(2, &[8], 0)], 0);
        let t = b.tensors::<crate::backend::Cpu>(&Default::default());
        assert_eq!(t.input_ids.dims(), [2, 3]);
        let labels: Vec<i64> = t.labels.into_data().convert::<i64>().to_vec().unwrap();
        assert_eq!(labels, b.labels);
    }
}
