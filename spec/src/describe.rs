//! Every key of a job, with its type, default and meaning: the tables of docs/spec.md.
//!
//! The tables are written here once, beside the types. Tests prove them against the types: every
//! field of every spec struct has a row and every row a field (read from the types' own field
//! lists), each range in the type column is the one the type enforces, each listed value of an
//! enum deserializes, and each default is what `Default` gives. docs/spec.md must contain the
//! rendered tables ([`markdown`]), so it cannot drift either.

use crate::bounded::{Count, Fraction, NonNegative, Positive, Ratio, SeqLen, Steps};

/// One key of the spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    /// Dotted path from the job (`train.batch_size`).
    pub path: &'static str,
    /// The type as the docs write it (`integer ≥ 1`, `one of `a`, `b``...).
    pub kind: &'static str,
    pub default: &'static str,
    pub doc: &'static str,
}

const fn k(
    path: &'static str,
    kind: &'static str,
    default: &'static str,
    doc: &'static str,
) -> Key {
    Key {
        path,
        kind,
        default,
        doc,
    }
}

/// The sections of docs/spec.md, by the path prefix of their keys (`""` is the job itself).
pub const SECTIONS: &[&str] = &[
    "",
    "data",
    "method.lora",
    "train",
    "train.early_stopping",
    "checkpoint",
    "resources",
    "tracking",
    "tracking.mlflow",
];

