//! `validate`'s file checks: the model directory (present, and its files readable the way the
//! trainer reads them) and, with `check_data`, the dataset rows.

mod common;

use common::{options, project, safetensors_bytes, write_tiny_model, TINY_HEADER};
use finetune_compose::validate::check_data;
use finetune_compose::{load_project, validate, Diagnostic, Job, Project, ValidateOptions};
use std::path::{Path, PathBuf};

const WITH_DATA: ValidateOptions<'static> = ValidateOptions {
    check_data: true,
    data_check: None,
};

fn load(dir: &Path) -> Project {
    load_project(&options(dir)).unwrap()
}

fn errors(p: &Project, opts: &ValidateOptions) -> Vec<Diagnostic> {
    validate(p, opts)
        .into_iter()
        .filter(Diagnostic::is_error)
        .collect()
}

#[test]
fn data_rows_are_checked_with_their_lines() {
    let dir = project(&[
        ("t.jsonl", "{\"text\": \"a\", \"label\": \"x\"}\n{\"text\": \"b\"}\n{\"text\": \"c\", \"label\": \"y\"}\n"),
        ("e.jsonl", "{\"text\": \"a\", \"label\": \"z\"}\n"),
        ("compose.yaml", "x-finetune:\n  jobs:\n    j: {model: m, data: {train: t.jsonl, eval: e.jsonl}, output: o}\n"),
    ]);
    write_tiny_model(&dir.path().join("m"));
    let p = load(dir.path());
    assert!(validate(&p, &ValidateOptions::default()).is_empty());
    let all = validate(&p, &WITH_DATA);
    let text: Vec<String> = all.iter().map(|d| d.to_string()).collect();
    assert!(
        text.iter()
            .any(|t| t.contains("t.jsonl:2:1: ") && t.contains("label")),
        "{text:#?}"
    );
    // Row messages lose their `path:line:` prefix: the diagnostic prints the position itself.
    assert!(
        all.iter()
            .any(|d| d.line == 2 && d.message.starts_with("missing field `label`")),
        "{text:#?}"
    );
    assert!(
        text.iter()
            .any(|t| t.contains("labels the training data lacks: z")),
        "{text:#?}"
    );
    let report = check_data(&p.jobs[0]);
    assert_eq!(report.files[0].scan.good_rows, 2);
    let hook = |_: &Job| vec![];
    assert!(validate(
        &p,
        &ValidateOptions {
            check_data: true,
            data_check: Some(&hook)
        }
    )
    .is_empty());
}

#[test]
fn a_label_field_no_row_has_is_one_error_at_its_key() {
    let mut jsonl = String::new();
    let mut csv = String::from("text,intent\n");
    for i in 0..15 {
        jsonl.push_str(&format!(
            "{{\"text\": \"t{i}\", \"intent\": \"i{}\"}}\n",
            i % 3
        ));
        csv.push_str(&format!("t{i},i{}\n", i % 3));
    }
    for (name, body) in [("t.jsonl", &jsonl), ("t.csv", &csv)] {
        let compose = format!(
            "x-finetune:\n  jobs:\n    j:\n      model: m\n      data:\n        train: {name}\n        label: category\n      output: o\n"
        );
        let dir = project(&[(name, body), ("compose.yaml", &compose)]);
        write_tiny_model(&dir.path().join("m"));
        let p = load(dir.path());
        let all = errors(&p, &WITH_DATA);
        assert_eq!(all.len(), 1, "{name}: {all:#?}");
        let d = &all[0];
        assert_eq!(
            (d.file.as_path(), d.line, d.col),
            (dir.path().join("compose.yaml").as_path(), 7, 9),
            "{d}"
        );
        assert_eq!(d.path, "x-finetune.jobs.j.data.label");
        assert!(
            d.message
                .contains("has the field `category` named by `data.label`")
                && d.message.ends_with("the rows have: intent, text"),
            "{d}"
        );
        assert_eq!(
            d.hint.as_deref(),
            Some("did you mean `intent`? set `data.label: intent`")
        );
    }
}

/// A project whose job's model is `m`, written by `write_tiny_model` and then changed by `edit`;
/// its errors, each checked to sit at the `model:` key.
fn model_errors(edit: impl FnOnce(&Path)) -> Vec<String> {
    let dir = project(&[
        ("t.jsonl", "{\"text\": \"a\", \"label\": \"x\"}\n"),
        (
            "compose.yaml",
            "x-finetune:\n  jobs:\n    j:\n      model: m\n      data: {train: t.jsonl}\n      output: o\n",
        ),
    ]);
    let m = dir.path().join("m");
    write_tiny_model(&m);
    edit(&m);
    let p = load(dir.path());
    let all = errors(&p, &ValidateOptions::default());
    for d in &all {
        assert_eq!(
            (d.line, d.col, d.path.as_str()),
            (4, 14, "x-finetune.jobs.j.model"),
            "{d}"
        );
        assert!(d.hint.is_some() && !d.message.contains('\n'), "{d}");
    }
    all.iter().map(|d| d.message.clone()).collect()
}

/// A change to the tiny model directory.
type Edit = Box<dyn FnOnce(&Path)>;

