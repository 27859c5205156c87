//! Where jobs are declared: the `x-finetune` section (`defaults` and `jobs`), services with an
//! `x-finetune:` key, and provider services (`provider: {type: finetune}`).
//!
//! Each declaration becomes a [`Declared`] job node with its name, position and key path; the
//! section's own shape (`x-finetune` a mapping of `defaults` and `jobs`) is checked here, and
//! `defaults` are read as a partial job so their problems are reported at their own key path.

use super::{provider, JobSource, Service};
use crate::de::{join, read_job, At};
use crate::diagnostic::{suggest, Diagnostic, Position};
use crate::yaml::{Kind, Node};
use std::collections::BTreeMap;

/// A job as declared, before defaults are merged.
pub(super) struct Declared {
    pub name: String,
    pub node: Node,
    /// The position of the job's key.
    pub pos: Position,
    pub source: JobSource,
    /// The job's key path.
    pub path: String,
    /// Whether the job's service is active for the selected profiles (section jobs always are).
    pub active: bool,
}

/// The section's `defaults` (when a mapping) and its jobs.
pub(super) fn section<'a>(
    model: &'a Node,
    diags: &mut Vec<Diagnostic>,
) -> (Option<&'a Node>, Vec<Declared>) {
    let mut defaults = None;
    let mut found = Vec::new();
    let Some(sec) = model.get("x-finetune").filter(|s| !s.is_null()) else {
        return (None, found);
    };
    let Some(entries) = sec.as_map() else {
        diags.push(Diagnostic::error(
            &sec.pos,
            "x-finetune",
            format!(
                "expected a mapping with `defaults` and `jobs`, found {}",
                sec.type_name()
            ),
        ));
        return (None, found);
    };
    for (k, v) in entries {
        let key = k.key_text();
        match key.as_str() {
            "defaults" => {
                if v.as_map().is_some() {
                    let at = At {
                        path: "x-finetune.defaults",
                        pos: &k.pos,
                        name: None,
                    };
                    read_job(v, &at, diags);
                    defaults = Some(v);
                } else if !v.is_null() {
                    diags.push(Diagnostic::error(
                        &v.pos,
                        "x-finetune.defaults",
                        format!("expected a mapping, found {}", v.type_name()),
                    ));
                }
            }
            "jobs" => {
                if v.is_null() {
                    continue;
                }
                let Some(jobs) = v.as_map() else {
                    diags.push(Diagnostic::error(
                        &v.pos,
                        "x-finetune.jobs",
                        format!(
                            "expected a mapping of job names to jobs, found {}",
                            v.type_name()
                        ),
                    ));
                    continue;
                };
                for (jk, jv) in jobs {
                    let name = jk.key_text();
                    found.push(Declared {
                        path: format!("x-finetune.jobs.{name}"),
                        name,
                        node: jv.clone(),
                        pos: jk.pos.clone(),
                        source: JobSource::Section,
                        active: true,
                    });
                }
            }
            k if k.starts_with("x-") => {}
            other => {
                let d = Diagnostic::error(
                    &k.pos,
                    join("x-finetune", other),
                    format!("unknown key `{other}`"),
                );
                diags.push(match suggest(other, ["defaults", "jobs"]) {
                    Some(m) => d.with_hint(format!("did you mean `{m}`?")),
                    None => d.with_hint("`x-finetune` takes `defaults` and `jobs`"),
                });
            }
        }
    }
    (defaults, found)
}

