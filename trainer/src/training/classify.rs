//! Sequence classification as a [`Task`]: labelled rows (`data::load`, redacted before anything
//! reads them), a BERT-family classifier (full or LoRA), cross-entropy over the batch, accuracy
//! and macro-F1 on the eval set, and an HF `BertForSequenceClassification` export.

use super::eval;
use super::report::{log, redaction_counts};
use super::task::{MicroLoss, Task};
use crate::data::{self, Dataset};
use crate::error::RunError;
use crate::model::{self, BertClassifier, BertConfig, ModelError};
use crate::redaction;
use crate::tokenize::TextTokenizer;
use burn::tensor::backend::AutodiffBackend;
use finetune_spec::contract::{EvalMetrics, Redaction};
use finetune_spec::JobSpec;
use std::collections::BTreeMap;
use std::path::Path;

/// A classification job's data, tokenizer and model config.
pub(crate) struct Classification<'a> {
    job: &'a JobSpec,
    ds: Dataset,
    tok: TextTokenizer,
    config: BertConfig,
}

impl<'a> Classification<'a> {
    /// Reads, redacts and checks the job's data, and loads the tokenizer; the model comes later
    /// ([`Self::build`]), once a checkpoint to resume was found to fit.
    pub(crate) fn load(job: &'a JobSpec) -> Result<Self, RunError> {
        let mut ds = data::load(&job.data, job.train.seed)?;
        for w in data::warnings(&ds) {
            log(format!("warning: {w}"));
        }
        // Before the tokenizer or anything else sees a row; the counts go to metrics.jsonl and
        // run.json, the values nowhere.
        redaction::apply(&job.data, &mut ds)?;
        if let Some(r) = &ds.redaction {
            log(format!("redacted: {}", redaction_counts(r)));
        }
        if ds.eval.is_empty() && job.train.early_stopping.is_some() {
            return Err(RunError::BadInput(
                "train.early_stopping needs an eval set: set data.eval or data.eval_split".into(),
            ));
        }
        let tok = TextTokenizer::from_dir(&job.model, job.train.max_length.get())?;
        let config = BertConfig::from_file(&job.model.join("config.json"))?;
        Ok(Classification {
            job,
            ds,
            tok,
            config,
        })
    }

    /// The classifier to train, on the autodiff backend (see [`model`] for why there).
    pub(crate) fn build<B: AutodiffBackend>(
        &self,
        device: &B::Device,
        backend_name: &str,
    ) -> Result<BertClassifier<B>, RunError> {
        let job = self.job;
        let loaded = model::load_classifier::<B>(
            &job.model,
            &self.ds.labels,
            &job.method,
            job.train.seed,
            device,
        )?;
        let (trainable, total) = model::param_counts(&loaded.model);
        log(format!(
            "model {} ({} labels, {total} params, {trainable} trainable), backend {backend_name}, {} train / {} eval rows",
            job.model.display(),
            self.ds.labels.len(),
            self.ds.train.len(),
            self.ds.eval.len()
        ));
        Ok(loaded.model)
    }
}

impl<B: AutodiffBackend> Task<B> for Classification<'_> {
    type Net = BertClassifier<B>;

    fn train_rows(&self) -> usize {
        self.ds.train.len()
    }

    fn has_eval(&self) -> bool {
        !self.ds.eval.is_empty()
    }

    fn dataset_sha256(&self) -> &BTreeMap<String, String> {
        &self.ds.sha256
    }

    fn labels(&self) -> &[String] {
        &self.ds.labels
    }

    fn redaction(&self) -> Option<&Redaction> {
        self.ds.redaction.as_ref()
    }

    fn weight(&self, _rows: &[usize]) -> f64 {
        1.0
    }

    fn loss(
        &self,
        net: &Self::Net,
        rows: &[usize],
        device: &B::Device,
    ) -> Result<MicroLoss<B>, RunError> {
        let texts: Vec<&str> = rows
            .iter()
            .map(|&i| self.ds.train[i].text.as_str())
            .collect();
        let gold: Vec<usize> = rows.iter().map(|&i| self.ds.train[i].label).collect();
        let logits = eval::logits(net, &self.tok, &texts, device)?;
        Ok(MicroLoss {
            loss: eval::cross_entropy(logits, &gold).mean(),
            rows: rows.len(),
        })
    }

    fn evaluate(
        &self,
        net: &BertClassifier<B::InnerBackend>,
        device: &B::Device,
    ) -> Result<EvalMetrics, RunError> {
        Ok(eval::evaluate(
            net,
            &self.tok,
            &self.ds.labels,
            &self.ds.eval,
            self.job.train.batch_size.get() * 2,
            device,
        )?)
    }

    fn export(&self, net: &BertClassifier<B::InnerBackend>, dir: &Path) -> Result<(), RunError> {
        model::export_model(net, &self.config, &self.ds.labels, &self.job.model, dir).map_err(|e| {
            match e {
                ModelError::Io { path, source } => RunError::output(&path, source),
                other => RunError::Failed(other.to_string()),
            }
        })
    }
}
