//! `validate`: the project's diagnostics plus what only the filesystem can tell.
//!
//! Loading already reports every spec problem with its position ([`Project::diagnostics`]). This
//! adds checks of the files a job names: the model directory and its `config.json`, weights
//! (`model.safetensors` or `pytorch_model.bin`) and `tokenizer.json`, present and readable the way
//! the trainer reads them ([`crate::model_check`]); the data files and whether their format is
//! known; an output path that is a file. With [`ValidateOptions::check_data`] it also reads the
//! datasets ([`check_data`], with [`finetune_spec::dataset::scan`]: row format, text and label
//! fields, the label set, counts, the first bad rows with their line), or runs the caller's own
//! hook in its place. A `data.text`/`data.label` name that no row has is one error at that key,
//! naming the fields the rows do have, not one per row.
//!
//! The files of a job with `data.image` are inside that image: only their format is checked here
//! (no engine is needed); reading them is the caller's `data_check` (the plugin copies them out of
//! the image, then runs [`check_data`] on the copies).

use crate::diagnostic::{suggest, Diagnostic};
use crate::project::{Job, Project};
use finetune_spec::dataset;
use finetune_spec::DataFormat;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

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
    out.extend(crate::model_check::check_model_dir(job));
    let files = [
        ("data.train", Some(&spec.data.train)),
        ("data.eval", spec.data.eval.as_ref()),
    ];
    for (rel, file) in files {
        let Some(file) = file else { continue };
        if spec.data.image.is_none() && !file.is_file() {
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
                .with_hint("name it .jsonl, .csv or .parquet, or set `data.format`"),
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

/// What [`check_data`] found for a job: its problems and, for each readable file, the counts
/// (a classifier's in `files`, a text-generation job's in `generation`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DataReport {
    pub diagnostics: Vec<Diagnostic>,
    pub files: Vec<DataFile>,
    pub generation: Vec<crate::chat_data::GenerationFile>,
}

/// Read a job's data files and check their rows: format, fields, labels (bad rows are reported
/// at their file and line, at most [`MAX_ROW_ERRORS`] per file), that training has at least two
/// labels, and that the eval file has no label the train file lacks. A text-generation job's
/// rows are read, rendered and counted by [`crate::chat_data::check`].
pub fn check_data(job: &Job) -> DataReport {
    let mut report = DataReport::default();
    let spec = &job.spec;
    if let Some(image) = &spec.data.image {
        report.diagnostics.push(
            Diagnostic::error(
                job.position_of("data.image"),
                format!("{}.data.image", job.key_path),
                format!("the data files are in the image `{image}`; reading them needs the engine"),
            )
            .with_hint("run `docker finetune validate --data`, which copies them out of the image"),
        );
        return report;
    }
    if spec.task == finetune_spec::Task::TextGeneration {
        return crate::chat_data::check(job);
    }
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
                for d in absent_fields(job, file, &scan) {
                    if !report.diagnostics.iter().any(|r| r.path == d.path) {
                        report.diagnostics.push(d);
                    }
                }
                let rows = scan.error_lines.iter().zip(&scan.error_places);
                for (msg, (line, place)) in scan.errors.iter().zip(rows) {
                    // A text file's row is a position in it; a Parquet row is named in the
                    // message, which stays whole, at the spec's key.
                    let (pos, short) = if *place == format!("{}:{line}", file.display()) {
                        let pos = crate::Position::new(Arc::from(file.as_path()), *line, 1);
                        let rest = msg.strip_prefix(place.as_str()).unwrap_or(msg);
                        (pos, rest.trim_start_matches(": "))
                    } else {
                        (job.position_of(&rel).clone(), msg.as_str())
                    };
                    report
                        .diagnostics
                        .push(Diagnostic::error(&pos, &key, short).with_hint(format!(
                            "fields are `data.text: {}` and `data.label: {}`",
                            spec.data.text, spec.data.label
                        )));
                }
                // Rows lacking a field no row has were reported once, above.
                let shown = scan.errors.len() + scan.absent.values().sum::<usize>();
                if scan.bad_rows > shown {
                    let pos = job.position_of(&rel).clone();
                    report.diagnostics.push(Diagnostic::error(
                        &pos,
                        &key,
                        format!(
                            "{} more bad rows in {}",
                            scan.bad_rows - shown,
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
    // A file with an absent field has no labels to compare: its field name was reported.
    let labels = |role: &str| -> Option<BTreeSet<&String>> {
        report
            .files
            .iter()
            .find(|f| f.role == role && f.scan.absent.is_empty())
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
                        dataset::eval_only_labels_message(&unknown),
                    )
                    .with_hint("list every label in `data.labels`, or fix the eval file"),
                );
            }
        }
    }
    extra.extend(balance_and_overlap(job, &report.files));
    report.diagnostics.extend(extra);
    report
}

pub use dataset::warnings::MAX_IMBALANCE;

/// Warnings about data that trains but misleads (worded in [`dataset::warnings`], which the
/// trainer logs too): classes in the train file over [`MAX_IMBALANCE`]:1, and eval rows whose
/// text is also in the train file.
fn balance_and_overlap(job: &Job, files: &[DataFile]) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let file = |role: &str| {
        files
            .iter()
            .find(|f| f.role == role && f.scan.absent.is_empty())
    };
    let key = |rel: &str| format!("{}.{rel}", job.key_path);
    let Some(train) = file("train") else {
        return out;
    };
    if let Some(w) = dataset::warnings::imbalance(&train.scan.labels) {
        out.push(
            Diagnostic::warning(job.position_of("data.train"), key("data.train"), w)
                .with_hint(dataset::warnings::IMBALANCE_HINT),
        );
    }
    if let Some(eval) = file("eval") {
        let dups = dataset::duplicate_texts(&train.scan, &eval.scan);
        if let Some(w) = dataset::warnings::duplicates(dups, eval.scan.good_rows) {
            out.push(
                Diagnostic::warning(job.position_of("data.eval"), key("data.eval"), w)
                    .with_hint(dataset::warnings::DUPLICATES_HINT),
            );
        }
    }
    out
}

