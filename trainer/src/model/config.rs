//! The Hugging Face `config.json` of a BERT-family checkpoint: the fields the model needs, the
//! label map if the checkpoint has one, and the raw JSON object so that an export keeps every
//! field it does not know about.

use std::collections::BTreeMap;
use std::path::Path;

use finetune_spec::contract::SUPPORTED_MODEL_TYPES;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::error::ModelError;

/// The activation of the intermediate (feed-forward) layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// Exact GELU, `x * Φ(x)` with erf (HF `gelu`).
    Gelu,
    /// tanh-approximated GELU (HF `gelu_new`, `gelu_pytorch_tanh`).
    GeluTanh,
    /// ReLU (HF `relu`).
    Relu,
}

/// `BertConfig` as written by `transformers`, reduced to what the model uses.
#[derive(Debug, Clone, Deserialize)]
pub struct BertConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    #[serde(default = "default_act")]
    pub hidden_act: String,
    #[serde(default = "default_max_pos")]
    pub max_position_embeddings: usize,
    #[serde(default = "default_type_vocab")]
    pub type_vocab_size: usize,
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    #[serde(default = "default_dropout")]
    pub hidden_dropout_prob: f64,
    #[serde(default = "default_dropout")]
    pub attention_probs_dropout_prob: f64,
    /// Dropout before the classifier; HF falls back to `hidden_dropout_prob` when null.
    #[serde(default)]
    pub classifier_dropout: Option<f64>,
    #[serde(default)]
    pub pad_token_id: usize,
    #[serde(default = "default_init_range")]
    pub initializer_range: f64,
    #[serde(default)]
    pub model_type: Option<String>,
    #[serde(default)]
    pub architectures: Option<Vec<String>>,
    #[serde(default)]
    pub position_embedding_type: Option<String>,
    /// `{"0": "negative", ...}`: present in classification checkpoints.
    #[serde(default)]
    pub id2label: Option<BTreeMap<String, String>>,
    /// The whole `config.json` object, kept for export.
    #[serde(skip)]
    pub raw: Map<String, Value>,
}

fn default_act() -> String {
    "gelu".into()
}
fn default_max_pos() -> usize {
    512
}
fn default_type_vocab() -> usize {
    2
}
fn default_eps() -> f64 {
    1e-12
}
fn default_dropout() -> f64 {
    0.1
}
fn default_init_range() -> f64 {
    0.02
}

impl BertConfig {
    /// Reads and checks `config.json`.
    pub fn from_file(path: &Path) -> Result<Self, ModelError> {
        let text = std::fs::read_to_string(path).map_err(|e| ModelError::io(path, e))?;
        Self::from_json_str(&text, path)
    }

    /// Parses and checks a `config.json` text; `path` is only used in errors.
    pub fn from_json_str(text: &str, path: &Path) -> Result<Self, ModelError> {
        let cfg_err = |message: String| ModelError::Config {
            path: path.to_path_buf(),
            message,
        };
        let value: Value = serde_json::from_str(text).map_err(|e| cfg_err(e.to_string()))?;
        let Value::Object(raw) = value else {
            return Err(cfg_err("expected a JSON object".into()));
        };
        let mut cfg: BertConfig = serde_json::from_value(Value::Object(raw.clone()))
            .map_err(|e| cfg_err(e.to_string()))?;
        cfg.raw = raw;
        cfg.check(path)?;
        Ok(cfg)
    }

