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

use crate::tree::{as_bool, as_f64, as_i64, is_null, Shape, Tree};
use serde::de::{self, DeserializeSeed, Visitor};
use serde::Deserialize;
use std::collections::HashMap;
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
    fn new(problem: Problem) -> DeError {
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
    fn at<T: Tree>(mut self, node: &T, loc: &[Step]) -> DeError {
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
fn expected_text(exp: &dyn de::Expected) -> String {
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

/// A deserializer for one node.
struct TreeDe<'a, T> {
    node: &'a T,
    loc: Vec<Step>,
}

impl<'a, T: Tree> TreeDe<'a, T> {
    fn child(&self, node: &'a T, step: Step) -> TreeDe<'a, T> {
        let mut loc = self.loc.clone();
        loc.push(step);
        TreeDe { node, loc }
    }

    /// Deserialize a child, placing errors that have no location yet at the child.
    fn seed<'de, S: DeserializeSeed<'de>>(seed: S, de: TreeDe<'de, T>) -> Result<S::Value, DeError>
    where
        T: 'de,
    {
        let (node, loc) = (de.node, de.loc.clone());
        seed.deserialize(de).map_err(|e| e.at(node, &loc))
    }

    fn wrong(&self, what: impl Into<String>) -> DeError {
        DeError::new(Problem::Expected {
            what: what.into(),
            found: Some(self.node.type_name()),
        })
        .at(self.node, &self.loc)
    }

    /// The scalar's text when it is a scalar and not null.
    fn text(&self) -> Option<&'a str> {
        match self.node.shape() {
            Shape::Scalar { text, plain } if !is_null(text, plain) => Some(text),
            _ => None,
        }
    }

    fn is_null(&self) -> bool {
        matches!(self.node.shape(), Shape::Scalar { text, plain } if is_null(text, plain))
    }

    fn is_filler(&self) -> bool {
        matches!(self.node.shape(), Shape::Filler)
    }

    fn entries(&self, fields: Option<&'static [&'static str]>) -> Entries<'a, T> {
        let entries: &'a [(T, T)] = match self.node.shape() {
            Shape::Map(entries) => entries,
            _ => &[],
        };
        // The last of repeated keys wins.
        let mut last = HashMap::new();
        for (i, (k, _)) in entries.iter().enumerate() {
            last.insert(k.key_text(), i);
        }
        Entries {
            de: TreeDe {
                node: self.node,
                loc: self.loc.clone(),
            },
            entries,
            last,
            next: 0,
            value: 0,
            fields,
        }
    }
}

macro_rules! integer {
    ($($method:ident => $visit:ident,)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
            if self.is_filler() {
                return filler::Filler.$method(visitor);
            }
            match self.text().and_then(as_i64) {
                Some(n) => integer!(@visit $visit, self, visitor, n),
                None => Err(self.wrong("an integer")),
            }
        }
    )*};
    (@visit visit_u64, $self:ident, $visitor:ident, $n:ident) => {
        match u64::try_from($n) {
            Ok(u) => $visitor.visit_u64(u),
            Err(_) => Err(de::Error::custom(format!("must be at least 0, found {}", $n))),
        }
    };
    (@visit visit_i64, $self:ident, $visitor:ident, $n:ident) => {
        $visitor.visit_i64($n)
    };
}

