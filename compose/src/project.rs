//! The Compose project as the plugin sees it: the user's services, and the fine-tune jobs with
//! their typed [`JobSpec`]s and positions.
//!
//! Jobs come from three places:
//! - the top-level `x-finetune` section: `x-finetune.jobs.NAME`, each with `x-finetune.defaults`
//!   deep-merged under it (mappings merge, the job's own values win);
//! - a service with an `x-finetune:` key (the service form): the job is named after the service,
//!   `defaults` apply too, and the service's `depends_on` are added to the job's. The rendered job
//!   service has the service's name, so Compose merges the user's `profiles`, `depends_on`,
//!   `environment` and `networks` into it, and other services can depend on the job. A service
//!   that is not active for the selected profiles gives no job (it is still checked);
//! - a service with `provider: {type: finetune, options: {...}}` (Compose 2.36+ provider form): the
//!   options (flat keys, see [`job_from_provider_options`]) become the job, named after the service.
//!
//! Paths are resolved against the project directory; a relative path that climbs out of it is an
//! error (absolute paths are taken as written). Problems become [`Diagnostic`]s: a job with an
//! error is left out of [`Project::jobs`], every other job is still built.

use crate::diagnostic::{suggest, Diagnostic, Position};
use crate::load::clean;
use crate::schema::{self, join, Field, Ty};
use crate::yaml::{Kind, Node, Scalar};
use finetune_spec::JobSpec;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A loaded Compose project.
#[derive(Debug, Clone)]
pub struct Project {
    /// The project name, normalised like Compose.
    pub name: String,
    /// The absolute project directory.
    pub dir: PathBuf,
    /// The compose files read, in order.
    pub files: Vec<PathBuf>,
    /// Every user service, by name.
    pub services: BTreeMap<String, Service>,
    /// The jobs that parsed without error and are active, in name order.
    pub jobs: Vec<Job>,
    /// Problems found while reading the section (never fatal to loading), in file order.
    pub diagnostics: Vec<Diagnostic>,
    /// The variables interpolation used (`.env` merged under the process environment).
    pub env: BTreeMap<String, String>,
    /// The enabled profiles.
    pub profiles: Vec<String>,
}

/// A user service, as far as the plugin cares.
#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    pub name: String,
    pub profiles: Vec<String>,
    pub depends_on: Vec<String>,
    /// Whether the service is enabled (no `profiles`, or one of them selected).
    pub active: bool,
    pub position: Position,
    /// `provider: {type, options}`, options as Compose passes them.
    pub provider: Option<Provider>,
    /// Whether the service carries an `x-finetune:` job.
    pub has_job: bool,
}

/// A Compose provider service's `provider:` section.
#[derive(Debug, Clone, PartialEq)]
pub struct Provider {
    pub kind: String,
    pub options: BTreeMap<String, Vec<String>>,
}

/// Where a job was declared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobSource {
    /// `x-finetune.jobs.NAME`.
    Section,
    /// `services.NAME.x-finetune`.
    Service(String),
    /// `services.NAME.provider` with `type: finetune`.
    Provider(String),
}

/// One fine-tune job.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// The spec with absolute host paths.
    pub spec: JobSpec,
    /// Where the job is declared (its key).
    pub position: Position,
    pub source: JobSource,
    /// The job's key path (`x-finetune.jobs.NAME`, `services.NAME.x-finetune`...).
    pub key_path: String,
    /// The position of every value in the job, by path relative to the job (`data.train`).
    pub positions: BTreeMap<String, Position>,
}

impl Job {
    /// The position of a value of the job (`model`, `data.train`), else the job's own.
    pub fn position_of(&self, rel: &str) -> &Position {
        self.positions.get(rel).unwrap_or(&self.position)
    }
}

impl Project {
    /// The job of that name.
    pub fn job(&self, name: &str) -> Option<&Job> {
        self.jobs.iter().find(|j| j.spec.name == name)
    }