/// One error per `data.text`/`data.label` name that no row of `file` has, at that key, with the
/// fields the rows do have and the likeliest of them.
fn absent_fields(job: &Job, file: &Path, scan: &dataset::Scan) -> Vec<Diagnostic> {
    let data = &job.spec.data;
    let mut out = Vec::new();
    for field in scan.absent.keys() {
        let (rel, other) = if *field == data.text {
            ("data.text", &data.label)
        } else {
            ("data.label", &data.text)
        };
        // The key when the spec sets it, else the `data` mapping holding the default.
        let pos = job
            .key_positions
            .get(rel)
            .or_else(|| job.key_positions.get("data"))
            .unwrap_or(&job.position);
        let fields: Vec<&str> = scan.fields.iter().map(String::as_str).collect();
        let candidates: Vec<&str> = fields.iter().copied().filter(|f| f != other).collect();
        // The nearest name, else the one field that is not the other setting's.
        let only = match candidates.as_slice() {
            [only] => Some(*only),
            _ => None,
        };
        let guess = suggest(field, candidates.iter().copied()).or(only);
        let have = if fields.is_empty() {
            "the rows have no fields".to_string()
        } else {
            format!("the rows have: {}", fields.join(", "))
        };
        let d = Diagnostic::error(
            pos,
            format!("{}.{rel}", job.key_path),
            format!(
                "no row of {} has the field `{field}` named by `{rel}`; {have}",
                file.display()
            ),
        );
        out.push(match guess {
            Some(g) => d.with_hint(format!("did you mean `{g}`? set `{rel}: {g}`")),
            None => d.with_hint(format!(
                "set `{rel}` to the field that holds the {}",
                &rel[5..]
            )),
        });
    }
    out
}
