//! Positioned YAML read straight into [`JobSpec`], reporting every problem at its node.
//!
//! [`Node`] is a [`Tree`], so `finetune_spec::de` deserializes the spec types from it and says
//! which node an error arose at; this module turns that into a [`Diagnostic`] with the node's
//! `file:line:col`, the key path and a hint ("did you mean" for unknown keys and values, from the
//! names the type itself expects).
//!
//! serde stops at the first error, and users expect every problem at once. So [`read_job`]
//! records the error, takes the node at fault out (a mapping entry is removed; a list item is
//! replaced by a filler, which lists skip, so later items keep their index) and reads again,
//! until the job reads or nothing is left to take out. A required key that is missing is reported
//! and stood in for by a filler, so the rest of the job is still read; one that is missing only
//! because its value was taken out is not reported twice.

use crate::diagnostic::{suggest, Diagnostic, Position};
use crate::yaml::{Kind, Node, Scalar};
use finetune_spec::de::{from_tree, node_at, path_of, DeError, Problem, Step};
use finetune_spec::tree::{Shape, Tree, TreeBuild};
use finetune_spec::JobSpec;
use std::collections::HashSet;

/// Marks a filler node (a tag no YAML document can spell).
const FILLER_TAG: &str = "\u{0}filler";

/// More rounds than any real file needs, and a bound on hostile ones.
const MAX_ROUNDS: usize = 500;

impl Tree for Node {
    fn shape(&self) -> Shape<'_, Node> {
        if self.tag.as_deref() == Some(FILLER_TAG) {
            return Shape::Filler;
        }
        match &self.kind {
            Kind::Scalar(s) => Shape::Scalar {
                text: &s.text,
                plain: s.plain,
            },
            Kind::Seq(items) => Shape::Seq(items),
            Kind::Map(entries) => Shape::Map(entries),
        }
    }

    fn key_text(&self) -> String {
        Node::key_text(self)
    }

    fn type_name(&self) -> &'static str {
        Node::type_name(self)
    }
}

impl TreeBuild for Node {
    fn new_map(entries: Vec<(Node, Node)>, like: &Node) -> Node {
        Node::new(Kind::Map(entries), like.pos.clone())
    }
    fn new_seq(items: Vec<Node>, like: &Node) -> Node {
        Node::new(Kind::Seq(items), like.pos.clone())
    }
    fn new_string(text: &str, like: &Node) -> Node {
        Node::string(text, like.pos.clone())
    }
    fn entries_mut(&mut self) -> Option<&mut Vec<(Node, Node)>> {
        match &mut self.kind {
            Kind::Map(entries) => Some(entries),
            _ => None,
        }
    }
}

/// Where the node being read is, for messages.
pub struct At<'a> {
    /// Its key path from the document root (`x-finetune.jobs.a`).
    pub path: &'a str,
    /// The position of the job's key, where "missing the required key" points.
    pub pos: &'a Position,
    /// The job's name; `None` reads a partial job (`x-finetune.defaults`), whose missing keys
    /// are not problems.
    pub name: Option<&'a str>,
}

/// Read the job mapping `node` into a spec, pushing every problem onto `out`. The spec is
/// returned when the job read after taking the nodes at fault out, so cross-field checks can
/// still look at the rest; it is a valid job only if nothing was pushed.
pub fn read_job(node: &Node, at: &At, out: &mut Vec<Diagnostic>) -> Option<JobSpec> {
    let mut work = node.clone();
    if let (Some(k), Some(entries)) = (node.key("name"), work.entries_mut()) {
        out.push(
            Diagnostic::error(&k.pos, join(at.path, "name"), "unknown key `name`")
                .with_hint("a job is named by its key under `jobs`, or by its service"),
        );
        entries.retain(|(k, _)| k.as_str() != Some("name"));
    }
    if let Some(entries) = work.entries_mut() {
        let name = at.name.unwrap_or_default();
        entries.push((
            Node::string("name", node.pos.clone()),
            Node::string(name, node.pos.clone()),
        ));
    }
    let mut removed = HashSet::new();
    for _ in 0..MAX_ROUNDS {
        let e = match from_tree::<JobSpec, Node>(&work) {
            Ok(spec) => return Some(spec),
            Err(e) => e,
        };
        let loc = e.loc.clone().unwrap_or_default();
        if node_at(&work, &loc).is_some_and(|n| matches!(n.shape(), Shape::Filler)) {
            // A filler's empty value refused: nothing of the user's is left to report.
            return None;
        }
        if let Problem::Missing(field) = e.problem {
            let rel = join(&path_of(&work, &loc), field);
            if at.name.is_some() && !removed.contains(&rel) {
                out.push(missing(&work, &loc, field, &rel, at));
            }
            if !fill(&mut work, &loc, field) {
                return None;
            }
            continue;
        }
        out.push(diagnostic(&work, &loc, &e, at));
        if !take_out(&mut work, &loc, &mut removed) {
            return None;
        }
    }
    None
}

