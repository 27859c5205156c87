//! The Parquet reader (what Hugging Face Hub datasets ship): the text and label columns of each
//! row group, read with the `parquet` crate's record API (no Arrow). Labels may be strings or
//! integers (a `ClassLabel` column is `int64`). Row errors name the row group and the row within
//! it; a file that is not Parquet (or is truncated) is one [`DatasetError::BadParquet`].

use super::{At, DatasetError, Emit, Source};
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field;
use parquet::schema::types::Type;
use std::collections::BTreeSet;
use std::fs::File;

pub(super) fn visit(
    src: &Source<'_>,
    file: File,
    fields: &mut BTreeSet<String>,
    emit: &mut Emit<'_>,
) -> Result<(), DatasetError> {
    let bad = |group: Option<usize>, e: parquet::errors::ParquetError| DatasetError::BadParquet {
        path: src.path.into(),
        group,
        message: e.to_string(),
    };
    let reader = SerializedFileReader::new(file).map_err(|e| bad(None, e))?;
    let schema = reader.metadata().file_metadata().schema_descr_ptr();
    let columns = schema.root_schema().get_fields();
    fields.extend(columns.iter().map(|c| c.name().to_string()));
    let column = |name: &str| {
        columns
            .iter()
            .find(|c| c.name() == name)
            .cloned()
            .ok_or_else(|| src.missing(At::Schema, name))
    };
    // A missing column is a whole-file problem, as a CSV header's is.
    let (text_col, label_col) = (column(&src.spec.text)?, column(&src.spec.label)?);
    // Decode only the two columns the job uses.
    let mut wanted = vec![text_col];
    if src.spec.label != src.spec.text {
        wanted.push(label_col);
    }
    let projection = Type::group_type_builder(schema.root_schema().name())
        .with_fields(wanted)
        .build()
        .map_err(|e| bad(None, e))?;
    let mut number = 0usize;
    for group in 0..reader.num_row_groups() {
        let rows = reader
            .get_row_group(group)
            .map_err(|e| bad(Some(group), e))?;
        let rows = rows
            .get_row_iter(Some(projection.clone()))
            .map_err(|e| bad(Some(group), e))?;
        for (row, record) in rows.enumerate() {
            number += 1;
            let record = record.map_err(|e| bad(Some(group), e))?;
            let at = At::Row { group, row, number };
            let get = |name: &str| {
                record
                    .get_column_iter()
                    .find(|(n, _)| n.as_str() == name)
                    .map(|(_, f)| f)
                    .ok_or_else(|| src.missing(at, name))
            };
            let parsed = get(&src.spec.text).and_then(|text| {
                let text = match text {
                    Field::Str(s) => s.clone(),
                    f => return Err(src.wrong(at, &src.spec.text, "a string", kind(f))),
                };
                let label = label_of(get(&src.spec.label)?).ok_or_else(|| {
                    let f = get(&src.spec.label).map(kind).unwrap_or("nothing");
                    src.wrong(at, &src.spec.label, "a string or an integer", f)
                })?;
                src.finish(at, text, label)
            });
            if !emit(parsed, at) {
                return Ok(());
            }
        }
    }
    Ok(())
}

/// A label field as its string: strings as they are, integers in decimal.
fn label_of(f: &Field) -> Option<String> {
    Some(match f {
        Field::Str(s) => s.clone(),
        Field::Byte(v) => v.to_string(),
        Field::Short(v) => v.to_string(),
        Field::Int(v) => v.to_string(),
        Field::Long(v) => v.to_string(),
        Field::UByte(v) => v.to_string(),
        Field::UShort(v) => v.to_string(),
        Field::UInt(v) => v.to_string(),
        Field::ULong(v) => v.to_string(),
        _ => return None,
    })
}

fn kind(f: &Field) -> &'static str {
    match f {
        Field::Null => "null",
        Field::Bool(_) => "a boolean",
        Field::Str(_) => "a string",
        Field::Bytes(_) => "binary data (not UTF-8 text)",
        Field::Float16(_) | Field::Float(_) | Field::Double(_) | Field::Decimal(_) => {
            "a non-integer number"
        }
        Field::Byte(_)
        | Field::Short(_)
        | Field::Int(_)
        | Field::Long(_)
        | Field::UByte(_)
        | Field::UShort(_)
        | Field::UInt(_)
        | Field::ULong(_) => "an integer",
        Field::Group(_) => "a struct",
        Field::ListInternal(_) => "a list",
        Field::MapInternal(_) => "a map",
        _ => "a date or time",
    }
}
