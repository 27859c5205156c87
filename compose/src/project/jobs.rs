//! One job node (defaults merged) into a [`Job`]: the spec read with positions ([`read_job`]),
//! the rules across fields (`JobSpec::check`), and what only the project can tell: paths
//! resolved against (and kept inside) the project directory, `depends_on` naming real services,
//! literal secrets in `environment`.

use super::declare::Declared;
use super::{Job, JobSource, Service};
use crate::de::{join, read_job, At};
use crate::diagnostic::{suggest, Diagnostic, Position};
use crate::env::is_secret;
use crate::paths::resolve_path;
use crate::yaml::{Kind, Node};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// What a job is checked against.
pub(super) struct Context<'a> {
    /// The project directory.
    pub dir: &'a Path,
    pub services: &'a BTreeMap<String, Service>,
    /// Every declared job (a job may depend on another).
    pub job_names: &'a BTreeSet<String>,
}

/// The job, or `None` when it has an error (every problem is pushed onto `diags`).
pub(super) fn job_from_node(
    d: &Declared,
    node: &Node,
    ctx: &Context,
    diags: &mut Vec<Diagnostic>,
) -> Option<Job> {
    let (name, path) = (d.name.as_str(), d.path.as_str());
    let before = diags.len();
    if node.as_map().is_none() {
        diags.push(Diagnostic::error(
            &node.pos,
            path,
            format!(
                "expected a job mapping (`model`, `data`, `output`...), found {}",
                node.type_name()
            ),
        ));
        return None;
    }
    let at = At {
        path,
        pos: &d.pos,
        name: Some(name),
    };
    let spec = read_job(node, &at, diags);
    if let Some(spec) = &spec {
        for p in spec.check() {
            let pos = key_of(node, p.path).map_or(&d.pos, |k| &k.pos);
            diags.push(Diagnostic::error(pos, join(path, p.path), p.message).with_hint(p.hint));
        }
    }
    check_depends_on(node, name, path, ctx, diags);
    check_data_image(node, name, path, ctx, diags);
    warn_literal_secrets(node, path, diags);
    let resolved = resolve_paths(node, path, ctx.dir, diags);
    let mut spec = spec?;
    if diags[before..].iter().any(Diagnostic::is_error) {
        return None;
    }
    for (rel, p) in resolved {
        match rel {
            "model" => spec.model = p,
            "data.train" => spec.data.train = p,
            "data.eval" => spec.data.eval = Some(p),
            "output" => spec.output = p,
            _ => spec.cache = Some(p),
        }
    }
    let mut positions = BTreeMap::new();
    let mut key_positions = BTreeMap::new();
    record_positions(node, "", &mut positions, &mut key_positions);
    Some(Job {
        spec,
        position: d.pos.clone(),
        source: d.source.clone(),
        key_path: path.to_string(),
        positions,
        key_positions,
    })
}

/// The value at a dotted path under `node`.
fn lookup<'a>(node: &'a Node, rel: &str) -> Option<&'a Node> {
    rel.split('.').try_fold(node, |n, k| n.get(k))
}

/// The key node of a dotted path, for messages about the key itself.
fn key_of<'a>(node: &'a Node, rel: &str) -> Option<&'a Node> {
    match rel.rsplit_once('.') {
        Some((parent, last)) => lookup(node, parent)?.key(last),
        None => node.key(rel),
    }
}

fn check_depends_on(
    node: &Node,
    name: &str,
    path: &str,
    ctx: &Context,
    diags: &mut Vec<Diagnostic>,
) {
    for dep in node
        .get("depends_on")
        .and_then(Node::as_seq)
        .into_iter()
        .flatten()
    {
        let Some(d) = dep.as_str() else { continue };
        if !ctx.services.contains_key(d) && !ctx.job_names.contains(d) {
            let e = Diagnostic::error(
                &dep.pos,
                join(path, "depends_on"),
                format!("`depends_on` names `{d}`, which is not a service of this project"),
            );
            diags.push(match suggest(d, ctx.services.keys().map(String::as_str)) {
                Some(m) => e.with_hint(format!("did you mean `{m}`?")),
                None => e.with_hint(
                    "declare the service under `services:` or remove it from `depends_on`",
                ),
            });
        } else if d == name {
            diags.push(Diagnostic::error(
                &dep.pos,
                join(path, "depends_on"),
                format!("job `{name}` depends on itself"),
            ));
        }
    }
}

