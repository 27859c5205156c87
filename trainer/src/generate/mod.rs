//! Text generation, model-independent: a loop that asks a closure for the next-token logits of
//! the tokens so far (the model, and any KV cache, live behind it) and picks each next token
//! ([`sample`]: greedy, or temperature, top-k and top-p sampling with a seeded generator, so a
//! seed gives the same text), until `max_new_tokens` or a stop id (any of the model's EOS and
//! end-of-turn ids). [`prompt`] renders a conversation with the chat template, ready for the
//! assistant's reply. [`model`] puts a causal LM and its tokenizer behind that loop, for
//! `predict`.

pub mod model;
pub mod prompt;
pub mod sample;
pub mod work;

pub use model::{is_causal_model, Completion, Prompt, TextGenerator};
pub use work::{GenerateArgs, GenerateWork};

use crate::model::init::SeededRng;

/// How the next token is chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Decoding {
    /// The most likely token.
    Greedy,
    /// Drawn from the distribution at `temperature` (below [`sample::MIN_TEMPERATURE`]: greedy),
    /// cut to the `top_k` most likely (`None` or 0: no cut), then to the nucleus of `top_p`
    /// (1.0: no cut).
    Sample {
        temperature: f32,
        top_p: f32,
        top_k: Option<usize>,
    },
}

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerateOptions {
    pub max_new_tokens: usize,
    /// Generation stops after any of these ids (it is kept in the output).
    pub stop: Vec<u32>,
    pub decoding: Decoding,
    /// Seeds the sampler; unused when greedy.
    pub seed: u64,
}

/// Why generation stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// A stop id was generated.
    Eos,
    /// `max_new_tokens` were generated.
    Length,
}

/// The new tokens (a stop id, when one ended them, last) and why they ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generated {
    pub tokens: Vec<u32>,
    pub stop: Stop,
}

/// Why generation failed.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error("the model failed: {0}")]
    Model(#[from] anyhow::Error),
    #[error("the model gave no logits")]
    NoLogits,
    #[error("the prompt is empty: a causal model needs at least one token to continue")]
    EmptyPrompt,
    #[error("{0}")]
    Prompt(String),
}

/// Continues `prompt`: `next_logits(tokens)` gives the logits of the token after `tokens` (the
/// prompt and what was generated so far).
pub fn generate(
    prompt: &[u32],
    options: &GenerateOptions,
    mut next_logits: impl FnMut(&[u32]) -> anyhow::Result<Vec<f32>>,
) -> Result<Generated, GenerateError> {
    if prompt.is_empty() {
        return Err(GenerateError::EmptyPrompt);
    }
    // A stream of its own, so sampling is decorrelated from initialisation with the same seed.
    let mut rng = SeededRng::new(options.seed, 0x6E4E_0000);
    let mut tokens = prompt.to_vec();
    for _ in 0..options.max_new_tokens {
        let logits = next_logits(&tokens)?;
        if logits.is_empty() {
            return Err(GenerateError::NoLogits);
        }
        let next = sample::next_token(&logits, &options.decoding, &mut rng);
        tokens.push(next);
        if options.stop.contains(&next) {
            return Ok(Generated {
                tokens: tokens.split_off(prompt.len()),
                stop: Stop::Eos,
            });
        }
    }
    Ok(Generated {
        tokens: tokens.split_off(prompt.len()),
        stop: Stop::Length,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake model over a vocabulary of 8: the next token is likeliest at (last + 1) % 8, with
    /// the rest spread around, so greedy counts up and sampling wanders.
    fn counting(tokens: &[u32]) -> anyhow::Result<Vec<f32>> {
        let last = *tokens.last().unwrap() as usize;
        Ok((0..8)
            .map(|i| {
                if i == (last + 1) % 8 {
                    2.0
                } else {
                    (i as f32) * 0.1
                }
            })
            .collect())
    }

    fn options(decoding: Decoding, stop: &[u32], seed: u64) -> GenerateOptions {
        GenerateOptions {
            max_new_tokens: 6,
            stop: stop.to_vec(),
            decoding,
            seed,
        }
    }

    const SAMPLE: Decoding = Decoding::Sample {
        temperature: 1.5,
        top_p: 0.95,
        top_k: None,
    };

    #[test]
    fn greedy_follows_the_argmax_to_max_new_tokens() {
        let g = generate(&[1], &options(Decoding::Greedy, &[], 0), counting).unwrap();
        assert_eq!(g.tokens, [2, 3, 4, 5, 6, 7]);
        assert_eq!(g.stop, Stop::Length);
    }

    #[test]
    fn any_stop_id_ends_generation_and_is_kept() {
        let g = generate(&[1], &options(Decoding::Greedy, &[9, 4], 0), counting).unwrap();
        assert_eq!((g.tokens, g.stop), (vec![2, 3, 4], Stop::Eos));
    }

    #[test]
    fn the_same_seed_gives_the_same_tokens_and_another_seed_differs() {
        let run = |seed| generate(&[0], &options(SAMPLE, &[], seed), counting).unwrap();
        assert_eq!(run(5), run(5));
        assert!(
            (0..20).any(|s| run(s) != run(5)),
            "sampling ignores the seed"
        );
        assert!(!run(5).tokens.iter().any(|&t| t >= 8));
    }

    #[test]
    fn the_closure_sees_the_prompt_and_the_tokens_so_far() {
        let mut seen = Vec::new();
        let g = generate(
            &[7, 3],
            &options(Decoding::Greedy, &[], 0),
            |t: &[u32]| {
                seen.push(t.to_vec());
                counting(t)
            },
        )
        .unwrap();
        assert_eq!(seen[0], [7, 3]);
        assert_eq!(seen[2], [7, 3, 4, 5]);
        assert_eq!(seen.len(), g.tokens.len());
    }

    #[test]
    fn model_errors_and_empty_input_are_errors() {
        let fail = |_: &[u32]| -> anyhow::Result<Vec<f32>> { anyhow::bail!("out of memory") };
        let e = generate(&[1], &options(Decoding::Greedy, &[], 0), fail).unwrap_err();
        assert_eq!(e.to_string(), "the model failed: out of memory");
        let empty = |_: &[u32]| -> anyhow::Result<Vec<f32>> { Ok(Vec::new()) };
        let e = generate(&[1], &options(Decoding::Greedy, &[], 0), empty).unwrap_err();
        assert!(matches!(e, GenerateError::NoLogits));
        let e = generate(&[], &options(Decoding::Greedy, &[], 0), counting).unwrap_err();
        assert!(matches!(e, GenerateError::EmptyPrompt));
    }
}
