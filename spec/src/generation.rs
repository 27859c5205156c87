//! The parts of the spec only `task: text-generation` uses: the shape of its rows
//! ([`DataShape`]), which tokens carry the loss ([`LossOn`]), the extra files written beside
//! `model/` ([`ExportFormat`]), the causal-LM architectures and their LoRA module names
//! ([`Architecture`]), and the rules across keys that tie them to the task
//! ([`check`], run by [`crate::JobSpec::check`]).
//!
//! The names follow what users of TRL, Axolotl and torchtune already write: `messages` rows in
//! the OpenAI chat shape, `prompt` + `completion`, plain `text`; the loss on the completion (the
//! assistant turns) only by default, as TRL's SFT and Axolotl's `train_on_inputs: false` do;
//! PEFT's module names (`q_proj`, `c_attn`) as LoRA targets.

use crate::job::{JobSpec, SpecProblem, Task};
use serde::{Deserialize, Serialize};

/// What one row of a text-generation dataset holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DataShape {
    /// A conversation, `[{role, content}]`, rendered with the model's chat template.
    Messages,
    /// A `prompt` string and its `completion` string.
    PromptCompletion,
    /// Plain text (continued pretraining).
    Text,
}

impl DataShape {
    pub fn name(self) -> &'static str {
        match self {
            DataShape::Messages => "messages",
            DataShape::PromptCompletion => "prompt_completion",
            DataShape::Text => "text",
        }
    }
}

/// Which tokens carry the loss.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LossOn {
    /// The assistant turns (each with its end-of-turn token), or the completion; a `text` row
    /// is all completion.
    #[default]
    Completion,
    /// Every token, prompts and system messages included.
    All,
}

impl LossOn {
    pub fn is_default(&self) -> bool {
        *self == LossOn::Completion
    }
}

/// A format the fine-tuned model is also written in, beside the Hugging Face `model/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExportFormat {
    /// `model.gguf`, f16 tensors (llama.cpp, Ollama, `docker model`).
    #[serde(rename = "gguf")]
    Gguf,
    /// `model.q8_0.gguf`, Q8_0 tensors.
    #[serde(rename = "gguf-q8_0")]
    GgufQ8_0,
}

impl ExportFormat {
    /// The file it is written to, under the output directory.
    pub fn file_name(self) -> &'static str {
        match self {
            ExportFormat::Gguf => "model.gguf",
            ExportFormat::GgufQ8_0 => "model.q8_0.gguf",
        }
    }
}

/// A model architecture the trainer knows, by `config.json`'s `model_type` (or GGUF's
/// `general.architecture`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Architecture {
    Bert,
    /// Llama and its family: SmolLM, TinyLlama, Llama 2/3, Mistral without sliding windows.
    Llama,
    Gpt2,
}

impl Architecture {
    pub fn from_model_type(model_type: &str) -> Option<Architecture> {
        match model_type {
            "bert" => Some(Architecture::Bert),
            "llama" | "mistral" => Some(Architecture::Llama),
            "gpt2" => Some(Architecture::Gpt2),
            _ => None,
        }
    }

