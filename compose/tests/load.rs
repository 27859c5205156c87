//! Loading real Compose projects: file discovery, overrides, `.env`, names, profiles, and every
//! compose-go test file.

mod common;

use common::{options, project, shared};
use finetune_compose::{load_project, ProjectOptions};
use std::path::{Path, PathBuf};

/// compose-go test files that Compose itself rejects (cycles, remote or missing includes).
const COMPOSE_REJECTS: &[&str] = &[
    "compose-depends-on-cycle.yaml",
    "compose-depends-on-self.yaml",
    "compose-include-cycle.yaml",
];

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            yaml_files(&p, out);
        } else if matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")) {
            out.push(p);
        }
    }
}

#[test]
fn reads_every_compose_go_test_file() {
    let Some(shared) = shared() else { return };
    let mut files = Vec::new();
    yaml_files(&shared.join("compose-fixtures"), &mut files);
    files.sort();
    assert!(files.len() > 30, "fixtures missing: {files:?}");
    let mut failures = Vec::new();
    for f in &files {
        let name = f.file_name().unwrap().to_str().unwrap();
        let opts = ProjectOptions {
            files: vec![f.clone()],
            working_dir: f.parent().map(Path::to_path_buf),
            ..Default::default()
        };
        let result = std::panic::catch_unwind(|| load_project(&opts));
        match result {
            Err(_) => failures.push(format!("{}: panicked", f.display())),
            Ok(Err(e)) if !COMPOSE_REJECTS.contains(&name) => {
                failures.push(format!("{}: {e}", f.display()))
            }
            Ok(Ok(p)) => assert!(
                p.jobs.is_empty(),
                "{}: jobs from a file without x-finetune",
                f.display()
            ),
            Ok(Err(_)) => {}
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

const JOB: &str = "x-finetune:\n  jobs:\n    j:\n      model: ./m\n      data: {train: ./d/t.jsonl}\n      output: ./out\n";

#[test]
fn default_file_names_and_override_files() {
    let dir = project(&[
        ("docker-compose.yml", "services:\n  a: {image: x}\n"),
        (
            "compose.yaml",
            &format!("services:\n  b: {{image: y}}\n{JOB}"),
        ),
        (
            "compose.override.yml",
            "x-finetune:\n  jobs:\n    j:\n      train: {epochs: 7}\n",
        ),
        ("sub/.keep", ""),
    ]);
    let p = load_project(&options(&dir.path().join("sub"))).unwrap();
    assert_eq!(p.files.len(), 2, "{:?}", p.files);
    assert!(p.files[0].ends_with("compose.yaml") && p.files[1].ends_with("compose.override.yml"));
    assert!(p.services.contains_key("b") && !p.services.contains_key("a"));
    assert_eq!(p.job("j").unwrap().spec.train.epochs.get(), 7);
    assert_eq!(p.dir, dir.path());
}

#[test]
fn compose_file_variable_project_names_and_env_files() {
    let dir = project(&[
        ("one.yaml", "services:\n  a: {image: \"${IMG:-busybox}\"}\n"),
        ("two.yaml", &format!("name: ${{NAME}}\n{JOB}      train:\n        epochs: ${{EPOCHS}}\n        seed: $$5\n")),
        (".env", "NAME=From Env\nEPOCHS=4\n"),
        ("other.env", "NAME=other\nEPOCHS=9\n"),
    ]);
    let mut o = options(dir.path());
    o.env
        .insert("COMPOSE_FILE".into(), "one.yaml:two.yaml".into());
    let p = load_project(&o);
    // `seed: $$5` is the string `$5`, not a number: a positioned error, not a load failure.
    let p = p.unwrap();
    assert_eq!(p.name, "fromenv");
    assert!(
        p.diagnostics.iter().any(|d| d.path.ends_with("train.seed")),
        "{:#?}",
        p.diagnostics
    );
    let dir2 = project(&[
        (
            "compose.yaml",
            &format!("{JOB}      train:\n        epochs: ${{EPOCHS}}\n"),
        ),
        ("other.env", "EPOCHS=9\n"),
        (".env", "EPOCHS=4\n"),
    ]);
    let mut o = options(dir2.path());
    o.env_files = vec!["other.env".into()];
    o.project_name = Some("Given_Name".into());
    let p = load_project(&o).unwrap();
    assert_eq!(p.name, "given_name");
    assert_eq!(p.job("j").unwrap().spec.train.epochs.get(), 9);
    // The process environment wins over env files.
    o.env.insert("EPOCHS".into(), "2".into());
    assert_eq!(
        load_project(&o)
            .unwrap()
            .job("j")
            .unwrap()
            .spec
            .train
            .epochs
            .get(),
        2
    );
    // Without name or COMPOSE_PROJECT_NAME, the directory name.
    let p = load_project(&options(dir2.path())).unwrap();
    assert_eq!(
        p.name,
        finetune_compose::load::normalize_project_name(
            &dir2.path().file_name().unwrap().to_string_lossy()
        )
    );
}

#[test]
fn required_variables_fail_with_a_position() {
    let dir = project(&[(
        "compose.yaml",
        "services:\n  a:\n    image: ${IMG:?set IMG}\n",
    )]);
    let e = load_project(&options(dir.path())).unwrap_err();
    let d = e.diagnostics();
    assert_eq!((d[0].line, d[0].col), (3, 12));
    assert!(d[0].message.contains("set IMG"));
}

#[test]
fn several_files_merge_and_reset() {
    let dir = project(&[
        ("a.yaml", &format!("services:\n  db: {{image: pg, profiles: [db]}}\n{JOB}      depends_on: [db]\n")),
        ("b.yaml", "x-finetune:\n  jobs:\n    j:\n      depends_on: !reset []\n      train: !override {batch_size: 4}\n"),
    ]);
    let mut o = options(dir.path());
    o.files = vec!["a.yaml".into(), "b.yaml".into()];
    let p = load_project(&o).unwrap();
    let j = &p.job("j").unwrap().spec;
    assert!(j.depends_on.is_empty());
    assert_eq!(j.train.batch_size.get(), 4);
    assert!(!p.services["db"].active);
    o.profiles = vec!["db".into()];
    assert!(load_project(&o).unwrap().services["db"].active);
}

#[test]
fn project_directory_and_missing_files() {
    let dir = project(&[("conf/compose.yaml", JOB), ("m/.keep", "")]);
    let mut o = options(dir.path());
    o.files = vec!["conf/compose.yaml".into()];
    o.project_directory = Some(dir.path().to_path_buf());
    let p = load_project(&o).unwrap();
    assert_eq!(p.job("j").unwrap().spec.model, dir.path().join("m"));
    let mut missing = options(dir.path());
    missing.files = vec!["nope.yaml".into()];
    let d = load_project(&missing).unwrap_err().diagnostics();
    assert!(
        d[0].to_string().starts_with(&format!(
            "{}: cannot read",
            dir.path().join("nope.yaml").display()
        )),
        "{}",
        d[0]
    );
    let empty = tempfile::tempdir().unwrap();
    assert!(matches!(
        load_project(&options(empty.path())),
        Err(finetune_compose::LoadError::NoComposeFile { .. })
    ));
}

#[test]
fn includes_bring_their_services_and_cycles_fail() {
    let dir = project(&[
        (
            "compose.yaml",
            &format!("include: [inc/other.yaml]\n{JOB}      depends_on: [minio]\n"),
        ),
        ("inc/other.yaml", "services:\n  minio: {image: minio}\n"),
        ("cyc/a.yaml", "include: [b.yaml]\nservices: {}\n"),
        ("cyc/b.yaml", "include: [a.yaml]\n"),
    ]);
    let p = load_project(&options(dir.path())).unwrap();
    assert!(p.services.contains_key("minio"));
    assert!(p.diagnostics.is_empty(), "{:#?}", p.diagnostics);
    let mut o = options(dir.path());
    o.files = vec!["cyc/a.yaml".into()];
    assert!(matches!(
        load_project(&o),
        Err(finetune_compose::LoadError::IncludeCycle(_))
    ));
}
