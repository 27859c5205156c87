//! What a text-generation job needs from its model besides the weights, for `validate --data`
//! and the trainer alike: the tokenizer (a Hugging Face `tokenizer.json`, as JSON text, so this
//! crate needs no `tokenizers`), the chat template and the special tokens.
//!
//! The model is a Hugging Face directory (`tokenizer.json`, `tokenizer_config.json`,
//! `chat_template.jinja`) or a `.gguf` file, whose `tokenizer.*` metadata carries the same
//! (read by `finetune-gguf`: the header only, never the tensor data). `data.chat_template`, when
//! the job sets it, replaces the model's template.

use super::template::{config_token, special_tokens};
use super::{ChatError, ChatTemplate, SpecialTokens};
use std::path::Path;

/// A model's tokenizer, chat template and special tokens.
#[derive(Debug)]
pub struct ModelAssets {
    /// The Hugging Face `tokenizer.json` as JSON text (`tokenizers::Tokenizer::from_str`);
    /// `None` when a model directory has none (the model check reports that).
    pub tokenizer_json: Option<String>,
    /// `data.chat_template` when the job sets it, else the model's; `None`: neither has one.
    pub template: Option<ChatTemplate>,
    /// BOS and EOS as strings (`<|im_end|>`), also what the template is rendered with.
    pub tokens: SpecialTokens,
    /// The padding token, when the model names one.
    pub pad: Option<String>,
    /// Whether the model expects BOS before each text. The tokenizer's post-processor already
    /// adds it when encoding with special tokens; this says so without encoding.
    pub add_bos: bool,
}

impl ModelAssets {
    /// Reads the assets of `model` (a directory, or any other existing file as GGUF) with the
    /// job's `chat_template` override. A path that is neither gives empty assets (the model
    /// check reports it); an unreadable config, GGUF header or template is an error.
    pub fn load(model: &Path, chat_template: Option<&str>) -> Result<ModelAssets, ChatError> {
        let mut assets = if model.is_dir() {
            from_dir(model)?
        } else if model.is_file() {
            from_gguf(model)?
        } else {
            ModelAssets {
                tokenizer_json: None,
                template: None,
                tokens: SpecialTokens::default(),
                pad: None,
                add_bos: false,
            }
        };
        if let Some(source) = chat_template {
            assets.template = Some(ChatTemplate::new(source, assets.tokens.clone())?);
        }
        Ok(assets)
    }

    /// The token batches are padded with: the pad token, else EOS (as TRL does when a model
    /// has no pad token).
    pub fn pad_or_eos(&self) -> Option<&str> {
        self.pad.as_deref().or(self.tokens.eos.as_deref())
    }
}

/// A Hugging Face directory: `tokenizer.json` as it is, the special tokens and `add_bos_token`
/// from `tokenizer_config.json`, the template as [`ChatTemplate::from_model_dir`] finds it.
fn from_dir(dir: &Path) -> Result<ModelAssets, ChatError> {
    let config_path = dir.join("tokenizer_config.json");
    let config = match std::fs::read_to_string(&config_path) {
        Ok(text) => serde_json::from_str::<serde_json::Value>(&text)
            .map_err(|e| config_error(&config_path, e))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => serde_json::Value::Null,
        Err(e) => return Err(config_error(&config_path, e)),
    };
    let tokenizer_path = dir.join("tokenizer.json");
    let tokenizer_json = match std::fs::read_to_string(&tokenizer_path) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(config_error(&tokenizer_path, e)),
    };
    Ok(ModelAssets {
        tokenizer_json,
        template: ChatTemplate::from_model_dir(dir)?,
        tokens: special_tokens(&config),
        pad: config_token(&config, "pad_token"),
        add_bos: config["add_bos_token"].as_bool().unwrap_or(false),
    })
}

/// A GGUF file: the tokenizer, template and special tokens of its metadata.
fn from_gguf(path: &Path) -> Result<ModelAssets, ChatError> {
    let gguf = finetune_gguf::Gguf::open(path).map_err(|e| config_error(path, e))?;
    let tok = finetune_gguf::GgufTokenizer::from_gguf(&gguf).map_err(|e| config_error(path, e))?;
    let tokens = SpecialTokens {
        bos: tok.bos_token.clone(),
        eos: tok.eos_token.clone(),
    };
    let template = match &tok.chat_template {
        Some(source) => Some(ChatTemplate::new(source, tokens.clone())?),
        None => None,
    };
    Ok(ModelAssets {
        tokenizer_json: Some(tok.json.to_string()),
        template,
        tokens,
        pad: tok.pad_token,
        add_bos: tok.add_bos_token,
    })
}

