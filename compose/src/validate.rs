//! `validate`: the project's diagnostics plus what only the filesystem can tell.
//!
//! Loading already reports every spec problem with its position ([`Project::diagnostics`]). This
//! adds checks of the files a job names: the model directory and its `config.json`, weights
//! (`model.safetensors` or `pytorch_model.bin`) and `tokenizer.json`; the data files and whether
//! their format is known; an output path that is a file. With [`ValidateOptions::check_data`] it
//! also reads the datasets ([`check_data`], with [`finetune_spec::dataset::scan`]: row format, text and
//! label fields, the label set, counts, the first bad rows with their line), or runs the caller's
//! own hook in its place.

use crate::diagnostic::Diagnostic;
use crate::project::{Job, Project};
use finetune_spec::dataset;
use finetune_spec::DataFormat;
use std::collections::BTreeSet;
use std::path::PathBuf;

/// Bad rows reported per data file.
pub const MAX_ROW_ERRORS: usize = 10;

/// A check of a job's dataset rows, returning its problems.
pub type DataCheck<'a> = &'a dyn Fn(&Job) -> Vec<Diagnostic>;

/// What `validate` checks beyond the spec.
#[derive(Default, Clone, Copy)]
pub struct ValidateOptions<'a> {
    /// Open the datasets and check their rows (`validate --data`), with `data_check`.
    pub check_data: bool,
    /// A row check replacing [`check_data`] (tests, other readers); `None` uses [`check_data`].
    pub data_check: Option<DataCheck<'a>>,
}

/// Every problem in the project: the load-time diagnostics, then file checks per job.
pub fn validate(project: &Project, opts: &ValidateOptions) -> Vec<Diagnostic> {
    let mut out = project.diagnostics.clone();
    for job in &project.jobs {
        out.extend(check_files(job));
        if opts.check_data {
            match opts.data_check {
                Some(check) => out.extend(check(job)),
                None => out.extend(check_data(job).diagnostics),
            }
        }
    }
    out
}

/// Filesystem checks of one job's paths.
pub fn check_files(job: &Job) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let spec = &job.spec;
    let at = |rel: &str| job.position_of(rel).clone();
    let path = |rel: &str| format!("{}.{rel}", job.key_path);
    if !spec.model.is_dir() {
        let what = if spec.model.exists() {
            "is not a directory"
        } else {
            "does not exist"
        };
        out.push(
            Diagnostic::error(&at("model"), path("model"), format!("model directory {} {what}", spec.model.display()))
                .with_hint("point `model` at a Hugging Face-format directory with config.json, model.safetensors and tokenizer.json"),
        );
    } else {
        let has = |f: &str| spec.model.join(f).is_file();
        if !has("config.json") {
            out.push(
                Diagnostic::error(
                    &at("model"),
                    path("model"),
                    format!(
                        "model directory {} has no config.json",
                        spec.model.display()
                    ),
                )
                .with_hint("download the model's config.json into the directory"),
            );
        }
        if !has("model.safetensors") && !has("pytorch_model.bin") {
            out.push(Diagnostic::error(&at("model"), path("model"), format!("model directory {} has no weights (model.safetensors or pytorch_model.bin)", spec.model.display())).with_hint("download the model's model.safetensors into the directory"));
        }
        if !has("tokenizer.json") {
            out.push(
                Diagnostic::error(
                    &at("model"),
                    path("model"),
                    format!(
                        "model directory {} has no tokenizer.json",
                        spec.model.display()
                    ),
                )
                .with_hint(
                    "download the model's tokenizer.json (fast tokenizer) into the directory",
                ),
            );
        }
    }
    let files = [
        ("data.train", Some(&spec.data.train)),
        ("data.eval", spec.data.eval.as_ref()),
    ];
    for (rel, file) in files {
        let Some(file) = file else { continue };
        if !file.is_file() {
            out.push(
                Diagnostic::error(
                    &at(rel),
                    path(rel),
                    format!("data file {} does not exist", file.display()),
                )
                .with_hint("check the path; it is relative to the project directory"),
            );
        } else if spec.data.format.is_none() && DataFormat::from_path(file).is_none() {
            out.push(
                Diagnostic::error(
                    &at(rel),
                    path(rel),
                    format!(
                        "cannot tell the format of {} from its extension",
                        file.display()
                    ),
                )
                .with_hint("name it .jsonl or .csv, or set `data.format`"),
            );
        }
    }
    if spec.output.is_file() {
        out.push(Diagnostic::error(
            &at("output"),
            path("output"),
            format!(
                "output {} is a file, not a directory",
                spec.output.display()
            ),
        ));
    }
    if let Some(cache) = spec.cache.as_ref().filter(|c| c.is_file()) {
        out.push(Diagnostic::error(
            &at("cache"),
            path("cache"),
            format!("cache {} is a file, not a directory", cache.display()),
        ));
    }
    out
}

