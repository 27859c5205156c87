//! Text-generation rows as the model reads them: a row ([`Example`]: a conversation, a prompt
//! and its completion, or plain text) rendered into one text with the byte spans that carry the
//! loss ([`Rendered`]), and those spans turned into per-token labels ([`labels`]).
//!
//! Conversations are rendered with the model's own chat template ([`ChatTemplate`], Jinja as
//! Hugging Face writes it), never pasted together. The spans of the assistant turns are found as
//! TRL's assistant-only loss finds them, without `{% generation %}` markers in the template: each
//! assistant turn starts where the conversation before it, rendered with the generation prompt,
//! ends, and stops where the conversation through it ends (the turn's content and its
//! end-of-turn token; the whitespace the template puts after that is left out). Both renders
//! must be prefixes of the whole conversation's; a template that renders earlier turns
//! differently once later ones follow is refused ([`ChatError::NotPrefix`]) rather than guessed.
//!
//! The trainer and `validate --data` both use this module, so what validate shows as the trained
//! part is what the trainer trains on; both read the model's tokenizer, template and special
//! tokens through [`ModelAssets`] (a Hugging Face directory or a GGUF file).

mod assets;
pub mod examples;
pub mod labels;
mod template;

pub use assets::ModelAssets;
pub use examples::{read_examples, scan_examples, ExampleScan};
pub use labels::{label_mask, IGNORE_INDEX};
pub use template::{ChatTemplate, SpecialTokens};

use crate::generation::LossOn;
use std::ops::Range;
use std::path::PathBuf;

/// Who says a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    System,
    User,
    Assistant,
}

/// The roles a message may have, as rows spell them.
pub const ROLES: &[&str] = &["system", "user", "assistant"];

impl Role {
    pub fn parse(name: &str) -> Option<Role> {
        match name {
            "system" => Some(Role::System),
            "user" => Some(Role::User),
            "assistant" => Some(Role::Assistant),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub role: Role,
    pub content: String,
}

impl Message {
    pub fn new(role: Role, content: impl Into<String>) -> Message {
        Message {
            role,
            content: content.into(),
        }
    }
}

/// One text-generation row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Example {
    Messages(Vec<Message>),
    PromptCompletion { prompt: String, completion: String },
    Text(String),
}

/// A row rendered for the model: the text, the byte ranges of it that carry the loss, and
/// whether the tokenizer adds its special tokens (BOS) when encoding it. A chat template writes
/// its own, so rendered conversations are encoded without them, as `apply_chat_template` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub text: String,
    pub spans: Vec<Range<usize>>,
    pub add_special_tokens: bool,
}

impl Rendered {
    /// The text with each loss span between `open` and `close`: how `validate --data` shows
    /// what is trained.
    pub fn marked(&self, open: &str, close: &str) -> String {
        let mut out = String::with_capacity(self.text.len() + 16);
        let mut at = 0;
        for s in &self.spans {
            out.push_str(&self.text[at..s.start]);
            out.push_str(open);
            out.push_str(&self.text[s.clone()]);
            out.push_str(close);
            at = s.end;
        }
        out.push_str(&self.text[at..]);
        out
    }

    /// Bytes of the text that carry the loss.
    pub fn trained_bytes(&self) -> usize {
        self.spans.iter().map(|s| s.len()).sum()
    }
}

/// Why a row cannot be rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChatError {
    #[error("conversation rows need a chat template, and the model has none; set `data.chat_template` to one (Jinja, as in a Hugging Face tokenizer_config.json), or use a model whose tokenizer_config.json has `chat_template`")]
    NoTemplate,
    #[error("the chat template does not compile: {0}")]
    Syntax(String),
    #[error("the chat template raised an error: {0}")]
    Raised(String),
    #[error("the chat template failed: {0}")]
    Render(String),
    #[error("the chat template renders message {index} differently once later messages follow it, so the assistant turns cannot be told apart; set `train.loss_on: all`, or `data.chat_template` to a template that renders each turn on its own")]
    NotPrefix { index: usize },
    #[error("{}: {message}", path.display())]
    Config { path: PathBuf, message: String },
}

/// Renders a row. A conversation needs `template`; a prompt and completion, or a text, are
/// joined as they are, followed by the end-of-sequence token (`eos`, when known) so the model
/// learns to stop, as TRL does. With [`LossOn::All`] the whole text carries the loss.
pub fn render(
    example: &Example,
    template: Option<&ChatTemplate>,
    eos: Option<&str>,
    loss_on: LossOn,
) -> Result<Rendered, ChatError> {
    let eos = eos.unwrap_or("");
    let (text, spans, add_special_tokens) = match example {
        Example::Messages(messages) => {
            let template = template.ok_or(ChatError::NoTemplate)?;
            let (text, spans) = render_messages(template, messages)?;
            (text, spans, false)
        }
        Example::PromptCompletion { prompt, completion } => {
            let text = format!("{prompt}{completion}{eos}");
            let span = prompt.len()..text.len();
            (text, one_span(span), true)
        }
        Example::Text(t) => {
            let text = format!("{t}{eos}");
            let span = 0..text.len();
            (text, one_span(span), true)
        }
    };
    let spans = match loss_on {
        LossOn::All => one_span(0..text.len()),
        LossOn::Completion => spans,
    };
    Ok(Rendered {
        text,
        spans,
        add_special_tokens,
    })
}

/// The whole conversation and the span of each assistant turn, found from renders of its
/// prefixes (see the module doc).
fn render_messages(
    template: &ChatTemplate,
    messages: &[Message],
) -> Result<(String, Vec<Range<usize>>), ChatError> {
    let full = template.render(messages, false)?;
    let mut spans = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        if m.role != Role::Assistant {
            continue;
        }
        let before = template.render(&messages[..i], true)?;
        let through = template.render(&messages[..=i], false)?;
        let through = through.trim_end();
        if !full.starts_with(&before) || !full.starts_with(through) || before.len() > through.len()
        {
            return Err(ChatError::NotPrefix { index: i });
        }
        if before.len() < through.len() {
            spans.push(before.len()..through.len());
        }
    }
    Ok((full, spans))
}

/// A span list of one span (a `vec![a..b]` reads like the range's elements).
fn one_span(span: std::ops::Range<usize>) -> Vec<std::ops::Range<usize>> {
    std::iter::once(span).collect()
}

// The tests compare span lists of one span (`[0..n]`), not ranges' elements.
#[cfg(test)]
#[allow(clippy::single_range_in_vec_init)]
mod tests;