fn config_error(path: &Path, e: impl std::fmt::Display) -> ChatError {
    ChatError::Config {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::{Message, Role};
    use finetune_fixtures::causal::{byte_bpe_tokenizer_json, tokenizer_config_json};
    use finetune_fixtures::TinyLlama;

    fn conversation() -> Vec<Message> {
        vec![
            Message::new(Role::User, "Hi"),
            Message::new(Role::Assistant, "Hello!"),
        ]
    }

    #[test]
    fn a_model_directory_gives_its_tokenizer_template_and_tokens() {
        let dir = tempfile::tempdir().unwrap();
        TinyLlama::TINY.write(dir.path(), 1).unwrap();
        let a = ModelAssets::load(dir.path(), None).unwrap();
        let json: serde_json::Value = serde_json::from_str(&a.tokenizer_json.unwrap()).unwrap();
        assert_eq!(json, byte_bpe_tokenizer_json());
        let config = tokenizer_config_json(None);
        assert_eq!(a.tokens.eos.as_deref(), config["eos_token"].as_str());
        assert_eq!(a.pad.as_deref(), config["pad_token"].as_str());
        let text = a.template.unwrap().render(&conversation(), false).unwrap();
        assert!(
            text.ends_with("<|im_start|>assistant\nHello!<|im_end|>\n"),
            "{text}"
        );
    }

    #[test]
    fn the_jobs_chat_template_replaces_the_models() {
        let dir = tempfile::tempdir().unwrap();
        TinyLlama::TINY.write(dir.path(), 1).unwrap();
        let own = "{% for m in messages %}[{{ m.content }}]{{ eos_token }}{% endfor %}";
        let a = ModelAssets::load(dir.path(), Some(own)).unwrap();
        let text = a.template.unwrap().render(&conversation(), false).unwrap();
        let eos = a.tokens.eos.unwrap();
        assert_eq!(text, format!("[Hi]{eos}[Hello!]{eos}"));
    }

    #[test]
    fn a_gguf_file_gives_the_tokenizer_and_template_of_its_metadata() {
        let dir = tempfile::tempdir().unwrap();
        let config = tokenizer_config_json(Some("{{ bos_token }}{{ messages[0].content }}"));
        let meta =
            finetune_gguf::tokenizer_metadata(&byte_bpe_tokenizer_json(), Some(&config)).unwrap();
        let mut w = finetune_gguf::GgufWriter::new();
        for (k, v) in meta {
            w.metadata(k, v).unwrap();
        }
        let path = dir.path().join("m.gguf");
        w.write(&path).unwrap();
        let a = ModelAssets::load(&path, None).unwrap();
        assert_eq!(a.tokens.eos.as_deref(), config["eos_token"].as_str());
        assert_eq!(a.pad_or_eos(), config["pad_token"].as_str());
        let text = a.template.unwrap().render(&conversation(), false).unwrap();
        assert_eq!(text, format!("{}Hi", config["bos_token"].as_str().unwrap()));
        let json: serde_json::Value = serde_json::from_str(&a.tokenizer_json.unwrap()).unwrap();
        assert_eq!(json["model"]["type"], "BPE");
    }

    #[test]
    fn a_file_that_is_not_gguf_is_a_one_line_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.gguf");
        std::fs::write(&path, b"GGUF\x03\0\0\0").unwrap();
        let e = ModelAssets::load(&path, None).unwrap_err();
        assert!(matches!(e, ChatError::Config { .. }), "{e:?}");
        assert!(
            e.to_string().starts_with(&path.display().to_string()),
            "{e}"
        );
        assert!(!e.to_string().contains('\n'), "{e}");
    }

    #[test]
    fn a_missing_model_gives_empty_assets() {
        let a = ModelAssets::load(Path::new("/nonexistent/model"), None).unwrap();
        assert!(a.tokenizer_json.is_none() && a.template.is_none() && a.pad_or_eos().is_none());
    }
}
