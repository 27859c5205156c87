//! Reading a job's dataset files (JSONL, CSV or Parquet) into text/label rows that keep where
//! they came from, with typed errors that name the file and the line (or the Parquet row group
//! and row).
//!
//! Two entry points: [`read_all`] for training (the first bad row is an error) and [`scan`] for
//! `validate --data` (counts, a label histogram and the first few bad rows, without stopping at
//! the first one). Labels are strings; integer labels (`"label": 1`) are read as their decimal
//! string so that a label map can be written with the model. The format readers live in
//! [`jsonl`], [`csv`] and [`parquet`]; lines of the text formats are capped at [`MAX_LINE`] bytes
//! ([`lines`]) so a file without newlines is an error, not an out-of-memory.

mod count;
mod csv;
pub(crate) mod jsonl;
pub(crate) mod lines;
mod parquet;
pub mod warnings;

use crate::{DataFormat, DataSpec};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

pub use count::count_rows;
pub use lines::MAX_LINE;

/// One example: its text, its label and where it starts: the 1-based line of a text file, or the
/// 1-based row number of a Parquet file (counted across row groups).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub line: usize,
    pub text: String,
    pub label: String,
}

/// Where in a file a row error is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum At {
    /// A 1-based line of a JSONL or CSV file.
    Line(usize),
    /// A Parquet row: its row group and its row within the group (both 0-based, as pyarrow
    /// counts them), and its 1-based number in the whole file.
    Row {
        group: usize,
        row: usize,
        number: usize,
    },
    /// A Parquet file's schema (a column it lacks).
    Schema,
}

impl At {
    /// The 1-based line (or file row number); 0 for the schema.
    pub fn line(self) -> usize {
        match self {
            At::Line(line) => line,
            At::Row { number, .. } => number,
            At::Schema => 0,
        }
    }
}

/// `path:line`, `path: row group G, row R` or `path: schema`, the prefix of row errors.
struct Place<'a>(&'a Path, At);

impl fmt::Display for Place<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.0.display();
        match self.1 {
            At::Line(line) => write!(f, "{path}:{line}"),
            At::Row { group, row, .. } => write!(f, "{path}: row group {group}, row {row}"),
            At::Schema => write!(f, "{path}: schema"),
        }
    }
}

/// Why a dataset file, or one of its rows, cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error("{}: cannot read: {source}; check the path and its permissions", path.display())]
    Unreadable {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{}: unknown data format; name the file .jsonl, .csv or .parquet, or set `data.format`", path.display())]
    UnknownFormat { path: PathBuf },
    #[error("{}: no data rows; the file is empty (a CSV needs a header line and rows)", path.display())]
    Empty { path: PathBuf },
    #[error("{}: line {line} is longer than the {} MiB limit; is this really a {format} file with one row per line?", path.display(), MAX_LINE >> 20)]
    LineTooLong {
        path: PathBuf,
        line: usize,
        format: &'static str,
    },
    #[error("{}: not a readable Parquet file{}: {message}", path.display(), group.map(|g| format!(" (row group {g})")).unwrap_or_default())]
    BadParquet {
        path: PathBuf,
        group: Option<usize>,
        message: String,
    },
    #[error("{}: invalid JSON: {message}; each line must be one JSON object", Place(path, *at))]
    BadJson {
        path: PathBuf,
        at: At,
        message: String,
    },
    #[error("{}: invalid CSV: {message}", Place(path, *at))]
    BadCsv {
        path: PathBuf,
        at: At,
        message: String,
    },
    #[error("{}: missing field `{field}`; set `data.text`/`data.label` to the field names the file uses", Place(path, *at))]
    MissingField {
        path: PathBuf,
        at: At,
        field: String,
    },
    #[error("{}: field `{field}` is empty", Place(path, *at))]
    EmptyField {
        path: PathBuf,
        at: At,
        field: String,
    },
    #[error("{}: field `{field}` must be {expected}, found {found}", Place(path, *at))]
    WrongType {
        path: PathBuf,
        at: At,
        field: String,
        expected: &'static str,
        found: String,
    },
    /// A text-generation row that does not hold what its shape needs (the message says what).
    #[error("{}: {message}", Place(path, *at))]
    BadExample {
        path: PathBuf,
        at: At,
        message: String,
    },
    #[error("{}: text-generation rows are read from JSONL (one JSON object per line, `.jsonl`); convert the file, or set `data.format: jsonl` if it is JSONL", path.display())]
    NotJsonl { path: PathBuf },
    #[error("{}: unknown label `{label}`; known labels: {}", Place(path, *at), known.join(", "))]
    UnknownLabel {
        path: PathBuf,
        at: At,
        label: String,
        known: Vec<String>,
    },
}