impl<'de, T: Tree> de::Deserializer<'de> for TreeDe<'de, T> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.node.shape() {
            Shape::Filler => filler::Filler.deserialize_any(visitor),
            Shape::Scalar { text, plain } => {
                if is_null(text, plain) {
                    return visitor.visit_unit();
                }
                if plain {
                    if matches!(text, "true" | "True" | "TRUE") {
                        return visitor.visit_bool(true);
                    }
                    if matches!(text, "false" | "False" | "FALSE") {
                        return visitor.visit_bool(false);
                    }
                    if let Ok(n) = text.parse::<i64>() {
                        return match u64::try_from(n) {
                            Ok(u) => visitor.visit_u64(u),
                            Err(_) => visitor.visit_i64(n),
                        };
                    }
                    if let Some(f) = as_f64(text).filter(|_| text.contains(['.', 'e', 'E'])) {
                        return visitor.visit_f64(f);
                    }
                }
                visitor.visit_str(text)
            }
            Shape::Seq(items) => visitor.visit_seq(Items {
                de: TreeDe {
                    node: self.node,
                    loc: self.loc.clone(),
                },
                items,
                next: 0,
            }),
            Shape::Map(_) => visitor.visit_map(self.entries(None)),
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        if self.is_filler() {
            return visitor.visit_bool(false);
        }
        match self.text().and_then(as_bool) {
            Some(b) => visitor.visit_bool(b),
            None => Err(self.wrong("a boolean")),
        }
    }

    integer! {
        deserialize_i8 => visit_i64,
        deserialize_i16 => visit_i64,
        deserialize_i32 => visit_i64,
        deserialize_i64 => visit_i64,
        deserialize_u8 => visit_u64,
        deserialize_u16 => visit_u64,
        deserialize_u32 => visit_u64,
        deserialize_u64 => visit_u64,
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_f64(visitor)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        if self.is_filler() {
            return filler::Filler.deserialize_f64(visitor);
        }
        match self.text().and_then(as_f64) {
            Some(v) => visitor.visit_f64(v),
            None => Err(self.wrong("a number")),
        }
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        if self.is_filler() {
            return visitor.visit_str("");
        }
        match self.text() {
            Some(text) => visitor.visit_str(text),
            None => {
                let what = expected_text(&visitor);
                Err(self.wrong(what))
            }
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_any(visitor)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_any(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        if self.is_filler() || self.is_null() {
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        if self.is_filler() || self.is_null() {
            visitor.visit_unit()
        } else {
            Err(self.wrong("nothing"))
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.node.shape() {
            Shape::Filler => filler::Filler.deserialize_seq(visitor),
            Shape::Seq(_) => self.deserialize_any(visitor),
            _ => {
                let what = expected_text(&visitor);
                Err(self.wrong(what))
            }
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _: usize, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: usize,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.node.shape() {
            Shape::Filler => filler::Filler.deserialize_map(visitor),
            Shape::Map(_) => visitor.visit_map(self.entries(None)),
            _ if self.is_null() => visitor.visit_map(self.entries(None)),
            _ => Err(self.wrong("a mapping")),
        }
    }

    /// Null is an empty mapping (`train:` with nothing under it keeps the defaults).
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        match self.node.shape() {
            Shape::Filler => filler::Filler.deserialize_struct(name, fields, visitor),
            Shape::Map(_) => visitor.visit_map(self.entries(Some(fields))),
            _ if self.is_null() => visitor.visit_map(self.entries(Some(fields))),
            _ => Err(self.wrong("a mapping")),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        if self.is_filler() {
            return filler::Filler.deserialize_enum(name, variants, visitor);
        }
        match self.text() {
            Some(_) => visitor.visit_enum(UnitVariant(self)),
            None => Err(self.wrong(format!("one of {}", quoted(variants)))),
        }
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_unit()
    }
}

/// A mapping's entries; with `fields`, a struct's, whose keys are checked.
struct Entries<'a, T> {
    de: TreeDe<'a, T>,
    entries: &'a [(T, T)],
    last: HashMap<String, usize>,
    next: usize,
    value: usize,
    fields: Option<&'static [&'static str]>,
}

impl<'de, T: Tree> de::MapAccess<'de> for Entries<'de, T> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        while let Some((k, _)) = self.entries.get(self.next) {
            let i = self.next;
            self.next += 1;
            let text = k.key_text();
            if self.last.get(&text) != Some(&i) {
                continue;
            }
            if let Some(fields) = self.fields {
                if text.starts_with("x-") {
                    continue;
                }
                if !fields.contains(&text.as_str()) {
                    let key = self.de.child(k, Step::Key(i));
                    return Err(DeError::new(Problem::UnknownKey {
                        key: text,
                        expected: fields,
                    })
                    .at(k, &key.loc));
                }
            }
            self.value = i;
            return TreeDe::seed(seed, self.de.child(k, Step::Key(i))).map(Some);
        }
        Ok(None)
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, DeError> {
        match self.entries.get(self.value) {
            Some((_, v)) => TreeDe::seed(seed, self.de.child(v, Step::Value(self.value))),
            None => Err(de::Error::custom("a value without a key")),
        }
    }
}

/// A list's items.
struct Items<'a, T> {
    de: TreeDe<'a, T>,
    items: &'a [T],
    next: usize,
}