    fn check(&self, path: &Path) -> Result<(), ModelError> {
        let unsupported = |message: String| ModelError::Unsupported {
            path: path.to_path_buf(),
            message,
        };
        // The same list `validate` checks on the host, so a job it accepts is one we load.
        match self.model_type.as_deref() {
            None => {}
            Some(t) if SUPPORTED_MODEL_TYPES.contains(&t) => {}
            Some(other) => {
                return Err(unsupported(format!(
                    "model_type `{other}` is not supported: this trainer implements BERT-family \
                     checkpoints (model_type `bert`, e.g. BERT, MiniLM)"
                )))
            }
        }
        if let Some(archs) = &self.architectures {
            if let Some(bad) = archs.iter().find(|a| !a.starts_with("Bert")) {
                return Err(unsupported(format!(
                    "architecture `{bad}` is not supported: expected a Bert* architecture \
                     (BertModel, BertForSequenceClassification, ...)"
                )));
            }
        }
        if let Some(p) = self.position_embedding_type.as_deref() {
            if p != "absolute" {
                return Err(unsupported(format!(
                    "position_embedding_type `{p}` is not supported: only `absolute`"
                )));
            }
        }
        self.activation().map_err(unsupported)?;
        let invalid = |m: String| ModelError::Config {
            path: path.to_path_buf(),
            message: m,
        };
        if self.num_attention_heads == 0
            || !self.hidden_size.is_multiple_of(self.num_attention_heads)
        {
            return Err(invalid(format!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                self.hidden_size, self.num_attention_heads
            )));
        }
        for (name, p) in [
            ("hidden_dropout_prob", self.hidden_dropout_prob),
            (
                "attention_probs_dropout_prob",
                self.attention_probs_dropout_prob,
            ),
            ("classifier_dropout", self.classifier_dropout.unwrap_or(0.0)),
        ] {
            if !(0.0..1.0).contains(&p) {
                return Err(invalid(format!("{name} {p} is not in [0, 1)")));
            }
        }
        Ok(())
    }

    /// The feed-forward activation, or a message naming the unsupported one.
    pub fn activation(&self) -> Result<Activation, String> {
        match self.hidden_act.as_str() {
            "gelu" => Ok(Activation::Gelu),
            "gelu_new" | "gelu_pytorch_tanh" => Ok(Activation::GeluTanh),
            "relu" => Ok(Activation::Relu),
            other => Err(format!(
                "hidden_act `{other}` is not supported: expected gelu, gelu_new or relu"
            )),
        }
    }

    /// Dropout before the classifier, as HF computes it.
    pub fn classifier_dropout_prob(&self) -> f64 {
        self.classifier_dropout.unwrap_or(self.hidden_dropout_prob)
    }

    /// The labels of a classification checkpoint in id order, if `id2label` names them all
    /// with ids `0..n`.
    pub fn labels(&self) -> Option<Vec<String>> {
        let map = self.id2label.as_ref()?;
        let mut labels = vec![None; map.len()];
        for (id, name) in map {
            let i: usize = id.parse().ok()?;
            *labels.get_mut(i)? = Some(name.clone());
        }
        labels.into_iter().collect()
    }

    /// Checks that rows of `max_length` tokens fit the position embeddings.
    pub fn check_max_length(&self, max_length: usize) -> Result<(), ModelError> {
        if max_length > self.max_position_embeddings {
            return Err(ModelError::Invalid(format!(
                "max_length {max_length} exceeds the model's max_position_embeddings {}: \
                 lower train.max_length",
                self.max_position_embeddings
            )));
        }
        Ok(())
    }

    /// The size of one attention head.
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }

    /// `config.json` for an exported classifier: the input's fields plus the classification
    /// head's label map, so `transformers` loads it as `BertForSequenceClassification`.
    pub fn export_json(&self, labels: &[String]) -> Value {
        let mut out = self.raw.clone();
        out.insert(
            "architectures".into(),
            Value::from(vec!["BertForSequenceClassification"]),
        );
        out.insert("model_type".into(), Value::from("bert"));
        let id2label: Map<String, Value> = labels
            .iter()
            .enumerate()
            .map(|(i, l)| (i.to_string(), Value::from(l.as_str())))
            .collect();
        let label2id: Map<String, Value> = labels
            .iter()
            .enumerate()
            .map(|(i, l)| (l.clone(), Value::from(i)))
            .collect();
        out.insert("id2label".into(), Value::Object(id2label));
        out.insert("label2id".into(), Value::Object(label2id));
        out.insert("num_labels".into(), Value::from(labels.len()));
        out.insert(
            "problem_type".into(),
            Value::from("single_label_classification"),
        );
        out.insert("torch_dtype".into(), Value::from("float32"));
        Value::Object(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINI: &str = r#"{"model_type":"bert","architectures":["BertModel"],"vocab_size":10,
        "hidden_size":8,"num_hidden_layers":1,"num_attention_heads":2,"intermediate_size":16,
        "max_position_embeddings":16,"custom":"kept"}"#;

    #[test]
    fn parses_defaults_and_keeps_raw() {
        let c = BertConfig::from_json_str(MINI, Path::new("config.json")).unwrap();
        assert_eq!(c.layer_norm_eps, 1e-12);
        assert_eq!(c.activation().unwrap(), Activation::Gelu);
        assert_eq!(c.head_dim(), 4);
        assert_eq!(c.raw["custom"], "kept");
        assert!(c.labels().is_none());
        c.check_max_length(16).unwrap();
        assert!(c.check_max_length(17).is_err());
    }

    #[test]
    fn rejects_other_model_types() {
        let text = MINI.replace("\"bert\"", "\"roberta\"");
        let e = BertConfig::from_json_str(&text, Path::new("c.json")).unwrap_err();
        assert!(
            e.to_string()
                .contains("model_type `roberta` is not supported"),
            "{e}"
        );
        let text = MINI.replace("BertModel", "GPT2LMHeadModel");
        let e = BertConfig::from_json_str(&text, Path::new("c.json")).unwrap_err();
        assert!(e.to_string().contains("GPT2LMHeadModel"), "{e}");
    }

    #[test]
    fn rejects_bad_heads_and_missing_fields() {
        let text = MINI.replace("\"num_attention_heads\":2", "\"num_attention_heads\":3");
        assert!(BertConfig::from_json_str(&text, Path::new("c")).is_err());
        let text = MINI.replace("\"vocab_size\":10,", "");
        let e = BertConfig::from_json_str(&text, Path::new("c")).unwrap_err();
        assert!(e.to_string().contains("vocab_size"), "{e}");
    }

    #[test]
    fn export_adds_label_maps() {
        let c = BertConfig::from_json_str(MINI, Path::new("c")).unwrap();
        let v = c.export_json(&["neg".into(), "pos".into()]);
        assert_eq!(v["architectures"][0], "BertForSequenceClassification");
        assert_eq!(v["id2label"]["1"], "pos");
        assert_eq!(v["label2id"]["neg"], 0);
        assert_eq!(v["num_labels"], 2);
        assert_eq!(v["custom"], "kept");
        let back = BertConfig::from_json_str(&v.to_string(), Path::new("c")).unwrap();
        assert_eq!(back.labels().unwrap(), vec!["neg", "pos"]);
    }
}
