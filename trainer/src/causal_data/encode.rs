//! One text-generation row to token ids and labels: rendered as `validate --data` renders it
//! ([`finetune_spec::chat::render`]), encoded by the model's tokenizer with byte offsets, the
//! loss spans turned into labels ([`finetune_spec::chat::label_mask`]), then cut to
//! `max_length`. The tokenizer's own truncation and padding settings are turned off: the cut
//! is made here, after the labels, so a truncated row is counted and its labels stay aligned.

use super::{LmDataError, LmExample, LmStats};
use finetune_spec::chat::examples::ExampleRow;
use finetune_spec::chat::{self, ChatTemplate, Example, ModelAssets, IGNORE_INDEX};
use finetune_spec::LossOn;
use tokenizers::Tokenizer;

/// The model's tokenizer, template and special tokens, ready to encode rows.
pub struct LmEncoder {
    tokenizer: Tokenizer,
    template: Option<ChatTemplate>,
    eos: Option<String>,
    eos_id: Option<u32>,
    pad_id: u32,
    max_length: usize,
    loss_on: LossOn,
}

impl std::fmt::Debug for LmEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LmEncoder")
            .field("eos", &self.eos)
            .field("pad_id", &self.pad_id)
            .field("max_length", &self.max_length)
            .finish()
    }
}

impl LmEncoder {
    /// An encoder for `assets` (which must have a tokenizer and a pad or EOS token), cutting
    /// rows to `max_length` tokens.
    pub fn new(
        assets: ModelAssets,
        max_length: usize,
        loss_on: LossOn,
    ) -> Result<LmEncoder, LmDataError> {
        let json = assets
            .tokenizer_json
            .as_deref()
            .ok_or(LmDataError::NoTokenizer)?;
        let mut tokenizer: Tokenizer = json
            .parse()
            .map_err(|e| LmDataError::Tokenizer(format!("the tokenizer does not load: {e}")))?;
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(None)
            .map_err(|e| LmDataError::Tokenizer(e.to_string()))?;
        let id_of = |name: &str| {
            tokenizer
                .token_to_id(name)
                .ok_or_else(|| LmDataError::UnknownToken(name.to_string()))
        };
        let pad = assets.pad_or_eos().ok_or(LmDataError::NoPadToken)?;
        let pad_id = id_of(pad)?;
        let eos = assets.tokens.eos.clone();
        let eos_id = eos.as_deref().map(id_of).transpose()?;
        Ok(LmEncoder {
            template: assets.template,
            tokenizer,
            eos,
            eos_id,
            pad_id,
            max_length: max_length.max(1),
            loss_on,
        })
    }

    /// The id batches are padded with.
    pub fn pad_id(&self) -> u32 {
        self.pad_id
    }

    /// The end-of-sequence id, when the model names one.
    pub fn eos_id(&self) -> Option<u32> {
        self.eos_id
    }

    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    pub fn template(&self) -> Option<&ChatTemplate> {
        self.template.as_ref()
    }

    /// The row as ids and labels, whole (not cut to `max_length`).
    pub fn encode(&self, example: &Example) -> Result<(Vec<u32>, Vec<i64>), String> {
        let rendered = chat::render(
            example,
            self.template.as_ref(),
            self.eos.as_deref(),
            self.loss_on,
        )
        .map_err(|e| e.to_string())?;
        let enc = self
            .tokenizer
            .encode(rendered.text.as_str(), rendered.add_special_tokens)
            .map_err(|e| format!("the tokenizer cannot encode the row: {e}"))?;
        let labels = chat::label_mask(enc.get_ids(), enc.get_offsets(), &rendered.spans);
        Ok((enc.get_ids().to_vec(), labels))
    }

    /// Every row of a file, cut to `max_length`; rows left with no trained token are dropped.
    /// The first row that does not render or encode is an error at its line.
    pub fn encode_rows(
        &self,
        file: &std::path::Path,
        rows: &[ExampleRow],
    ) -> Result<(Vec<LmExample>, LmStats), LmDataError> {
        let mut out = Vec::with_capacity(rows.len());
        let mut stats = LmStats::default();
        for row in rows {
            let (mut input_ids, mut labels) =
                self.encode(&row.example)
                    .map_err(|message| LmDataError::Row {
                        place: format!("{}:{}", file.display(), row.line),
                        message,
                    })?;
            stats.rows += 1;
            if input_ids.len() > self.max_length {
                stats.truncated += 1;
                input_ids.truncate(self.max_length);
                labels.truncate(self.max_length);
            }
            let ex = LmExample {
                line: row.line,
                input_ids,
                labels,
            };
            let trained = ex.trained_tokens();
            if trained == 0 {
                stats.untrained += 1;
                continue;
            }
            stats.examples += 1;
            stats.tokens += ex.input_ids.len();
            stats.trained_tokens += trained;
            out.push(ex);
        }
        Ok((out, stats))
    }
}

impl LmExample {
    /// Tokens whose label is not [`IGNORE_INDEX`]. (The loss predicts each from the token
    /// before it, so a trained first token of a row is not in the loss.)
    pub fn trained_tokens(&self) -> usize {
        self.labels.iter().filter(|&&l| l != IGNORE_INDEX).count()
    }
}
