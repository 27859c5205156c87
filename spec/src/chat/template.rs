//! A model's chat template: the Jinja source Hugging Face keeps in `tokenizer_config.json`
//! (`chat_template`) or `chat_template.jinja`, or llama.cpp in a GGUF's `tokenizer.chat_template`,
//! rendered with `minijinja` set up the way `transformers` sets up Jinja for it
//! (`apply_chat_template`): blocks trimmed and left-stripped, loop controls, Python's string and
//! dict methods (`minijinja-contrib`'s pycompat), `raise_exception`, `strftime_now`, a `tojson`
//! that writes what Python's `json.dumps(ensure_ascii=False)` does, and the special tokens
//! (`bos_token`, `eos_token`) in the context.

use super::{ChatError, Message};
use minijinja::syntax::SyntaxConfig;
use minijinja::value::{Kwargs, Value};
use minijinja::{Environment, Error, ErrorKind};
use std::collections::BTreeMap;
use std::path::Path;

/// The template's name inside its environment (in minijinja's error locations).
const NAME: &str = "chat_template";

/// A compiled chat template and the special tokens it is rendered with.
#[derive(Debug)]
pub struct ChatTemplate {
    env: Environment<'static>,
    tokens: SpecialTokens,
}

/// The special tokens a template may use, as strings (`<|im_end|>`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpecialTokens {
    pub bos: Option<String>,
    pub eos: Option<String>,
}

impl ChatTemplate {
    /// Compiles `source` (a syntax error is [`ChatError::Syntax`]).
    pub fn new(source: &str, tokens: SpecialTokens) -> Result<ChatTemplate, ChatError> {
        let mut env = Environment::new();
        env.set_syntax(
            SyntaxConfig::builder()
                .trim_blocks(true)
                .lstrip_blocks(true)
                .build()
                .map_err(|e| ChatError::Syntax(e.to_string()))?,
        );
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function("raise_exception", raise_exception);
        env.add_function("strftime_now", strftime_now);
        env.add_filter("tojson", tojson);
        env.add_template_owned(NAME, source.to_string())
            .map_err(|e| ChatError::Syntax(describe(&e)))?;
        Ok(ChatTemplate { env, tokens })
    }

    /// The template of a Hugging Face model directory: `chat_template.jinja` when present (what
    /// `transformers` ≥ 4.43 saves), else `tokenizer_config.json`'s `chat_template` (a string, or
    /// a list of named templates, of which `default` is used), with that file's `bos_token` and
    /// `eos_token`. `Ok(None)`: the model has no chat template.
    pub fn from_model_dir(dir: &Path) -> Result<Option<ChatTemplate>, ChatError> {
        let config_path = dir.join("tokenizer_config.json");
        let config =
            match std::fs::read_to_string(&config_path) {
                Ok(text) => Some(serde_json::from_str::<serde_json::Value>(&text).map_err(
                    |e| ChatError::Config {
                        path: config_path.clone(),
                        message: e.to_string(),
                    },
                )?),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => {
                    return Err(ChatError::Config {
                        path: config_path,
                        message: e.to_string(),
                    })
                }
            };
        let tokens = config.as_ref().map(special_tokens).unwrap_or_default();
        let jinja = dir.join("chat_template.jinja");
        if let Ok(source) = std::fs::read_to_string(&jinja) {
            return ChatTemplate::new(&source, tokens).map(Some);
        }
        let source = match config.as_ref().and_then(|c| c.get("chat_template")) {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(serde_json::Value::Array(named)) => {
                let default = named.iter().find(|t| t["name"] == "default");
                match default.and_then(|t| t["template"].as_str()) {
                    Some(s) => s.to_string(),
                    None => return Ok(None),
                }
            }
            _ => return Ok(None),
        };
        ChatTemplate::new(&source, tokens).map(Some)
    }

    pub fn tokens(&self) -> &SpecialTokens {
        &self.tokens
    }

