//! Reading text-generation rows (JSONL) into [`Example`]s, with errors naming the file, the line
//! and what is wrong (`messages[2]: unknown role `bot``), the same for the trainer
//! ([`read_examples`]: the first bad row is an error) and `validate --data` ([`scan_examples`]:
//! counts, duplicates and the first few bad rows).
//!
//! The shape of the rows is `data.shape`, or else found from the first row's fields: `messages`
//! (the `data.messages` field), else `prompt` + `completion`, else `text`. Every row then has to
//! be of that shape.

use super::{Example, Message, Role, ROLES};
use crate::dataset::jsonl::each_line;
use crate::dataset::{format_of, DatasetError};
use crate::generation::{DataShape, LossOn};
use crate::{DataFormat, DataSpec};
use serde_json::{Map, Value};
use std::collections::{BTreeSet, HashSet};
use std::fs::File;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::Path;

/// A good row and its 1-based line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExampleRow {
    pub line: usize,
    pub example: Example,
}

/// What [`scan_examples`] found in a file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExampleScan {
    /// Rows looked at (blank lines are not rows).
    pub rows: usize,
    /// The rows training would use, in file order.
    pub good: Vec<ExampleRow>,
    pub bad_rows: usize,
    /// The shape the rows were read as (`None`: no row told it).
    pub shape: Option<DataShape>,
    /// Good rows equal to an earlier good row.
    pub duplicates: usize,
    /// The first `max_errors` bad rows: line, `file:line` and the one-line message.
    pub errors: Vec<(usize, String, String)>,
    /// Every key of the rows' objects.
    pub fields: BTreeSet<String>,
}

/// Every row of `path` (up to `data.limit`), failing on the first bad one, and the shape.
pub fn read_examples(
    path: &Path,
    data: &DataSpec,
    loss_on: LossOn,
) -> Result<(Vec<ExampleRow>, DataShape), DatasetError> {
    let mut rows = Vec::new();
    let mut err = None;
    let shape = visit(
        path,
        data,
        loss_on,
        &mut BTreeSet::new(),
        &mut |r| match r {
            Ok(row) => {
                rows.push(row);
                true
            }
            Err(e) => {
                err = Some(e);
                false
            }
        },
    )?;
    match (err, shape) {
        (Some(e), _) => Err(e),
        (None, Some(shape)) if !rows.is_empty() => Ok((rows, shape)),
        _ => Err(DatasetError::Empty { path: path.into() }),
    }
}

/// Checks every row of `path`, collecting up to `max_errors` bad ones. Whole-file problems are
/// `Err`.
pub fn scan_examples(
    path: &Path,
    data: &DataSpec,
    loss_on: LossOn,
    max_errors: usize,
) -> Result<ExampleScan, DatasetError> {
    let mut out = ExampleScan::default();
    let mut seen = HashSet::new();
    let mut fields = BTreeSet::new();
    out.shape = visit(path, data, loss_on, &mut fields, &mut |r| {
        out.rows += 1;
        match r {
            Ok(row) => {
                if !seen.insert(example_hash(&row.example)) {
                    out.duplicates += 1;
                }
                out.good.push(row);
            }
            Err(e) => {
                out.bad_rows += 1;
                if out.errors.len() < max_errors {
                    let line = e.line().unwrap_or(0);
                    out.errors
                        .push((line, e.place().unwrap_or_default(), e.to_string()));
                }
            }
        }
        true
    })?;
    out.fields = fields;
    if out.rows == 0 {
        return Err(DatasetError::Empty { path: path.into() });
    }
    Ok(out)
}

/// A hash of a row's content, for counting duplicates.
pub fn example_hash(e: &Example) -> u64 {
    let mut h = DefaultHasher::new();
    match e {
        Example::Messages(ms) => {
            0u8.hash(&mut h);
            for m in ms {
                m.role.name().hash(&mut h);
                m.content.trim().hash(&mut h);
            }
        }
        Example::PromptCompletion { prompt, completion } => {
            1u8.hash(&mut h);
            prompt.trim().hash(&mut h);
            completion.trim().hash(&mut h);
        }
        Example::Text(t) => {
            2u8.hash(&mut h);
            t.trim().hash(&mut h);
        }
    }
    h.finish()
}

/// Calls `each` with every row (or row error) until it returns false or `data.limit` rows were
/// seen; returns the shape the rows were read as.
fn visit(
    path: &Path,
    data: &DataSpec,
    loss_on: LossOn,
    fields: &mut BTreeSet<String>,
    each: &mut dyn FnMut(Result<ExampleRow, DatasetError>) -> bool,
) -> Result<Option<DataShape>, DatasetError> {
    if format_of(path, data)? != DataFormat::Jsonl {
        return Err(DatasetError::NotJsonl { path: path.into() });
    }
    let file = File::open(path).map_err(|source| DatasetError::Unreadable {
        path: path.into(),
        source,
    })?;
    if file.metadata().map(|m| m.is_dir()).unwrap_or(false) {
        return Err(DatasetError::Unreadable {
            path: path.into(),
            source: std::io::Error::other("is a directory"),
        });
    }
    let limit = data.limit.map_or(usize::MAX, |l| l.get());
    let mut shape = data.shape;
    let mut seen = 0usize;
    if limit == 0 {
        return Ok(shape);
    }
    each_line(path, file, &mut |at, bytes| {
        let bad = |message: String| DatasetError::BadExample {
            path: path.into(),
            at,
            message,
        };
        let row = parse_object(bytes).map_err(bad).and_then(|obj| {
            fields.extend(obj.keys().cloned());
            let shape = *shape.get_or_insert(detect(&obj, data).map_err(bad)?);
            let example = example(&obj, shape, data, loss_on).map_err(bad)?;
            Ok(ExampleRow {
                line: at.line(),
                example,
            })
        });
        seen += 1;
        each(row) && seen < limit
    })?;
    Ok(shape)
}

fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, String> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(obj)) => Ok(obj),
        Ok(other) => Err(format!(
            "expected a JSON object, found {}; each line must be one object",
            kind(&other)
        )),
        Err(e) => Err(format!(
            "invalid JSON: {e}; each line must be one JSON object"
        )),
    }
}

/// The shape a row's fields say.
fn detect(obj: &Map<String, Value>, data: &DataSpec) -> Result<DataShape, String> {
    if obj.contains_key(&data.messages) {
        Ok(DataShape::Messages)
    } else if obj.contains_key(&data.prompt) || obj.contains_key(&data.completion) {
        Ok(DataShape::PromptCompletion)
    } else if obj.contains_key(&data.text) {
        Ok(DataShape::Text)
    } else {
        let have: Vec<&str> = obj.keys().map(String::as_str).collect();
        Err(format!(
            "no `{}`, `{}` + `{}` or `{}` field, so the rows' shape is unknown (the row has: {}); \
             set `data.messages`, `data.prompt`/`data.completion` or `data.text` to the fields the file uses",
            data.messages,
            data.prompt,
            data.completion,
            data.text,
            if have.is_empty() { "no fields".to_string() } else { have.join(", ") }
        ))
    }
}

/// One row as `shape` reads it.
fn example(
    obj: &Map<String, Value>,
    shape: DataShape,
    data: &DataSpec,
    loss_on: LossOn,
) -> Result<Example, String> {
    let string = |field: &str, what: &str| -> Result<String, String> {
        match obj.get(field) {
            None => Err(format!(
                "missing field `{field}` ({what}; the file's rows are {} rows)",
                shape.name()
            )),
            Some(Value::String(s)) if s.trim().is_empty() => Err(format!("`{field}` is empty")),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(v) => Err(format!("`{field}` must be a string, found {}", kind(v))),
        }
    };
    match shape {
        DataShape::Text => string(&data.text, "the text").map(Example::Text),
        DataShape::PromptCompletion => Ok(Example::PromptCompletion {
            prompt: string(&data.prompt, "the prompt")?,
            completion: string(&data.completion, "the completion")?,
        }),
        DataShape::Messages => {
            let field = &data.messages;
            let list = match obj.get(field) {
                None => {
                    return Err(format!(
                    "missing field `{field}` (the conversation; the file's rows are messages rows)"
                ))
                }
                Some(Value::Array(list)) => list,
                Some(v) => {
                    return Err(format!(
                        "`{field}` must be an array of {{role, content}} objects, found {}",
                        kind(v)
                    ))
                }
            };
            let messages = messages(field, list)?;
            if loss_on == LossOn::Completion && !messages.iter().any(|m| m.role == Role::Assistant)
            {
                return Err(format!(
                    "`{field}` has no assistant message, so nothing in it is trained on; \
                     add the assistant's reply, or set `train.loss_on: all`"
                ));
            }
            Ok(Example::Messages(messages))
        }
    }
}

fn messages(field: &str, list: &[Value]) -> Result<Vec<Message>, String> {
    if list.is_empty() {
        return Err(format!("`{field}` is empty"));
    }
    let mut out = Vec::with_capacity(list.len());
    for (i, m) in list.iter().enumerate() {
        let at = format!("`{field}[{i}]`");
        let Value::Object(m) = m else {
            return Err(format!(
                "{at} must be an object with `role` and `content`, found {}",
                kind(m)
            ));
        };
        let role = match m.get("role") {
            Some(Value::String(r)) => Role::parse(r).ok_or_else(|| {
                format!(
                    "{at} has the unknown role `{r}`; roles are {}",
                    ROLES.join(", ")
                )
            })?,
            Some(v) => return Err(format!("{at}: `role` must be a string, found {}", kind(v))),
            None => return Err(format!("{at} has no `role`")),
        };
        let content = match m.get("content") {
            Some(Value::String(c)) if c.trim().is_empty() => {
                return Err(format!("{at} ({}) has empty content", role.name()))
            }
            Some(Value::String(c)) => c.clone(),
            Some(v) => {
                return Err(format!(
                    "{at}: `content` must be a string, found {}",
                    kind(v)
                ))
            }
            None => return Err(format!("{at} ({}) has no `content`", role.name())),
        };
        out.push(Message { role, content });
    }
    Ok(out)
}

/// A JSON value's kind, as the messages name it.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
