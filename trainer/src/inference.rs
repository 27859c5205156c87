//! `predict` and `eval` on an exported `model/` directory: classify texts into JSON lines with
//! the label and per-label probabilities, or score a dataset file (loss, accuracy, macro-F1).

use crate::data::Example;
use crate::error::RunError;
use crate::model;
use crate::tokenize::TextTokenizer;
use crate::training::eval;
use burn::tensor::activation::softmax;
use burn::tensor::backend::Backend;
use finetune_spec::contract::EvalMetrics;
use finetune_spec::dataset;
use finetune_spec::DataSpec;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// One prediction.
#[derive(Debug, Clone, Serialize)]
pub struct Prediction {
    pub text: String,
    pub label: String,
    pub score: f64,
    pub probabilities: BTreeMap<String, f64>,
}

/// A loaded classifier with its tokenizer and labels.
pub struct Classifier<B: Backend> {
    pub model: model::BertClassifier<B>,
    pub tok: TextTokenizer,
    pub labels: Vec<String>,
    pub device: B::Device,
}

impl<B: Backend> Clone for Classifier<B> {
    /// Another handle on the same weights (burn tensors share their buffers).
    fn clone(&self) -> Self {
        Classifier {
            model: self.model.clone(),
            tok: self.tok.clone(),
            labels: self.labels.clone(),
            device: self.device.clone(),
        }
    }
}

impl<B: Backend> Classifier<B> {
    pub fn load(dir: &Path, max_length: usize, device: B::Device) -> Result<Self, RunError> {
        let loaded = model::load_for_inference::<B>(dir, &device)?;
        let max_length = max_length.min(loaded.config.max_position_embeddings);
        let tok = TextTokenizer::from_dir(dir, max_length)?;
        Ok(Classifier {
            model: loaded.model,
            tok,
            labels: loaded.labels,
            device,
        })
    }

    /// Classifies `texts` in batches of `batch_size`.
    pub fn predict(
        &self,
        texts: &[String],
        batch_size: usize,
    ) -> Result<Vec<Prediction>, RunError> {
        let mut out = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(batch_size.max(1)) {
            let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
            let logits = eval::logits(&self.model, &self.tok, &refs, &self.device)?;
            let [b, k] = logits.dims();
            let probs: Vec<f32> = softmax(logits, 1)
                .into_data()
                .convert::<f32>()
                .to_vec()
                .map_err(|e| RunError::Failed(format!("{e:?}")))?;
            for (r, text) in chunk.iter().enumerate().take(b) {
                let row = &probs[r * k..(r + 1) * k];
                let (best, score) = row.iter().enumerate().fold((0, f32::MIN), |acc, (i, &p)| {
                    if p > acc.1 {
                        (i, p)
                    } else {
                        acc
                    }
                });
                out.push(Prediction {
                    text: text.clone(),
                    label: self.labels[best].clone(),
                    score: score as f64,
                    probabilities: self
                        .labels
                        .iter()
                        .zip(row)
                        .map(|(l, &p)| (l.clone(), p as f64))
                        .collect(),
                });
            }
        }
        Ok(out)
    }

    /// Scores the rows of a dataset file; labels must be among the model's.
    pub fn evaluate(&self, spec: &DataSpec, batch_size: usize) -> Result<EvalMetrics, RunError> {
        let mut spec = spec.clone();
        spec.labels = Some(self.labels.clone());
        let rows =
            dataset::read_all(&spec.train, &spec).map_err(|e| RunError::BadInput(e.to_string()))?;
        let examples: Vec<Example> = rows
            .into_iter()
            .map(|r| Example {
                line: r.line,
                label: self.labels.iter().position(|l| *l == r.label).unwrap_or(0),
                text: r.text,
            })
            .collect();
        Ok(eval::evaluate(
            &self.model,
            &self.tok,
            &self.labels,
            &examples,
            batch_size,
            &self.device,
        )?)
    }
}
