//! Causal language modelling as a [`Task`]: chat, prompt/completion or text rows encoded with the
//! model's tokenizer and template ([`causal_data`]), a Llama or GPT-2 ([`CausalLm`], full or
//! LoRA), the next-token loss over the trained tokens only, loss / perplexity / next-token
//! accuracy on the eval set, and the exports: an HF model directory (LoRA merged), a PEFT
//! adapter beside it with LoRA (`<output>/adapter/`), and GGUF files when `export` asks.
//!
//! Packing (`train.packing`) packs the examples once, in file order, into `max_length` rows;
//! the loop then shuffles those rows per epoch as it shuffles any rows, so resume stays exact.

use super::lm_loss::{lm_loss_over, lm_loss_sum, perplexity};
use super::memory;
use super::report::log;
use super::task::{MicroLoss, Task};
use crate::causal_data::{self, collate, eval_batches, pack, LmDataset, LmExample};
use crate::error::RunError;
use crate::model::causal::export::{export_causal_dir, export_peft_adapter, AdapterInfo};
use crate::model::causal::gguf_export;
use crate::model::causal::lm::{load_causal, CausalLm, CausalSource};
use crate::model::lora::LoraConfig;
use crate::model::{self, ModelError};
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Int, Tensor};
use finetune_spec::chat::IGNORE_INDEX;
use finetune_spec::contract::{EvalMetrics, Redaction};
use finetune_spec::{Architecture, JobSpec, Method};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A text-generation job's encoded data and what its checkpoint was.
pub(crate) struct CausalTask<'a> {
    job: &'a JobSpec,
    ds: LmDataset,
    /// The rows the loop batches: the examples, or their packed rows.
    rows: Vec<LmExample>,
    source: CausalSource,
    lora: Option<LoraConfig>,
}

impl<'a> CausalTask<'a> {
    /// Reads and encodes the data, loads the model (LoRA attached when asked) on the autodiff
    /// backend, and logs what it found.
    pub(crate) fn load<B: AutodiffBackend>(
        job: &'a JobSpec,
        device: &B::Device,
        backend_name: &str,
    ) -> Result<(Self, CausalLm<B>), RunError> {
        if !job.data.redact.is_empty() {
            return Err(RunError::BadInput(
                "data.redact is not supported for task: text-generation yet; redact the rows \
                 before training"
                    .into(),
            ));
        }
        let ds = causal_data::load(job).map_err(|e| RunError::BadInput(e.to_string()))?;
        for w in causal_data::warnings(&ds, job.train.max_length.get()) {
            log(format!("warning: {w}"));
        }
        if ds.eval.is_empty() && job.train.early_stopping.is_some() {
            return Err(RunError::BadInput(
                "train.early_stopping needs an eval set: set data.eval or data.eval_split".into(),
            ));
        }
        let (net, source) = load_causal::<B>(&job.model, device)?;
        if let Some(max) = net.max_positions() {
            if job.train.max_length.get() > max {
                return Err(RunError::BadInput(format!(
                    "train.max_length {} is longer than the model's {max} positions; lower it",
                    job.train.max_length.get()
                )));
            }
        }
        let lora = match &job.method {
            Method::Full => None,
            Method::Lora(spec) => Some(LoraConfig {
                r: spec.r.get(),
                alpha: spec.alpha.get(),
                dropout: spec.dropout.get(),
                targets: source.architecture.lora_targets(spec),
            }),
        };
        let net = match &lora {
            None => net,
            Some(cfg) => net.apply_lora(cfg, job.train.seed)?,
        };
        let rows = if job.train.packing {
            pack(&ds.train, job.train.max_length.get())
        } else {
            ds.train.clone()
        };
        let task = CausalTask {
            job,
            ds,
            rows,
            source,
            lora,
        };
        task.check_exports()?;
        let (trainable, total) = model::param_counts(&net);
        task.check_memory(trainable, total)?;
        let s = &task.ds.train_stats;
        log(format!(
            "model {} ({}, {total} params, {trainable} trainable), backend {backend_name}, \
             {} train rows ({} tokens, {} trained{}) / {} eval rows",
            job.model.display(),
            task.source.architecture.name(),
            task.rows.len(),
            s.tokens,
            s.trained_tokens,
            if job.train.packing { ", packed" } else { "" },
            task.ds.eval.len()
        ));
        Ok((task, net))
    }

