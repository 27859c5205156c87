//! `validate --data` on messy real-world exports: three or more classes, a label only the eval
//! file has, imbalanced classes, eval rows that repeat training rows, a line too long to be a
//! row, and Parquet files (row errors named by row group and row, at the spec's key).

mod common;

use common::{options, project, write_tiny_model};
use finetune_compose::validate::check_data;
use finetune_compose::{load_project, Diagnostic, Project};
use std::fmt::Write;

const COMPOSE: &str =
    "x-finetune:\n  jobs:\n    j: {model: m, data: {train: TRAIN, eval: EVAL}, output: o}\n";

/// A project with `train` and `eval` written as the named files, and a tiny model.
fn with_data(files: &[(&str, &str)], train: &str, eval: &str) -> (tempfile::TempDir, Project) {
    let compose = COMPOSE.replace("TRAIN", train).replace("EVAL", eval);
    let mut all = files.to_vec();
    all.push(("compose.yaml", &compose));
    let dir = project(&all);
    write_tiny_model(&dir.path().join("m"));
    let p = load_project(&options(dir.path())).unwrap();
    (dir, p)
}

fn jsonl(rows: &[(&str, &str)]) -> String {
    rows.iter().fold(String::new(), |mut s, (t, l)| {
        writeln!(s, "{}", serde_json::json!({"text": t, "label": l})).unwrap();
        s
    })
}

fn diagnostics(p: &Project) -> Vec<Diagnostic> {
    check_data(&p.jobs[0]).diagnostics
}

fn texts(ds: &[Diagnostic]) -> Vec<String> {
    ds.iter().map(|d| d.to_string()).collect()
}

#[test]
fn three_classes_pass_and_an_eval_only_label_is_named() {
    let train = jsonl(&[("a", "positive"), ("b", "negative"), ("c", "neutral")]);
    let eval = jsonl(&[("d", "positive"), ("e", "mixed"), ("f", "sarcastic")]);
    let (_d, p) = with_data(
        &[("t.jsonl", &train), ("e.jsonl", &eval)],
        "t.jsonl",
        "e.jsonl",
    );
    let ds = diagnostics(&p);
    assert_eq!(ds.len(), 1, "{:#?}", texts(&ds));
    assert!(ds[0].is_error());
    assert_eq!(
        ds[0].message,
        "the eval data has labels the training data lacks: mixed, sarcastic"
    );
    assert_eq!(ds[0].path, "x-finetune.jobs.j.data.eval");
    let ok = jsonl(&[("d", "positive"), ("e", "neutral")]);
    let (_d, p) = with_data(
        &[("t.jsonl", &train), ("e.jsonl", &ok)],
        "t.jsonl",
        "e.jsonl",
    );
    assert!(diagnostics(&p).is_empty(), "{:#?}", texts(&diagnostics(&p)));
}

#[test]
fn imbalance_over_10_to_1_is_a_warning_with_the_counts() {
    let mut rows: Vec<(String, &str)> = (0..22).map(|i| (format!("p{i}"), "pos")).collect();
    rows.extend((0..5).map(|i| (format!("n{i}"), "neg")));
    rows.push(("u".into(), "neu"));
    rows.push(("v".into(), "neu"));
    let refs: Vec<(&str, &str)> = rows.iter().map(|(t, l)| (t.as_str(), *l)).collect();
    let eval = jsonl(&[("x", "pos"), ("y", "neg")]);
    let (_d, p) = with_data(
        &[("t.jsonl", &jsonl(&refs)), ("e.jsonl", &eval)],
        "t.jsonl",
        "e.jsonl",
    );
    let ds = diagnostics(&p);
    assert_eq!(ds.len(), 1, "{:#?}", texts(&ds));
    assert!(!ds[0].is_error());
    assert_eq!(
        ds[0].message,
        "the training classes are imbalanced over 10:1 (11.0:1): `pos` 22, `neg` 5, `neu` 2 rows"
    );
    // 10:1 exactly is not over.
    let refs = &refs[2..];
    let (_d, p) = with_data(
        &[("t.jsonl", &jsonl(refs)), ("e.jsonl", &eval)],
        "t.jsonl",
        "e.jsonl",
    );
    assert!(diagnostics(&p).is_empty(), "{:#?}", texts(&diagnostics(&p)));
}

#[test]
fn eval_rows_that_repeat_training_texts_are_a_warning_with_the_count() {
    let train = jsonl(&[("good film", "pos"), ("bad film", "neg"), ("fine", "pos")]);
    let eval = jsonl(&[("good film", "pos"), ("new", "neg"), (" bad film", "pos")]);
    let (_d, p) = with_data(
        &[("t.jsonl", &train), ("e.jsonl", &eval)],
        "t.jsonl",
        "e.jsonl",
    );
    let ds = diagnostics(&p);
    assert_eq!(ds.len(), 1, "{:#?}", texts(&ds));
    assert!(!ds[0].is_error());
    assert_eq!(
        ds[0].message,
        "2 of 3 eval rows have a text that is also in the training data"
    );
    assert_eq!(ds[0].path, "x-finetune.jobs.j.data.eval");
}

#[test]
fn a_10_mb_line_is_one_error_naming_file_and_line() {
    let train = format!("text,label\na,x\nb,y\n\"{}\",x\n", "z".repeat(10 << 20));
    let eval = jsonl(&[("c", "x")]);
    let (_d, p) = with_data(&[("t.csv", &train), ("e.jsonl", &eval)], "t.csv", "e.jsonl");
    let ds = diagnostics(&p);
    assert_eq!(ds.len(), 1, "{:#?}", texts(&ds));
    assert!(
        ds[0].message.ends_with("t.csv: line 4 is longer than the 1 MiB limit; is this really a CSV file with one row per line?"),
        "{}",
        ds[0].message
    );
    assert_eq!(ds[0].path, "x-finetune.jobs.j.data.train");
}

#[test]
fn parquet_files_are_read_and_their_row_errors_name_the_row_group() {
    let dir = project(&[(
        "compose.yaml",
        &COMPOSE
            .replace("TRAIN", "train.parquet")
            .replace("EVAL", "eval.parquet"),
    )]);
    write_tiny_model(&dir.path().join("m"));
    let at = |f: &str| dir.path().join(f);
    let train = [
        ("good", "pos"),
        ("bad", "neg"),
        ("fine", "pos"),
        (" ", "neg"),
    ];
    finetune_fixtures::parquet::write_text_label(&at("train.parquet"), &train).unwrap();
    finetune_fixtures::parquet::write_text_label(&at("eval.parquet"), &[("new", "pos")]).unwrap();
    let p = load_project(&options(dir.path())).unwrap();
    let report = check_data(&p.jobs[0]);
    assert_eq!(report.files[0].scan.good_rows, 3);
    assert_eq!(report.files[1].scan.labels.get("pos"), Some(&1));
    let ds = report.diagnostics;
    assert_eq!(ds.len(), 1, "{:#?}", texts(&ds));
    // The row is named in the message; the diagnostic sits at the spec's key.
    assert!(
        ds[0]
            .message
            .ends_with("train.parquet: row group 1, row 1: field `text` is empty"),
        "{}",
        ds[0].message
    );
    assert_eq!(ds[0].path, "x-finetune.jobs.j.data.train");
    assert!(ds[0].file.ends_with("compose.yaml"), "{:?}", ds[0].file);
}
