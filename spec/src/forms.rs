//! The list and mapping forms of the spec's fields (`#[serde(deserialize_with)]` helpers):
//! lists of names, and `environment` as a mapping or a list of `NAME=value` / `NAME`.
//!
//! They exist for the messages: a scalar where a list belongs is "expected a list of strings",
//! and a bad environment entry is reported at the entry.

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;
use std::fmt;

/// A list of strings (a scalar item is taken as its text: `labels: [0, 1]` is `["0", "1"]`).
struct Names(Vec<String>);

impl<'de> Deserialize<'de> for Names {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Names;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of strings")
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Names, A::Error> {
                let mut out = Vec::new();
                while let Some(s) = seq.next_element::<String>()? {
                    out.push(s);
                }
                Ok(Names(out))
            }
        }
        d.deserialize_seq(V)
    }
}

/// `deserialize_with` for `Vec<String>` fields.
pub fn names<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Names::deserialize(d).map(|n| n.0)
}

/// `deserialize_with` for `Option<Vec<String>>` fields.
pub fn optional_names<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    Option::<Names>::deserialize(d).map(|n| n.map(|n| n.0))
}

/// One `NAME=value` or `NAME` entry of the list form.
struct EnvEntry(String, Option<String>);

impl<'de> Deserialize<'de> for EnvEntry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s.is_empty() || s.starts_with('=') {
            return Err(de::Error::custom("expected `NAME=value` or `NAME`"));
        }
        Ok(match s.split_once('=') {
            Some((k, v)) => EnvEntry(k.to_string(), Some(v.to_string())),
            None => EnvEntry(s, None),
        })
    }
}

/// `deserialize_with` for `environment`: a mapping of names to values (or nothing), or a list.
pub fn environment<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, Option<String>>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = BTreeMap<String, Option<String>>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a mapping of names to values")
        }
        fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = BTreeMap::new();
            while let Some((k, v)) = map.next_entry::<String, Option<String>>()? {
                out.insert(k, v);
            }
            Ok(out)
        }
        fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut out = BTreeMap::new();
            while let Some(EnvEntry(k, v)) = seq.next_element()? {
                out.insert(k, v);
            }
            Ok(out)
        }
    }
    d.deserialize_any(V)
}