    /// Its name in messages.
    pub fn name(self) -> &'static str {
        match self {
            Architecture::Bert => "BERT",
            Architecture::Llama => "Llama",
            Architecture::Gpt2 => "GPT-2",
        }
    }

    /// The task it is fine-tuned for.
    pub fn task(self) -> Task {
        match self {
            Architecture::Bert => Task::TextClassification,
            Architecture::Llama | Architecture::Gpt2 => Task::TextGeneration,
        }
    }

    /// The Hugging Face (and PEFT) names of the linear layers LoRA can adapt.
    pub fn lora_modules(self) -> &'static [&'static str] {
        match self {
            Architecture::Bert => &["query", "key", "value", "dense"],
            Architecture::Llama => &[
                "q_proj",
                "k_proj",
                "v_proj",
                "o_proj",
                "gate_proj",
                "up_proj",
                "down_proj",
            ],
            Architecture::Gpt2 => &["c_attn", "c_proj", "c_fc"],
        }
    }

    /// The targets when the spec names none: the attention's query and value projections.
    pub fn default_lora_targets(self) -> &'static [&'static str] {
        match self {
            Architecture::Bert => &["query", "value"],
            Architecture::Llama => &["q_proj", "v_proj"],
            Architecture::Gpt2 => &["c_attn"],
        }
    }

    /// The LoRA targets of `lora` on this architecture. `method.lora.targets` defaults to BERT's
    /// `[query, value]` (a BERT job's config hash keeps it); on a causal LM those defaults stand
    /// for its own query and value projections.
    pub fn lora_targets(self, lora: &crate::LoraSpec) -> Vec<String> {
        let bert_default = Architecture::Bert.default_lora_targets();
        if self != Architecture::Bert && lora.targets == bert_default {
            return self
                .default_lora_targets()
                .iter()
                .map(|s| s.to_string())
                .collect();
        }
        lora.targets.clone()
    }

    /// The targets of `lora` this architecture lacks.
    pub fn unknown_lora_targets(self, lora: &crate::LoraSpec) -> Vec<String> {
        let known = self.lora_modules();
        self.lora_targets(lora)
            .into_iter()
            .filter(|t| !known.contains(&t.as_str()))
            .collect()
    }
}

