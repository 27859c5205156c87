//! `data.redact` on the real engine: rows with planted personal data of every type, `hash` mode
//! keyed by a Compose `file:` secret. `validate --data` reports the counts it would redact, the
//! rendered override names the secret and never the key, `up` trains with the key mounted at
//! `/run/secrets/pii_key`, `run.json` holds the counts per entity, and no planted value (nor the
//! key) is in any file under the output directory, the job's logs, or the container's labels.

use crate::setup;
use finetune_fixtures::pii::{files_under, leaks, planted_counts, rows_with_pii};
use finetune_tests::{outputs, project::Project};

const KEY: &str = "5f0c9b1e7a3d42c6b8e1f09d3a7c6e25";

/// Panics naming `what` when it holds a planted value (any spelling) or the key.
fn assert_clean(what: &str, text: &str) {
    assert!(!text.contains(KEY), "{what} holds the hash key");
    let leaks = leaks(text);
    assert!(leaks.is_empty(), "{what} holds planted values: {leaks:?}");
}

#[test]
fn redacted_values_never_reach_outputs_logs_or_labels() {
    let (_lock, env) = setup!();
    crate::ensure_trainer_image(env);
    let p = Project::fixture(env, "redaction", "redaction").unwrap();
    p.add_tiny_model("models/tiny").unwrap();
    finetune_fixtures::write_jsonl(&p.path("data/train.jsonl"), rows_with_pii(45, 1, 0)).unwrap();
    finetune_fixtures::write_jsonl(&p.path("data/eval.jsonl"), rows_with_pii(15, 2, 4)).unwrap();
    let key = p.path("pii.key");
    std::fs::write(&key, format!("{KEY}\n")).unwrap();
    // Compose mounts a secret file as it is: owned by the trainer's user, it stays private.
    let chowned = std::process::Command::new("chown")
        .args(["65532:65532", &key.to_string_lossy()])
        .status()
        .is_ok_and(|s| s.success());
    let mode = if chowned { "0400" } else { "0644" };
    std::process::Command::new("chmod")
        .args([mode, &key.to_string_lossy()])
        .status()
        .unwrap();

    let v = p.finetune(&["validate", "--data"]);
    assert_eq!(v.code, Some(0), "{v}");
    let train_counts: Vec<String> = planted_counts(45, 0)
        .into_iter()
        .map(|(e, n)| format!("{e} {n}"))
        .collect();
    assert!(v.stderr.contains("pii: train would redact: email "), "{v}");
    for c in &train_counts {
        assert!(v.stderr.contains(c.as_str()), "validate lacks `{c}`: {v}");
    }
    assert_clean("validate --data", &v.all());

    let config = p.finetune(&["config"]);
    assert_eq!(config.code, Some(0), "{config}");
    assert!(
        config.stdout.contains("secrets:") && config.stdout.contains("pii_key"),
        "{config}"
    );
    assert_clean("the rendered override", &config.all());

    let up = p.finetune(&["up"]);
    assert_eq!(up.code, Some(0), "{up}");
    assert_clean("up's output", &up.all());
    let out = p.path("runs/pii");
    let record = outputs::run_record(&out).unwrap();
    let redaction = record.redaction.expect("run.json records the redaction");
    let counts = serde_json::to_value(&redaction.counts).unwrap();
    let expect = |rows, offset| -> serde_json::Value {
        planted_counts(rows, offset)
            .into_iter()
            .map(|(e, n)| (e.to_string(), serde_json::Value::from(n)))
            .collect()
    };
    assert_eq!(counts["train"], expect(45, 0), "{counts}");
    assert_eq!(counts["eval"], expect(15, 4), "{counts}");
    assert_eq!(serde_json::to_value(redaction.mode).unwrap(), "hash");

    let all = files_under(&out).unwrap();
    assert!(
        all.iter().any(|f| f.ends_with("model/model.safetensors")),
        "{all:?}"
    );
    assert!(
        all.iter()
            .any(|f| f.to_string_lossy().contains("checkpoints/")),
        "{all:?}"
    );
    for f in &all {
        let bytes = std::fs::read(f).unwrap();
        assert_clean(&f.display().to_string(), &String::from_utf8_lossy(&bytes));
    }
    let logs = p.finetune(&["logs", "pii"]).ok();
    assert!(logs.all().contains("redacted: eval: email "), "{logs}");
    assert_clean("the job's logs", &logs.all());
    for id in p.guard.containers() {
        let inspect = env.docker(["inspect", &id]).ok();
        assert_clean("docker inspect", &inspect.stdout);
    }
    p.finetune(&["down"]).ok();
}
