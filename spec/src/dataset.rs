//! Reading a job's dataset files (JSONL or CSV) into text/label rows that keep their 1-based line
//! number, with typed errors that name the file and line.
//!
//! Two entry points: [`read_all`] for training (the first bad row is an error) and [`scan`] for
//! `validate --data` (counts, a label histogram and the first few bad rows, without stopping at
//! the first one). Labels are strings; integer labels (`"label": 1`) are read as their decimal
//! string so that a label map can be written with the model.

use crate::{DataFormat, DataSpec};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

/// One example: its text, its label and the line it starts on (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub line: usize,
    pub text: String,
    pub label: String,
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
    #[error("{}: unknown data format; name the file .jsonl or .csv, or set `data.format`", path.display())]
    UnknownFormat { path: PathBuf },
    #[error("{}: no data rows; the file is empty (a CSV needs a header line and rows)", path.display())]
    Empty { path: PathBuf },
    #[error("{}:{line}: invalid JSON: {message}; each line must be one JSON object", path.display())]
    BadJson {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{}:{line}: invalid CSV: {message}", path.display())]
    BadCsv {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{}:{line}: missing field `{field}`; set `data.text`/`data.label` to the field names the file uses", path.display())]
    MissingField {
        path: PathBuf,
        line: usize,
        field: String,
    },
    #[error("{}:{line}: field `{field}` is empty", path.display())]
    EmptyField {
        path: PathBuf,
        line: usize,
        field: String,
    },
    #[error("{}:{line}: field `{field}` must be {expected}, found {found}", path.display())]
    WrongType {
        path: PathBuf,
        line: usize,
        field: String,
        expected: &'static str,
        found: String,
    },
    #[error("{}:{line}: unknown label `{label}`; known labels: {}", path.display(), known.join(", "))]
    UnknownLabel {
        path: PathBuf,
        line: usize,
        label: String,
        known: Vec<String>,
    },
}

impl DatasetError {
    /// The 1-based line of a row error; `None` for errors about the whole file.
    pub fn line(&self) -> Option<usize> {
        match self {
            DatasetError::BadJson { line, .. }
            | DatasetError::BadCsv { line, .. }
            | DatasetError::MissingField { line, .. }
            | DatasetError::EmptyField { line, .. }
            | DatasetError::WrongType { line, .. }
            | DatasetError::UnknownLabel { line, .. } => Some(*line),
            DatasetError::Unreadable { .. }
            | DatasetError::UnknownFormat { .. }
            | DatasetError::Empty { .. } => None,
        }
    }
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
    /// Their line numbers, parallel to `errors`.
    pub error_lines: Vec<usize>,
    /// The field names the rows have: every key of the JSONL objects, the CSV header's columns.
    pub fields: BTreeSet<String>,
    /// `data.text`/`data.label` names that no row has, with how many rows were reported lacking
    /// them (a CSV header without the column: 0, its rows are not read). Those rows count in
    /// `bad_rows` but are left out of `errors`: the problem is the spec's field name, said once.
    pub absent: BTreeMap<String, usize>,
}

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
/// stopping at the first. Errors about the whole file (unreadable, empty, unknown format) are
/// returned as `Err`. A text or label field that no row has is recorded in [`Scan::absent`]
/// instead of as one error per row.
pub fn scan(path: &Path, spec: &DataSpec, max_errors: usize) -> Result<Scan, DatasetError> {
    let mut out = Scan::default();
    let mut fields = BTreeSet::new();
    // Rows lacking a field are held apart until we know whether any row has it.
    let mut missing: BTreeMap<String, (usize, Vec<(usize, String)>)> = BTreeMap::new();
    let visited = visit(path, spec, &mut fields, &mut |r| {
        out.rows += 1;
        match r {
            Ok(row) => {
                out.good_rows += 1;
                *out.labels.entry(row.label).or_default() += 1;
            }
            Err(e) => {
                out.bad_rows += 1;
                if let DatasetError::MissingField { field, line, .. } = &e {
                    let (count, first) = missing.entry(field.clone()).or_default();
                    *count += 1;
                    if first.len() < max_errors {
                        first.push((*line, e.to_string()));
                    }
                } else if out.errors.len() < max_errors {
                    out.error_lines.push(e.line().unwrap_or(0));
                    out.errors.push(e.to_string());
                }
            }
        }
        true
    });
    out.fields = fields;
    match visited {
        // A CSV header without the column: no row has it.
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
        held.extend(out.error_lines.drain(..).zip(out.errors.drain(..)));
        held.sort_by_key(|(line, _)| *line);
        held.truncate(max_errors);
        (out.error_lines, out.errors) = held.into_iter().unzip();
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
    let limit = spec.limit.map_or(usize::MAX, crate::Count::get);
    let mut seen = 0usize;
    let mut emit = |r: Result<Row, DatasetError>| -> bool {
        let r = r.and_then(|row| check_label(path, row, spec, known.as_ref()));
        seen += 1;
        each(r) && seen < limit
    };
    if limit == 0 {
        return Ok(());
    }
    match format {
        DataFormat::Jsonl => visit_jsonl(path, BufReader::new(file), spec, fields, &mut emit),
        DataFormat::Csv => visit_csv(path, BufReader::new(file), spec, fields, &mut emit),
    }
}

fn check_label(
    path: &Path,
    row: Row,
    spec: &DataSpec,
    known: Option<&BTreeSet<&str>>,
) -> Result<Row, DatasetError> {
    match known {
        Some(k) if !k.contains(row.label.as_str()) => Err(DatasetError::UnknownLabel {
            path: path.into(),
            line: row.line,
            label: row.label,
            known: spec.labels.clone().unwrap_or_default(),
        }),
        _ => Ok(row),
    }
}

fn visit_jsonl(
    path: &Path,
    mut reader: impl BufRead,
    spec: &DataSpec,
    fields: &mut BTreeSet<String>,
    emit: &mut dyn FnMut(Result<Row, DatasetError>) -> bool,
) -> Result<(), DatasetError> {
    let mut buf = Vec::new();
    let mut line = 0usize;
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(|source| DatasetError::Unreadable {
                path: path.into(),
                source,
            })?;
        if n == 0 {
            return Ok(());
        }
        line += 1;
        let mut bytes = buf.as_slice();
        if line == 1 {
            bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        }
        if bytes.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if !emit(jsonl_row(path, line, bytes, spec, fields)) {
            return Ok(());
        }
    }
}

fn jsonl_row(
    path: &Path,
    line: usize,
    bytes: &[u8],
    spec: &DataSpec,
    fields: &mut BTreeSet<String>,
) -> Result<Row, DatasetError> {
    let bad = |message: String| DatasetError::BadJson {
        path: path.into(),
        line,
        message,
    };
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
    let obj = value
        .as_object()
        .ok_or_else(|| bad(format!("expected an object, found {}", kind(&value))))?;
    for key in obj.keys() {
        if !fields.contains(key) {
            fields.insert(key.clone());
        }
    }
    let field = |name: &str| {
        obj.get(name).ok_or_else(|| DatasetError::MissingField {
            path: path.into(),
            line,
            field: name.into(),
        })
    };
    let wrong = |name: &str, expected, v: &serde_json::Value| DatasetError::WrongType {
        path: path.into(),
        line,
        field: name.into(),
        expected,
        found: kind(v).into(),
    };
    let text = match field(&spec.text)? {
        serde_json::Value::String(s) => s.clone(),
        v => return Err(wrong(&spec.text, "a string", v)),
    };
    let label = match field(&spec.label)? {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) if n.is_i64() || n.is_u64() => n.to_string(),
        v => return Err(wrong(&spec.label, "a string or an integer", v)),
    };
    finish(path, line, text, label, spec)
}

