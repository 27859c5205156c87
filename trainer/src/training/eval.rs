//! Scoring a classifier on examples: summed cross-entropy, predictions, and the metrics built
//! from them (accuracy, macro-F1, per-class precision/recall/F1). Shared by training-time
//! evaluation and the `eval` subcommand.

use crate::data::Example;
use crate::model::BertClassifier;
use crate::tokenize::TextTokenizer;
use crate::training::metrics::eval_metrics;
use burn::tensor::activation::log_softmax;
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use finetune_spec::contract::EvalMetrics;

/// Per-example cross-entropy, `[batch]`.
pub fn cross_entropy<B: Backend>(logits: Tensor<B, 2>, targets: &[usize]) -> Tensor<B, 1> {
    let [b, _] = logits.dims();
    let device = logits.device();
    let t: Vec<i64> = targets.iter().map(|&t| t as i64).collect();
    let t = Tensor::<B, 2, Int>::from_data(TensorData::new(t, [b, 1]), &device);
    log_softmax(logits, 1).gather(1, t).reshape([b]).neg()
}

/// Logits for `texts`, `[batch, labels]`.
pub fn logits<B: Backend>(
    model: &BertClassifier<B>,
    tok: &TextTokenizer,
    texts: &[&str],
    device: &B::Device,
) -> Result<Tensor<B, 2>, crate::model::ModelError> {
    let t = tok.encode_batch(texts)?.to_tensors::<B>(device);
    Ok(model.forward(t.input_ids, t.attention_mask, t.token_type_ids))
}

/// Loss, accuracy, macro-F1 and per-class scores of `model` on `examples`, in batches of
/// `batch_size`; `labels` names the model's classes in id order.
pub fn evaluate<B: Backend>(
    model: &BertClassifier<B>,
    tok: &TextTokenizer,
    labels: &[String],
    examples: &[Example],
    batch_size: usize,
    device: &B::Device,
) -> Result<EvalMetrics, crate::model::ModelError> {
    let mut loss_sum = 0.0;
    let mut predicted = Vec::with_capacity(examples.len());
    for chunk in examples.chunks(batch_size.max(1)) {
        let texts: Vec<&str> = chunk.iter().map(|e| e.text.as_str()).collect();
        let gold: Vec<usize> = chunk.iter().map(|e| e.label).collect();
        let l = logits(model, tok, &texts, device)?;
        let losses = cross_entropy(l.clone(), &gold);
        let sum: Vec<f32> = losses
            .sum()
            .into_data()
            .convert::<f32>()
            .to_vec()
            .unwrap_or_default();
        loss_sum += sum.first().copied().unwrap_or(0.0) as f64;
        let arg: Vec<i64> = l
            .argmax(1)
            .into_data()
            .convert::<i64>()
            .to_vec()
            .unwrap_or_default();
        predicted.extend(arg.into_iter().map(|a| a as usize));
    }
    let gold: Vec<usize> = examples.iter().map(|e| e.label).collect();
    // Names for every head output, should the head be wider than the label list.
    let mut names = labels.to_vec();
    names.extend((names.len()..model.num_labels()).map(|i| i.to_string()));
    Ok(eval_metrics(loss_sum, &predicted, &gold, &names))
}
