//! `data.redact` in the job container: the text field of every row is redacted before anything
//! else sees it (tokenizer, batches, evaluation, logs), so no selected value reaches the model,
//! a checkpoint or an output file.
//!
//! `redact_mode: hash` signs each value with a key read from the Compose secret the spec names
//! (`/run/secrets/<redact_key>`, or `$FINETUNE_SECRETS_DIR/<redact_key>` outside a container). The
//! key is held only inside the [`Redactor`]; errors name the secret and the file, never its bytes.

use crate::data::{Dataset, Example};
use crate::error::RunError;
use finetune_spec::contract::{Redaction, SECRETS_DIR, SECRETS_DIR_ENV};
use finetune_spec::redact::{Counts, HashKey, RedactMode, Redactor};
use finetune_spec::DataSpec;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The redactor `spec` asks for, or `None` when it selects nothing.
pub fn redactor(spec: &DataSpec) -> Result<Option<Redactor>, RunError> {
    if spec.redact.is_empty() {
        return Ok(None);
    }
    let key = match (&spec.redact_mode, &spec.redact_key) {
        (RedactMode::Hash, Some(name)) => Some(read_key(name)?),
        _ => None,
    };
    let mode = spec
        .redact_mode
        .with_key(key)
        .map_err(|e| RunError::BadInput(format!("data.redact_mode: {e}")))?;
    spec.redactor(mode)
        .map_err(|e| RunError::BadInput(format!("data.redact_region: {e}")))
}

/// The file a secret is mounted at.
pub fn secret_path(name: &str) -> PathBuf {
    let dir = std::env::var_os(SECRETS_DIR_ENV)
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(SECRETS_DIR));
    dir.join(name)
}

fn read_key(name: &str) -> Result<HashKey, RunError> {
    // A name with a path in it could read any file; Compose secret names have none.
    if name.is_empty() || name.contains(['/', '\\']) || name == "." || name == ".." {
        return Err(RunError::BadInput(format!(
            "data.redact_key `{name}` is not a secret name"
        )));
    }
    let path = secret_path(name);
    let bytes = std::fs::read(&path).map_err(|e| {
        RunError::BadInput(format!(
            "cannot read the redaction key (secret `{name}`) at {}: {e}; declare it under the \
             top-level `secrets:` as a `file:` secret readable by the trainer's user",
            path.display()
        ))
    })?;
    HashKey::from_file_bytes(&bytes)
        .map_err(|e| RunError::BadInput(format!("secret `{name}`: {e}")))
}

/// Redacts `examples` in place; the hits per entity (every selected one listed).
pub fn redact_all(redactor: &Redactor, examples: &mut [Example]) -> Counts {
    let mut total = Counts::zeroed(redactor.entities());
    for ex in examples.iter_mut() {
        let out = redactor.redact(&ex.text);
        if out.counts.is_empty() {
            continue;
        }
        total += &out.counts;
        ex.text = out.text.into_owned();
    }
    total
}

/// Redacts the text of every row of `ds` as `spec` asks, and records the counts in
/// `ds.redaction`: by the file the rows came from (an `eval_split` is part of `train`).
pub fn apply(spec: &DataSpec, ds: &mut Dataset) -> Result<(), RunError> {
    let Some(r) = redactor(spec)? else {
        return Ok(());
    };
    let mut counts = BTreeMap::new();
    let train = redact_all(&r, &mut ds.train);
    let eval = redact_all(&r, &mut ds.eval);
    if spec.eval.is_some() {
        counts.insert("train".to_string(), train);
        counts.insert("eval".to_string(), eval);
    } else {
        let mut all = train;
        all += &eval;
        counts.insert("train".to_string(), all);
    }
    ds.redaction = Some(Redaction {
        mode: spec.redact_mode,
        counts,
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(extra: serde_json::Value) -> DataSpec {
        let mut v = serde_json::json!({ "train": "/t.jsonl" });
        v.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        serde_json::from_value(v).unwrap()
    }

    fn ex(text: &str) -> Example {
        Example {
            line: 1,
            text: text.into(),
            label: 0,
        }
    }

    #[test]
    fn nothing_selected_builds_no_redactor() {
        assert!(redactor(&spec(serde_json::json!({}))).unwrap().is_none());
    }

    #[test]
    fn replace_mode_rewrites_rows_and_counts_every_selected_entity() {
        let r = redactor(&spec(serde_json::json!({"redact": ["email", "ip"]})))
            .unwrap()
            .unwrap();
        let mut rows = vec![ex("mail bob@example.com from 10.0.0.1"), ex("nothing here")];
        let counts = redact_all(&r, &mut rows);
        assert_eq!(rows[0].text, "mail <EMAIL> from <IP>");
        assert_eq!(rows[1].text, "nothing here");
        assert_eq!(
            serde_json::to_value(&counts).unwrap(),
            serde_json::json!({"email": 1, "ip": 1})
        );
    }

    #[test]
    fn hash_mode_reads_the_secret_file_and_never_names_its_bytes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("k"), "0123456789abcdef0123\n").unwrap();
        std::fs::write(dir.path().join("short"), "tooshort\n").unwrap();
        // The only test in this binary that sets the variable.
        std::env::set_var(SECRETS_DIR_ENV, dir.path());
        let s =
            spec(serde_json::json!({"redact": "email", "redact_mode": "hash", "redact_key": "k"}));
        let r = redactor(&s).unwrap().unwrap();
        let mut rows = vec![ex("a@b.io and a@b.io"), ex("A@B.IO")];
        redact_all(&r, &mut rows);
        assert!(rows[0].text.starts_with("<EMAIL_"), "{}", rows[0].text);
        let tokens: Vec<&str> = rows[0].text.split(" and ").collect();
        assert_eq!(tokens[0], tokens[1], "one value, one token");
        assert_eq!(rows[1].text, tokens[0], "emails are signed lower-cased");

        let short = spec(
            serde_json::json!({"redact": "email", "redact_mode": "hash", "redact_key": "short"}),
        );
        let e = redactor(&short).unwrap_err().to_string();
        assert!(
            e.contains("secret `short`") && e.contains("at least 16"),
            "{e}"
        );
        assert!(!e.contains("tooshort"), "{e}");
        let missing = spec(
            serde_json::json!({"redact": "email", "redact_mode": "hash", "redact_key": "nope"}),
        );
        let e = redactor(&missing).unwrap_err().to_string();
        assert!(
            e.contains("cannot read the redaction key (secret `nope`)"),
            "{e}"
        );
        let escape = spec(
            serde_json::json!({"redact": "email", "redact_mode": "hash", "redact_key": "../etc/passwd"}),
        );
        assert!(redactor(&escape)
            .unwrap_err()
            .to_string()
            .contains("not a secret name"));
        std::env::remove_var(SECRETS_DIR_ENV);
    }
}