    fn pad(&self) -> u32 {
        self.ds.encoder.pad_id()
    }

    /// The model's tokenizer files, for an export: the input directory's, or, for a `.gguf`
    /// input, the ones its metadata makes (written under the output directory).
    fn tokenizer_dir(&self) -> Result<PathBuf, RunError> {
        if !self.source.from_gguf {
            return Ok(self.job.model.clone());
        }
        let bad = |e: finetune_gguf::GgufError| {
            RunError::BadInput(format!("{}: {e}", self.job.model.display()))
        };
        let g = finetune_gguf::Gguf::open(&self.job.model).map_err(bad)?;
        let tok = finetune_gguf::GgufTokenizer::from_gguf(&g).map_err(bad)?;
        let dir = self.job.output.join(".gguf-tokenizer");
        std::fs::create_dir_all(&dir).map_err(|e| RunError::output(&dir, e))?;
        for (name, value) in [
            ("tokenizer.json", &tok.json),
            ("tokenizer_config.json", &tok.tokenizer_config()),
        ] {
            let p = dir.join(name);
            let text = serde_json::to_string_pretty(value).unwrap_or_default();
            std::fs::write(&p, text).map_err(|e| RunError::output(&p, e))?;
        }
        Ok(dir)
    }

    /// Refuses, before any training, a run whose estimated peak memory is over the container's
    /// limit (see [`memory`]), and logs the estimate either way. The rows are as long as the
    /// longest training row, or `max_length` when packed or truncated.
    fn check_memory(&self, trainable: usize, total: usize) -> Result<(), RunError> {
        let Some(shape) = memory::Shape::from_config(&self.source.config_json) else {
            return Ok(());
        };
        let t = &self.job.train;
        let longest = self
            .rows
            .iter()
            .map(|r| r.input_ids.len())
            .max()
            .unwrap_or(0);
        let (batch, seq) = (
            t.batch_size.get() as u64,
            longest.min(t.max_length.get()).max(1) as u64,
        );
        let f = memory::estimate(shape, total as u64, trainable as u64, batch, seq);
        let limit = memory::cgroup_limit();
        log(memory::describe(&f, limit));
        memory::check(&f, limit, batch, seq)
    }

    /// Refuses, before any training, an `export` the run could not write at its end.
    fn check_exports(&self) -> Result<(), RunError> {
        if self.job.export.is_empty() {
            return Ok(());
        }
        if self.source.architecture != Architecture::Llama {
            return Err(RunError::BadInput(format!(
                "export: GGUF export is for llama-family models; {} is {}",
                self.job.model.display(),
                self.source.architecture.name()
            )));
        }
        gguf_export::tokenizer_meta(&self.tokenizer_dir()?)
            .map_err(|e| RunError::BadInput(format!("export: {e}")))?;
        Ok(())
    }
}

/// Positions whose label the shifted loss counts, in `rows`.
fn trained(rows: &[&LmExample]) -> usize {
    rows.iter()
        .map(|r| {
            r.labels
                .iter()
                .skip(1)
                .filter(|&&l| l != IGNORE_INDEX)
                .count()
        })
        .sum()
}

