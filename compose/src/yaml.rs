//! YAML with a position on every node.
//!
//! Validation must say `file:line:col`, and serde_yaml drops positions, so the documents are read
//! with yaml-rust2's event parser into a small tree of our own ([`Node`]). Anchors and aliases
//! are expanded here (an alias is a copy of the anchored node, keeping the anchor's positions), and
//! `<<:` merge keys are applied the way YAML 1.1 (and so Compose) defines them: explicit keys win,
//! and of several merged maps the earlier wins. Tags are kept, because Compose gives `!reset` and
//! `!override` a meaning when files are merged. Scalars keep their text and whether they were plain
//! (unquoted), since only plain scalars are numbers, booleans or null; the typing rules are
//! `finetune_spec::tree`'s, shared with the spec's deserializer (`crate::de`).

use crate::diagnostic::Position;
use finetune_spec::tree;
use std::path::Path;
use std::sync::Arc;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Deeper nesting than this is refused: no Compose file needs it, and the recursive walks over
/// the tree must not overflow the stack on hostile input.
pub const MAX_DEPTH: usize = 200;
/// Alias expansion beyond this many nodes is refused ("billion laughs").
pub const MAX_NODES: usize = 1_000_000;

/// One YAML node with its position and tag.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub kind: Kind,
    pub pos: Position,
    /// The tag's suffix for local tags (`reset` for `!reset`), the full tag otherwise.
    pub tag: Option<String>,
}

/// The shape of a node.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Scalar(Scalar),
    Seq(Vec<Node>),
    /// Entries in document order; keys are nodes so they keep their positions.
    Map(Vec<(Node, Node)>),
}

/// A scalar's text, and whether it was written plain (so may be a number, bool or null).
#[derive(Debug, Clone, PartialEq)]
pub struct Scalar {
    pub text: String,
    pub plain: bool,
}

/// A YAML syntax error, positioned.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{pos}: {message}")]
pub struct YamlError {
    pub pos: Position,
    pub message: String,
}

impl Node {
    /// A node with no source position of its own (synthesised by merging or defaults).
    pub fn new(kind: Kind, pos: Position) -> Node {
        Node {
            kind,
            pos,
            tag: None,
        }
    }

    /// A plain-text string scalar.
    pub fn string(text: impl Into<String>, pos: Position) -> Node {
        Node::new(
            Kind::Scalar(Scalar {
                text: text.into(),
                plain: false,
            }),
            pos,
        )
    }

    /// An empty mapping.
    pub fn empty_map(pos: Position) -> Node {
        Node::new(Kind::Map(Vec::new()), pos)
    }

    pub fn is_null(&self) -> bool {
        matches!(&self.kind, Kind::Scalar(s) if tree::is_null(&s.text, s.plain))
    }

    /// The text of a scalar that is not null.
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            Kind::Scalar(s) if !self.is_null() => Some(&s.text),
            _ => None,
        }
    }

    /// An integer: a plain integer scalar, or any scalar whose text is one (Compose casts
    /// interpolated values, so `"3"` after `${EPOCHS}` counts).
    pub fn as_i64(&self) -> Option<i64> {
        tree::as_i64(self.as_str()?)
    }

    /// A number (integer or float, YAML spellings of infinity excluded).
    pub fn as_f64(&self) -> Option<f64> {
        tree::as_f64(self.as_str()?)
    }

    /// A boolean, YAML 1.2 core spellings plus the YAML 1.1 ones Compose users write.
    pub fn as_bool(&self) -> Option<bool> {
        tree::as_bool(self.as_str()?)
    }

    pub fn as_map(&self) -> Option<&Vec<(Node, Node)>> {
        match &self.kind {
            Kind::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> Option<&Vec<Node>> {
        match &self.kind {
            Kind::Seq(s) => Some(s),
            _ => None,
        }
    }

    /// The value under `key` in a mapping (the last one, as YAML parsers keep).
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .rev()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v)
    }

    /// The key node of `key`, for positions of messages about the key itself.
    pub fn key(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .rev()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(k, _)| k)
    }

    /// A short name of the node's type for messages (`a mapping`, `a string`...).
    pub fn type_name(&self) -> &'static str {
        match &self.kind {
            Kind::Map(_) => "a mapping",
            Kind::Seq(_) => "a list",
            Kind::Scalar(s) => tree::scalar_type_name(&s.text, s.plain),
        }
    }

    /// The node as JSON, with YAML's plain-scalar typing (numbers, booleans, null).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match &self.kind {
            Kind::Scalar(s) if !s.plain => Value::String(s.text.clone()),
            Kind::Scalar(s) => {
                if self.is_null() {
                    Value::Null
                } else if matches!(s.text.as_str(), "true" | "True" | "TRUE") {
                    Value::Bool(true)
                } else if matches!(s.text.as_str(), "false" | "False" | "FALSE") {
                    Value::Bool(false)
                } else if let Ok(i) = s.text.parse::<i64>() {
                    Value::from(i)
                } else if let Some(f) = self
                    .as_f64()
                    .filter(|_| s.text.contains(['.', 'e', 'E']))
                    .and_then(serde_json::Number::from_f64)
                {
                    Value::Number(f)
                } else {
                    Value::String(s.text.clone())
                }
            }
            Kind::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            Kind::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.key_text(), v.to_json()))
                    .collect(),
            ),
        }
    }

    /// The text of a mapping key (non-scalar keys, which Compose never uses, print as JSON).
    pub fn key_text(&self) -> String {
        match &self.kind {
            Kind::Scalar(s) => s.text.clone(),
            _ => self.to_json().to_string(),
        }
    }
}