/// `data.image` must be an image reference, and the init service it renders
/// ([`crate::data_image::init_service`]) must not take a name already in use.
fn check_data_image(
    node: &Node,
    name: &str,
    path: &str,
    ctx: &Context,
    diags: &mut Vec<Diagnostic>,
) {
    let Some(v) = lookup(node, "data.image") else {
        return;
    };
    let Some(text) = v.as_str() else { return };
    if let Err(e) = finetune_spec::image_ref::ImageRef::parse(text) {
        diags.push(
            Diagnostic::error(&v.pos, join(path, "data.image"), e).with_hint(
                "name the image as `docker finetune data package DIR --tag REPO:TAG` tagged it",
            ),
        );
    }
    let init = crate::data_image::init_service(name);
    if ctx.services.contains_key(&init) || ctx.job_names.contains(&init) {
        diags.push(
            Diagnostic::error(
                &v.pos,
                join(path, "data.image"),
                format!("job `{name}` reads a dataset image through a service named `{init}`, which this project already has"),
            )
            .with_hint(format!("rename the job or the service `{init}`")),
        );
    }
}

/// A literal value for a secret-looking name is never rendered (it is passed by reference);
/// say so, since keeping secrets in a compose file is itself worth a second look.
fn warn_literal_secrets(node: &Node, path: &str, diags: &mut Vec<Diagnostic>) {
    let Some(Kind::Map(env)) = node.get("environment").map(|e| &e.kind) else {
        return;
    };
    for (k, v) in env {
        let key = k.key_text();
        if is_secret(&key) && v.as_str().is_some_and(|s| !s.is_empty()) {
            diags.push(
                Diagnostic::warning(&v.pos, join(path, &format!("environment.{key}")), format!("`{key}` looks like a secret but has a literal value here"))
                    .with_hint(format!("write `{key}:` with no value and set it in the environment of `docker finetune`; the literal is passed by reference and never written to rendered files")),
            );
        }
    }
}

/// The job's paths resolved against the project directory, never above it. With `data.image`,
/// the data files are paths inside the image's dataset directory instead, kept relative.
fn resolve_paths(
    node: &Node,
    path: &str,
    dir: &Path,
    diags: &mut Vec<Diagnostic>,
) -> Vec<(&'static str, PathBuf)> {
    let mut resolved = Vec::new();
    let in_image = lookup(node, "data.image").is_some_and(|v| v.as_str().is_some());
    for rel in ["model", "data.train", "data.eval", "output", "cache"] {
        let Some(v) = lookup(node, rel) else { continue };
        let Some(text) = v.as_str() else { continue };
        if text.trim().is_empty() {
            diags.push(
                Diagnostic::error(&v.pos, join(path, rel), "empty path")
                    .with_hint("write a path relative to the project directory"),
            );
            continue;
        }
        if in_image && rel.starts_with("data.") {
            match crate::data_image::image_path(text) {
                Ok(p) => resolved.push((rel, p)),
                Err(e) => diags.push(
                    Diagnostic::error(&v.pos, join(path, rel), e).with_hint(
                        "with `data.image`, write the file's path inside the image, relative to its dataset directory (`train.jsonl`)",
                    ),
                ),
            }
            continue;
        }
        match resolve_path(text, dir) {
            Ok(p) => resolved.push((rel, p)),
            Err(p) => diags.push(
                Diagnostic::error(
                    &v.pos,
                    join(path, rel),
                    format!(
                        "path `{text}` escapes the project directory {} (resolves to {})",
                        dir.display(),
                        p.display()
                    ),
                )
                .with_hint(
                    "keep job files inside the project directory, or write an absolute path",
                ),
            ),
        }
    }
    resolved
}

/// Fills `values` with the position of every value and `keys` with that of every mapping key,
/// by path relative to the job.
fn record_positions(
    node: &Node,
    path: &str,
    values: &mut BTreeMap<String, Position>,
    keys: &mut BTreeMap<String, Position>,
) {
    match &node.kind {
        Kind::Map(entries) => {
            for (k, v) in entries {
                let p = join(path, &k.key_text());
                values.insert(p.clone(), v.pos.clone());
                keys.insert(p.clone(), k.pos.clone());
                record_positions(v, &p, values, keys);
            }
        }
        Kind::Seq(items) => {
            for (i, v) in items.iter().enumerate() {
                let p = format!("{path}[{i}]");
                values.insert(p.clone(), v.pos.clone());
                record_positions(v, &p, values, keys);
            }
        }
        Kind::Scalar(_) => {}
    }
}

/// Provider jobs have no section of their own to refer to.
pub(super) fn provider_declared(name: &str, pos: Position, path: &str) -> Declared {
    Declared {
        name: name.to_string(),
        node: Node::empty_map(pos.clone()),
        pos,
        source: JobSource::Provider(name.to_string()),
        path: path.to_string(),
        active: true,
    }
}