impl DatasetError {
    /// The 1-based line (or Parquet row number) of a row error; `None` for errors about the
    /// whole file.
    pub fn line(&self) -> Option<usize> {
        match self {
            DatasetError::BadJson { at, .. }
            | DatasetError::BadCsv { at, .. }
            | DatasetError::MissingField { at, .. }
            | DatasetError::EmptyField { at, .. }
            | DatasetError::WrongType { at, .. }
            | DatasetError::BadExample { at, .. }
            | DatasetError::UnknownLabel { at, .. } => Some(at.line()),
            DatasetError::LineTooLong { line, .. } => Some(*line),
            DatasetError::Unreadable { .. }
            | DatasetError::UnknownFormat { .. }
            | DatasetError::Empty { .. }
            | DatasetError::NotJsonl { .. }
            | DatasetError::BadParquet { .. } => None,
        }
    }

    /// The prefix naming the file and the row, as the message starts with it.
    pub fn place(&self) -> Option<String> {
        match self {
            DatasetError::BadJson { path, at, .. }
            | DatasetError::BadCsv { path, at, .. }
            | DatasetError::MissingField { path, at, .. }
            | DatasetError::EmptyField { path, at, .. }
            | DatasetError::WrongType { path, at, .. }
            | DatasetError::BadExample { path, at, .. }
            | DatasetError::UnknownLabel { path, at, .. } => Some(Place(path, *at).to_string()),
            _ => None,
        }
    }
}

/// The message shared by `validate --data` and the trainer for eval labels the train file lacks.
pub fn eval_only_labels_message(labels: &[&str]) -> String {
    format!(
        "the eval data has labels the training data lacks: {}",
        labels.join(", ")
    )
}

/// What [`scan`] found in a file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Scan {
    /// Data rows looked at (good and bad; blank JSONL lines are not rows).
    pub rows: usize,
    /// Rows that would be used for training.
    pub good_rows: usize,
    pub bad_rows: usize,
    /// How many good rows carry each label.
    pub labels: BTreeMap<String, usize>,
    /// The first `max_errors` bad rows, in file order (as their one-line messages).
    pub errors: Vec<String>,
    /// Their line numbers (Parquet: row numbers), parallel to `errors`.
    pub error_lines: Vec<usize>,
    /// Their `file:line` (or `file: row group G, row R`) prefixes, parallel to `errors`.
    pub error_places: Vec<String>,
    /// The field names the rows have: every key of the JSONL objects, the CSV header's columns,
    /// the Parquet schema's top-level columns.
    pub fields: BTreeSet<String>,
    /// `data.text`/`data.label` names that no row has, with how many rows were reported lacking
    /// them (a CSV header or Parquet schema without the column: 0, its rows are not read). Those
    /// rows count in `bad_rows` but are left out of `errors`: the problem is the spec's field
    /// name, said once.
    pub absent: BTreeMap<String, usize>,
    /// A hash of each good row's trimmed text, in file order: [`duplicate_texts`] compares files.
    pub text_hashes: Vec<u64>,
    /// With `data.redact`: the values the trainer would redact in the good rows' text, per
    /// entity (every selected one listed). Counts only: no value is kept.
    pub redacted: Option<crate::redact::Counts>,
}

/// How many rows of `eval` have a text (trimmed) that some row of `train` has.
pub fn duplicate_texts(train: &Scan, eval: &Scan) -> usize {
    let seen: std::collections::HashSet<u64> = train.text_hashes.iter().copied().collect();
    eval.text_hashes.iter().filter(|h| seen.contains(h)).count()
}

use warnings::text_hash;

