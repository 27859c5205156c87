//! `predict` on a causal LM: the generation flags, checked, and the run on the chosen backend
//! (one JSON line per prompt, as the classifier's `predict` prints one per text).

use burn::tensor::backend::AutodiffBackend;
use clap::Args;
use std::path::PathBuf;

use super::{Decoding, GenerateOptions, TextGenerator};
use crate::backend::{Chosen, WithBackend};
use crate::error::RunError;

/// `predict`'s flags for causal LMs (a classifier ignores them).
#[derive(Args, Debug, Clone)]
pub struct GenerateArgs {
    /// Causal LMs: the most tokens to generate for each prompt.
    #[arg(long, default_value_t = 128)]
    pub max_new_tokens: usize,
    /// Causal LMs: sampling temperature; 0 picks the likeliest token (greedy).
    #[arg(long, default_value_t = 0.0)]
    pub temperature: f32,
    /// Causal LMs: sample from the smallest set of tokens whose probability reaches this.
    #[arg(long, default_value_t = 1.0)]
    pub top_p: f32,
    /// Causal LMs: sample from the K likeliest tokens only.
    #[arg(long)]
    pub top_k: Option<usize>,
    /// Causal LMs: the sampler's seed (the same seed gives the same text).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Causal LMs: continue each text as it is, instead of as a user message rendered with the
    /// model's chat template.
    #[arg(long)]
    pub raw: bool,
}

impl GenerateArgs {
    /// The options these flags ask for, or why they make no sense.
    pub fn options(&self) -> Result<GenerateOptions, RunError> {
        let bad = |m: String| Err(RunError::BadInput(m));
        if self.max_new_tokens == 0 {
            return bad("--max-new-tokens must be at least 1".into());
        }
        if !self.temperature.is_finite() || self.temperature < 0.0 {
            return bad(format!(
                "--temperature {} must be 0 (greedy) or more",
                self.temperature
            ));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return bad(format!("--top-p {} must be in (0, 1]", self.top_p));
        }
        let decoding = if self.temperature == 0.0 {
            Decoding::Greedy
        } else {
            Decoding::Sample {
                temperature: self.temperature,
                top_p: self.top_p,
                top_k: self.top_k,
            }
        };
        Ok(GenerateOptions {
            max_new_tokens: self.max_new_tokens,
            stop: Vec::new(),
            decoding,
            seed: self.seed,
        })
    }
}

/// `predict` with a causal LM on the chosen backend (inference: the backend under autodiff).
pub struct GenerateWork {
    pub model: PathBuf,
    pub args: GenerateArgs,
    pub texts: Vec<String>,
}

impl WithBackend for GenerateWork {
    type Output = Result<(), RunError>;
    fn run<B: AutodiffBackend>(self, device: B::Device, _: Chosen) -> Self::Output {
        let options = self.args.options()?;
        let generator = TextGenerator::<B::InnerBackend>::load(&self.model, device)?;
        for text in &self.texts {
            let prompt = if self.args.raw {
                super::Prompt::Text(text.clone())
            } else {
                generator.user_prompt(text)
            };
            let done = generator
                .complete(&prompt, &options)
                .map_err(|e| RunError::BadInput(format!("{text:?}: {e}")))?;
            println!("{}", serde_json::to_string(&done).unwrap_or_default());
        }
        Ok(())
    }
}
