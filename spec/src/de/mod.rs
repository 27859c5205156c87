//! A serde `Deserializer` over any [`Tree`]: the spec types read straight from positioned YAML
//! or from flat options, with errors that say which node is at fault.
//!
//! An error carries the [`Step`]s from the root to the node where it arose (a key, a value, a list
//! item), so the compose side can print its `file:line:col` and key path, and the trainer its key
//! path. Scalars are typed by what the spec type asks for: a string field takes any scalar's text
//! (`label: 1` is `"1"`), an integer field any scalar that reads as one. Struct keys are checked
//! against the struct's fields (so every spec struct refuses unknown keys, `x-*` keys aside,
//! without `deny_unknown_fields`, which would also make old trainers refuse newer `job.json`s);
//! of repeated keys the last wins, as YAML parsers keep.
//!
//! Messages are those `validate` prints: `expected an integer, found a string`,
//! `unknown key `trian``, `must be at least 1, found 0`. A message may carry a hint after
//! [`HINT`], which [`DeError::hint`] splits off.

mod deserializer;
pub mod filler;

use crate::tree::{Shape, Tree};
use deserializer::TreeDe;
use serde::de;
use serde::Deserialize;
use std::fmt;

/// Separates a message from its hint in custom errors (`"message\n  hint: do this"`), so the
/// spec types can suggest a fix; JSON errors print it as a second line.
pub const HINT: &str = "\n  hint: ";

/// `message` with `hint` attached, for `de::Error::custom`.
pub fn with_hint(message: impl fmt::Display, hint: impl fmt::Display) -> String {
    format!("{message}{HINT}{hint}")
}

/// One step from a node to a child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The key of the mapping's n-th entry.
    Key(usize),
    /// The value of the mapping's n-th entry.
    Value(usize),
    /// The n-th list item.
    Item(usize),
}

/// What went wrong, without where.
#[derive(Debug, Clone, PartialEq)]
pub enum Problem {
    Message {
        message: String,
        hint: Option<String>,
    },
    /// A value of the wrong type; `found` is the node's type name.
    Expected {
        what: String,
        found: Option<&'static str>,
    },
    UnknownKey {
        key: String,
        expected: &'static [&'static str],
    },
    UnknownValue {
        value: String,
        expected: &'static [&'static str],
    },
    /// A required key is absent from the mapping at the error's location.
    Missing(&'static str),
}

/// A deserialization error and the node it arose at.
#[derive(Debug, Clone, PartialEq)]
pub struct DeError {
    /// Steps from the root; `None` only while the error travels up to the deserializer.
    pub loc: Option<Vec<Step>>,
    pub problem: Problem,
}

impl DeError {
    pub(crate) fn new(problem: Problem) -> DeError {
        DeError { loc: None, problem }
    }

    /// The message, without position or hint.
    pub fn message(&self) -> String {
        match &self.problem {
            Problem::Message { message, .. } => message.clone(),
            Problem::Expected { what, found } => {
                format!(
                    "expected {what}, found {}",
                    found.unwrap_or("something else")
                )
            }
            Problem::UnknownKey { key, .. } => format!("unknown key `{key}`"),
            Problem::UnknownValue { value, expected } => {
                format!(
                    "unknown value `{value}`: expected one of {}",
                    quoted(expected)
                )
            }
            Problem::Missing(key) => format!("missing the required key `{key}`"),
        }
    }

    /// The hint a spec type attached, if any.
    pub fn hint(&self) -> Option<&str> {
        match &self.problem {
            Problem::Message { hint, .. } => hint.as_deref(),
            _ => None,
        }
    }

    /// Set the location (and the type found) if the error has none yet.
    pub(crate) fn at<T: Tree>(mut self, node: &T, loc: &[Step]) -> DeError {
        if self.loc.is_none() {
            self.loc = Some(loc.to_vec());
            if let Problem::Expected { found, .. } = &mut self.problem {
                found.get_or_insert(node.type_name());
            }
        }
        self
    }

