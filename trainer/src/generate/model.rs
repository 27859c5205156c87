//! A causal LM ready to continue prompts: the weights ([`CausalLm`]: an exported `model/`
//! directory, any Llama or GPT-2 HF directory, or a `.gguf` file), the tokenizer and chat
//! template that came with them ([`ModelAssets`]), and the ids that end a reply.
//!
//! Llama-family models decode with a KV cache: the prompt is run once, then one token per step.
//! GPT-2 has no cached path in the trainer (it is trained, not served, in practice), so it runs
//! the whole sequence each step, bounded by its learned positions.

use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use finetune_spec::chat::{ChatTemplate, Message, ModelAssets, Role};
use finetune_spec::Architecture;
use serde::Serialize;
use std::path::Path;
use tokenizers::Tokenizer;

use super::{generate, prompt, GenerateError, GenerateOptions, Stop};
use crate::error::RunError;
use crate::model::blocks::KvCache;
use crate::model::causal::lm::{load_causal, CausalLm};

/// End-of-turn tokens of the common chat formats. Generation stops at any of them that the
/// vocabulary has, besides the model's EOS: a chat model ends its reply with its turn marker,
/// which is not always the EOS the checkpoint names.
const END_OF_TURN: [&str; 4] = ["<|im_end|>", "<|eot_id|>", "<|end|>", "<end_of_turn>"];

/// Whether `path` is a causal LM `predict` generates with (a `.gguf` file, or a directory whose
/// `config.json` names a Llama or GPT-2) rather than a classifier it labels.
pub fn is_causal_model(path: &Path) -> bool {
    if path.is_file() {
        return true;
    }
    let Ok(text) = std::fs::read_to_string(path.join("config.json")) else {
        return false;
    };
    let model_type = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v.get("model_type")?.as_str().map(str::to_string))
        .unwrap_or_default();
    matches!(
        Architecture::from_model_type(&model_type),
        Some(Architecture::Llama | Architecture::Gpt2)
    )
}

/// What to continue.
#[derive(Debug, Clone)]
pub enum Prompt {
    /// Plain text, continued as is (the tokenizer's BOS added where the model wants one).
    Text(String),
    /// A conversation, rendered with the chat template and the opening of the assistant's turn.
    Chat(Vec<Message>),
}

/// One prompt's continuation, as `predict` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct Completion {
    pub prompt: String,
    pub completion: String,
    pub prompt_tokens: usize,
    pub completion_tokens: usize,
    /// `stop` (an end-of-sequence or end-of-turn token) or `length` (`max_new_tokens`), as
    /// OpenAI's `finish_reason`.
    pub finish_reason: &'static str,
    /// The generated ids, the stop id included.
    #[serde(skip)]
    pub ids: Vec<u32>,
}

/// A loaded causal LM with its tokenizer.
pub struct TextGenerator<B: Backend> {
    lm: CausalLm<B>,
    tokenizer: Tokenizer,
    template: Option<ChatTemplate>,
    stop: Vec<u32>,
    device: B::Device,
}

impl<B: Backend> TextGenerator<B> {
    /// Loads `path` (a model directory or a `.gguf` file).
    pub fn load(path: &Path, device: B::Device) -> Result<Self, RunError> {
        let (lm, _) = load_causal::<B>(path, &device)?;
        let assets = ModelAssets::load(path, None)
            .map_err(|e| RunError::BadInput(format!("{}: {e}", path.display())))?;
        let json = assets.tokenizer_json.as_deref().ok_or_else(|| {
            RunError::BadInput(format!(
                "{}: no tokenizer (tokenizer.json, or tokenizer.* in the GGUF metadata)",
                path.display()
            ))
        })?;
        let tokenizer: Tokenizer = json.parse().map_err(|e| {
            RunError::BadInput(format!(
                "{}: the tokenizer does not load: {e}",
                path.display()
            ))
        })?;
        let mut stop: Vec<u32> = assets
            .tokens
            .eos
            .iter()
            .map(String::as_str)
            .chain(END_OF_TURN)
            .filter_map(|t| tokenizer.token_to_id(t))
            .collect();
        stop.sort_unstable();
        stop.dedup();
        Ok(TextGenerator {
            lm,
            tokenizer,
            template: assets.template,
            stop,
            device,
        })
    }