    /// The conversation rendered as the model reads it; with `add_generation_prompt`, followed by
    /// what opens an assistant turn.
    pub fn render(
        &self,
        messages: &[Message],
        add_generation_prompt: bool,
    ) -> Result<String, ChatError> {
        let messages: Vec<Value> = messages
            .iter()
            .map(|m| {
                let mut map = BTreeMap::new();
                map.insert("role", Value::from(m.role.name()));
                map.insert("content", Value::from(m.content.as_str()));
                Value::from(map)
            })
            .collect();
        let mut ctx: BTreeMap<&str, Value> = BTreeMap::new();
        ctx.insert("messages", Value::from(messages));
        ctx.insert("add_generation_prompt", Value::from(add_generation_prompt));
        if let Some(bos) = &self.tokens.bos {
            ctx.insert("bos_token", Value::from(bos.as_str()));
        }
        if let Some(eos) = &self.tokens.eos {
            ctx.insert("eos_token", Value::from(eos.as_str()));
        }
        let template = self
            .env
            .get_template(NAME)
            .map_err(|e| ChatError::Syntax(describe(&e)))?;
        template.render(ctx).map_err(|e| match raised(&e) {
            Some(message) => ChatError::Raised(message),
            None => ChatError::Render(describe(&e)),
        })
    }
}

/// `bos_token` and `eos_token` of a `tokenizer_config.json`: a string, or an added-token object
/// (`{"content": "<s>", ...}`) ([`config_token`]).
pub(super) fn special_tokens(config: &serde_json::Value) -> SpecialTokens {
    SpecialTokens {
        bos: config_token(config, "bos_token"),
        eos: config_token(config, "eos_token"),
    }
}

/// A special token of a `tokenizer_config.json` by key: a string, or an added-token object.
pub(super) fn config_token(config: &serde_json::Value, key: &str) -> Option<String> {
    match config.get(key) {
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        Some(serde_json::Value::Object(o)) => o.get("content")?.as_str().map(str::to_string),
        _ => None,
    }
}

/// The prefix `raise_exception` puts on its error, so a template's own error is told apart from
/// an engine error.
const RAISED: &str = "raised by the template: ";

fn raise_exception(message: String) -> Result<Value, Error> {
    Err(Error::new(
        ErrorKind::InvalidOperation,
        format!("{RAISED}{message}"),
    ))
}

/// The message a template gave `raise_exception`, when `e` is that.
fn raised(e: &Error) -> Option<String> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(m) = err
            .downcast_ref::<Error>()
            .and_then(|e| e.detail())
            .and_then(|d| d.strip_prefix(RAISED))
        {
            return Some(m.to_string());
        }
        cur = err.source();
    }
    None
}

/// A minijinja error in one line: its kind, detail and line in the template.
fn describe(e: &Error) -> String {
    let mut out = e.kind().to_string();
    if let Some(d) = e.detail() {
        out.push_str(": ");
        out.push_str(d);
    }
    if let Some(line) = e.line() {
        out.push_str(&format!(" (template line {line})"));
    }
    out
}

/// `strftime_now(format)`: the current UTC time (Llama 3.1's templates print today's date).
fn strftime_now(format: String) -> Result<Value, Error> {
    let now = jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC);
    jiff::fmt::strtime::format(format.as_str(), &now)
        .map(Value::from)
        .map_err(|e| Error::new(ErrorKind::InvalidOperation, e.to_string()))
}

/// `tojson` as `transformers` defines it: `json.dumps(x, ensure_ascii=False, indent=indent)`,
/// whose separators are `", "` and `": "` without an indent.
fn tojson(value: Value, kwargs: Kwargs) -> Result<Value, Error> {
    let indent: Option<usize> = kwargs.get("indent")?;
    kwargs.assert_all_used()?;
    let json = serde_json::to_value(&value)
        .map_err(|e| Error::new(ErrorKind::InvalidOperation, e.to_string()))?;
    let mut out = Vec::new();
    let written = match indent {
        Some(n) => {
            let pad = vec![b' '; n];
            let fmt = serde_json::ser::PrettyFormatter::with_indent(&pad);
            serde::Serialize::serialize(
                &json,
                &mut serde_json::Serializer::with_formatter(&mut out, fmt),
            )
        }
        None => serde::Serialize::serialize(
            &json,
            &mut serde_json::Serializer::with_formatter(&mut out, PythonFormatter),
        ),
    };
    written.map_err(|e| Error::new(ErrorKind::InvalidOperation, e.to_string()))?;
    Ok(Value::from_safe_string(
        String::from_utf8_lossy(&out).into_owned(),
    ))
}

/// Python's `json.dumps` separators: `", "` between items, `": "` after keys.
struct PythonFormatter;

impl serde_json::ser::Formatter for PythonFormatter {
    fn begin_array_value<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        if first {
            Ok(())
        } else {
            w.write_all(b", ")
        }
    }

    fn begin_object_key<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        if first {
            Ok(())
        } else {
            w.write_all(b", ")
        }
    }

    fn begin_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        w.write_all(b": ")
    }
}