/// `a.b`, or either alone when the other is empty.
pub fn join(path: &str, key: &str) -> String {
    match (path.is_empty(), key.is_empty()) {
        (true, _) => key.to_string(),
        (_, true) => path.to_string(),
        _ if key.starts_with('[') => format!("{path}{key}"),
        _ => format!("{path}.{key}"),
    }
}

fn diagnostic(work: &Node, loc: &[Step], e: &DeError, at: &At) -> Diagnostic {
    let node = node_at(work, loc);
    let pos = node.map_or(at.pos, |n| &n.pos);
    let d = Diagnostic::error(pos, join(at.path, &path_of(work, loc)), e.message());
    match &e.problem {
        Problem::UnknownKey { key, expected } => {
            // The job's name is its key, not one of its keys.
            let names = expected
                .iter()
                .copied()
                .filter(|n| !(loc.len() == 1 && *n == "name"));
            match suggest(key, names.clone()) {
                Some(m) => d.with_hint(format!("did you mean `{m}`?")),
                None => d.with_hint(format!(
                    "known keys: {}",
                    names.collect::<Vec<_>>().join(", ")
                )),
            }
        }
        Problem::UnknownValue { value, expected } => {
            match suggest(value, expected.iter().copied()) {
                Some(m) => d.with_hint(format!("did you mean `{m}`?")),
                None => d,
            }
        }
        _ => match e.hint() {
            Some(h) => d.with_hint(h),
            None => d,
        },
    }
}

/// The hint for a missing required key, by its path in the job.
fn missing_hint(rel: &str) -> Option<&'static str> {
    Some(match rel {
        "model" => "add `model: ./path/to/model-dir` (a Hugging Face-format directory)",
        "data" => "add `data: {train: ./data/train.jsonl}`",
        "output" => "add `output: ./runs/NAME`",
        "data.train" => "add `train: ./data/train.jsonl`",
        _ => return None,
    })
}

fn missing(work: &Node, loc: &[Step], field: &str, rel: &str, at: &At) -> Diagnostic {
    let d = if loc.is_empty() {
        let name = at.name.unwrap_or_default();
        Diagnostic::error(
            at.pos,
            at.path,
            format!("job `{name}` is missing the required key `{field}`"),
        )
    } else {
        let pos = node_at(work, loc).map_or(at.pos, |n| &n.pos);
        Diagnostic::error(
            pos,
            join(at.path, &path_of(work, loc)),
            format!("missing the required key `{field}`"),
        )
    };
    match missing_hint(rel) {
        Some(h) => d.with_hint(h),
        None => d,
    }
}

fn node_at_mut<'a>(node: &'a mut Node, loc: &[Step]) -> Option<&'a mut Node> {
    loc.iter()
        .try_fold(node, |n, step| match (&mut n.kind, step) {
            (Kind::Map(entries), Step::Key(i)) => entries.get_mut(*i).map(|(k, _)| k),
            (Kind::Map(entries), Step::Value(i)) => entries.get_mut(*i).map(|(_, v)| v),
            (Kind::Seq(items), Step::Item(i)) => items.get_mut(*i),
            _ => None,
        })
}

fn filler(pos: &Position) -> Node {
    let mut n = Node::new(
        Kind::Scalar(Scalar {
            text: String::new(),
            plain: true,
        }),
        pos.clone(),
    );
    n.tag = Some(FILLER_TAG.into());
    n
}

