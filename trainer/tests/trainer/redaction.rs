//! `data.redact` through the binary on a tiny random BERT: rows with planted personal data of
//! every type are redacted before training, the counts per entity land in `metrics.jsonl` and
//! `run.json`, and no planted value appears in any file of the output directory or in the log,
//! in `replace` and `hash` mode, across a resume. The data warnings `validate --data` gives
//! (imbalance, train/eval duplicates) are in the trainer's log too.

use crate::common::{rewind_to, run_json, train_cmd};
use finetune_fixtures::pii::{files_under, leaks, planted_counts, rows_with_pii, PLANTED};
use finetune_fixtures::TinyBert;
use std::path::{Path, PathBuf};
use std::process::Output;

const TRAIN_ROWS: usize = 30;
const EVAL_ROWS: usize = 15;

struct Inputs {
    _dir: tempfile::TempDir,
    model: PathBuf,
    train: PathBuf,
    eval: PathBuf,
    secrets: PathBuf,
}

fn inputs() -> Inputs {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model");
    TinyBert::WORDS.write(&model, 7).unwrap();
    let (train, eval) = (
        dir.path().join("train.jsonl"),
        dir.path().join("eval.jsonl"),
    );
    let mut train_rows = rows_with_pii(TRAIN_ROWS, 1, 0);
    let eval_rows = rows_with_pii(EVAL_ROWS, 2, 5);
    // One eval row also in the training data: the trainer warns.
    train_rows[TRAIN_ROWS - 1] = eval_rows[1].clone();
    finetune_fixtures::write_jsonl(&train, train_rows).unwrap();
    finetune_fixtures::write_jsonl(&eval, eval_rows).unwrap();
    let secrets = dir.path().join("secrets");
    std::fs::create_dir(&secrets).unwrap();
    std::fs::write(
        secrets.join("pii_key"),
        "8c6f0a6e3b0d4c5f9e2a7b1d6c3e8f40\n",
    )
    .unwrap();
    Inputs {
        _dir: dir,
        model,
        train,
        eval,
        secrets,
    }
}

fn train(i: &Inputs, out: &Path, extra: &[&str]) -> Output {
    train_cmd(1, &i.model, &i.train, &i.eval, out)
        .env("FINETUNE_SECRETS_DIR", &i.secrets)
        .args(["--epochs", "2", "--batch-size", "8", "--seed", "5"])
        .args(["--checkpoint-every-steps", "2", "--checkpoint-keep", "10"])
        .args(["--redact", "all"])
        .args(extra)
        .output()
        .unwrap()
}

/// Panics naming `what` when it holds a planted value in any of its spellings.
fn assert_clean(what: &str, bytes: &[u8]) {
    let leaks = leaks(&String::from_utf8_lossy(bytes));
    assert!(leaks.is_empty(), "{what} holds planted values: {leaks:?}");
}

fn assert_outputs_clean(out: &Path, log: &Output) {
    let all = files_under(out).unwrap();
    assert!(all.len() > 8, "expected a full output directory: {all:?}");
    for f in all {
        assert_clean(&f.display().to_string(), &std::fs::read(&f).unwrap());
    }
    assert_clean("stderr", &log.stderr);
    assert_clean("stdout", &log.stdout);
}

/// The counts the trainer reports for `role`, as `{entity: n}`.
fn counts(rec: &serde_json::Value, role: &str) -> serde_json::Value {
    rec["redaction"]["counts"][role].clone()
}

fn expected(rows: usize, offset: usize) -> serde_json::Value {
    let mut v = serde_json::json!({});
    for (e, n) in planted_counts(rows, offset) {
        v[e] = n.into();
    }
    v
}

#[test]
fn replace_mode_counts_every_planted_value_and_leaves_none_in_the_outputs() {
    let i = inputs();
    let out = i._dir.path().join("out");
    let o = train(&i, &out, &[]);
    let log = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{log}");
    assert_outputs_clean(&out, &o);

    let rec = run_json(&out);
    assert_eq!(rec["redaction"]["mode"], "replace");
    // The last train row is eval row 1 (offset 5 + 1), not train row 29.
    let mut train = planted_counts(TRAIN_ROWS - 1, 0);
    *train
        .entry(PLANTED[(1 + 5) % PLANTED.len()].entity)
        .or_default() += 1;
    let train: serde_json::Value = train
        .into_iter()
        .map(|(e, n)| (e.to_string(), serde_json::Value::from(n)))
        .collect();
    assert_eq!(counts(&rec, "train"), train);
    assert_eq!(counts(&rec, "eval"), expected(EVAL_ROWS, 5));

    // The first metrics line is the same record, at step 0.
    let metrics = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
    let first: serde_json::Value = serde_json::from_str(metrics.lines().next().unwrap()).unwrap();
    assert_eq!(first["step"], 0);
    assert_eq!(first["redaction"], rec["redaction"]);
    assert!(
        log.contains(
            "redacted: eval: email 3, phone 3, credit_card 3, iban 2, ip 2, url 2; train: "
        ),
        "{log}"
    );
    assert!(
        log.contains("warning: 1 of 15 eval rows have a text that is also in the training data"),
        "{log}"
    );
}

#[test]
fn hash_mode_resumes_with_the_same_record_and_no_planted_value() {
    let i = inputs();
    let out = i._dir.path().join("out");
    let hash = ["--redact-mode", "hash", "--redact-key", "pii_key"];
    let o = train(&i, &out, &hash);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let first = run_json(&out);
    assert_eq!(first["redaction"]["mode"], "hash");
    assert_eq!(counts(&first, "eval"), expected(EVAL_ROWS, 5));
    let weights = std::fs::read(out.join("model/model.safetensors")).unwrap();

    // Killed after step 2: the resumed run redacts the same way and ends on the same weights.
    rewind_to(&out, 2);
    let o = train(&i, &out, &hash);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let again = run_json(&out);
    assert_eq!(again["resumed_from_step"], 2);
    assert_eq!(again["redaction"], first["redaction"]);
    assert_eq!(
        std::fs::read(out.join("model/model.safetensors")).unwrap(),
        weights
    );
    let metrics = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
    assert_eq!(metrics.matches("\"redaction\"").count(), 1, "{metrics}");
    assert_outputs_clean(&out, &o);

    // Without the secret the run stops before training, naming the secret, not its bytes.
    let o = train_cmd(1, &i.model, &i.train, &i.eval, &i._dir.path().join("o2"))
        .env("FINETUNE_SECRETS_DIR", i._dir.path())
        .args(["--redact", "all"])
        .args(hash)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("cannot read the redaction key (secret `pii_key`)"),
        "{err}"
    );
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "one error line: {err}");
    assert!(!i._dir.path().join("o2/model").exists(), "nothing trained");
}