impl<'de, T: Tree> de::SeqAccess<'de> for Items<'de, T> {
    type Error = DeError;

    fn next_element_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, DeError> {
        // A filler in a list is an item taken out by error recovery: skipped, so the items after
        // it keep their index.
        while let Some(item) = self.items.get(self.next) {
            let i = self.next;
            self.next += 1;
            if !matches!(item.shape(), Shape::Filler) {
                return TreeDe::seed(seed, self.de.child(item, Step::Item(i))).map(Some);
            }
        }
        Ok(None)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len() - self.next.min(self.items.len()))
    }
}

/// A scalar naming a unit variant (`schedule: cosine`).
struct UnitVariant<'a, T>(TreeDe<'a, T>);

impl<'de, T: Tree> de::EnumAccess<'de> for UnitVariant<'de, T> {
    type Error = DeError;
    type Variant = Self;

    fn variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<(S::Value, Self), DeError> {
        let de = TreeDe {
            node: self.0.node,
            loc: self.0.loc.clone(),
        };
        let v = TreeDe::seed(seed, de)?;
        Ok((v, self))
    }
}

impl<'de, T: Tree> de::VariantAccess<'de> for UnitVariant<'de, T> {
    type Error = DeError;

    fn unit_variant(self) -> Result<(), DeError> {
        Ok(())
    }
    fn newtype_variant_seed<S: DeserializeSeed<'de>>(self, _: S) -> Result<S::Value, DeError> {
        Err(self.0.wrong("a mapping"))
    }
    fn tuple_variant<V: Visitor<'de>>(self, _: usize, _: V) -> Result<V::Value, DeError> {
        Err(self.0.wrong("a list"))
    }
    fn struct_variant<V: Visitor<'de>>(
        self,
        _: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, DeError> {
        Err(self.0.wrong("a mapping"))
    }
}

pub mod filler {
    //! The deserializer of [`Shape::Filler`](crate::tree::Shape::Filler): an empty value of any
    //! type, so that error recovery can stand in for a missing required key and read on. Its
    //! values are never used: a job with a missing key has an error and is not built.

    use super::DeError;
    use serde::de::value::{BorrowedStrDeserializer, SeqDeserializer};
    use serde::de::{self, IntoDeserializer, Visitor};
    use serde::forward_to_deserialize_any;

    pub struct Filler;

    impl<'de> de::Deserializer<'de> for Filler {
        type Error = DeError;

        fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
            visitor.visit_str("")
        }
        fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
            visitor.visit_none()
        }
        fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
            visitor.visit_seq(SeqDeserializer::new(std::iter::empty::<()>()))
        }
        fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
            visitor.visit_map(de::value::MapDeserializer::new(
                std::iter::empty::<((), ())>(),
            ))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            visitor: V,
        ) -> Result<V::Value, DeError> {
            visitor.visit_map(Fields { fields, next: 0 })
        }
        fn deserialize_enum<V: Visitor<'de>>(
            self,
            _: &'static str,
            variants: &'static [&'static str],
            visitor: V,
        ) -> Result<V::Value, DeError> {
            let first = variants.first().copied().unwrap_or_default();
            visitor.visit_enum(IntoDeserializer::<DeError>::into_deserializer(first))
        }
        fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
            visitor.visit_unit()
        }
        forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf unit_struct newtype_struct tuple tuple_struct identifier ignored_any
        }
    }

    /// Every field of a struct, each a filler.
    struct Fields {
        fields: &'static [&'static str],
        next: usize,
    }

    impl<'de> de::MapAccess<'de> for Fields {
        type Error = DeError;
        fn next_key_seed<K: de::DeserializeSeed<'de>>(
            &mut self,
            seed: K,
        ) -> Result<Option<K::Value>, DeError> {
            let Some(f) = self.fields.get(self.next) else {
                return Ok(None);
            };
            self.next += 1;
            seed.deserialize(BorrowedStrDeserializer::new(f)).map(Some)
        }
        fn next_value_seed<S: de::DeserializeSeed<'de>>(
            &mut self,
            seed: S,
        ) -> Result<S::Value, DeError> {
            seed.deserialize(Filler)
        }
    }

    impl IntoDeserializer<'_, DeError> for Filler {
        type Deserializer = Filler;
        fn into_deserializer(self) -> Filler {
            self
        }
    }
}