/// The format of `path`: `spec.format` if set, else its extension.
pub fn format_of(path: &Path, spec: &DataSpec) -> Result<DataFormat, DatasetError> {
    spec.format
        .or_else(|| DataFormat::from_path(path))
        .ok_or_else(|| DatasetError::UnknownFormat { path: path.into() })
}

/// Reads every row of `path` (up to `spec.limit`), failing on the first bad one.
///
/// `spec.labels`, when set, is the closed label set: any other label is an error.
pub fn read_all(path: &Path, spec: &DataSpec) -> Result<Vec<Row>, DatasetError> {
    let mut rows = Vec::new();
    let mut err = None;
    visit(path, spec, &mut BTreeSet::new(), &mut |r| match r {
        Ok(row) => {
            rows.push(row);
            true
        }
        Err(e) => {
            err = Some(e);
            false
        }
    })?;
    match err {
        Some(e) => Err(e),
        None if rows.is_empty() => Err(DatasetError::Empty { path: path.into() }),
        None => Ok(rows),
    }
}

/// Checks `path` the way training would read it, collecting up to `max_errors` bad rows instead of
/// stopping at the first. Errors about the whole file (unreadable, empty, unknown format, a line
/// over [`MAX_LINE`]) are returned as `Err`. A text or label field that no row has is recorded in
/// [`Scan::absent`] instead of as one error per row.
pub fn scan(path: &Path, spec: &DataSpec, max_errors: usize) -> Result<Scan, DatasetError> {
    let mut out = Scan::default();
    let mut fields = BTreeSet::new();
    // Rows lacking a field are held apart until we know whether any row has it.
    type Held = (usize, String, String);
    let mut missing: BTreeMap<String, (usize, Vec<Held>)> = BTreeMap::new();
    // An unknown region is the spec's error (`JobSpec::check`), reported there: no counts then.
    let redactor = spec.redactor(crate::redact::Mode::Replace).ok().flatten();
    out.redacted = redactor
        .as_ref()
        .map(|r| crate::redact::Counts::zeroed(r.entities()));
    let visited = visit(path, spec, &mut fields, &mut |r| {
        out.rows += 1;
        match r {
            Ok(row) => {
                out.good_rows += 1;
                out.text_hashes.push(text_hash(&row.text));
                if let (Some(r), Some(total)) = (&redactor, &mut out.redacted) {
                    *total += &r.count(&row.text);
                }
                *out.labels.entry(row.label).or_default() += 1;
            }
            Err(e) => {
                out.bad_rows += 1;
                let held = (
                    e.line().unwrap_or(0),
                    e.place().unwrap_or_default(),
                    e.to_string(),
                );
                if let DatasetError::MissingField { field, .. } = &e {
                    let (count, first) = missing.entry(field.clone()).or_default();
                    *count += 1;
                    if first.len() < max_errors {
                        first.push(held);
                    }
                } else if out.errors.len() < max_errors {
                    out.error_lines.push(held.0);
                    out.error_places.push(held.1);
                    out.errors.push(held.2);
                }
            }
        }
        true
    });
    out.fields = fields;
    match visited {
        // A CSV header or Parquet schema without the column: no row has it.
        Err(DatasetError::MissingField { field, .. }) => {
            out.absent.insert(field, 0);
        }
        Err(e) => return Err(e),
        Ok(()) if out.rows == 0 => return Err(DatasetError::Empty { path: path.into() }),
        Ok(()) => {}
    }
    let mut held = Vec::new();
    for (field, (count, first)) in missing {
        if out.fields.contains(&field) {
            held.extend(first);
        } else {
            out.absent.insert(field, count);
        }
    }
    // The label is only looked at once the text was found, so a spec naming neither field gets
    // both reported together.
    if !out.absent.is_empty() {
        for field in [&spec.text, &spec.label] {
            if !out.fields.contains(field) {
                out.absent.entry(field.clone()).or_default();
            }
        }
    }
    // Both lists hold their first `max_errors` in file order, so their merge does too.
    if !held.is_empty() {
        let shown = out.error_lines.drain(..).zip(out.error_places.drain(..));
        held.extend(shown.zip(out.errors.drain(..)).map(|((l, p), e)| (l, p, e)));
        held.sort_by_key(|(line, _, _)| *line);
        held.truncate(max_errors);
        for (line, place, error) in held {
            out.error_lines.push(line);
            out.error_places.push(place);
            out.errors.push(error);
        }
    }
    Ok(out)
}