impl<B: AutodiffBackend> Task<B> for CausalTask<'_> {
    type Net = CausalLm<B>;

    fn train_rows(&self) -> usize {
        self.rows.len()
    }

    fn has_eval(&self) -> bool {
        !self.ds.eval.is_empty()
    }

    fn dataset_sha256(&self) -> &BTreeMap<String, String> {
        &self.ds.sha256
    }

    fn labels(&self) -> &[String] {
        &[]
    }

    fn redaction(&self) -> Option<&Redaction> {
        None
    }

    fn weight(&self, rows: &[usize]) -> f64 {
        let picked: Vec<&LmExample> = rows.iter().map(|&i| &self.rows[i]).collect();
        trained(&picked) as f64
    }

    fn loss(
        &self,
        net: &Self::Net,
        rows: &[usize],
        device: &B::Device,
    ) -> Result<MicroLoss<B>, RunError> {
        let picked: Vec<LmExample> = rows.iter().map(|&i| self.rows[i].clone()).collect();
        let tokens = trained(&picked.iter().collect::<Vec<_>>());
        let t = collate(&picked, self.pad()).tensors::<B>(device);
        let logits = net.forward(t.input_ids, t.attention_mask);
        Ok(MicroLoss {
            loss: lm_loss_over(logits, t.labels, tokens),
            rows: rows.len(),
        })
    }

    fn evaluate(
        &self,
        net: &CausalLm<B::InnerBackend>,
        device: &B::Device,
    ) -> Result<EvalMetrics, RunError> {
        let (mut loss_sum, mut tokens, mut correct) = (0.0f64, 0usize, 0usize);
        let bs = self.job.train.batch_size.get() * 2;
        for batch in eval_batches(&self.ds.eval, bs, self.pad()) {
            let (b, s) = (batch.batch, batch.seq);
            if s < 2 {
                continue;
            }
            let t = batch.tensors::<B::InnerBackend>(device);
            let logits = net.forward(t.input_ids, t.attention_mask);
            let [_, _, v] = logits.dims();
            let predicted: Tensor<B::InnerBackend, 2, Int> = logits
                .clone()
                .slice([0..b, 0..s - 1, 0..v])
                .argmax(2)
                .reshape([b, s - 1]);
            let predicted: Vec<i64> = predicted
                .into_data()
                .convert::<i64>()
                .to_vec()
                .unwrap_or_default();
            let sum: Vec<f32> = lm_loss_sum(logits, t.labels)
                .into_data()
                .convert::<f32>()
                .to_vec()
                .unwrap_or_default();
            loss_sum += f64::from(sum.first().copied().unwrap_or(f32::NAN));
            for r in 0..b {
                for p in 0..s - 1 {
                    let gold = batch.labels[r * s + p + 1];
                    if gold != IGNORE_INDEX {
                        tokens += 1;
                        correct += usize::from(predicted[r * (s - 1) + p] == gold);
                    }
                }
            }
        }
        let loss = loss_sum / tokens.max(1) as f64;
        Ok(EvalMetrics {
            loss,
            accuracy: correct as f64 / tokens.max(1) as f64,
            macro_f1: None,
            perplexity: Some(perplexity(loss)),
            samples: self.ds.eval.len() as u64,
            tokens: Some(tokens as u64),
            per_class: Default::default(),
        })
    }

    fn export(&self, net: &CausalLm<B::InnerBackend>, dir: &Path) -> Result<(), RunError> {
        let src = self.tokenizer_dir()?;
        let fail = |e: ModelError| match e {
            ModelError::Io { path, source } => RunError::output(&path, source),
            other => RunError::Failed(other.to_string()),
        };
        export_causal_dir(dir, net.hf_tensors(), &self.source.config_json, &src).map_err(fail)?;
        if let Some(cfg) = &self.lora {
            let adapter = dir.with_file_name("adapter");
            let info = AdapterInfo {
                base_model_name_or_path: &self.job.model.display().to_string(),
                fan_in_fan_out: self.source.architecture == Architecture::Gpt2,
            };
            export_peft_adapter(&adapter, net.lora_tensors(), cfg, &info).map_err(fail)?;
            log(format!("LoRA adapter (PEFT) in {}", adapter.display()));
        }
        for format in &self.job.export {
            let path = gguf_export::write_llama(
                net.hf_tensors(),
                &self.source.config_json,
                &src,
                *format,
                &self.job.output,
            )
            .map_err(fail)?;
            log(format!("GGUF in {}", path.display()));
        }
        Ok(())
    }
}