    /// Whether any diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Build the project from the merged, interpolated model.
pub fn build(
    name: String,
    dir: PathBuf,
    files: Vec<PathBuf>,
    model: &Node,
    env: BTreeMap<String, String>,
    profiles: &[String],
) -> Project {
    let mut diags = Vec::new();
    let services = services(model, profiles);
    let section = model.get("x-finetune");
    let mut defaults: Option<&Node> = None;
    let mut found: Vec<(String, Node, Position, JobSource, String, bool)> = Vec::new();

    if let Some(sec) = section.filter(|s| !s.is_null()) {
        if sec.as_map().is_none() {
            diags.push(Diagnostic::error(
                &sec.pos,
                "x-finetune",
                format!(
                    "expected a mapping with `defaults` and `jobs`, found {}",
                    sec.type_name()
                ),
            ));
        } else {
            schema::check_map(sec, &schema::SECTION[..1], "x-finetune", &mut Vec::new());
            for (k, v) in sec.as_map().into_iter().flatten() {
                let key = k.key_text();
                match key.as_str() {
                    "defaults" => {
                        schema::check_map(v, schema::JOB, "x-finetune.defaults", &mut diags);
                        if v.as_map().is_some() {
                            defaults = Some(v);
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
                            let jname = jk.key_text();
                            found.push((
                                jname.clone(),
                                jv.clone(),
                                jk.pos.clone(),
                                JobSource::Section,
                                format!("x-finetune.jobs.{jname}"),
                                true,
                            ));
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
        }
    }

    for (sname, snode) in model
        .get("services")
        .and_then(Node::as_map)
        .into_iter()
        .flatten()
    {
        let sname = sname.key_text();
        let active = services.get(&sname).is_some_and(|s| s.active);
        if let Some(x) = snode.get("x-finetune") {
            // The rendered job completes this service, so Compose would merge anything else the
            // user wrote on it (a `command` would replace the trainer's) into the job.
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
            let path = format!("services.{sname}.x-finetune");
            let key = snode
                .key("x-finetune")
                .map(|k| k.pos.clone())
                .unwrap_or_else(|| x.pos.clone());
            let mut job = x.clone();
            // The service's own depends_on become the job's too (the merged service keeps them).
            let extra: Vec<String> = services
                .get(&sname)
                .map(|s| s.depends_on.clone())
                .unwrap_or_default();
            if !extra.is_empty() && job.as_map().is_some() {
                let mut deps = job
                    .get("depends_on")
                    .and_then(Node::as_seq)
                    .cloned()
                    .unwrap_or_default();
                for d in extra {
                    if !deps.iter().any(|n| n.as_str() == Some(&d)) {
                        deps.push(Node::string(d, snode.pos.clone()));
                    }
                }
                set(
                    &mut job,
                    "depends_on",
                    Node::new(Kind::Seq(deps), snode.pos.clone()),
                );
            }
            found.push((
                sname.clone(),
                job,
                key,
                JobSource::Service(sname.clone()),
                path,
                active,
            ));
        }
        if let Some(p) = snode.get("provider") {
            if p.get("type").and_then(Node::as_str) == Some("finetune") {
                let path = format!("services.{sname}.provider.options");
                let opts = p
                    .get("options")
                    .cloned()
                    .unwrap_or_else(|| Node::empty_map(p.pos.clone()));
                let mut pd = Vec::new();
                let job = options_to_node(&opts, &path, &mut pd);
                diags.extend(pd);
                found.push((
                    sname.clone(),
                    job,
                    p.pos.clone(),
                    JobSource::Provider(sname.clone()),
                    path,
                    active,
                ));
            }
        }
    }

    // Names: unique across forms, valid as service names, and not taken by a user service.
    let mut seen: BTreeMap<String, Position> = BTreeMap::new();
    let mut jobs = Vec::new();
    let job_names: BTreeSet<String> = found.iter().map(|f| f.0.clone()).collect();
    let networks: Vec<String> = model
        .get("networks")
        .and_then(Node::as_map)
        .into_iter()
        .flatten()
        .map(|(k, _)| k.key_text())
        .collect();
    for (jname, node, pos, source, path, active) in found {
        let before = diags.len();
        if !valid_service_name(&jname) {
            diags.push(Diagnostic::error(&pos, &path, format!("invalid job name `{jname}`: use letters, digits, `_`, `.` and `-`, starting with a letter or digit")));
        }
        if let Some(first) = seen.get(&jname) {
            diags.push(
                Diagnostic::error(
                    &pos,
                    &path,
                    format!("duplicate job name `{jname}`: already declared at {first}"),
                )
                .with_hint("rename one of the jobs"),
            );
        } else {
            seen.insert(jname.clone(), pos.clone());
        }
        if source == JobSource::Section {
            if let Some(s) = services.get(&jname) {
                diags.push(
                    Diagnostic::error(&pos, &path, format!("job `{jname}` has the same name as the service `{jname}` (at {})", s.position))
                        .with_hint(format!("rename the job, or move it onto the service as `services.{jname}.x-finetune`")),
                );
            }
        }
        let merged = match (defaults, source != JobSource::Provider(jname.clone())) {
            (Some(d), true) if node.as_map().is_some() => deep_merge(d, &node),
            _ => node,
        };
        if let Some(net) = merged.get("network").filter(|n| n.as_str().is_some()) {
            let name = net.as_str().unwrap_or_default();
            if name != "default" && !networks.iter().any(|n| n == name) {
                let d = Diagnostic::error(
                    &net.pos,
                    join(&path, "network"),
                    format!("network `{name}` is not declared under the top-level `networks:`"),
                );
                let known = networks.iter().map(String::as_str).chain(["default"]);
                diags.push(match suggest(name, known) {
                    Some(m) => d.with_hint(format!("did you mean `{m}`?")),
                    None => d.with_hint("declare it under `networks:`, or use `default`"),
                });
            }
        }
        let job = job_from_node(
            &jname, &merged, pos, source, &path, &dir, &services, &job_names, &mut diags,
        );
        if let Some(job) = job.filter(|_| active && diags[before..].iter().all(|d| !d.is_error())) {
            jobs.push(job);
        }
    }
    jobs.sort_by(|a, b| a.spec.name.cmp(&b.spec.name));
    diags.sort_by(|a, b| (&a.file, a.line, a.col).cmp(&(&b.file, b.line, b.col)));
    diags.dedup_by(|a, b| {
        (&a.file, a.line, a.col, &a.message) == (&b.file, b.line, b.col, &b.message)
    });
    Project {
        name,
        dir,
        files,
        services,
        jobs,
        diagnostics: diags,
        env,
        profiles: profiles.to_vec(),
    }
}

fn valid_service_name(n: &str) -> bool {
    let mut chars = n.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

fn services(model: &Node, profiles: &[String]) -> BTreeMap<String, Service> {
    let mut out = BTreeMap::new();
    for (k, v) in model
        .get("services")
        .and_then(Node::as_map)
        .into_iter()
        .flatten()
    {
        let name = k.key_text();
        let strings = |n: Option<&Node>| -> Vec<String> {
            match n.map(|n| &n.kind) {
                Some(Kind::Seq(items)) => items
                    .iter()
                    .filter_map(|i| i.as_str().map(str::to_string))
                    .collect(),
                Some(Kind::Map(entries)) => entries.iter().map(|(k, _)| k.key_text()).collect(),
                _ => Vec::new(),
            }
        };
        let own_profiles = strings(v.get("profiles"));
        let active = own_profiles.is_empty()
            || profiles
                .iter()
                .any(|p| p == "*" || own_profiles.contains(p));
        let provider = v.get("provider").map(|p| Provider {
            kind: p
                .get("type")
                .and_then(Node::as_str)
                .unwrap_or_default()
                .to_string(),
            options: p
                .get("options")
                .and_then(Node::as_map)
                .into_iter()
                .flatten()
                .map(|(k, v)| {
                    let vals = match &v.kind {
                        Kind::Seq(items) => items
                            .iter()
                            .filter_map(|i| i.as_str().map(str::to_string))
                            .collect(),
                        _ => v.as_str().map(|s| vec![s.to_string()]).unwrap_or_default(),
                    };
                    (k.key_text(), vals)
                })
                .collect(),
        });
        out.insert(
            name.clone(),
            Service {
                name,
                profiles: own_profiles,
                depends_on: strings(v.get("depends_on")),
                active,
                position: k.pos.clone(),
                provider,
                has_job: v.get("x-finetune").is_some(),
            },
        );
    }
    out
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

#[allow(clippy::too_many_arguments)]
fn job_from_node(
    name: &str,
    node: &Node,
    pos: Position,
    source: JobSource,
    path: &str,
    dir: &Path,
    services: &BTreeMap<String, Service>,
    job_names: &BTreeSet<String>,
    diags: &mut Vec<Diagnostic>,
) -> Option<Job> {
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
    schema::check_map(node, schema::JOB, path, diags);
    for key in ["model", "data", "output"] {
        if node.get(key).is_none() {
            diags.push(
                Diagnostic::error(
                    &pos,
                    path,
                    format!("job `{name}` is missing the required key `{key}`"),
                )
                .with_hint(match key {
                    "model" => "add `model: ./path/to/model-dir` (a Hugging Face-format directory)",
                    "data" => "add `data: {train: ./data/train.jsonl}`",
                    _ => "add `output: ./runs/NAME`",
                }),
            );
        }
    }
    if let Some(data) = node.get("data").filter(|d| d.as_map().is_some()) {
        if data.get("train").is_none() {
            diags.push(
                Diagnostic::error(
                    &data.pos,
                    join(path, "data"),
                    "missing the required key `train`",
                )
                .with_hint("add `train: ./data/train.jsonl`"),
            );
        }
        if let (Some(_), Some(s)) = (data.get("eval"), data.key("eval_split")) {
            diags.push(
                Diagnostic::error(
                    &s.pos,
                    join(path, "data.eval_split"),
                    "`eval` and `eval_split` are mutually exclusive",
                )
                .with_hint(
                    "keep `eval` for a separate file, or `eval_split` to hold out training rows",
                ),
            );
        }
    }
    for dep in node
        .get("depends_on")
        .and_then(Node::as_seq)
        .into_iter()
        .flatten()
    {
        if let Some(d) = dep.as_str() {
            if !services.contains_key(d) && !job_names.contains(d) {
                let e = Diagnostic::error(
                    &dep.pos,
                    join(path, "depends_on"),
                    format!("`depends_on` names `{d}`, which is not a service of this project"),
                );
                diags.push(match suggest(d, services.keys().map(String::as_str)) {
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
    // A literal value for a secret-looking name is never rendered (it is passed by reference);
    // say so, since keeping secrets in a compose file is itself worth a second look.
    if let Some(Kind::Map(env)) = node.get("environment").map(|e| &e.kind) {
        for (k, v) in env {
            let key = k.key_text();
            if crate::render::is_secret(&key) && v.as_str().is_some_and(|s| !s.is_empty()) {
                diags.push(
                    Diagnostic::warning(&v.pos, join(path, &format!("environment.{key}")), format!("`{key}` looks like a secret but has a literal value here"))
                        .with_hint(format!("write `{key}:` with no value and set it in the environment of `docker finetune`; the literal is passed by reference and never written to rendered files")),
                );
            }
        }
    }
    let mut positions = BTreeMap::new();
    record_positions(node, "", &mut positions);
    // Paths: resolved against the project directory, never above it.
    let mut resolved = BTreeMap::new();
    for rel in ["model", "data.train", "data.eval", "output", "cache"] {
        let Some(v) = lookup(node, rel) else { continue };
        let Some(text) = v.as_str() else { continue };
        if text.trim().is_empty() {
            continue;
        }
        match resolve_path(text, dir) {
            Ok(p) => {
                resolved.insert(rel, p);
            }
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
    if diags[before..].iter().any(Diagnostic::is_error) {
        return None;
    }
    let mut value = typed_json(node, Ty::Map(schema::JOB));
    if let Value::Object(m) = &mut value {
        m.insert("name".into(), json!(name));
        for (rel, p) in &resolved {
            set_json(m, rel, json!(p.to_string_lossy()));
        }
    }
    match serde_json::from_value::<JobSpec>(value) {
        Ok(spec) => Some(Job {
            spec,
            position: pos,
            source,
            key_path: path.to_string(),
            positions,
        }),
        Err(e) => {
            diags.push(Diagnostic::error(&pos, path, format!("invalid job: {e}")));
            None
        }
    }
}

/// Resolve `text` against `dir`; `Err` with the resolved path when a relative path escapes.
pub fn resolve_path(text: &str, dir: &Path) -> Result<PathBuf, PathBuf> {
    let p = Path::new(text);
    if p.is_absolute() {
        return Ok(clean(p));
    }
    let joined = clean(&dir.join(p));
    if joined.starts_with(clean(dir)) {
        Ok(joined)
    } else {
        Err(joined)
    }
}

fn lookup<'a>(node: &'a Node, rel: &str) -> Option<&'a Node> {
    rel.split('.').try_fold(node, |n, k| n.get(k))
}

fn set_json(m: &mut Map<String, Value>, rel: &str, v: Value) {
    match rel.split_once('.') {
        None => {
            m.insert(rel.to_string(), v);
        }
        Some((a, b)) => {
            if let Some(Value::Object(sub)) = m.get_mut(a) {
                set_json(sub, b, v);
            }
        }
    }
}

fn record_positions(node: &Node, path: &str, out: &mut BTreeMap<String, Position>) {
    match &node.kind {
        Kind::Map(entries) => {
            for (k, v) in entries {
                let p = join(path, &k.key_text());
                out.insert(p.clone(), v.pos.clone());
                record_positions(v, &p, out);
            }
        }
        Kind::Seq(items) => {
            for (i, v) in items.iter().enumerate() {
                let p = format!("{path}[{i}]");
                out.insert(p.clone(), v.pos.clone());
                record_positions(v, &p, out);
            }
        }
        Kind::Scalar(_) => {}
    }
}

/// The node as JSON shaped for [`JobSpec`]'s serde: strings where the schema wants strings (so
/// `label: 1` is `"1"`), numbers where it wants numbers, list forms normalised. Only call on a
/// node that passed [`schema::check`].
fn typed_json(node: &Node, ty: Ty) -> Value {
    let text = || Value::String(node.as_str().unwrap_or_default().to_string());
    match ty {
        Ty::Str | Ty::Path | Ty::Enum(_) | Ty::Size => {
            if let (Ty::Size, Some(i)) = (ty, node.as_i64()) {
                return json!(i);
            }
            text()
        }
        Ty::Int { .. } => node.as_i64().map(Value::from).unwrap_or(Value::Null),
        Ty::Num { .. } | Ty::OptNum { .. } => node.as_f64().map(Value::from).unwrap_or(Value::Null),
        Ty::StrList => Value::Array(
            node.as_seq()
                .into_iter()
                .flatten()
                .map(|i| json!(i.as_str().unwrap_or_default()))
                .collect(),
        ),
        Ty::Env => {
            let mut m = Map::new();
            match &node.kind {
                Kind::Map(entries) => {
                    for (k, v) in entries {
                        m.insert(
                            k.key_text(),
                            v.as_str().map(|s| json!(s)).unwrap_or(Value::Null),
                        );
                    }
                }
                Kind::Seq(items) => {
                    for i in items {
                        let s = i.as_str().unwrap_or_default();
                        match s.split_once('=') {
                            Some((k, v)) => m.insert(k.to_string(), json!(v)),
                            None => m.insert(s.to_string(), Value::Null),
                        };
                    }
                }
                Kind::Scalar(_) => {}
            }
            Value::Object(m)
        }
        Ty::Gpus => match &node.kind {
            Kind::Seq(items) => Value::Array(
                items
                    .iter()
                    .map(|i| json!(i.as_str().unwrap_or_default()))
                    .collect(),
            ),
            Kind::Map(_) => match (node.get("count"), node.get("device_ids")) {
                (Some(c), _) => typed_json(c, Ty::Gpus),
                (None, Some(ids)) => typed_json(ids, Ty::Gpus),
                _ => json!("auto"),
            },
            Kind::Scalar(_) => match node.as_i64() {
                Some(n) => json!(n),
                None => text(),
            },
        },
        Ty::Method => match &node.kind {
            Kind::Map(entries) => {
                let mut m = Map::new();
                for (k, v) in entries {
                    let key = k.key_text();
                    let inner = if key == "lora" && !v.is_null() {
                        typed_json(v, Ty::Map(schema::LORA))
                    } else {
                        Value::Null
                    };
                    m.insert(key, inner);
                }
                Value::Object(m)
            }
            _ => text(),
        },
        Ty::Map(fields) => {
            let mut m = Map::new();
            for (k, v) in node.as_map().into_iter().flatten() {
                let key = k.key_text();
                if let Some(f) = fields.iter().find(|f: &&Field| f.name == key) {
                    if v.is_null() && !matches!(f.ty, Ty::OptNum { .. }) {
                        continue;
                    }
                    m.insert(key, typed_json(v, f.ty));
                }
            }
            Value::Object(m)
        }
    }
}

/// Flat provider option names and where they go in the job.
pub const PROVIDER_KEYS: &[(&str, &str)] = &[
    ("model", "model"),
    ("output", "output"),
    ("cache", "cache"),
    ("task", "task"),
    ("network", "network"),
    ("image", "image"),
    ("method", "method"),
    ("priority", "priority"),
    ("depends_on", "depends_on"),
    ("environment", "environment"),
    ("train", "data.train"),
    ("data", "data.train"),
    ("eval", "data.eval"),
    ("eval_split", "data.eval_split"),
    ("text", "data.text"),
    ("label", "data.label"),
    ("format", "data.format"),
    ("labels", "data.labels"),
    ("limit", "data.limit"),
    ("epochs", "train.epochs"),
    ("max_steps", "train.max_steps"),
    ("batch_size", "train.batch_size"),
    ("learning_rate", "train.learning_rate"),
    ("weight_decay", "train.weight_decay"),
    ("max_length", "train.max_length"),
    ("seed", "train.seed"),
    ("warmup_ratio", "train.warmup_ratio"),
    ("schedule", "train.schedule"),
    ("grad_accum", "train.grad_accum"),
    ("max_grad_norm", "train.max_grad_norm"),
    ("precision", "train.precision"),
    ("eval_every_steps", "train.eval_every_steps"),
    ("log_every_steps", "train.log_every_steps"),
    ("patience", "train.early_stopping.patience"),
    ("checkpoint_every_steps", "checkpoint.every_steps"),
    ("checkpoint_keep", "checkpoint.keep"),
    ("gpus", "resources.gpus"),
    ("cpus", "resources.cpus"),
    ("memory", "resources.memory"),
    ("shm_size", "resources.shm_size"),
    ("lora_r", "method.lora.r"),
    ("lora_alpha", "method.lora.alpha"),
    ("lora_dropout", "method.lora.dropout"),
    ("lora_targets", "method.lora.targets"),
];

/// Keys whose value is a list (a repeated option).
const LIST_TARGETS: &[&str] = &[
    "depends_on",
    "environment",
    "data.labels",
    "method.lora.targets",
];

/// Turn a provider's `options:` node (flat keys; a list value is a repeated option) into a job
/// node, reporting unknown keys.
fn options_to_node(opts: &Node, path: &str, diags: &mut Vec<Diagnostic>) -> Node {
    let mut job = Node::empty_map(opts.pos.clone());
    let Some(entries) = opts.as_map() else {
        diags.push(Diagnostic::error(
            &opts.pos,
            path,
            format!("expected a mapping of options, found {}", opts.type_name()),
        ));
        return job;
    };
    for (k, v) in entries {
        let key = k.key_text();
        let target = PROVIDER_KEYS
            .iter()
            .find(|(n, _)| *n == key)
            .map(|(_, t)| t.to_string())
            .or_else(|| key.contains('.').then(|| key.clone()));
        let Some(target) = target else {
            let d = Diagnostic::error(
                &k.pos,
                join(path, &key),
                format!("unknown provider option `{key}`"),
            );
            diags.push(match suggest(&key, PROVIDER_KEYS.iter().map(|(n, _)| *n)) {
                Some(m) => d.with_hint(format!("did you mean `{m}`?")),
                None => d.with_hint("options are the flat keys listed in docs/spec.md, or dotted paths like `train.epochs`"),
            });
            continue;
        };
        let list = LIST_TARGETS.contains(&target.as_str())
            || (target == "resources.gpus" && v.as_seq().is_some_and(|s| s.len() > 1));
        let value = match (&v.kind, list) {
            (Kind::Seq(_), true) => v.clone(),
            (_, true) => Node::new(Kind::Seq(vec![v.clone()]), v.pos.clone()),
            (Kind::Seq(items), false) => items.last().cloned().unwrap_or_else(|| v.clone()),
            (_, false) => v.clone(),
        };
        let value = if target == "method"
            && value.as_str() == Some("lora")
            && job.get("method").is_some()
        {
            continue;
        } else {
            value
        };
        insert_path(&mut job, &target, value);
    }
    job
}

fn insert_path(node: &mut Node, path: &str, value: Node) {
    let (head, rest) = match path.split_once('.') {
        Some((h, r)) => (h, Some(r)),
        None => (path, None),
    };
    let Kind::Map(entries) = &mut node.kind else {
        return;
    };
    let idx = match entries.iter().position(|(k, _)| k.as_str() == Some(head)) {
        Some(i) => i,
        None => {
            let child = if rest.is_some() {
                Node::empty_map(value.pos.clone())
            } else {
                value.clone()
            };
            entries.push((Node::string(head, value.pos.clone()), child));
            entries.len() - 1
        }
    };
    match rest {
        None => entries[idx].1 = value,
        Some(r) => {
            if entries[idx].1.as_map().is_none() {
                entries[idx].1 = Node::empty_map(value.pos.clone());
            }
            insert_path(&mut entries[idx].1, r, value);
        }
    }
}

/// Build a job from provider options as Compose passes them to the provider
/// (`--key=value`, a list option repeated): `model`, `train` (the training file), `eval`,
/// `output`, `epochs`, `gpus`... (see [`PROVIDER_KEYS`]) or dotted paths (`train.batch_size`).
/// Values are typed like YAML plain scalars; paths resolve against `project_dir`.
pub fn job_from_provider_options(
    name: &str,
    options: &BTreeMap<String, Vec<String>>,
    project_dir: &Path,
) -> Result<JobSpec, Vec<Diagnostic>> {
    let pos = Position::new(Arc::from(Path::new("<provider options>")), 0, 0);
    let scalar = |s: &str| {
        Node::new(
            Kind::Scalar(Scalar {
                text: s.to_string(),
                plain: true,
            }),
            pos.clone(),
        )
    };
    let entries = options
        .iter()
        .map(|(k, vals)| {
            let v = match vals.as_slice() {
                [one] => scalar(one),
                many => Node::new(
                    Kind::Seq(many.iter().map(|s| scalar(s)).collect()),
                    pos.clone(),
                ),
            };
            (Node::string(k.clone(), pos.clone()), v)
        })
        .collect();
    let opts = Node::new(Kind::Map(entries), pos.clone());
    let mut diags = Vec::new();
    let node = options_to_node(&opts, "options", &mut diags);
    let services = BTreeMap::new();
    let names: BTreeSet<String> = node
        .get("depends_on")
        .and_then(Node::as_seq)
        .into_iter()
        .flatten()
        .filter_map(|n| n.as_str().map(str::to_string))
        .collect();
    let job = job_from_node(
        name,
        &node,
        pos,
        JobSource::Provider(name.into()),
        "options",
        project_dir,
        &services,
        &names,
        &mut diags,
    );
    match job {
        Some(j) if diags.iter().all(|d| !d.is_error()) => Ok(j.spec),
        _ => Err(diags),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::parse;
    use finetune_spec::{ByteSize, Gpus, Method};

    fn project(y: &str) -> Project {
        let n = parse(y, Path::new("/p/compose.yaml")).unwrap();
        build("p".into(), "/p".into(), vec![], &n, BTreeMap::new(), &[])
    }

    const SECTION: &str = "services:\n  db: {image: pg}\nx-finetune:\n  defaults:\n    resources: {gpus: 1, memory: 8g}\n    train: {epochs: 5}\n  jobs:\n    a:\n      model: ./m\n      data: {train: d/t.jsonl, eval_split: 0.1, labels: [0, 1]}\n      output: ./runs/a\n      train: {batch_size: 8}\n      method: {lora: {r: 4}}\n      depends_on: [db]\n      environment: [HF_TOKEN, A=1]\n";

    #[test]
    fn defaults_merge_under_section_jobs() {
        let p = project(SECTION);
        assert!(p.diagnostics.is_empty(), "{:#?}", p.diagnostics);
        let j = &p.job("a").unwrap().spec;
        assert_eq!(j.model, PathBuf::from("/p/m"));
        assert_eq!(j.data.train, PathBuf::from("/p/d/t.jsonl"));
        assert_eq!(j.train.epochs, 5);
        assert_eq!(j.train.batch_size, 8);
        assert_eq!(j.resources.gpus, Gpus::Count(1));
        assert_eq!(j.resources.memory, Some(ByteSize(8 << 30)));
        assert_eq!(j.data.labels, Some(vec!["0".into(), "1".into()]));
        assert!(matches!(&j.method, Method::Lora(l) if l.r == 4));
        assert_eq!(j.environment.get("HF_TOKEN"), Some(&None));
        assert_eq!(j.environment.get("A"), Some(&Some("1".into())));
        assert_eq!(p.job("a").unwrap().position_of("data.train").line, 10);
    }

    #[test]
    fn service_form_names_the_job_after_the_service() {
        let p = project("services:\n  db: {image: pg}\n  tune:\n    depends_on: [db]\n    x-finetune:\n      model: m\n      data: {train: t.csv}\n      output: out\n");
        assert!(p.diagnostics.is_empty(), "{:#?}", p.diagnostics);
        let j = p.job("tune").unwrap();
        assert_eq!(j.source, JobSource::Service("tune".into()));
        assert_eq!(j.spec.depends_on, vec!["db".to_string()]);
    }

    #[test]
    fn collisions_escapes_and_missing_services_are_reported() {
        let p = project("services:\n  api: {image: x}\n  b:\n    x-finetune: {model: m, data: {train: t}, output: o}\nx-finetune:\n  jobs:\n    api: {model: m, data: {train: t}, output: o}\n    b: {model: ../m, data: {train: t, eval: e, eval_split: 0.2}, output: o, depends_on: [apx]}\n");
        let msgs: Vec<String> = p.diagnostics.iter().map(|d| d.to_string()).collect();
        let all = msgs.join("\n");
        assert!(all.contains("same name as the service `api`"), "{all}");
        assert!(all.contains("duplicate job name `b`"), "{all}");
        assert!(all.contains("escapes the project directory"), "{all}");
        assert!(all.contains("mutually exclusive"), "{all}");
        assert!(all.contains("did you mean `api`?"), "{all}");
        assert!(p.job("api").is_none());
    }

    #[test]
    fn profiles_gate_service_jobs() {
        let y = "services:\n  t:\n    profiles: [train]\n    x-finetune: {model: m, data: {train: t}, output: o}\n";
        assert!(project(y).jobs.is_empty());
        let n = parse(y, Path::new("/p/c.yaml")).unwrap();
        let p = build(
            "p".into(),
            "/p".into(),
            vec![],
            &n,
            BTreeMap::new(),
            &["train".into()],
        );
        assert_eq!(p.jobs.len(), 1);
    }

    #[test]
    fn provider_options_become_a_job() {
        let opts: BTreeMap<String, Vec<String>> = [
            ("model", vec!["./m"]),
            ("train", vec!["d/t.jsonl"]),
            ("output", vec!["o"]),
            ("epochs", vec!["2"]),
            ("gpus", vec!["0", "1"]),
            ("lora_r", vec!["4"]),
            ("memory", vec!["2g"]),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.into_iter().map(String::from).collect()))
        .collect();
        let j = job_from_provider_options("ft", &opts, Path::new("/p")).unwrap();
        assert_eq!(j.train.epochs, 2);
        assert_eq!(j.resources.gpus, Gpus::Ids(vec!["0".into(), "1".into()]));
        assert!(matches!(&j.method, Method::Lora(l) if l.r == 4));
        assert_eq!(j.data.train, PathBuf::from("/p/d/t.jsonl"));
        let mut bad = opts.clone();
        bad.insert("epocs".into(), vec!["1".into()]);
        bad.insert("batch_size".into(), vec!["0".into()]);
        let e = job_from_provider_options("ft", &bad, Path::new("/p")).unwrap_err();
        assert_eq!(e.len(), 2, "{e:#?}");
        assert!(
            e[0].hint.as_deref() == Some("did you mean `epochs`?")
                || e[1].hint.as_deref() == Some("did you mean `epochs`?")
        );
    }
}