/// The keys that belong to one task only, set on a job of the other.
pub(crate) fn check(job: &JobSpec) -> Vec<SpecProblem> {
    let mut out = Vec::new();
    let problem = |path, message, hint| SpecProblem {
        path,
        message,
        hint,
    };
    match job.task {
        Task::TextClassification => {
            let only = "only `task: text-generation` uses this key";
            let hint = "set `task: text-generation`, or remove the key";
            let d = &job.data;
            let set = [
                ("data.shape", d.shape.is_some()),
                (
                    "data.messages",
                    d.messages != crate::data_spec::DEFAULT_MESSAGES,
                ),
                ("data.prompt", d.prompt != crate::data_spec::DEFAULT_PROMPT),
                (
                    "data.completion",
                    d.completion != crate::data_spec::DEFAULT_COMPLETION,
                ),
                ("data.chat_template", d.chat_template.is_some()),
                ("train.packing", job.train.packing),
                ("train.loss_on", !job.train.loss_on.is_default()),
                ("export", !job.export.is_empty()),
            ];
            for (path, is_set) in set {
                if is_set {
                    out.push(problem(path, only, hint));
                }
            }
        }
        Task::TextGeneration => {
            if job.data.labels.is_some() {
                out.push(problem(
                    "data.labels",
                    "a text-generation job has no labels: the text is its own target",
                    "remove `labels`, or set `task: text-classification`",
                ));
            }
            let f1 = job.train.early_stopping.as_ref().map(|e| e.metric)
                == Some(crate::job::StopMetric::MacroF1);
            if f1 {
                out.push(problem(
                    "train.early_stopping.metric",
                    "a text-generation job has no macro-F1: its evaluation reports loss, perplexity and next-token accuracy",
                    "use `eval_loss` (the default) or `accuracy`",
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::tests::minimal;
    use crate::LoraSpec;

    fn generation() -> JobSpec {
        let mut j = minimal();
        j.task = Task::TextGeneration;
        j
    }

    #[test]
    fn generation_keys_on_a_classifier_are_named() {
        let mut j = minimal();
        assert!(j.check().is_empty());
        j.train.packing = true;
        j.data.shape = Some(DataShape::Messages);
        j.export = vec![ExportFormat::Gguf];
        let paths: Vec<&str> = j.check().iter().map(|p| p.path).collect();
        assert_eq!(paths, ["data.shape", "train.packing", "export"]);
        j.task = Task::TextGeneration;
        assert!(j.check().is_empty(), "{:?}", j.check());
    }

    #[test]
    fn labels_on_a_generation_job_are_refused() {
        let mut j = generation();
        assert!(j.check().is_empty());
        j.data.labels = Some(vec!["a".into()]);
        assert_eq!(j.check()[0].path, "data.labels");
    }

    #[test]
    fn macro_f1_early_stopping_on_a_generation_job_is_refused() {
        use crate::job::{EarlyStopping, StopMetric};
        let mut j = generation();
        j.train.early_stopping = Some(EarlyStopping {
            metric: StopMetric::Accuracy,
            ..EarlyStopping::default()
        });
        assert!(j.check().is_empty(), "{:?}", j.check());
        j.train.early_stopping = Some(EarlyStopping {
            metric: StopMetric::MacroF1,
            ..EarlyStopping::default()
        });
        let paths: Vec<&str> = j.check().iter().map(|p| p.path).collect();
        assert_eq!(paths, ["train.early_stopping.metric"]);
    }

    #[test]
    fn lora_targets_default_to_each_architectures_query_and_value() {
        let default = LoraSpec::default();
        assert_eq!(
            Architecture::Llama.lora_targets(&default),
            ["q_proj", "v_proj"]
        );
        assert_eq!(Architecture::Gpt2.lora_targets(&default), ["c_attn"]);
        assert_eq!(
            Architecture::Bert.lora_targets(&default),
            ["query", "value"]
        );
        let mlp = LoraSpec {
            targets: vec!["gate_proj".into(), "c_fc".into(), "up_proj".into()],
            ..LoraSpec::default()
        };
        assert_eq!(Architecture::Llama.unknown_lora_targets(&mlp), ["c_fc"]);
        assert_eq!(
            Architecture::Gpt2.unknown_lora_targets(&mlp),
            ["gate_proj", "up_proj"]
        );
        assert_eq!(
            Architecture::from_model_type("gpt2"),
            Some(Architecture::Gpt2)
        );
        assert_eq!(Architecture::from_model_type("t5"), None);
    }

    #[test]
    fn generation_keys_leave_a_classifiers_config_hash_alone() {
        // The hash of the minimal classifier before text-generation existed.
        let j = minimal();
        let json = serde_json::to_value(&j).unwrap();
        for key in ["shape", "messages", "prompt", "completion", "chat_template"] {
            assert!(
                json["data"].get(key).is_none(),
                "data.{key} written when unset"
            );
        }
        for key in ["packing", "loss_on"] {
            assert!(
                json["train"].get(key).is_none(),
                "train.{key} written when unset"
            );
        }
        assert!(json.get("export").is_none());
        let mut g = generation();
        assert_ne!(g.config_hash(), j.config_hash());
        let before = g.config_hash();
        g.export = vec![ExportFormat::GgufQ8_0];
        assert_eq!(
            g.config_hash(),
            before,
            "export does not change the weights"
        );
        g.train.packing = true;
        assert_ne!(g.config_hash(), before);
    }

    #[test]
    fn generation_keys_read_from_yaml() {
        let j: JobSpec = serde_yaml::from_str(
            "{name: j, task: text-generation, model: /m.gguf, output: /o, export: [gguf, gguf-q8_0],
              data: {train: /t.jsonl, shape: prompt_completion, prompt: q, completion: a,
                     chat_template: '{{ messages }}'},
              train: {packing: true, loss_on: all}}",
        )
        .unwrap();
        assert_eq!(j.task, Task::TextGeneration);
        assert_eq!(j.data.shape, Some(DataShape::PromptCompletion));
        assert_eq!(
            (j.data.prompt.as_str(), j.data.completion.as_str()),
            ("q", "a")
        );
        assert_eq!(j.train.loss_on, LossOn::All);
        assert!(j.train.packing);
        assert_eq!(j.export, [ExportFormat::Gguf, ExportFormat::GgufQ8_0]);
        assert_eq!(ExportFormat::GgufQ8_0.file_name(), "model.q8_0.gguf");
        let back: JobSpec = serde_json::from_value(serde_json::to_value(&j).unwrap()).unwrap();
        assert_eq!(back, j);
    }
}
