//! The dataset part of a job (`data:`): the files and their fields, the label set, and the
//! redaction of personal data (`redact`, `redact_mode`, `redact_key`, `redact_region`) with the
//! rules across those keys that [`crate::JobSpec::check`] applies.

use crate::bounded::{Count, Fraction};
use crate::forms;
use crate::generation::DataShape;
use crate::job::SpecProblem;
use crate::redact::{EntitySelection, Mode, RedactError, RedactMode, Redactor};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The dataset of a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataSpec {
    /// A dataset image (`docker finetune data package`): `train` and `eval` are then paths inside
    /// its dataset directory ([`crate::contract::DATA_DIR`]), not on the host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Training file, `.jsonl` or `.csv`.
    pub train: PathBuf,
    /// Evaluation file; when absent, `eval_split` of the training rows are held out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eval: Option<PathBuf>,
    /// Fraction of training rows held out for evaluation when `eval` is absent (seeded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eval_split: Option<Fraction>,
    /// Field (JSONL key or CSV column) holding the text.
    #[serde(default = "default_text_field")]
    pub text: String,
    /// What a text-generation row holds; found from the first row's fields when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shape: Option<DataShape>,
    /// Field holding a conversation, `[{role, content}]` (text-generation).
    #[serde(
        default = "default_messages",
        skip_serializing_if = "is_default_messages"
    )]
    pub messages: String,
    /// Field holding the prompt (text-generation).
    #[serde(default = "default_prompt", skip_serializing_if = "is_default_prompt")]
    pub prompt: String,
    /// Field holding the completion of `prompt` (text-generation).
    #[serde(
        default = "default_completion",
        skip_serializing_if = "is_default_completion"
    )]
    pub completion: String,
    /// A Jinja chat template for `messages` rows, in place of the model's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chat_template: Option<String>,
    /// Field holding the label (a string or an integer).
    #[serde(default = "default_label_field")]
    pub label: String,
    /// File format; inferred from the extension when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<DataFormat>,
    /// The label set, in id order. When absent it is the sorted set of labels in the train file.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "forms::optional_names"
    )]
    pub labels: Option<Vec<String>>,
    /// Use only the first N rows of each file (quick runs, `up --smoke`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<Count>,
    /// Personal data to redact from the text field before tokenisation, inside the job
    /// container: `all`, or a list of [`Entity`] names. Empty (the default) redacts nothing.
    #[serde(default, skip_serializing_if = "EntitySelection::is_empty")]
    pub redact: EntitySelection,
    /// How a redacted value is written: `replace` (`<EMAIL>`) or `hash` (a keyed token).
    #[serde(default, skip_serializing_if = "is_default")]
    pub redact_mode: RedactMode,
    /// The Compose secret (a top-level `secrets:` name) holding the `hash` key; the trainer
    /// reads it from [`crate::contract::SECRETS_DIR`]. Never the key itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redact_key: Option<String>,
    /// The region phone numbers written without `+CC` are read in (`US`, `GB`, `DE`).
    #[serde(
        default = "default_redact_region",
        skip_serializing_if = "is_default_redact_region"
    )]
    pub redact_region: String,
}

/// The phone region when the spec names none.
pub const DEFAULT_REDACT_REGION: &str = "US";

fn default_redact_region() -> String {
    DEFAULT_REDACT_REGION.into()
}
fn is_default_redact_region(r: &String) -> bool {
    r == DEFAULT_REDACT_REGION
}
fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

/// The field names of text-generation rows when the spec names none.
pub const DEFAULT_MESSAGES: &str = "messages";
pub const DEFAULT_PROMPT: &str = "prompt";
pub const DEFAULT_COMPLETION: &str = "completion";

fn default_messages() -> String {
    DEFAULT_MESSAGES.into()
}
fn is_default_messages(f: &String) -> bool {
    f == DEFAULT_MESSAGES
}
fn default_prompt() -> String {
    DEFAULT_PROMPT.into()
}
fn is_default_prompt(f: &String) -> bool {
    f == DEFAULT_PROMPT
}
fn default_completion() -> String {
    DEFAULT_COMPLETION.into()
}
fn is_default_completion(f: &String) -> bool {
    f == DEFAULT_COMPLETION
}

fn default_text_field() -> String {
    "text".into()
}
fn default_label_field() -> String {
    "label".into()
}

/// Dataset file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataFormat {
    Jsonl,
    Csv,
    Parquet,
}