/// Every key, by section.
pub const KEYS: &[Key] = &[
    k("task", "one of `text-classification`, `text-generation`", "text-classification", "what the model is trained for: a BERT-family classifier, or a causal LM (Llama, GPT-2) on chat, prompt/completion or text rows"),
    k("model", "path", "required", "Hugging Face-format model directory (`config.json`, `model.safetensors`, `tokenizer.json`); for `text-generation` also a `.gguf` file"),
    k("data", "mapping", "required", "the dataset"),
    k("method", "method", "full", "`full`, `lora`, or `{lora: {r, alpha, dropout, targets}}`"),
    k("train", "mapping", "see keys", "optimisation settings"),
    k("checkpoint", "mapping", "see keys", "checkpointing"),
    k("output", "path", "required", "output directory (metrics, checkpoints, model, run.json)"),
    k("export", "list of `gguf`, `gguf-q8_0`", "[]", "text-generation: also write the model as `model.gguf` (f16) or `model.q8_0.gguf` (Q8_0) under `output`"),
    k("cache", "path", "none", "cache directory, mounted read-write at /cache"),
    k("resources", "mapping", "see keys", "host resources"),
    k("depends_on", "list of strings", "[]", "user services the job needs running"),
    k("priority", "integer", "0", "queue priority when GPUs are busy (higher first)"),
    k("environment", "mapping or list", "{}", "trainer environment; a name without a value is passed from the caller's environment and never written to rendered files"),
    k("network", "string", "none (`network_mode: none`)", "a Compose network to attach the job to"),
    k("image", "string", "docker-finetune/trainer:<version>", "trainer image"),
    k("tracking", "mapping", "none (`MLFLOW_TRACKING_URI` when set)", "experiment tracking, sent by the plugin from the host (not part of the config hash)"),
    k("data.image", "string", "none", "a dataset image (`docker finetune data package`): `train` and `eval` are then paths inside it"),
    k("data.train", "path", "required", "training file, `.jsonl`, `.csv` or `.parquet`"),
    k("data.eval", "path", "none", "evaluation file; exclusive with `eval_split`"),
    k("data.eval_split", Fraction::KIND, "none", "fraction of training rows held out for evaluation when `eval` is absent"),
    k("data.text", "string", "text", "field (JSONL key, CSV or Parquet column) holding the text"),
    k("data.shape", "one of `messages`, `prompt_completion`, `text`", "from the first row's fields", "text-generation rows: a conversation, a prompt and its completion, or plain text"),
    k("data.messages", "string", "messages", "text-generation: field holding a conversation, `[{role, content}]` with roles `system`, `user`, `assistant`"),
    k("data.prompt", "string", "prompt", "text-generation: field holding the prompt"),
    k("data.completion", "string", "completion", "text-generation: field holding the completion"),
    k("data.chat_template", "string", "the model's (`chat_template` of tokenizer_config.json, or the GGUF's)", "a Jinja chat template for `messages` rows, as Hugging Face writes them"),
    k("data.label", "string", "label", "field holding the label"),
    k("data.format", "one of `jsonl`, `csv`, `parquet`", "from the extension", "file format"),
    k("data.labels", "list of strings", "sorted labels of the train file", "the label set, in id order"),
    k("data.limit", Count::KIND, "none", "use only the first N rows of each file"),
    k("data.redact", "`all` or a list of `email`, `phone`, `credit_card`, `iban`, `ip`, `url`", "none", "personal data replaced in the text field before tokenisation, inside the job container (see docs/redaction.md)"),
    k("data.redact_mode", "one of `replace`, `hash`", "replace", "`replace` writes `<EMAIL>`; `hash` writes a keyed token (`<EMAIL_3f9a1c2b>`), the same for the same value"),
    k("data.redact_key", "string", "none (required with `hash`)", "the top-level Compose secret holding the `hash` key (16+ bytes), mounted at `/run/secrets/<name>`; never the key itself"),
    k("data.redact_region", "string", "US", "region of phone numbers written without `+CC` (`US`, `GB`, `DE`)"),
    k("method.lora.r", Count::KIND, "8", "adapter rank"),
    k("method.lora.alpha", Positive::KIND, "16", "scaling numerator (scale = alpha / r)"),
    k("method.lora.dropout", Ratio::KIND, "0", "dropout on the adapter input"),
    k("method.lora.targets", "list of strings", "[query, value]", "linear layers to adapt: BERT `query`, `key`, `value`, `dense`; Llama `q_proj`, `k_proj`, `v_proj`, `o_proj`, `gate_proj`, `up_proj`, `down_proj`; GPT-2 `c_attn`, `c_proj`, `c_fc` (the default means `[q_proj, v_proj]` on Llama, `[c_attn]` on GPT-2)"),
    k("train.epochs", Count::KIND, "3", "passes over the training data"),
    k("train.max_steps", Steps::KIND, "none", "stop after this many optimizer steps"),
    k("train.batch_size", Count::KIND, "16", "examples per micro-batch"),
    k("train.learning_rate", Positive::KIND, "5e-5", "peak learning rate"),
    k("train.weight_decay", NonNegative::KIND, "0.01", "AdamW weight decay"),
    k("train.max_length", SeqLen::KIND, "128", "tokens per example (longer ones are truncated)"),
    k("train.seed", "integer ≥ 0", "42", "seed of shuffling, splits and initialisation"),
    k("train.warmup_ratio", Ratio::KIND, "0.06", "fraction of steps warming the learning rate up"),
    k("train.schedule", "one of `linear`, `cosine`, `constant`", "linear", "decay after warmup"),
    k("train.grad_accum", Count::KIND, "1", "micro-batches per optimizer step"),
    k("train.max_grad_norm", "number > 0 or null", "1.0", "gradient-norm clipping; null disables"),
    k("train.precision", "one of `auto`, `f32`, `bf16`, `f16`", "auto", "the matrix products' precision; weights, optimizer state, checkpoints and exports stay f32 (`auto`: f32 on CPU, bf16 on GPUs that compute it; `f16` adds dynamic loss scaling)"),
    k("train.early_stopping", "mapping", "none", "stop when the metric stops improving"),
    k("train.eval_every_steps", Steps::KIND, "end of each epoch", "evaluate every N optimizer steps"),
    k("train.log_every_steps", Steps::KIND, "10", "write a metrics line every N optimizer steps"),
    k("train.packing", "boolean", "false", "text-generation: pack several rows into each `max_length` sequence"),
    k("train.loss_on", "one of `completion`, `all`", "completion", "text-generation: the tokens that carry the loss: the assistant turns (each with its end-of-turn token) or the completion, or all of them"),
    k("train.early_stopping.patience", Count::KIND, "2", "evaluations without improvement before stopping"),
    k("train.early_stopping.metric", "one of `eval_loss`, `accuracy`, `macro_f1`", "eval_loss", "the watched metric"),
    k("train.early_stopping.min_delta", NonNegative::KIND, "0", "smallest change that counts as an improvement"),
    k("checkpoint.every_steps", "integer ≥ 0", "200", "save every N optimizer steps (0: only at epoch ends and on SIGTERM)"),
    k("checkpoint.keep", Count::KIND, "2", "newest complete checkpoints kept"),
    k("resources.gpus", "gpus", "auto", "`0`, a count, `all`, `auto` (GPUs when the host has a GPU runtime, else CPU), a list of device ids, `{count: N}` / `{device_ids: [...]}`, or `{device_ids: [...], shared: true}` (devices shared with other shared jobs)"),
    k("resources.gpu_memory", "size (`512m`, `8g`, bytes)", "none (required with `shared`)", "device memory the job uses on each of its GPUs; shared jobs co-run on a device while their sum fits its memory"),
    k("resources.cpus", Positive::KIND, "no limit", "CPU limit"),
    k("resources.memory", "size (`512m`, `8g`, bytes)", "no limit", "memory limit (`8g`)"),
    k("resources.shm_size", "size (`512m`, `8g`, bytes)", "1g", "size of `/dev/shm`"),
    k("tracking.mlflow", "mapping", "none", "an MLflow tracking server: params, metrics as they are written, tags, `run.json` and `model/` as artifacts, the final status"),
    k("tracking.mlflow.uri", "string", "required", "the server (`http://127.0.0.1:5000`); overrides `MLFLOW_TRACKING_URI`"),
    k("tracking.mlflow.experiment", "string", "`MLFLOW_EXPERIMENT_NAME`, else the project name", "the experiment, created when missing"),
];

