//! The causal language-modelling loss, as Hugging Face's `ForCausalLMLoss`: the logits at
//! position `t` predict the label at `t + 1` (logits and labels shifted by one), cross-entropy
//! (from `log_softmax`, which subtracts the row maximum first, so large logits do not overflow)
//! over the positions whose shifted label is not `IGNORE_INDEX`, summed, then divided by the
//! number of those positions.
//!
//! With gradient accumulation the mean must be over every trained token of the accumulated
//! micro-batches, not a mean of per-batch means (a short batch would weigh as much as a long
//! one): [`lm_loss_over`] divides by a count given by the caller, as `num_items_in_batch` does
//! in `transformers`; [`trained_positions`] counts it on the host from the batches' labels.

use burn::tensor::activation::log_softmax;
use burn::tensor::backend::Backend;
use burn::tensor::{ElementConversion, Int, Tensor};
use finetune_spec::chat::IGNORE_INDEX;

/// A loss and the trained positions it is the mean over.
#[derive(Debug, Clone)]
pub struct LmLoss<B: Backend> {
    /// `[1]`, differentiable.
    pub loss: Tensor<B, 1>,
    pub tokens: usize,
}

/// The summed negative log-likelihood, `[1]`, of `labels` (`[b, s]`, unshifted) under `logits`
/// (`[b, s, vocab]`) over the trained shifted positions. `0` when there are none.
pub fn lm_loss_sum<B: Backend>(logits: Tensor<B, 3>, labels: Tensor<B, 2, Int>) -> Tensor<B, 1> {
    let [b, s, v] = logits.dims();
    if s < 2 || b == 0 {
        return logits.sum().mul_scalar(0.0);
    }
    let n = b * (s - 1);
    let logits = logits.slice([0..b, 0..s - 1, 0..v]).reshape([n, v]);
    let labels = labels.slice([0..b, 1..s]).reshape([n]);
    let ignored = labels.clone().equal_elem(IGNORE_INDEX);
    // An ignored label would index past the vocabulary: gather at 0, then zero it out.
    let safe = labels.mask_fill(ignored.clone(), 0).reshape([n, 1]);
    let picked = log_softmax(logits, 1).gather(1, safe).reshape([n]);
    picked.mask_fill(ignored, 0.0).sum().neg()
}

/// The mean loss over the batch's own trained positions (one micro-batch, no accumulation).
/// Reads the count back from the device.
pub fn lm_loss<B: Backend>(logits: Tensor<B, 3>, labels: Tensor<B, 2, Int>) -> LmLoss<B> {
    let [b, s] = labels.dims();
    let tokens = if s < 2 {
        0
    } else {
        labels
            .clone()
            .slice([0..b, 1..s])
            .not_equal_elem(IGNORE_INDEX)
            .int()
            .sum()
            .into_scalar()
            .elem::<i64>() as usize
    };
    LmLoss {
        loss: lm_loss_over(logits, labels, tokens),
        tokens,
    }
}

/// The summed loss of this micro-batch divided by `num_items`, the trained positions of all the
/// micro-batches accumulated into one optimizer step ([`trained_positions`] summed over them):
/// the accumulated gradients are then those of the mean over every trained token. `num_items`
/// of 0 gives 0 (no token to learn from), not NaN.
pub fn lm_loss_over<B: Backend>(
    logits: Tensor<B, 3>,
    labels: Tensor<B, 2, Int>,
    num_items: usize,
) -> Tensor<B, 1> {
    lm_loss_sum(logits, labels).div_scalar(num_items.max(1) as f64)
}

/// The positions the loss counts in a `[batch, seq]` row-major label buffer: trained labels
/// that are not the first of their row (nothing predicts a row's first token).
pub fn trained_positions(labels: &[i64], batch: usize, seq: usize) -> usize {
    (0..batch)
        .map(|r| {
            let row = &labels[r * seq..(r + 1) * seq];
            row.iter().skip(1).filter(|&&l| l != IGNORE_INDEX).count()
        })
        .sum()
}