/// Stand a filler in for `field` of the mapping (or null) at `loc`.
fn fill(work: &mut Node, loc: &[Step], field: &str) -> bool {
    let Some(node) = node_at_mut(work, loc) else {
        return false;
    };
    let entry = (Node::string(field, node.pos.clone()), filler(&node.pos));
    if node.is_null() {
        node.kind = Kind::Map(vec![entry]);
        return true;
    }
    match &mut node.kind {
        Kind::Map(entries) => entries.push(entry),
        _ => return false,
    }
    true
}

/// Take the node at `loc` out: its mapping entry, or (a list item) a filler in its place.
/// Records removed entries' paths in `removed`. False when nothing can be taken out.
fn take_out(work: &mut Node, loc: &[Step], removed: &mut HashSet<String>) -> bool {
    let Some((last, parent)) = loc.split_last() else {
        return false;
    };
    let rel = path_of(work, loc);
    let Some(parent) = node_at_mut(work, parent) else {
        return false;
    };
    match (&mut parent.kind, last) {
        (Kind::Map(entries), Step::Key(i) | Step::Value(i)) if *i < entries.len() => {
            entries.remove(*i);
            removed.insert(rel);
            true
        }
        (Kind::Seq(items), Step::Item(i)) => match items.get_mut(*i) {
            Some(item) => {
                *item = filler(&item.pos);
                true
            }
            None => false,
        },
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::parse;
    use std::path::Path;

    fn diags(y: &str) -> Vec<String> {
        let n = parse(y, Path::new("f.yaml")).unwrap();
        let pos = n.pos.clone();
        let at = At {
            path: "job",
            pos: &pos,
            name: Some("j"),
        };
        let mut out = Vec::new();
        read_job(&n, &at, &mut out);
        out.iter().map(|d| d.to_string()).collect()
    }

    #[test]
    fn reports_every_problem_with_positions() {
        let d = diags("trian: {}\ntrain:\n  batch_size: 0\n  epochs: x\nresources: {memory: 8q, gpus: {count: 1, device_ids: [0]}}\nmethod: {lora: {r: 0}}\nmodel: m\ndata: {train: t}\noutput: o\n");
        assert_eq!(d.len(), 6, "{d:#?}");
        assert!(
            d[0].starts_with("f.yaml:1:1: unknown key `trian`")
                && d[0].contains("did you mean `train`"),
            "{d:#?}"
        );
        assert!(d
            .iter()
            .any(|m| m.starts_with("f.yaml:3:15: must be at least 1, found 0")));
        assert!(d
            .iter()
            .any(|m| m.starts_with("f.yaml:4:11: expected an integer, found a string")));
        assert!(d.iter().any(|m| m.contains("invalid size `8q`")));
        assert!(d.iter().any(|m| m.contains("mutually exclusive")));
        assert!(d.iter().any(|m| m.contains("job.method.lora.r")));
    }

    #[test]
    fn every_missing_key_and_every_bad_list_item_is_reported_once() {
        let d = diags("data: {eval: e}\nenvironment: ['=a', OK, '=b']\n");
        let all = d.join("\n");
        assert!(
            all.contains("job `j` is missing the required key `model`"),
            "{all}"
        );
        assert!(
            all.contains("job `j` is missing the required key `output`"),
            "{all}"
        );
        assert!(
            all.contains("missing the required key `train` (at `job.data`)"),
            "{all}"
        );
        assert!(all.contains("(at `job.environment[0]`)"), "{all}");
        assert!(all.contains("(at `job.environment[2]`)"), "{all}");
        let d = diags("model: m\noutput: o\ndata: ./x\n");
        assert_eq!(d.len(), 1, "{d:#?}");
        assert!(d[0].contains("expected a mapping, found a string"));
    }

    #[test]
    fn accepts_a_valid_job() {
        assert!(diags("model: ./m\ndata: {train: t.jsonl, eval_split: 0.1}\noutput: o\nmethod: lora\ntrain: {learning_rate: 5e-5, max_grad_norm: null}\nresources: {gpus: [0, 1], shm_size: 1g}\nenvironment: [HF_TOKEN, A=1]\nx-note: ignored\n").is_empty());
    }
}