/// sha256 (hex) of a file's bytes, as recorded in `run.json` and checkpoint manifests.
pub fn file_sha256(path: &Path) -> Result<String, DatasetError> {
    crate::digest::file_sha256(path).map_err(|source| DatasetError::Unreadable {
        path: path.into(),
        source,
    })
}

/// A format reader hands each row (or row error) and where it is to this; false stops it.
type Emit<'a> = dyn FnMut(Result<Row, DatasetError>, At) -> bool + 'a;

/// Calls `each` with every data row (or row error) of `path`, in order, until it returns false or
/// `spec.limit` rows were seen. Whole-file problems are returned as `Err`.
/// The field names of the rows are added to `fields`.
fn visit(
    path: &Path,
    spec: &DataSpec,
    fields: &mut BTreeSet<String>,
    each: &mut dyn FnMut(Result<Row, DatasetError>) -> bool,
) -> Result<(), DatasetError> {
    let format = format_of(path, spec)?;
    let file = File::open(path).map_err(|source| DatasetError::Unreadable {
        path: path.into(),
        source,
    })?;
    if file.metadata().map(|m| m.is_dir()).unwrap_or(false) {
        return Err(DatasetError::Unreadable {
            path: path.into(),
            source: io::Error::other("is a directory"),
        });
    }
    let known: Option<BTreeSet<&str>> = spec
        .labels
        .as_ref()
        .map(|l| l.iter().map(String::as_str).collect());
    let limit = spec.limit.map_or(usize::MAX, |l| l.get());
    let mut seen = 0usize;
    let mut emit = |r: Result<Row, DatasetError>, at: At| -> bool {
        let r = r.and_then(|row| check_label(path, at, row, spec, known.as_ref()));
        seen += 1;
        each(r) && seen < limit
    };
    if limit == 0 {
        return Ok(());
    }
    let source = Source { path, spec };
    match format {
        DataFormat::Jsonl => jsonl::visit(&source, file, fields, &mut emit),
        DataFormat::Csv => csv::visit(&source, file, fields, &mut emit),
        DataFormat::Parquet => parquet::visit(&source, file, fields, &mut emit),
    }
}

/// The file being read and the spec's field names, for the format readers.
struct Source<'a> {
    path: &'a Path,
    spec: &'a DataSpec,
}

impl Source<'_> {
    /// The checks every format shares: text and label must not be blank.
    fn finish(&self, at: At, text: String, label: String) -> Result<Row, DatasetError> {
        let empty = |field: &str| DatasetError::EmptyField {
            path: self.path.into(),
            at,
            field: field.into(),
        };
        if text.trim().is_empty() {
            return Err(empty(&self.spec.text));
        }
        let label = label.trim().to_string();
        if label.is_empty() {
            return Err(empty(&self.spec.label));
        }
        Ok(Row {
            line: at.line(),
            text,
            label,
        })
    }

    fn missing(&self, at: At, field: &str) -> DatasetError {
        DatasetError::MissingField {
            path: self.path.into(),
            at,
            field: field.into(),
        }
    }

    fn wrong(&self, at: At, field: &str, expected: &'static str, found: &str) -> DatasetError {
        DatasetError::WrongType {
            path: self.path.into(),
            at,
            field: field.into(),
            expected,
            found: found.into(),
        }
    }

    fn unreadable(&self, source: io::Error) -> DatasetError {
        DatasetError::Unreadable {
            path: self.path.into(),
            source,
        }
    }
}

/// A row's label checked against the closed label set, if the spec gives one.
fn check_label(
    path: &Path,
    at: At,
    row: Row,
    spec: &DataSpec,
    known: Option<&BTreeSet<&str>>,
) -> Result<Row, DatasetError> {
    match known {
        Some(k) if !k.contains(row.label.as_str()) => Err(DatasetError::UnknownLabel {
            path: path.into(),
            at,
            label: row.label,
            known: spec.labels.clone().unwrap_or_default(),
        }),
        _ => Ok(row),
    }
}

#[cfg(test)]
mod tests;