/// The key at `path`.
pub fn key(path: &str) -> Option<&'static Key> {
    KEYS.iter().find(|k| k.path == path)
}

/// The keys directly under `section` (`""`: the job's own keys), with their names in it.
pub fn section(section: &str) -> impl Iterator<Item = (&'static str, &'static Key)> + '_ {
    KEYS.iter().filter_map(move |k| {
        let name = if section.is_empty() {
            k.path
        } else {
            k.path.strip_prefix(section)?.strip_prefix('.')?
        };
        (!name.contains('.')).then_some((name, k))
    })
}

/// A section's table as docs/spec.md prints it.
pub fn markdown(of: &str) -> String {
    let mut out = String::from("| key | type | default | meaning |\n|---|---|---|---|\n");
    for (name, k) in section(of) {
        out.push_str(&format!(
            "| `{name}` | {} | {} | {} |\n",
            k.kind, k.default, k.doc
        ));
    }
    out
}

/// The provider options' table as docs/spec.md prints it.
pub fn options_markdown() -> String {
    let mut out = String::from("| option | job key |\n|---|---|\n");
    for o in crate::options::OPTIONS {
        out.push_str(&format!("| `{}` | `{}` |\n", o.name, o.path));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::de::{from_tree, Problem};
    use crate::tree::Flat;
    use crate::JobSpec;

    fn s(t: &str) -> Flat {
        Flat::Scalar(t.into())
    }

    fn map(entries: Vec<(&str, Flat)>) -> Flat {
        Flat::Map(entries.into_iter().map(|(k, v)| (s(k), v)).collect())
    }

    /// A minimal job with `value` at `path` (dotted).
    fn job_with(path: &str, value: Flat) -> Flat {
        let mut node = value;
        for part in path.rsplit('.') {
            node = map(vec![(part, node)]);
        }
        let Flat::Map(mut entries) = node else {
            unreachable!()
        };
        let required = [("name", "j"), ("model", "/m"), ("output", "/o")];
        for (k, v) in required {
            if !path.starts_with(k) {
                entries.push((s(k), s(v)));
            }
        }
        if !path.starts_with("data") {
            entries.push((s("data"), map(vec![("train", s("/t"))])));
        } else if let Some((_, Flat::Map(d))) = entries.iter_mut().find(|(k, _)| *k == s("data")) {
            if !d.iter().any(|(k, _)| *k == s("train")) {
                d.push((s("train"), s("/t")));
            }
        }
        Flat::Map(entries)
    }

    fn parse(path: &str, value: &str) -> Result<JobSpec, Problem> {
        let tree = job_with(path, s(value));
        from_tree::<JobSpec, _>(&tree).map_err(|e| e.problem)
    }

    /// The field names of the struct at `section`, as its Deserialize impl lists them.
    fn fields(section: &str) -> Vec<&'static str> {
        let probe = map(vec![("\u{1}probe", s("1"))]);
        let tree = if section.is_empty() {
            probe
        } else if section == "method.lora" {
            job_with("method", map(vec![("lora", probe)]))
        } else {
            job_with(section, probe)
        };
        match from_tree::<JobSpec, _>(&tree)
            .map(|_| ())
            .unwrap_err()
            .problem
        {
            Problem::UnknownKey { expected, .. } => expected.to_vec(),
            other => panic!("{section}: {other:?}"),
        }
    }

    #[test]
    fn every_field_has_a_row_and_every_row_a_field() {
        for sec in SECTIONS {
            let mut from_types = fields(sec);
            from_types.retain(|f| !(sec.is_empty() && *f == "name"));
            from_types.sort();
            let mut from_table: Vec<&str> = section(sec).map(|(n, _)| n).collect();
            from_table.sort();
            assert_eq!(from_types, from_table, "section `{sec}`");
        }
    }

    #[test]
    fn ranges_in_the_type_column_are_the_types() {
        let mut checked = 0;
        for k in KEYS {
            let (bad, good): (&[&str], &[&str]) = match k.kind {
                "integer ≥ 1" => (&["0", "x"], &["1"]),
                "integer ≥ 2" => (&["1"], &["2"]),
                "integer ≥ 0" => (&["-1"], &["0"]),
                "number > 0" | "number > 0 or null" => (&["0", "-1"], &["0.5"]),
                "number ≥ 0" => (&["-0.1"], &["0"]),
                "number in [0, 1]" => (&["1.5", "-0.1"], &["0", "1"]),
                "number in (0, 1)" => (&["0", "1"], &["0.5"]),
                kind if kind.starts_with("one of ") => {
                    let values: Vec<&str> = kind.split('`').skip(1).step_by(2).collect();
                    for v in &values {
                        assert!(parse(k.path, v).is_ok(), "{}: {v}", k.path);
                    }
                    let Err(Problem::UnknownValue { expected, .. }) = parse(k.path, "zzz") else {
                        panic!("{}: zzz accepted", k.path)
                    };
                    assert_eq!(expected, values.as_slice(), "{}", k.path);
                    checked += 1;
                    continue;
                }
                _ => continue,
            };
            for v in bad {
                assert!(parse(k.path, v).is_err(), "{} accepted {v}", k.path);
            }
            for v in good {
                assert!(parse(k.path, v).is_ok(), "{} refused {v}", k.path);
            }
            checked += 1;
        }
        assert!(checked >= 25, "only {checked} kinds checked");
    }

    #[test]
    fn defaults_are_the_types_defaults() {
        let tree = job_with("method", s("lora"));
        let mut spec: JobSpec = from_tree(&tree).unwrap();
        spec.train.early_stopping = Some(Default::default());
        let json = serde_json::to_value(&spec).unwrap();
        let mut checked = 0;
        for k in KEYS.iter().filter(|k| k.default != "required") {
            let actual = k.path.split('.').try_fold(&json, |v, p| v.get(p));
            match (actual, k.default.parse::<f64>()) {
                (Some(a), Ok(n)) if a.is_number() => {
                    assert!((a.as_f64().unwrap() - n).abs() < 1e-12, "{}: {a}", k.path);
                    checked += 1;
                }
                (Some(serde_json::Value::String(a)), _) => {
                    assert_eq!(a, k.default, "{}", k.path);
                    checked += 1;
                }
                (Some(serde_json::Value::Array(a)), _) => {
                    let items: Vec<&str> = a.iter().filter_map(|v| v.as_str()).collect();
                    assert_eq!(format!("[{}]", items.join(", ")), k.default, "{}", k.path);
                    checked += 1;
                }
                _ => {}
            }
        }
        assert!(checked >= 20, "only {checked} defaults compared");
    }

    #[test]
    fn docs_spec_md_holds_the_tables() {
        let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/spec.md"))
            .unwrap();
        for sec in SECTIONS {
            let table = markdown(sec);
            assert!(
                docs.contains(&table),
                "docs/spec.md lacks the `{sec}` table as the spec declares it:\n{table}"
            );
        }
        let options = options_markdown();
        assert!(
            docs.contains(&options),
            "docs/spec.md lacks the options table:\n{options}"
        );
    }
}
