//! The `Deserializer` over one tree node, and its mapping, list and enum accesses: scalars
//! typed by what the spec type asks for, struct keys checked against the struct's fields, the
//! last of repeated keys winning, fillers standing in for missing values.

use super::filler::Filler;
use super::{expected_text, quoted, DeError, Problem, Step};
use crate::tree::{as_bool, as_f64, as_i64, is_null, Shape, Tree};
use serde::de::{self, DeserializeSeed, Visitor};
use std::collections::HashMap;

/// A deserializer for one node.
pub(super) struct TreeDe<'a, T> {
    pub(super) node: &'a T,
    pub(super) loc: Vec<Step>,
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
                return Filler.$method(visitor);
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
            Shape::Filler => Filler.deserialize_any(visitor),
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
            return Filler.deserialize_f64(visitor);
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
            Shape::Filler => Filler.deserialize_seq(visitor),
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
            Shape::Filler => Filler.deserialize_map(visitor),
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
            Shape::Filler => Filler.deserialize_struct(name, fields, visitor),
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
            return Filler.deserialize_enum(name, variants, visitor);
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