/// Perplexity from a mean loss in nats: `exp(loss)`.
pub fn perplexity(mean_loss: f64) -> f64 {
    mean_loss.exp()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{Cpu, Train};
    use burn::nn::loss::CrossEntropyLossConfig;
    use burn::tensor::TensorData;

    type B = Cpu;

    fn logits(values: Vec<f32>, shape: [usize; 3]) -> Tensor<B, 3> {
        Tensor::from_data(TensorData::new(values, shape), &Default::default())
    }

    fn labels(values: Vec<i64>, shape: [usize; 2]) -> Tensor<B, 2, Int> {
        Tensor::from_data(TensorData::new(values, shape), &Default::default())
    }

    fn scalar(t: Tensor<B, 1>) -> f64 {
        t.into_scalar().elem::<f64>()
    }

    /// -log softmax(row)[k], by hand in f64.
    fn nll(row: &[f64], k: usize) -> f64 {
        let lse = row.iter().map(|x| x.exp()).sum::<f64>().ln();
        lse - row[k]
    }

    #[test]
    fn matches_hand_computed_values_with_the_shift_and_the_mask() {
        // One row, 3 positions, vocab 3. Labels [-100, 2, 1]: position 0 predicts 2, 1 predicts 1;
        // position 2's logits predict nothing.
        let l = vec![1.0, 2.0, 3.0, 0.5, -1.0, 2.0, 9.0, 9.0, 9.0];
        let loss = lm_loss(logits(l, [1, 3, 3]), labels(vec![-100, 2, 1], [1, 3]));
        assert_eq!(loss.tokens, 2);
        let want = (nll(&[1.0, 2.0, 3.0], 2) + nll(&[0.5, -1.0, 2.0], 1)) / 2.0;
        assert!((scalar(loss.loss) - want).abs() < 1e-5, "want {want}");
        // Masking the second target leaves the first alone.
        let l = vec![1.0, 2.0, 3.0, 0.5, -1.0, 2.0, 9.0, 9.0, 9.0];
        let loss = lm_loss(logits(l, [1, 3, 3]), labels(vec![7, 2, -100], [1, 3]));
        assert_eq!(loss.tokens, 1);
        assert!((scalar(loss.loss) - nll(&[1.0, 2.0, 3.0], 2)).abs() < 1e-5);
    }

    #[test]
    fn large_logits_stay_finite() {
        // Position 0 predicts label 1, at logit -1000 against 1000: a loss of 2000, exact.
        let l = vec![1000.0, -1000.0, 0.0, 1000.0, 999.0, 0.0];
        let loss = lm_loss(logits(l, [1, 2, 3]), labels(vec![0, 1], [1, 2]));
        let got = scalar(loss.loss);
        assert!((got - 2000.0).abs() < 1e-2, "{got}");
    }

    #[test]
    fn unmasked_equals_burns_cross_entropy_on_the_shifted_positions() {
        let (b, s, v) = (2, 5, 7);
        let mut rng = crate::model::init::SeededRng::new(3, 0);
        let values = rng.normal(b * s * v, 2.0);
        let ids: Vec<i64> = (0..b * s)
            .map(|_| (rng.next_u64() % v as u64) as i64)
            .collect();
        let ours = lm_loss(
            logits(values.clone(), [b, s, v]),
            labels(ids.clone(), [b, s]),
        );
        assert_eq!(ours.tokens, b * (s - 1));
        // burn's own loss on the same shifted pairs.
        let device = Default::default();
        let shifted_logits = logits(values, [b, s, v])
            .slice([0..b, 0..s - 1, 0..v])
            .reshape([b * (s - 1), v]);
        let shifted: Vec<i64> = (0..b)
            .flat_map(|r| ids[r * s + 1..(r + 1) * s].to_vec())
            .collect();
        let targets =
            Tensor::<B, 1, Int>::from_data(TensorData::new(shifted, [b * (s - 1)]), &device);
        let burns = CrossEntropyLossConfig::new()
            .init(&device)
            .forward(shifted_logits, targets);
        assert!((scalar(ours.loss) - scalar(burns)).abs() < 1e-5);
    }

    #[test]
    fn accumulated_mean_is_over_all_tokens_not_a_mean_of_means() {
        // Batch A trains 1 position, batch B 3: the step's loss is (sumA + sumB) / 4.
        let la = vec![0.0, 1.0, 0.0, 0.0];
        let a = (logits(la, [1, 2, 2]), labels(vec![-100, 1], [1, 2]));
        let lb = vec![0.3, 0.1, 0.2, 0.9, 1.0, -1.0, 0.0, 0.0];
        let b = (logits(lb, [1, 4, 2]), labels(vec![5, 0, 1, 1], [1, 4]));
        let total = trained_positions(&[-100, 1], 1, 2) + trained_positions(&[5, 0, 1, 1], 1, 4);
        assert_eq!(total, 4);
        let sum_a = scalar(lm_loss_sum(a.0.clone(), a.1.clone()));
        let sum_b = scalar(lm_loss_sum(b.0.clone(), b.1.clone()));
        let acc = scalar(lm_loss_over(a.0.clone(), a.1.clone(), total))
            + scalar(lm_loss_over(b.0.clone(), b.1.clone(), total));
        assert!((acc - (sum_a + sum_b) / 4.0).abs() < 1e-6);
        let mean_of_means = scalar(lm_loss(a.0, a.1).loss) + scalar(lm_loss(b.0, b.1).loss);
        assert!(
            (acc - mean_of_means / 2.0).abs() > 1e-3,
            "the two differ here"
        );
        assert!((perplexity(acc) - acc.exp()).abs() < 1e-12);
    }

    #[test]
    fn no_trained_token_is_zero_not_nan_and_gradients_flow() {
        let loss = lm_loss(
            logits(vec![1.0; 6], [1, 2, 3]),
            labels(vec![1, -100], [1, 2]),
        );
        assert_eq!((loss.tokens, scalar(loss.loss)), (0, 0.0));
        let device = Default::default();
        let x = Tensor::<Train<B>, 3>::from_data(
            TensorData::new(vec![0.0f32, 1.0, 2.0, 0.0, 0.0, 0.0], [1, 2, 3]),
            &device,
        )
        .require_grad();
        let y =
            Tensor::<Train<B>, 2, Int>::from_data(TensorData::new(vec![0i64, 2], [1, 2]), &device);
        let grads = lm_loss(x.clone(), y).loss.backward();
        let g: Vec<f32> = x.grad(&grads).unwrap().into_data().to_vec().unwrap();
        // d/dz of -log softmax(z)[2] is softmax(z) - onehot(2) on the first position only.
        let z = [0.0f64, 1.0, 2.0];
        let e: f64 = z.iter().map(|v| v.exp()).sum();
        let want = [
            z[0].exp() / e,
            z[1].exp() / e,
            z[2].exp() / e - 1.0,
            0.0,
            0.0,
            0.0,
        ];
        for (a, b) in g.iter().zip(want) {
            assert!((f64::from(*a) - b).abs() < 1e-5, "{g:?}");
        }
    }
}
