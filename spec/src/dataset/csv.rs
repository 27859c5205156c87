//! The CSV reader: a header line naming the columns, then one record per row (quoted fields may
//! hold newlines). A UTF-8 BOM and CRLF line ends are accepted; bytes that are not UTF-8 are
//! decoded with replacement characters; lines are capped at [`super::MAX_LINE`].

use super::lines::{too_long, LineCap};
use super::{At, DatasetError, Emit, Source};
use std::collections::BTreeSet;
use std::fs::File;

pub(super) fn visit(
    src: &Source<'_>,
    file: File,
    fields: &mut BTreeSet<String>,
    emit: &mut Emit<'_>,
) -> Result<(), DatasetError> {
    let path = src.path;
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        // Records end at `\n` only, so that the line numbers csv counts stay right in CRLF files
        // (with CRLF terminators it reports each record one line early); the `\r` this leaves on
        // a record's last field is cut by `field` below.
        .terminator(csv::Terminator::Any(b'\n'))
        .from_reader(LineCap::new(file));
    let csv_err = |e: csv::Error| -> DatasetError {
        let line = e.position().map(|p| p.line() as usize).unwrap_or(1);
        let message = e.to_string();
        match e.into_kind() {
            csv::ErrorKind::Io(source) => match too_long(&source) {
                Some(line) => DatasetError::LineTooLong {
                    path: path.into(),
                    line,
                    format: "CSV",
                },
                None => src.unreadable(source),
            },
            _ => DatasetError::BadCsv {
                path: path.into(),
                at: At::Line(line),
                message,
            },
        }
    };
    // Spreadsheet exports are often cp1252 rather than UTF-8: bytes that are not UTF-8 become
    // U+FFFD instead of failing the row, as Python's `errors="replace"` does; the text around them
    // is still good training data.
    let lossy = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let field = |r: &csv::ByteRecord, i: usize| -> Option<String> {
        let f = r.get(i)?;
        let f = match i + 1 == r.len() {
            true => f.strip_suffix(b"\r").unwrap_or(f),
            false => f,
        };
        Some(lossy(f))
    };
    let header = rdr.byte_headers().map_err(csv_err)?.clone();
    let headers: Vec<String> = (0..header.len())
        .filter_map(|i| field(&header, i))
        .collect();
    if headers.is_empty() || (headers.len() == 1 && headers[0].trim().is_empty()) {
        return Err(DatasetError::Empty { path: path.into() });
    }
    fields.extend(headers.iter().map(|h| h.trim().to_string()));
    let column = |name: &str| {
        headers
            .iter()
            .position(|h| h.trim() == name)
            .ok_or_else(|| src.missing(At::Line(1), name))
    };
    // A missing column is a whole-file problem: report it once, at the header line.
    let text_col = column(&src.spec.text)?;
    let label_col = column(&src.spec.label)?;
    let mut record = csv::ByteRecord::new();
    loop {
        let line = rdr.position().line() as usize;
        let (row, at) = match rdr.read_byte_record(&mut record) {
            Ok(false) => return Ok(()),
            Ok(true) => {
                let line = record.position().map(|p| p.line() as usize).unwrap_or(line);
                let at = At::Line(line);
                if record.len() == 1 && record[0].trim_ascii().is_empty() {
                    continue;
                }
                let row = match (field(&record, text_col), field(&record, label_col)) {
                    (Some(text), Some(label)) => src.finish(at, text, label),
                    _ => Err(DatasetError::BadCsv {
                        path: path.into(),
                        at,
                        message: format!(
                            "row has {} fields but the header has {}",
                            record.len(),
                            headers.len()
                        ),
                    }),
                };
                (row, at)
            }
            Err(e) => match csv_err(e) {
                e @ (DatasetError::Unreadable { .. } | DatasetError::LineTooLong { .. }) => {
                    return Err(e)
                }
                e => {
                    let at = At::Line(e.line().unwrap_or(line));
                    (Err(e), at)
                }
            },
        };
        if !emit(row, at) {
            return Ok(());
        }
    }
}