    /// Whether the model has a chat template (so a prompt can be a conversation).
    pub fn has_chat_template(&self) -> bool {
        self.template.is_some()
    }

    /// The ids generation stops at.
    pub fn stop_ids(&self) -> &[u32] {
        &self.stop
    }

    /// The prompt's ids, as the model reads them.
    pub fn prompt_ids(&self, prompt: &Prompt) -> Result<Vec<u32>, GenerateError> {
        match prompt {
            Prompt::Text(text) => prompt::text_prompt_ids(&self.tokenizer, text),
            Prompt::Chat(messages) => {
                let template = self.template.as_ref().ok_or_else(|| {
                    GenerateError::Prompt(
                        "the model has no chat template: send plain text instead".into(),
                    )
                })?;
                prompt::chat_prompt_ids(&self.tokenizer, template, messages)
            }
        }
    }

    /// A user message as a one-turn conversation when the model has a chat template, else as
    /// plain text: what `predict` does with each text unless told `--raw`.
    pub fn user_prompt(&self, text: &str) -> Prompt {
        if self.has_chat_template() {
            Prompt::Chat(vec![Message::new(Role::User, text)])
        } else {
            Prompt::Text(text.to_string())
        }
    }

    /// Continues `prompt`. `options.stop` is ignored: the model's own stop ids are used.
    pub fn complete(
        &self,
        prompt: &Prompt,
        options: &GenerateOptions,
    ) -> Result<Completion, GenerateError> {
        let ids = self.prompt_ids(prompt)?;
        let mut options = GenerateOptions {
            stop: self.stop.clone(),
            ..options.clone()
        };
        if let Some(max) = self.lm.max_positions() {
            if ids.len() >= max {
                return Err(GenerateError::Prompt(format!(
                    "the prompt has {} tokens; the model has {max} positions",
                    ids.len()
                )));
            }
            options.max_new_tokens = options.max_new_tokens.min(max - ids.len());
        }
        let generated = match &self.lm {
            CausalLm::Llama(llama) => {
                let mut cache = KvCache::new(llama.layers.len());
                generate(&ids, &options, |tokens| {
                    // The cache holds every token but the newest ones; run only those.
                    let new = &tokens[cache.len()..];
                    last_logits(llama.forward_cached(self.ids_tensor(new), &mut cache))
                })?
            }
            CausalLm::Gpt2(_) => generate(&ids, &options, |tokens| {
                let input = self.ids_tensor(tokens);
                let mask = input.ones_like();
                last_logits(self.lm.forward(input, mask))
            })?,
        };
        let text = prompt::decode(&self.tokenizer, &generated.tokens)?;
        let prompt_text = match prompt {
            Prompt::Text(t) => t.clone(),
            Prompt::Chat(m) => m.last().map(|m| m.content.clone()).unwrap_or_default(),
        };
        Ok(Completion {
            prompt: prompt_text,
            completion: text,
            prompt_tokens: ids.len(),
            completion_tokens: generated.tokens.len(),
            finish_reason: match generated.stop {
                Stop::Eos => "stop",
                Stop::Length => "length",
            },
            ids: generated.tokens,
        })
    }

    fn ids_tensor(&self, ids: &[u32]) -> Tensor<B, 2, Int> {
        let data: Vec<i64> = ids.iter().map(|&i| i64::from(i)).collect();
        Tensor::from_data(TensorData::new(data, [1, ids.len()]), &self.device)
    }
}

/// The logits of the last position of a `[1, seq, vocab]` output, as f32 whatever the
/// backend's float type.
fn last_logits<B: Backend>(logits: Tensor<B, 3>) -> anyhow::Result<Vec<f32>> {
    let [_, seq, vocab] = logits.dims();
    logits
        .slice([0..1, seq - 1..seq, 0..vocab])
        .into_data()
        .convert::<f32>()
        .into_vec::<f32>()
        .map_err(|e| anyhow::anyhow!("reading the logits: {e:?}"))
}
