//! Untyped document trees that the spec types deserialize from (see [`crate::de`]).
//!
//! Two kinds of input reach the spec without being JSON: the compose side's positioned YAML
//! nodes, and flat options (provider options, trainer flags) nested by [`crate::options`]. Both
//! are trees of scalars, lists and mappings whose scalars are text typed the way YAML types plain
//! scalars. [`Tree`] is that shape; the compose crate implements it for its YAML `Node`, and
//! [`Flat`] is the position-less tree the trainer builds from its flags. The scalar typing rules
//! (what is null, an integer, a number, a boolean) are written once, here.

/// The shape of one tree node.
#[derive(Debug)]
pub enum Shape<'a, T> {
    /// A scalar's text, and whether it was written plain (unquoted: may be a number or null).
    Scalar {
        text: &'a str,
        plain: bool,
    },
    Seq(&'a [T]),
    /// Entries in document order.
    Map(&'a [(T, T)]),
    /// A stand-in for a missing required value, which deserializes to an empty value of any
    /// type. Only the compose side's error recovery creates one, to look past the first missing
    /// key (see [`crate::de::filler`]).
    Filler,
}

/// A document tree the spec types can be read from.
pub trait Tree: Sized {
    fn shape(&self) -> Shape<'_, Self>;

    /// The text of a mapping key, for key paths (`train.epochs`).
    fn key_text(&self) -> String {
        match self.shape() {
            Shape::Scalar { text, .. } => text.to_string(),
            _ => "?".to_string(),
        }
    }

    /// A short name of the node's type for messages (`a mapping`, `a string`...).
    fn type_name(&self) -> &'static str {
        match self.shape() {
            Shape::Map(_) => "a mapping",
            Shape::Seq(_) => "a list",
            Shape::Filler => "nothing",
            Shape::Scalar { text, plain } => scalar_type_name(text, plain),
        }
    }
}

/// A tree that can be built, for nesting flat options into a job.
pub trait TreeBuild: Tree + Clone {
    /// A mapping; `like` is a node to borrow a position from.
    fn new_map(entries: Vec<(Self, Self)>, like: &Self) -> Self;
    fn new_seq(items: Vec<Self>, like: &Self) -> Self;
    /// A string scalar (a key), positioned like `like`.
    fn new_string(text: &str, like: &Self) -> Self;
    fn entries_mut(&mut self) -> Option<&mut Vec<(Self, Self)>>;
}

/// Whether a scalar is null: plain and empty, `~` or `null`.
pub fn is_null(text: &str, plain: bool) -> bool {
    plain && matches!(text, "" | "~" | "null" | "Null" | "NULL")
}

/// A scalar's integer value: any scalar whose text is one (Compose casts interpolated values, so
/// `"3"` after `${EPOCHS}` counts), `0x` hex included.
pub fn as_i64(text: &str) -> Option<i64> {
    let t = text.trim();
    if let Some(h) = t.strip_prefix("0x") {
        return i64::from_str_radix(h, 16).ok();
    }
    t.parse().ok()
}

/// A scalar's number value (integer or float; YAML spellings of infinity and NaN excluded).
pub fn as_f64(text: &str) -> Option<f64> {
    let t = text.trim();
    t.parse::<f64>().ok().filter(|v| {
        v.is_finite()
            && !t
                .chars()
                .any(|c| c.is_ascii_alphabetic() && c != 'e' && c != 'E')
    })
}

/// A scalar's boolean value, YAML 1.2 core spellings plus the YAML 1.1 ones Compose users write.
pub fn as_bool(text: &str) -> Option<bool> {
    match text {
        "true" | "True" | "TRUE" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" => Some(true),
        "false" | "False" | "FALSE" | "no" | "No" | "NO" | "off" | "Off" | "OFF" => Some(false),
        _ => None,
    }
}

/// The type name of a scalar for messages.
pub fn scalar_type_name(text: &str, plain: bool) -> &'static str {
    if is_null(text, plain) {
        "null"
    } else if !plain {
        "a string"
    } else if as_bool(text).is_some() {
        "a boolean"
    } else if as_i64(text).is_some() {
        "an integer"
    } else if as_f64(text).is_some() {
        "a number"
    } else {
        "a string"
    }
}

/// A tree without positions; scalars are plain (typed like unquoted YAML).
#[derive(Debug, Clone, PartialEq)]
pub enum Flat {
    Scalar(String),
    Seq(Vec<Flat>),
    Map(Vec<(Flat, Flat)>),
}

impl Tree for Flat {
    fn shape(&self) -> Shape<'_, Self> {
        match self {
            Flat::Scalar(text) => Shape::Scalar { text, plain: true },
            Flat::Seq(items) => Shape::Seq(items),
            Flat::Map(entries) => Shape::Map(entries),
        }
    }
}

impl TreeBuild for Flat {
    fn new_map(entries: Vec<(Self, Self)>, _: &Self) -> Self {
        Flat::Map(entries)
    }
    fn new_seq(items: Vec<Self>, _: &Self) -> Self {
        Flat::Seq(items)
    }
    fn new_string(text: &str, _: &Self) -> Self {
        Flat::Scalar(text.to_string())
    }
    fn entries_mut(&mut self) -> Option<&mut Vec<(Self, Self)>> {
        match self {
            Flat::Map(entries) => Some(entries),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_are_typed_like_plain_yaml() {
        assert_eq!(scalar_type_name("", true), "null");
        assert_eq!(scalar_type_name("3", false), "a string");
        assert_eq!(scalar_type_name("3", true), "an integer");
        assert_eq!(scalar_type_name("5e-5", true), "a number");
        assert_eq!(scalar_type_name("inf", true), "a string");
        assert_eq!(scalar_type_name("yes", true), "a boolean");
        assert_eq!(as_i64(" 0x10 "), Some(16));
        assert_eq!(Flat::Seq(vec![]).type_name(), "a list");
    }
}