#[test]
fn broken_model_files_are_one_error_each_at_the_model_key() {
    assert_eq!(model_errors(|_| {}), Vec::<String>::new());
    let weights = |bytes: Vec<u8>| {
        move |m: &Path| std::fs::write(m.join("model.safetensors"), bytes).unwrap()
    };
    let file = |name: &'static str, text: &'static str| {
        move |m: &Path| std::fs::write(m.join(name), text).unwrap()
    };
    let cases: Vec<(&str, Edit, &str)> = vec![
        ("truncated", Box::new(weights(safetensors_bytes(TINY_HEADER, 3))), "model.safetensors: truncated: the tensors need 8 bytes of data, the file holds 3"),
        ("header length past EOF", Box::new(weights([9, 9, 0, 0, 0, 0, 0, 0, b'{', b'}'].to_vec())), "model.safetensors: the header length (2313 bytes) runs past the end of the file (10 bytes)"),
        ("shorter than the length", Box::new(weights(vec![1, 2, 3])), "model.safetensors: truncated: 3 bytes"),
        ("garbage header", Box::new(weights(safetensors_bytes("{\"w\": nope", 8))), "model.safetensors: the header is not JSON"),
        ("tensor range past the end", Box::new(weights(safetensors_bytes(r#"{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#, 8))), "truncated: the tensors need 16 bytes of data, the file holds 8"),
        ("range inconsistent with the shape", Box::new(weights(safetensors_bytes(r#"{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, 8))), "model.safetensors: invalid tensor metadata"),
        ("unsupported model_type", Box::new(file("config.json", r#"{"model_type": "roberta"}"#)), "config.json: model_type `roberta` is not supported; the trainer supports: bert"),
        ("config not JSON", Box::new(file("config.json", "{")), "config.json: invalid JSON"),
        ("broken tokenizer", Box::new(file("tokenizer.json", r#"{"model": {"type": "WordPiece"}}"#)), "tokenizer.json: does not load as a tokenizer"),
        ("pytorch_model.bin not a zip", Box::new(|m: &Path| {
            std::fs::remove_file(m.join("model.safetensors")).unwrap();
            std::fs::write(m.join("pytorch_model.bin"), "\u{80}pickle").unwrap();
        }), "pytorch_model.bin: not a zip archive"),
        ("pytorch_model.bin empty", Box::new(|m: &Path| {
            std::fs::remove_file(m.join("model.safetensors")).unwrap();
            std::fs::write(m.join("pytorch_model.bin"), "").unwrap();
        }), "pytorch_model.bin: is empty"),
    ];
    for (what, edit, want) in cases {
        let got = model_errors(edit);
        assert!(got.len() == 1 && got[0].contains(want), "{what}: {got:#?}");
    }
    // A zip-looking pytorch_model.bin is accepted (its tensors are the trainer's to read).
    let got = model_errors(|m| {
        std::fs::remove_file(m.join("model.safetensors")).unwrap();
        std::fs::write(m.join("pytorch_model.bin"), "PK\u{3}\u{4}").unwrap();
    });
    assert!(got.is_empty(), "{got:#?}");
}

/// `$FINETUNE_FIXTURES/minilm` (default `<repo>/.fixtures`): `None` with a printed reason when
/// absent, unless `CI=true`, where its absence fails the test.
fn minilm() -> Option<PathBuf> {
    let root = std::env::var_os("FINETUNE_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.fixtures"));
    let dir = root.join("minilm");
    if dir.join("model.safetensors").is_file() {
        return Some(dir);
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!(
            "{} is absent and CI=true: the real fixtures are required",
            dir.display()
        );
    }
    eprintln!(
        "skipping: {} is absent (set FINETUNE_FIXTURES)",
        dir.display()
    );
    None
}

#[test]
fn the_real_minilm_checkpoint_passes() {
    let Some(model) = minilm() else { return };
    let compose = format!(
        "x-finetune:\n  jobs:\n    j:\n      model: {}\n      data: {{train: t.jsonl}}\n      output: o\n",
        model.display()
    );
    let dir = project(&[
        ("t.jsonl", "{\"text\": \"a\", \"label\": \"x\"}\n"),
        ("compose.yaml", &compose),
    ]);
    let p = load(dir.path());
    let all = validate(&p, &ValidateOptions::default());
    assert!(all.is_empty(), "{all:#?}");
}

#[cfg(unix)]
#[test]
fn a_hash_key_the_trainer_cannot_read_is_a_warning_and_renders_as_a_secret() {
    use std::os::unix::fs::PermissionsExt;
    let key = "0123456789abcdef0123456789abcdef";
    let dir = project(&[
        ("t.jsonl", "{\"text\": \"mail a@b.io\", \"label\": \"x\"}\n{\"text\": \"b\", \"label\": \"y\"}\n"),
        ("pii.key", &format!("{key}\n")),
        ("compose.yaml", "secrets:\n  k: {file: ./pii.key}\nx-finetune:\n  jobs:\n    j: {model: m, data: {train: t.jsonl, redact: all, redact_mode: hash, redact_key: k}, output: o}\n"),
    ]);
    write_tiny_model(&dir.path().join("m"));
    let key_file = dir.path().join("pii.key");
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let p = load(dir.path());
    assert!(validate(&p, &ValidateOptions::default()).is_empty());

    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let p = load(dir.path());
    let all = validate(&p, &ValidateOptions::default());
    assert_eq!(all.len(), 1, "{all:#?}");
    assert!(!all[0].is_error());
    assert!(
        all[0].message.contains("cannot read the key file"),
        "{}",
        all[0]
    );
    assert!(all[0].message.contains("mode 0600"), "{}", all[0]);
    assert_eq!(all[0].path, "secrets.k.file");

    // The override lists the secret by name; the key is nowhere in it or in job.json.
    let r = finetune_compose::render(&p, &Default::default()).unwrap();
    assert_eq!(
        r.value()["services"]["j"]["secrets"],
        serde_json::json!(["k"])
    );
    assert!(!r.yaml().contains(key));
    assert!(!r.job_files["j"].content.contains(key));
    assert!(r.job_files["j"].content.contains("\"redact_key\": \"k\""));

    // --data counts what the trainer would redact.
    let report = check_data(&p.jobs[0]);
    let counts = report.files[0].scan.redacted.as_ref().unwrap();
    assert_eq!(counts.total(), 1);
}