/// Parse the first document of `text` (an empty text is an empty mapping).
pub fn parse(text: &str, file: &Path) -> Result<Node, YamlError> {
    let file: Arc<Path> = Arc::from(file);
    let mut builder = Builder {
        file: file.clone(),
        stack: Vec::new(),
        anchors: Vec::new(),
        root: None,
        error: None,
        nodes: 0,
        docs: 0,
    };
    let mut parser = Parser::new_from_str(text);
    if let Err(e) = parser.load(&mut builder, false) {
        return Err(YamlError {
            pos: position(&file, e.marker()),
            message: e.info().to_string(),
        });
    }
    if let Some(e) = builder.error {
        return Err(e);
    }
    Ok(builder
        .root
        .unwrap_or_else(|| Node::empty_map(Position::new(file, 1, 1))))
}

fn position(file: &Arc<Path>, m: &Marker) -> Position {
    // yaml-rust2 counts lines from 1 and columns from 0.
    Position::new(file.clone(), m.line().max(1), m.col() + 1)
}

enum Frame {
    Seq(Node, usize, Vec<Node>),
    Map(Node, usize, Vec<(Node, Node)>, Option<Node>),
}

struct Builder {
    file: Arc<Path>,
    stack: Vec<Frame>,
    anchors: Vec<(usize, Node)>,
    root: Option<Node>,
    error: Option<YamlError>,
    nodes: usize,
    docs: usize,
}

impl Builder {
    fn fail(&mut self, pos: Position, message: &str) {
        if self.error.is_none() {
            self.error = Some(YamlError {
                pos,
                message: message.to_string(),
            });
        }
    }

    fn push_value(&mut self, node: Node, anchor: usize) {
        if anchor > 0 {
            self.anchors.push((anchor, node.clone()));
        }
        match self.stack.last_mut() {
            None => {
                if self.root.is_none() {
                    self.root = Some(node);
                }
            }
            Some(Frame::Seq(_, _, items)) => items.push(node),
            Some(Frame::Map(_, _, entries, key)) => match key.take() {
                None => *key = Some(node),
                Some(k) => entries.push((k, node)),
            },
        }
    }
}

fn tag_name(tag: Option<yaml_rust2::parser::Tag>) -> Option<String> {
    let tag = tag?;
    Some(if tag.handle == "!" {
        tag.suffix
    } else {
        format!("{}{}", tag.handle, tag.suffix)
    })
}