/// One data file as `validate --data` read it.
#[derive(Debug, Clone, PartialEq)]
pub struct DataFile {
    /// `train` or `eval`.
    pub role: &'static str,
    pub path: PathBuf,
    pub scan: dataset::Scan,
}

/// What [`check_data`] found for a job: its problems and, for each readable file, the counts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DataReport {
    pub diagnostics: Vec<Diagnostic>,
    pub files: Vec<DataFile>,
}

/// Read a job's data files and check their rows: format, fields, labels (bad rows are reported
/// at their file and line, at most [`MAX_ROW_ERRORS`] per file), that training has at least two
/// labels, and that the eval file has no label the train file lacks.
pub fn check_data(job: &Job) -> DataReport {
    let mut report = DataReport::default();
    let spec = &job.spec;
    let files = [
        ("train", Some(&spec.data.train)),
        ("eval", spec.data.eval.as_ref()),
    ];
    for (role, file) in files {
        let Some(file) = file else { continue };
        if !file.is_file() {
            continue; // reported by `check_files`
        }
        let rel = format!("data.{role}");
        let key = format!("{}.{rel}", job.key_path);
        match dataset::scan(file, &spec.data, MAX_ROW_ERRORS) {
            Ok(scan) => {
                for (msg, line) in scan.errors.iter().zip(&scan.error_lines) {
                    let prefix = format!("{}:{line}: ", file.display());
                    let pos = crate::Position::new(std::sync::Arc::from(file.as_path()), *line, 1);
                    report.diagnostics.push(Diagnostic::error(
                        &pos,
                        &key,
                        msg.strip_prefix(&prefix).unwrap_or(msg),
                    ));
                }
                if scan.bad_rows > scan.errors.len() {
                    let pos = job.position_of(&rel).clone();
                    report.diagnostics.push(Diagnostic::error(
                        &pos,
                        &key,
                        format!(
                            "{} more bad rows in {}",
                            scan.bad_rows - scan.errors.len(),
                            file.display()
                        ),
                    ));
                }
                report.files.push(DataFile {
                    role,
                    path: file.clone(),
                    scan,
                });
            }
            Err(e) => report.diagnostics.push(Diagnostic::error(
                job.position_of(&rel),
                &key,
                e.to_string(),
            )),
        }
    }
    let labels = |role: &str| -> Option<BTreeSet<&String>> {
        report
            .files
            .iter()
            .find(|f| f.role == role)
            .map(|f| f.scan.labels.keys().collect())
    };
    let (train, eval) = (labels("train"), labels("eval"));
    let mut extra = Vec::new();
    if let Some(train) = &train {
        if train.len() < 2 && spec.data.labels.is_none() {
            extra.push(
                Diagnostic::error(
                    job.position_of("data.train"),
                    format!("{}.data.train", job.key_path),
                    format!(
                        "the training data has {} label(s); classification needs at least 2",
                        train.len()
                    ),
                )
                .with_hint(format!(
                    "check `data.label` (now `{}`) names the label field",
                    spec.data.label
                )),
            );
        }
        if let Some(eval) = &eval {
            let unknown: Vec<&str> = eval.difference(train).map(|s| s.as_str()).collect();
            if !unknown.is_empty() && spec.data.labels.is_none() {
                extra.push(
                    Diagnostic::error(
                        job.position_of("data.eval"),
                        format!("{}.data.eval", job.key_path),
                        format!(
                            "the eval data has labels the training data lacks: {}",
                            unknown.join(", ")
                        ),
                    )
                    .with_hint("list every label in `data.labels`, or fix the eval file"),
                );
            }
        }
    }
    report.diagnostics.extend(extra);
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{load_project, ProjectOptions};

    #[test]
    fn data_rows_are_checked_with_their_lines() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("m")).unwrap();
        for f in ["config.json", "model.safetensors", "tokenizer.json"] {
            std::fs::write(d.join("m").join(f), "{}").unwrap();
        }
        std::fs::write(d.join("t.jsonl"), "{\"text\": \"a\", \"label\": \"x\"}\n{\"text\": \"b\"}\n{\"text\": \"c\", \"label\": \"y\"}\n").unwrap();
        std::fs::write(d.join("e.jsonl"), "{\"text\": \"a\", \"label\": \"z\"}\n").unwrap();
        std::fs::write(d.join("compose.yaml"), "x-finetune:\n  jobs:\n    j: {model: m, data: {train: t.jsonl, eval: e.jsonl}, output: o}\n").unwrap();
        let p = load_project(&ProjectOptions {
            working_dir: Some(d.into()),
            ..Default::default()
        })
        .unwrap();
        assert!(validate(&p, &ValidateOptions::default()).is_empty());
        let all = validate(
            &p,
            &ValidateOptions {
                check_data: true,
                data_check: None,
            },
        );
        let text: Vec<String> = all.iter().map(|d| d.to_string()).collect();
        assert!(
            text.iter()
                .any(|t| t.contains("t.jsonl:2:1: ") && t.contains("label")),
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
}