fn kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a non-integer number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// The checks every format shares: text and label must not be blank.
fn finish(
    path: &Path,
    line: usize,
    text: String,
    label: String,
    spec: &DataSpec,
) -> Result<Row, DatasetError> {
    let empty = |field: &str| DatasetError::EmptyField {
        path: path.into(),
        line,
        field: field.into(),
    };
    if text.trim().is_empty() {
        return Err(empty(&spec.text));
    }
    let label = label.trim().to_string();
    if label.is_empty() {
        return Err(empty(&spec.label));
    }
    Ok(Row { line, text, label })
}

fn visit_csv(
    path: &Path,
    reader: impl Read,
    spec: &DataSpec,
    fields: &mut BTreeSet<String>,
    emit: &mut dyn FnMut(Result<Row, DatasetError>) -> bool,
) -> Result<(), DatasetError> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(reader);
    let csv_err = |e: csv::Error| -> DatasetError {
        let line = e.position().map(|p| p.line() as usize).unwrap_or(1);
        let message = e.to_string();
        match e.into_kind() {
            csv::ErrorKind::Io(source) => DatasetError::Unreadable {
                path: path.into(),
                source,
            },
            _ => DatasetError::BadCsv {
                path: path.into(),
                line,
                message,
            },
        }
    };
    // Spreadsheet exports are often cp1252 rather than UTF-8: bytes that are not UTF-8 become
    // U+FFFD instead of failing the row, as Python's `errors="replace"` does; the text around them
    // is still good training data.
    let lossy = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let headers: Vec<String> = rdr
        .byte_headers()
        .map_err(csv_err)?
        .iter()
        .map(lossy)
        .collect();
    if headers.is_empty() || (headers.len() == 1 && headers[0].trim().is_empty()) {
        return Err(DatasetError::Empty { path: path.into() });
    }
    fields.extend(headers.iter().map(|h| h.trim().to_string()));
    let column = |name: &str| {
        headers
            .iter()
            .position(|h| h.trim() == name)
            .ok_or_else(|| DatasetError::MissingField {
                path: path.into(),
                line: 1,
                field: name.into(),
            })
    };
    // A missing column is a whole-file problem: report it once, at the header line.
    let text_col = column(&spec.text)?;
    let label_col = column(&spec.label)?;
    let mut record = csv::ByteRecord::new();
    loop {
        let line = rdr.position().line() as usize;
        let row = match rdr.read_byte_record(&mut record) {
            Ok(false) => return Ok(()),
            Ok(true) => {
                let line = record.position().map(|p| p.line() as usize).unwrap_or(line);
                if record.len() == 1 && record[0].trim_ascii().is_empty() {
                    continue;
                }
                match (record.get(text_col), record.get(label_col)) {
                    (Some(text), Some(label)) => {
                        finish(path, line, lossy(text), lossy(label), spec)
                    }
                    _ => Err(DatasetError::BadCsv {
                        path: path.into(),
                        line,
                        message: format!(
                            "row has {} fields but the header has {}",
                            record.len(),
                            headers.len()
                        ),
                    }),
                }
            }
            Err(e) => match csv_err(e) {
                e @ DatasetError::Unreadable { .. } => return Err(e),
                e => Err(e),
            },
        };
        if !emit(row) {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn spec(path: &Path) -> DataSpec {
        serde_json::from_value(serde_json::json!({ "train": path })).unwrap()
    }

    fn file(name: &str, body: &[u8]) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        File::create(&path).unwrap().write_all(body).unwrap();
        (dir, path)
    }

    #[test]
    fn csv_text_that_is_not_utf8_is_decoded_with_replacement_characters() {
        // "caf\xe9" is cp1252/latin-1 for "café".
        let (_d, p) = file("t.csv", b"text,label\ncaf\xe9 ok,pos\nfine,neg\n");
        let rows = read_all(&p, &spec(&p)).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].text, "caf\u{fffd} ok");
        assert_eq!(rows[0].line, 2);
    }

    #[test]
    fn jsonl_rows_keep_line_numbers_and_integer_labels() {
        let (_d, p) = file(
            "t.jsonl",
            b"{\"text\":\"good\",\"label\":1}\n\n{\"text\":\"bad\",\"label\":\"neg\"}\r\n",
        );
        let rows = read_all(&p, &spec(&p)).unwrap();
        assert_eq!(
            rows,
            vec![
                Row {
                    line: 1,
                    text: "good".into(),
                    label: "1".into()
                },
                Row {
                    line: 3,
                    text: "bad".into(),
                    label: "neg".into()
                }
            ]
        );
    }

    #[test]
    fn jsonl_errors_name_file_and_line() {
        let cases: &[(&str, &str)] = &[
            (
                "{\"text\":\"a\",\"label\":\"x\"}\n{oops\n",
                ":2: invalid JSON",
            ),
            (
                "{\"text\":\"a\",\"label\":\"x\"}\n{\"label\":\"x\"}\n",
                ":2: missing field `text`",
            ),
            (
                "{\"text\":\"  \",\"label\":\"x\"}\n",
                ":1: field `text` is empty",
            ),
            (
                "{\"text\":\"a\",\"label\":1.5}\n",
                ":1: field `label` must be a string or an integer",
            ),
            (
                "{\"text\":3,\"label\":\"x\"}\n",
                ":1: field `text` must be a string",
            ),
            ("[1]\n", ":1: invalid JSON: expected an object"),
        ];
        for (body, want) in cases {
            let (_d, p) = file("t.jsonl", body.as_bytes());
            let err = read_all(&p, &spec(&p)).unwrap_err().to_string();
            assert!(err.contains(want), "{body:?}: {err}");
            assert!(err.starts_with(&p.display().to_string()), "{err}");
        }
    }

    #[test]
    fn unknown_labels_are_reported_when_a_label_set_is_given() {
        let (_d, p) = file(
            "t.jsonl",
            b"{\"text\":\"a\",\"label\":\"pos\"}\n{\"text\":\"b\",\"label\":\"meh\"}\n",
        );
        let mut s = spec(&p);
        assert_eq!(read_all(&p, &s).unwrap().len(), 2);
        s.labels = Some(vec!["neg".into(), "pos".into()]);
        let err = read_all(&p, &s).unwrap_err();
        assert_eq!(err.line(), Some(2));
        assert!(err
            .to_string()
            .contains("unknown label `meh`; known labels: neg, pos"));
    }

    #[test]
    fn empty_unreadable_and_unknown_files_are_file_errors() {
        let (_d, p) = file("t.jsonl", b"\n  \n");
        assert!(matches!(
            read_all(&p, &spec(&p)),
            Err(DatasetError::Empty { .. })
        ));
        assert!(matches!(
            scan(&p, &spec(&p), 5),
            Err(DatasetError::Empty { .. })
        ));
        let (_d, p) = file("t.csv", b"text,label\n");
        assert!(matches!(
            read_all(&p, &spec(&p)),
            Err(DatasetError::Empty { .. })
        ));
        let (_d, p) = file("t.csv", b"");
        assert!(matches!(
            read_all(&p, &spec(&p)),
            Err(DatasetError::Empty { .. })
        ));
        let missing = Path::new("/nonexistent/train.jsonl");
        let err = read_all(missing, &spec(missing)).unwrap_err();
        assert!(matches!(err, DatasetError::Unreadable { .. }));
        assert!(err
            .to_string()
            .starts_with("/nonexistent/train.jsonl: cannot read"));
        let (_d, p) = file("t.txt", b"x");
        assert!(matches!(
            read_all(&p, &spec(&p)),
            Err(DatasetError::UnknownFormat { .. })
        ));
        let mut s = spec(&p);
        s.format = Some(DataFormat::Csv);
        // Read as CSV: its header `x` lacks the text column.
        assert!(matches!(
            read_all(&p, &s),
            Err(DatasetError::MissingField { line: 1, .. })
        ));
    }

    #[test]
    fn csv_reads_configured_columns_with_quoted_newlines() {
        let (_d, p) = file(
            "t.csv",
            b"sentiment,confidence,tweet\npositive,1,\"hello\nworld\"\nnegative,0.5,bye\n",
        );
        let mut s = spec(&p);
        s.text = "tweet".into();
        s.label = "sentiment".into();
        let rows = read_all(&p, &s).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].text, "hello\nworld");
        assert_eq!((rows[0].line, rows[1].line), (2, 4));
        assert_eq!(rows[1].label, "negative");
    }

    #[test]
    fn csv_errors_name_the_line() {
        let (_d, p) = file("t.csv", b"text,label\na,x\n,y\nb\n");
        let s = spec(&p);
        let err = read_all(&p, &s).unwrap_err();
        assert_eq!(err.line(), Some(3), "{err}");
        let sc = scan(&p, &s, 10).unwrap();
        assert_eq!((sc.rows, sc.good_rows, sc.bad_rows), (3, 1, 2));
        assert_eq!(sc.error_lines, vec![3, 4]);
        let (_d, p) = file("t.csv", b"body,label\na,x\n");
        let err = read_all(&p, &spec(&p)).unwrap_err();
        assert!(
            err.to_string().contains(":1: missing field `text`"),
            "{err}"
        );
    }

    #[test]
    fn scan_counts_labels_and_keeps_the_first_errors() {
        let mut body = String::new();
        for i in 0..10 {
            body.push_str(&format!("{{\"text\":\"t{i}\",\"label\":\"{}\"}}\n", i % 3));
        }
        body.push_str("bad\nbad\nbad\n");
        let (_d, p) = file("t.jsonl", body.as_bytes());
        let sc = scan(&p, &spec(&p), 2).unwrap();
        assert_eq!((sc.rows, sc.good_rows, sc.bad_rows), (13, 10, 3));
        assert_eq!(sc.labels.get("0"), Some(&4));
        assert_eq!(sc.labels.get("2"), Some(&3));
        assert_eq!(sc.error_lines, vec![11, 12]);
        assert_eq!(sc.errors.len(), 2);
    }

    #[test]
    fn a_field_no_row_has_is_recorded_once_not_per_row() {
        let mut body = String::new();
        for i in 0..12 {
            body.push_str(&format!("{{\"text\":\"t{i}\",\"intent\":\"x\"}}\n"));
        }
        body.push_str("broken\n");
        let (_d, p) = file("t.jsonl", body.as_bytes());
        let mut s = spec(&p);
        s.label = "category".into();
        let sc = scan(&p, &s, 10).unwrap();
        assert_eq!(sc.absent, BTreeMap::from([("category".to_string(), 12)]));
        assert_eq!(sc.error_lines, vec![13], "{:?}", sc.errors);
        assert_eq!((sc.rows, sc.bad_rows), (13, 13));
        assert!(sc.fields.contains("intent") && sc.fields.contains("text"));
        // Neither field: both are named, though only the text was looked for.
        s.text = "body".into();
        let sc = scan(&p, &s, 10).unwrap();
        assert_eq!(sc.absent.keys().collect::<Vec<_>>(), ["body", "category"]);
        let (_d, p) = file("t.csv", b"text,intent\na,x\nb,y\n");
        let mut s = spec(&p);
        s.label = "category".into();
        let sc = scan(&p, &s, 10).unwrap();
        assert_eq!(sc.absent, BTreeMap::from([("category".to_string(), 0)]));
        assert_eq!(sc.fields, BTreeSet::from(["intent".into(), "text".into()]));
        // Rows lacking a field that other rows have stay row errors, in file order.
        let (_d, p) = file(
            "t.jsonl",
            b"{\"text\":\"a\",\"label\":\"x\"}\n{\"text\":\"b\"}\n[1]\n{\"label\":\"y\"}\n",
        );
        let sc = scan(&p, &spec(&p), 10).unwrap();
        assert!(sc.absent.is_empty());
        assert_eq!(sc.error_lines, vec![2, 3, 4]);
    }

    #[test]
    fn limit_takes_the_first_rows() {
        let (_d, p) = file(
            "t.jsonl",
            b"{\"text\":\"a\",\"label\":\"x\"}\n{\"text\":\"b\",\"label\":\"y\"}\nbroken\n",
        );
        let mut s = spec(&p);
        s.limit = crate::Count::new(2);
        let rows = read_all(&p, &s).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(scan(&p, &s, 5).unwrap().rows, 2);
    }

    #[test]
    fn sha256_of_a_file() {
        let (_d, p) = file("t.jsonl", b"abc");
        assert_eq!(
            file_sha256(&p).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