fn count_nodes(n: &Node) -> usize {
    match &n.kind {
        Kind::Scalar(_) => 1,
        Kind::Seq(items) => 1 + items.iter().map(count_nodes).sum::<usize>(),
        Kind::Map(e) => {
            1 + e
                .iter()
                .map(|(k, v)| count_nodes(k) + count_nodes(v))
                .sum::<usize>()
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.error.is_some() {
            return;
        }
        let pos = position(&self.file, &mark);
        let is_seq = matches!(ev, Event::SequenceStart(..));
        match ev {
            Event::DocumentStart => self.docs += 1,
            Event::Scalar(text, style, anchor, tag) => {
                if self.docs > 1 {
                    return;
                }
                let tag = tag_name(tag);
                let plain = style == TScalarStyle::Plain
                    && !matches!(tag.as_deref(), Some("tag:yaml.org,2002:str"));
                self.nodes += 1;
                let mut node = Node::new(Kind::Scalar(Scalar { text, plain }), pos);
                node.tag = tag;
                self.push_value(node, anchor);
            }
            Event::Alias(id) => {
                if self.docs > 1 {
                    return;
                }
                let Some(node) = self
                    .anchors
                    .iter()
                    .rev()
                    .find(|(a, _)| *a == id)
                    .map(|(_, n)| n.clone())
                else {
                    self.fail(pos, "alias to an unknown anchor");
                    return;
                };
                self.nodes += count_nodes(&node);
                if self.nodes > MAX_NODES {
                    self.fail(pos, "too many nodes after expanding aliases");
                    return;
                }
                self.push_value(node, 0);
            }
            Event::SequenceStart(anchor, tag) | Event::MappingStart(anchor, tag) => {
                if self.docs > 1 {
                    return;
                }
                if self.stack.len() >= MAX_DEPTH {
                    self.fail(pos, "nesting is too deep");
                    return;
                }
                self.nodes += 1;
                let mut node = Node::new(Kind::Seq(Vec::new()), pos);
                node.tag = tag_name(tag);
                self.stack.push(if is_seq {
                    Frame::Seq(node, anchor, Vec::new())
                } else {
                    Frame::Map(node, anchor, Vec::new(), None)
                });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                if self.docs > 1 {
                    return;
                }
                let (node, anchor) = match self.stack.pop() {
                    Some(Frame::Seq(mut node, anchor, items)) => {
                        node.kind = Kind::Seq(items);
                        (node, anchor)
                    }
                    Some(Frame::Map(mut node, anchor, entries, _)) => {
                        node.kind = Kind::Map(apply_merge_keys(entries));
                        (node, anchor)
                    }
                    None => return,
                };
                self.push_value(node, anchor);
            }
            _ => {}
        }
    }
}

/// Apply `<<` merge keys: the merged maps' entries are added where the map has no such key.
fn apply_merge_keys(entries: Vec<(Node, Node)>) -> Vec<(Node, Node)> {
    let is_merge = |k: &Node| matches!(&k.kind, Kind::Scalar(s) if s.plain && s.text == "<<");
    if !entries.iter().any(|(k, _)| is_merge(k)) {
        return entries;
    }
    let mut own = Vec::new();
    let mut merged: Vec<Node> = Vec::new();
    for (k, v) in entries {
        if is_merge(&k) {
            match v.kind {
                Kind::Map(_) => merged.push(v),
                Kind::Seq(items) => merged.extend(items),
                // Not mergeable: keep it as an ordinary key so validation can point at it.
                _ => own.push((k, v)),
            }
        } else {
            own.push((k, v));
        }
    }
    for m in merged {
        if let Kind::Map(extra) = m.kind {
            for (k, v) in extra {
                let text = k.as_str().map(str::to_string);
                if !own
                    .iter()
                    .any(|(ok, _)| ok.as_str().map(str::to_string) == text)
                {
                    own.push((k, v));
                }
            }
        }
    }
    own
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Node {
        parse(s, Path::new("c.yaml")).unwrap()
    }

    #[test]
    fn positions_are_one_based_line_and_column() {
        let n = p("a:\n  b: 1\n  c: [x, y]\n");
        let b = n.get("a").unwrap().get("b").unwrap();
        assert_eq!((b.pos.line, b.pos.col), (2, 6));
        let c = n.get("a").unwrap().key("c").unwrap();
        assert_eq!((c.pos.line, c.pos.col), (3, 3));
    }

    #[test]
    fn anchors_aliases_and_merge_keys() {
        let n = p("x: &d {a: 1, b: 2}\ny:\n  <<: *d\n  b: 3\nz: *d\n");
        let y = n.get("y").unwrap();
        assert_eq!(y.get("a").unwrap().as_i64(), Some(1));
        assert_eq!(y.get("b").unwrap().as_i64(), Some(3));
        assert_eq!(n.get("z").unwrap().get("b").unwrap().as_i64(), Some(2));
        let m = p("a: &a {k: 1}\nb: &b {k: 2, j: 2}\nc:\n  <<: [*a, *b]\n");
        let c = m.get("c").unwrap();
        assert_eq!(c.get("k").unwrap().as_i64(), Some(1));
        assert_eq!(c.get("j").unwrap().as_i64(), Some(2));
    }

    #[test]
    fn scalars_keep_plainness_and_tags() {
        let n = p("a: \"1\"\nb: 1\nc: !reset []\nd:\ne: ~\n");
        assert_eq!(n.get("a").unwrap().to_json(), serde_json::json!("1"));
        assert_eq!(n.get("b").unwrap().to_json(), serde_json::json!(1));
        assert_eq!(n.get("c").unwrap().tag.as_deref(), Some("reset"));
        assert!(n.get("d").unwrap().is_null());
        assert!(n.get("e").unwrap().is_null());
    }

    #[test]
    fn errors_are_positioned_and_bombs_refused() {
        let e = parse("a: [1, 2\nb: 3\n", Path::new("c.yaml")).unwrap_err();
        assert!(e.pos.line >= 1);
        let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 0..8 {
            bomb.push_str(&format!(
                "b{i}: &b{i} [{}]\n",
                vec![
                    if i == 0 {
                        "*a".to_string()
                    } else {
                        format!("*b{}", i - 1)
                    };
                    10
                ]
                .join(", ")
            ));
        }
        assert!(parse(&bomb, Path::new("c.yaml")).is_err());
        let deep = "[".repeat(500);
        assert!(parse(&deep, Path::new("c.yaml")).is_err());
        assert_eq!(
            p(""),
            Node::empty_map(Position::new(Arc::from(Path::new("c.yaml")), 1, 1))
        );
    }
}
