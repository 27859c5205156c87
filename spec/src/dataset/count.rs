//! Counting a file's rows without knowing its fields: what `docker finetune data package` labels
//! a dataset image with. The rules are the readers': a JSONL row is a line that is not blank, a
//! CSV row is a record after the header line (blank records skipped), a Parquet row is what its
//! footer counts. Lines are capped at [`super::MAX_LINE`] as when reading.

use super::lines::{too_long, LineCap};
use super::{At, DatasetError};
use crate::DataFormat;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

/// The rows of `path`, read as `format`.
pub fn count_rows(path: &Path, format: DataFormat) -> Result<usize, DatasetError> {
    let unreadable = |source| DatasetError::Unreadable {
        path: path.into(),
        source,
    };
    let file = File::open(path).map_err(unreadable)?;
    let too_long_or = |e: std::io::Error, format: &'static str| match too_long(&e) {
        Some(line) => DatasetError::LineTooLong {
            path: path.into(),
            line,
            format,
        },
        None => unreadable(e),
    };
    match format {
        DataFormat::Jsonl => {
            let mut reader = BufReader::new(LineCap::new(file));
            let (mut buf, mut rows) = (Vec::new(), 0);
            loop {
                buf.clear();
                if reader
                    .read_until(b'\n', &mut buf)
                    .map_err(|e| too_long_or(e, "JSONL"))?
                    == 0
                {
                    return Ok(rows);
                }
                let bytes = buf.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&buf);
                if !bytes.iter().all(u8::is_ascii_whitespace) {
                    rows += 1;
                }
            }
        }
        DataFormat::Csv => {
            let mut rdr = csv::ReaderBuilder::new()
                .has_headers(true)
                .flexible(true)
                .terminator(csv::Terminator::Any(b'\n'))
                .from_reader(LineCap::new(file));
            let (mut record, mut rows) = (csv::ByteRecord::new(), 0);
            loop {
                match rdr.read_byte_record(&mut record) {
                    Ok(false) => return Ok(rows),
                    Ok(true) => {
                        if !(record.len() == 1 && record[0].trim_ascii().is_empty()) {
                            rows += 1;
                        }
                    }
                    Err(e) => {
                        let line = e.position().map_or(1, |p| p.line() as usize);
                        let message = e.to_string();
                        return Err(match e.into_kind() {
                            csv::ErrorKind::Io(io) => too_long_or(io, "CSV"),
                            _ => DatasetError::BadCsv {
                                path: path.into(),
                                at: At::Line(line),
                                message,
                            },
                        });
                    }
                }
            }
        }
        DataFormat::Parquet => {
            use parquet::file::reader::{FileReader, SerializedFileReader};
            let reader = SerializedFileReader::new(file).map_err(|e| DatasetError::BadParquet {
                path: path.into(),
                group: None,
                message: e.to_string(),
            })?;
            Ok(reader.metadata().file_metadata().num_rows().max(0) as usize)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use finetune_fixtures::parquet::{write_parquet, Col, Compression};

    fn write(dir: &Path, name: &str, body: &[u8]) -> std::path::PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, body).unwrap();
        p
    }

    #[test]
    fn rows_are_counted_whatever_the_fields() {
        let d = tempfile::tempdir().unwrap();
        let j = write(
            d.path(),
            "a.jsonl",
            b"\xEF\xBB\xBF{\"q\":1}\n\n  \n{\"q\":2}\r\nnot json\n",
        );
        assert_eq!(count_rows(&j, DataFormat::Jsonl).unwrap(), 3);
        // No `text` column: the readers would refuse it, the count does not care.
        let c = write(d.path(), "a.csv", b"q,a\n\"two\nlines\",1\n\nx,2\n");
        assert_eq!(count_rows(&c, DataFormat::Csv).unwrap(), 2);
        let header_only = write(d.path(), "h.csv", b"q,a\n");
        assert_eq!(count_rows(&header_only, DataFormat::Csv).unwrap(), 0);
        let p = d.path().join("a.parquet");
        let col = Col::Int((0..7).collect());
        write_parquet(&p, &[("n", col)], 3, Compression::SNAPPY).unwrap();
        assert_eq!(count_rows(&p, DataFormat::Parquet).unwrap(), 7);
    }

    #[test]
    fn unreadable_files_are_errors_naming_them() {
        let d = tempfile::tempdir().unwrap();
        let not_parquet = write(d.path(), "x.parquet", b"PAR1 nope");
        let e = count_rows(&not_parquet, DataFormat::Parquet).unwrap_err();
        assert!(
            e.to_string()
                .contains("x.parquet: not a readable Parquet file"),
            "{e}"
        );
        let e = count_rows(&d.path().join("gone.jsonl"), DataFormat::Jsonl).unwrap_err();
        assert!(e.to_string().contains("gone.jsonl: cannot read"), "{e}");
    }
}
