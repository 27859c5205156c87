//! Prompts in and text out: a conversation rendered with the chat template and the generation
//! prompt (what opens the assistant's turn), encoded as `apply_chat_template(tokenize=True)`
//! encodes it (without the tokenizer's special tokens: the template writes its own); a plain
//! text encoded with them (BOS, where the model wants one); and generated ids decoded with the
//! special tokens (the stop id among them) left out.

use super::GenerateError;
use finetune_spec::chat::{ChatTemplate, Message};
use tokenizers::Tokenizer;

/// The conversation as the model reads it, followed by the opening of the assistant's turn.
pub fn chat_prompt(template: &ChatTemplate, messages: &[Message]) -> Result<String, GenerateError> {
    template
        .render(messages, true)
        .map_err(|e| GenerateError::Prompt(e.to_string()))
}

/// The ids of [`chat_prompt`].
pub fn chat_prompt_ids(
    tokenizer: &Tokenizer,
    template: &ChatTemplate,
    messages: &[Message],
) -> Result<Vec<u32>, GenerateError> {
    encode(tokenizer, &chat_prompt(template, messages)?, false)
}

/// The ids of a plain-text prompt, with the tokenizer's special tokens.
pub fn text_prompt_ids(tokenizer: &Tokenizer, text: &str) -> Result<Vec<u32>, GenerateError> {
    encode(tokenizer, text, true)
}

/// The text of generated ids, special tokens left out.
pub fn decode(tokenizer: &Tokenizer, ids: &[u32]) -> Result<String, GenerateError> {
    tokenizer
        .decode(ids, true)
        .map_err(|e| GenerateError::Prompt(format!("the tokenizer cannot decode: {e}")))
}

fn encode(tokenizer: &Tokenizer, text: &str, special: bool) -> Result<Vec<u32>, GenerateError> {
    tokenizer
        .encode(text, special)
        .map(|e| e.get_ids().to_vec())
        .map_err(|e| GenerateError::Prompt(format!("the tokenizer cannot encode the prompt: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::{generate, Decoding, GenerateOptions, Stop};
    use finetune_fixtures::causal::{byte_bpe_tokenizer_json, SMOLLM2_CHAT_TEMPLATE};
    use finetune_spec::chat::{Role, SpecialTokens};

    #[test]
    fn a_chat_prompt_opens_the_assistant_turn_and_the_reply_decodes_without_specials() {
        let tok: Tokenizer = byte_bpe_tokenizer_json().to_string().parse().unwrap();
        let template = ChatTemplate::new(SMOLLM2_CHAT_TEMPLATE, SpecialTokens::default()).unwrap();
        let messages = [Message::new(Role::User, "Hi")];
        let text = chat_prompt(&template, &messages).unwrap();
        assert!(
            text.ends_with("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"),
            "{text}"
        );
        let ids = chat_prompt_ids(&tok, &template, &messages).unwrap();
        assert_eq!(tok.decode(&ids, false).unwrap(), text);
        // A fake model that spells "Yo" then ends the turn.
        let end = tok.token_to_id("<|im_end|>").unwrap();
        let script: Vec<u32> = text_prompt_ids(&tok, "Yo")
            .unwrap()
            .into_iter()
            .chain([end])
            .collect();
        let n = ids.len();
        let g = generate(
            &ids,
            &GenerateOptions {
                max_new_tokens: 10,
                stop: vec![end],
                decoding: Decoding::Greedy,
                seed: 0,
            },
            |t: &[u32]| {
                let mut logits = vec![0.0; tok.get_vocab_size(true)];
                logits[script[t.len() - n] as usize] = 1.0;
                Ok(logits)
            },
        )
        .unwrap();
        assert_eq!(g.stop, Stop::Eos);
        assert_eq!(decode(&tok, &g.tokens).unwrap(), "Yo");
    }
}