impl DataFormat {
    /// The format a path's extension implies (`.jsonl`/`.ndjson`/`.json`, `.csv`, `.parquet`).
    pub fn from_path(path: &std::path::Path) -> Option<DataFormat> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "jsonl" | "ndjson" | "json" => Some(DataFormat::Jsonl),
            "csv" => Some(DataFormat::Csv),
            "parquet" | "pq" => Some(DataFormat::Parquet),
            _ => None,
        }
    }
}

impl DataSpec {
    /// The redactor `redact` and `redact_region` select, writing hits as `mode` says; `None`
    /// when nothing is selected (then no redaction pass runs at all). The trainer passes the
    /// mode with its key; counting (`validate --data`) needs no key and passes `Mode::Replace`.
    pub fn redactor(&self, mode: Mode) -> Result<Option<Redactor>, RedactError> {
        let entities = self.redact.entities();
        if entities.is_empty() {
            return Ok(None);
        }
        Redactor::new(&entities, mode, &self.redact_region).map(Some)
    }

    /// The redaction settings that only make sense together: a mode or key without entities, a
    /// `hash` mode without its key, a key without `hash`, a region libphonenumber lacks.
    pub(crate) fn check_redaction(&self) -> Vec<SpecProblem> {
        let mut out = Vec::new();
        let hashing = self.redact_mode == RedactMode::Hash;
        if self.redact.is_empty() && (hashing || self.redact_key.is_some()) {
            out.push(SpecProblem {
                path: "data.redact",
                message: "`redact_mode` and `redact_key` need `redact` to select what to redact",
                hint: "add `redact: all` or a list such as `redact: [email, phone]`",
            });
        }
        if hashing && self.redact_key.is_none() {
            out.push(SpecProblem {
                path: "data.redact_mode",
                message: "`redact_mode: hash` needs `redact_key`, the Compose secret holding the key",
                hint: "declare `secrets: {pii_key: {file: ./pii.key}}` at the top level and set `redact_key: pii_key`",
            });
        }
        if !hashing && self.redact_key.is_some() {
            out.push(SpecProblem {
                path: "data.redact_key",
                message: "`redact_key` is only used by `redact_mode: hash`",
                hint: "set `redact_mode: hash`, or remove `redact_key`",
            });
        }
        if !self.redact.is_empty() && !crate::redact::region_known(&self.redact_region) {
            out.push(SpecProblem {
                path: "data.redact_region",
                message: "unknown phone region: use a two-letter region code",
                hint: "for example `US`, `GB`, `DE`, `FR`, `IN`",
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::tests::minimal;
    use crate::redact::Entity;
    use crate::JobSpec;

    #[test]
    fn redaction_settings_are_checked_together() {
        let mut j = minimal();
        j.data.redact_mode = RedactMode::Hash;
        let paths: Vec<&str> = j.check().iter().map(|p| p.path).collect();
        assert_eq!(paths, ["data.redact", "data.redact_mode"]);
        j.data.redact = EntitySelection::All;
        j.data.redact_key = Some("pii_key".into());
        assert!(j.check().is_empty(), "{:?}", j.check());
        j.data.redact_mode = RedactMode::Replace;
        assert_eq!(j.check()[0].path, "data.redact_key");
        j.data.redact_key = None;
        j.data.redact_region = "gb".into();
        assert!(j.check().is_empty(), "regions are case-insensitive");
        j.data.redact_region = "XX".into();
        assert_eq!(j.check()[0].path, "data.redact_region");
    }

    #[test]
    fn redaction_keys_read_from_yaml_and_change_the_config_hash() {
        let j: JobSpec = serde_yaml::from_str(
            "{name: j, model: /m, output: /o, data: {train: /t, redact: [email, ip], redact_mode: hash, redact_key: k, redact_region: DE}}",
        )
        .unwrap();
        assert_eq!(j.data.redact.entities(), vec![Entity::Email, Entity::Ip]);
        assert_eq!(j.data.redact_mode, RedactMode::Hash);
        assert_eq!(j.data.redact_key.as_deref(), Some("k"));
        assert_eq!(j.data.redact_region, "DE");
        let all: JobSpec = serde_yaml::from_str(
            "{name: j, model: /m, output: /o, data: {train: /t, redact: all}}",
        )
        .unwrap();
        assert_eq!(all.data.redact, EntitySelection::All);
        // Redaction changes the training text, so it changes the hash; unset, old hashes hold.
        let plain = minimal();
        assert_ne!(all.config_hash(), plain.config_hash());
        let json = serde_json::to_value(&plain).unwrap();
        for key in ["redact", "redact_mode", "redact_key", "redact_region"] {
            assert!(json["data"].get(key).is_none(), "{key} written when unset");
        }
    }
}
