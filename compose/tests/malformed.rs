//! The malformed-input corpus: each `tests/malformed/NN-name.yaml` is loaded as a project's
//! `compose.yaml` and validated; every line of its `NN-name.expected` must appear in one of the
//! diagnostics, printed as `line:col: message (at `path`)` (plus `hint: ...` lines). The project
//! holds a complete model (`models/m`), a partial one (`models/partial`) and data files.

mod common;

use finetune_compose::{load_project, validate, Diagnostic, ValidateOptions};
use std::path::Path;

fn diagnostics(yaml: &str) -> Vec<Diagnostic> {
    let dir = common::project(&[
        ("compose.yaml", yaml),
        ("models/partial/config.json", "{}"),
        ("data/train.jsonl", "{\"text\": \"a\", \"label\": \"x\"}\n"),
        ("data/eval.jsonl", "{\"text\": \"a\", \"label\": \"x\"}\n"),
        ("data/train.txt", "a\n"),
    ]);
    common::write_tiny_model(&dir.path().join("models/m"));
    match load_project(&common::options(dir.path())) {
        Ok(p) => validate(&p, &ValidateOptions::default()),
        Err(e) => e.diagnostics(),
    }
}

/// A diagnostic without its file name, as the `.expected` files spell them.
fn printed(d: &Diagnostic) -> String {
    let full = d.to_string();
    let prefix = format!("{}:", d.file.display());
    full.strip_prefix(&prefix).unwrap_or(&full).to_string()
}

#[test]
fn every_malformed_input_gets_its_positioned_message() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/malformed");
    let mut cases: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    cases.sort();
    assert!(cases.len() >= 40, "only {} cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let yaml = std::fs::read_to_string(case).unwrap();
        let got: Vec<String> = diagnostics(&yaml).iter().map(printed).collect();
        if std::env::var_os("DUMP_MALFORMED").is_some() {
            println!("== {}\n{}", case.display(), got.join("\n"));
            continue;
        }
        let expected_path = case.with_extension("expected");
        let expected = std::fs::read_to_string(&expected_path)
            .unwrap_or_else(|_| panic!("{} is missing", expected_path.display()));
        for want in expected.lines().filter(|l| !l.trim().is_empty()) {
            if !got.iter().any(|g| g.contains(want)) {
                failures.push(format!(
                    "{}: expected `{want}` in:\n  {}",
                    case.display(),
                    got.join("\n  ")
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
