//! The JSONL reader: one JSON object per line, blank lines skipped, a UTF-8 BOM on the first line
//! and CRLF line ends accepted, lines capped at [`super::MAX_LINE`].

use super::lines::{too_long, LineCap};
use super::{At, DatasetError, Emit, Row, Source};
use std::collections::BTreeSet;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

pub(super) fn visit(
    src: &Source<'_>,
    file: File,
    fields: &mut BTreeSet<String>,
    emit: &mut Emit<'_>,
) -> Result<(), DatasetError> {
    each_line(src.path, file, &mut |at, bytes| {
        emit(row(src, at, bytes, fields), at)
    })
}

/// Calls `each` with every non-blank line of a JSONL file (its BOM and line end kept or not,
/// as `serde_json` takes either) until it returns false.
pub(crate) fn each_line(
    path: &Path,
    file: File,
    each: &mut dyn FnMut(At, &[u8]) -> bool,
) -> Result<(), DatasetError> {
    let mut reader = BufReader::new(LineCap::new(file));
    let mut buf = Vec::new();
    let mut line = 0usize;
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(|e| match too_long(&e) {
                Some(line) => DatasetError::LineTooLong {
                    path: path.into(),
                    line,
                    format: "JSONL",
                },
                None => DatasetError::Unreadable {
                    path: path.into(),
                    source: e,
                },
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
        if !each(At::Line(line), bytes) {
            return Ok(());
        }
    }
}

fn row(
    src: &Source<'_>,
    at: At,
    bytes: &[u8],
    fields: &mut BTreeSet<String>,
) -> Result<Row, DatasetError> {
    let bad = |message: String| DatasetError::BadJson {
        path: src.path.into(),
        at,
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
    let spec = src.spec;
    let field = |name: &str| obj.get(name).ok_or_else(|| src.missing(at, name));
    let text = match field(&spec.text)? {
        serde_json::Value::String(s) => s.clone(),
        v => return Err(src.wrong(at, &spec.text, "a string", kind(v))),
    };
    let label = match field(&spec.label)? {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) if n.is_i64() || n.is_u64() => n.to_string(),
        v => return Err(src.wrong(at, &spec.label, "a string or an integer", kind(v))),
    };
    src.finish(at, text, label)
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
