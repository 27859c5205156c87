//! Merging several Compose files the way Compose does (`-f a.yaml -f b.yaml`, overrides).
//!
//! Mappings merge key by key; sequences append (identical scalars are not repeated), except the
//! keys Compose replaces wholesale (`command`, `entrypoint`, `healthcheck.test`...); scalars are
//! replaced. A value tagged `!reset` removes the key, `!override` replaces it without merging.
//! Before merging, a service's list-form `environment`/`labels`/`depends_on` are turned into
//! mappings, so a list in one file and a mapping in another merge as Compose merges them.

use crate::yaml::{Kind, Node, Scalar};

/// Keys (under a service) whose sequences replace rather than append.
const REPLACED: &[&str] = &[
    "command",
    "entrypoint",
    "test",
    "dns",
    "dns_search",
    "tmpfs",
    "profiles_override",
];
/// Service keys whose list form `K=V` becomes a mapping.
const KV_KEYS: &[&str] = &["environment", "labels", "annotations", "args", "sysctls"];

/// Merge `over` onto `base` (the later file wins).
pub fn merge(base: Node, over: Node) -> Node {
    merge_at(base, over, &mut Vec::new())
}

fn merge_at(base: Node, over: Node, path: &mut Vec<String>) -> Node {
    if over.tag.as_deref() == Some("override") {
        return untag(over);
    }
    let over = normalise(over, path);
    let base = normalise(base, path);
    match (base.kind, over.kind) {
        (Kind::Map(mut b), Kind::Map(o)) => {
            for (k, v) in o {
                let key = k.key_text();
                let existing = b.iter().position(|(bk, _)| bk.key_text() == key);
                if v.tag.as_deref() == Some("reset") {
                    if let Some(i) = existing {
                        b.remove(i);
                    }
                    continue;
                }
                match existing {
                    Some(i) => {
                        let (bk, bv) = b.remove(i);
                        path.push(key);
                        let merged = merge_at(bv, v, path);
                        path.pop();
                        b.insert(i, (bk, merged));
                    }
                    None => b.push((k, untag(v))),
                }
            }
            Node {
                kind: Kind::Map(b),
                pos: base.pos,
                tag: None,
            }
        }
        (Kind::Seq(mut b), Kind::Seq(o)) => {
            let last = path.last().map(String::as_str).unwrap_or("");
            if REPLACED.contains(&last) {
                return Node {
                    kind: Kind::Seq(o),
                    pos: over.pos,
                    tag: None,
                };
            }
            for v in o {
                let dup = matches!(v.kind, Kind::Scalar(_)) && b.iter().any(|x| x.kind == v.kind);
                if !dup {
                    b.push(v);
                }
            }
            Node {
                kind: Kind::Seq(b),
                pos: base.pos,
                tag: None,
            }
        }
        (_, kind) => Node {
            kind,
            pos: over.pos,
            tag: None,
        },
    }
}

fn untag(mut n: Node) -> Node {
    if matches!(n.tag.as_deref(), Some("override") | Some("reset")) {
        n.tag = None;
    }
    n
}

/// Turn list forms into mappings where Compose does, so both forms merge.
fn normalise(n: Node, path: &[String]) -> Node {
    let in_service = path.len() >= 3 && path[0] == "services";
    let last = path.last().map(String::as_str).unwrap_or("");
    let Kind::Seq(items) = &n.kind else { return n };
    if in_service && path.len() == 3 && last == "depends_on" {
        let entries = items
            .iter()
            .filter_map(|i| i.as_str().map(|s| (i.clone(), s.to_string())))
            .map(|(k, _)| {
                let cond = Node::string("service_started", k.pos.clone());
                let mut m = Node::empty_map(k.pos.clone());
                m.kind = Kind::Map(vec![(Node::string("condition", k.pos.clone()), cond)]);
                (k, m)
            })
            .collect();
        return Node {
            kind: Kind::Map(entries),
            pos: n.pos,
            tag: n.tag,
        };
    }
    if in_service && KV_KEYS.contains(&last) {
        let entries = items
            .iter()
            .filter_map(|i| {
                let s = i.as_str()?;
                let (k, v) = match s.split_once('=') {
                    Some((k, v)) => (k, Node::string(v, i.pos.clone())),
                    None => (
                        s,
                        Node::new(
                            Kind::Scalar(Scalar {
                                text: String::new(),
                                plain: true,
                            }),
                            i.pos.clone(),
                        ),
                    ),
                };
                Some((Node::string(k, i.pos.clone()), v))
            })
            .collect();
        return Node {
            kind: Kind::Map(entries),
            pos: n.pos,
            tag: n.tag,
        };
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::parse;
    use std::path::Path;

    fn m(a: &str, b: &str) -> serde_json::Value {
        merge(
            parse(a, Path::new("a")).unwrap(),
            parse(b, Path::new("b")).unwrap(),
        )
        .to_json()
    }

    #[test]
    fn compose_merge_rules() {
        let v = m(
            "services:\n  s:\n    image: a\n    ports: ['80']\n    command: [x]\n    environment: [A=1]\n    depends_on: [db]\n",
            "services:\n  s:\n    image: b\n    ports: ['81', '80']\n    command: [y]\n    environment: {B: '2'}\n    depends_on: {cache: {condition: service_healthy}}\n",
        );
        let s = &v["services"]["s"];
        assert_eq!(s["image"], "b");
        assert_eq!(s["ports"], serde_json::json!(["80", "81"]));
        assert_eq!(s["command"], serde_json::json!(["y"]));
        assert_eq!(s["environment"], serde_json::json!({"A": "1", "B": "2"}));
        assert_eq!(s["depends_on"]["db"]["condition"], "service_started");
        assert_eq!(s["depends_on"]["cache"]["condition"], "service_healthy");
    }

    #[test]
    fn reset_and_override_tags() {
        let v = m(
            "a: {x: [1], y: {p: 1, q: 2}, z: 1}\n",
            "a: {x: !reset [], y: !override {q: 3}}\n",
        );
        assert_eq!(v["a"], serde_json::json!({"y": {"q": 3}, "z": 1}));
    }
}