/// Jobs declared on services: the service form and the provider form.
pub(super) fn service_jobs(
    model: &Node,
    services: &BTreeMap<String, Service>,
    diags: &mut Vec<Diagnostic>,
) -> Vec<Declared> {
    let mut found = Vec::new();
    for (sname, snode) in model
        .get("services")
        .and_then(Node::as_map)
        .into_iter()
        .flatten()
    {
        let sname = sname.key_text();
        let active = services.get(&sname).is_some_and(|s| s.active);
        if let Some(x) = snode.get("x-finetune") {
            warn_merged_keys(snode, &sname, diags);
            let key = snode.key("x-finetune").unwrap_or(x);
            let extra = services
                .get(&sname)
                .map(|s| s.depends_on.as_slice())
                .unwrap_or_default();
            found.push(Declared {
                name: sname.clone(),
                node: with_service_deps(x, extra, &snode.pos),
                pos: key.pos.clone(),
                source: JobSource::Service(sname.clone()),
                path: format!("services.{sname}.x-finetune"),
                active,
            });
        }
        if let Some(p) = snode.get("provider") {
            if p.get("type").and_then(Node::as_str) == Some("finetune") {
                let path = format!("services.{sname}.provider.options");
                let opts = p
                    .get("options")
                    .cloned()
                    .unwrap_or_else(|| Node::empty_map(p.pos.clone()));
                let node = provider::options_to_node(&opts, &path, diags);
                found.push(Declared {
                    name: sname.clone(),
                    node,
                    pos: p.pos.clone(),
                    source: JobSource::Provider(sname.clone()),
                    path,
                    active,
                });
            }
        }
    }
    found
}

/// The rendered job completes the service, so Compose would merge anything else the user wrote
/// on it (a `command` would replace the trainer's) into the job: warn about it.
fn warn_merged_keys(snode: &Node, sname: &str, diags: &mut Vec<Diagnostic>) {
    const KEPT: &[&str] = &[
        "x-finetune",
        "profiles",
        "depends_on",
        "environment",
        "networks",
        "labels",
        "annotations",
    ];
    for (k, _) in snode.as_map().into_iter().flatten() {
        let key = k.key_text();
        if !KEPT.contains(&key.as_str()) && !key.starts_with("x-") {
            diags.push(
                Diagnostic::warning(&k.pos, format!("services.{sname}.{key}"), format!("`{key}` on a fine-tune service is merged into the rendered trainer service"))
                    .with_hint(format!("keep only `x-finetune`, `profiles`, `depends_on`, `environment` and `networks` on `{sname}`; put other settings on another service")),
            );
        }
    }
}

/// The job node with the service's own `depends_on` added (the merged service keeps them).
fn with_service_deps(job: &Node, extra: &[String], pos: &Position) -> Node {
    let mut job = job.clone();
    if extra.is_empty() || job.as_map().is_none() {
        return job;
    }
    let mut deps = job
        .get("depends_on")
        .and_then(Node::as_seq)
        .cloned()
        .unwrap_or_default();
    for d in extra {
        if !deps.iter().any(|n| n.as_str() == Some(d)) {
            deps.push(Node::string(d.clone(), pos.clone()));
        }
    }
    set(
        &mut job,
        "depends_on",
        Node::new(Kind::Seq(deps), pos.clone()),
    );
    job
}

/// `defaults` under `job`: mappings merge recursively, the job's values win.
pub fn deep_merge(defaults: &Node, job: &Node) -> Node {
    match (&defaults.kind, &job.kind) {
        (Kind::Map(d), Kind::Map(j)) => {
            let mut out: Vec<(Node, Node)> = Vec::new();
            for (k, v) in d {
                match j.iter().find(|(jk, _)| jk.key_text() == k.key_text()) {
                    Some((jk, jv)) => out.push((jk.clone(), deep_merge(v, jv))),
                    None => out.push((k.clone(), v.clone())),
                }
            }
            for (k, v) in j {
                if !d.iter().any(|(dk, _)| dk.key_text() == k.key_text()) {
                    out.push((k.clone(), v.clone()));
                }
            }
            Node {
                kind: Kind::Map(out),
                pos: job.pos.clone(),
                tag: None,
            }
        }
        _ => job.clone(),
    }
}

fn set(node: &mut Node, key: &str, value: Node) {
    if let Kind::Map(entries) = &mut node.kind {
        match entries.iter_mut().find(|(k, _)| k.as_str() == Some(key)) {
            Some((_, v)) => *v = value,
            None => entries.push((Node::string(key, value.pos.clone()), value)),
        }
    }
}