    /// `path: message`, the path of its location under `root` (for errors with no file).
    pub fn describe<T: Tree>(&self, root: &T) -> String {
        let path = path_of(root, self.loc.as_deref().unwrap_or(&[]));
        match (path.is_empty(), self.hint()) {
            (true, _) => self.message(),
            (false, None) => format!("{path}: {}", self.message()),
            (false, Some(h)) => format!("{path}: {}{HINT}{h}", self.message()),
        }
    }
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<M: fmt::Display>(msg: M) -> Self {
        let text = msg.to_string();
        let (message, hint) = match text.split_once(HINT) {
            Some((m, h)) => (m.to_string(), Some(h.to_string())),
            None => (text, None),
        };
        DeError::new(Problem::Message { message, hint })
    }
    fn invalid_type(_: de::Unexpected, exp: &dyn de::Expected) -> Self {
        DeError::new(Problem::Expected {
            what: expected_text(exp),
            found: None,
        })
    }
    fn invalid_value(unexp: de::Unexpected, exp: &dyn de::Expected) -> Self {
        de::Error::custom(format!("expected {}, found {unexp}", expected_text(exp)))
    }
    fn invalid_length(len: usize, exp: &dyn de::Expected) -> Self {
        de::Error::custom(format!(
            "expected {}, found {len} items",
            expected_text(exp)
        ))
    }
    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        DeError::new(Problem::UnknownValue {
            value: variant.to_string(),
            expected,
        })
    }
    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        DeError::new(Problem::UnknownKey {
            key: field.to_string(),
            expected,
        })
    }
    fn missing_field(field: &'static str) -> Self {
        DeError::new(Problem::Missing(field))
    }
    fn duplicate_field(field: &'static str) -> Self {
        de::Error::custom(format!("`{field}` is given twice"))
    }
}

/// serde's own "expecting" texts in the words `validate` uses.
pub(crate) fn expected_text(exp: &dyn de::Expected) -> String {
    let text = exp.to_string();
    match text.as_str() {
        "path string" => "a path".into(),
        "a sequence" => "a list".into(),
        "a map" => "a mapping".into(),
        "a boolean" | "a string" | "a character" => text,
        t if t.starts_with('i') || t.starts_with('u') => "an integer".into(),
        t if t.starts_with('f') => "a number".into(),
        _ => text,
    }
}

/// `` `a`, `b` ``.
pub fn quoted(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The node at `loc` under `root`, if the steps lead anywhere.
pub fn node_at<'a, T: Tree>(root: &'a T, loc: &[Step]) -> Option<&'a T> {
    loc.iter()
        .try_fold(root, |node, step| match (node.shape(), step) {
            (Shape::Map(entries), Step::Key(i)) => entries.get(*i).map(|(k, _)| k),
            (Shape::Map(entries), Step::Value(i)) => entries.get(*i).map(|(_, v)| v),
            (Shape::Seq(items), Step::Item(i)) => items.get(*i),
            _ => None,
        })
}

/// The key path of `loc` under `root`: `train.epochs`, `environment[0]`.
pub fn path_of<T: Tree>(root: &T, loc: &[Step]) -> String {
    let mut out = String::new();
    let mut node = root;
    for step in loc {
        let next = match (node.shape(), step) {
            (Shape::Map(entries), Step::Key(i) | Step::Value(i)) => {
                entries.get(*i).map(|(k, v)| {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(&k.key_text());
                    if matches!(step, Step::Key(_)) {
                        k
                    } else {
                        v
                    }
                })
            }
            (Shape::Seq(items), Step::Item(i)) => items.get(*i).inspect(|_| {
                out.push_str(&format!("[{i}]"));
            }),
            _ => None,
        };
        match next {
            Some(n) => node = n,
            None => break,
        }
    }
    out
}

/// Read a `T` from `tree`.
pub fn from_tree<'de, T: Deserialize<'de>, N: Tree>(tree: &'de N) -> Result<T, DeError> {
    T::deserialize(TreeDe {
        node: tree,
        loc: Vec::new(),
    })
    .map_err(|e| e.at(tree, &[]))
}
