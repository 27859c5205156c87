//! The Compose project as the plugin sees it: the user's services, and the fine-tune jobs with
//! their typed [`JobSpec`]s and positions.
//!
//! Jobs come from three places (see [`declare`]):
//! - the top-level `x-finetune` section: `x-finetune.jobs.NAME`, each with `x-finetune.defaults`
//!   deep-merged under it (mappings merge, the job's own values win);
//! - a service with an `x-finetune:` key (the service form): the job is named after the service,
//!   `defaults` apply too, and the service's `depends_on` are added to the job's. The rendered job
//!   service has the service's name, so Compose merges the user's `profiles`, `depends_on`,
//!   `environment` and `networks` into it, and other services can depend on the job. A service
//!   that is not active for the selected profiles gives no job (it is still checked);
//! - a service with `provider: {type: finetune, options: {...}}` (Compose 2.36+ provider form): the
//!   options (flat keys, see [`provider`]) become the job, named after the service.
//!
//! [`build`] checks the names across forms, merges defaults and reads each job ([`jobs`]). Paths
//! are resolved against the project directory; a relative path that climbs out of it is an error
//! (absolute paths are taken as written). Problems become [`Diagnostic`]s: a job with an error is
//! left out of [`Project::jobs`], every other job is still built.

mod declare;
mod jobs;
pub mod provider;
mod secrets;
mod services;
#[cfg(test)]
mod tests;

use crate::de::join;
use crate::diagnostic::{suggest, Diagnostic, Position};
use crate::yaml::Node;
use declare::Declared;
use finetune_spec::JobSpec;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

pub use crate::paths::resolve_path;
pub use declare::deep_merge;
pub use provider::job_from_provider_options;

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
    /// The position of every key in the job (the `label` of `label: category`), by the same
    /// paths: errors about a setting as a whole point there.
    pub key_positions: BTreeMap<String, Position>,
}

impl Job {
    /// The position of a value of the job (`model`, `data.train`), else the job's own.
    pub fn position_of(&self, rel: &str) -> &Position {
        self.positions.get(rel).unwrap_or(&self.position)
    }

    /// The position of a key of the job (`data.label`), else the job's own.
    pub fn key_position_of(&self, rel: &str) -> &Position {
        self.key_positions.get(rel).unwrap_or(&self.position)
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
    let services = services::services(model, profiles);
    let (defaults, mut found) = declare::section(model, &mut diags);
    found.extend(declare::service_jobs(model, &services, &mut diags));

    let job_names: BTreeSet<String> = found.iter().map(|f| f.name.clone()).collect();
    let networks: Vec<String> = model
        .get("networks")
        .and_then(Node::as_map)
        .into_iter()
        .flatten()
        .map(|(k, _)| k.key_text())
        .collect();
    let ctx = jobs::Context {
        dir: &dir,
        services: &services,
        job_names: &job_names,
    };
    let mut seen: BTreeMap<String, Position> = BTreeMap::new();
    let mut jobs = Vec::new();
    for d in found {
        let before = diags.len();
        check_name(&d, &services, &mut seen, &mut diags);
        let merged = match (defaults, &d.source) {
            (_, JobSource::Provider(_)) => d.node.clone(),
            (Some(defs), _) if d.node.as_map().is_some() => deep_merge(defs, &d.node),
            _ => d.node.clone(),
        };
        check_network(&merged, &d.path, &networks, &mut diags);
        secrets::check_redact_key(model, &merged, &d.path, &dir, &mut diags);
        let job = jobs::job_from_node(&d, &merged, &ctx, &mut diags);
        let clean = diags[before..].iter().all(|d| !d.is_error());
        if let Some(job) = job.filter(|_| d.active && clean) {
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

/// Names: unique across forms, valid as service names, and not taken by a user service.
fn check_name(
    d: &Declared,
    services: &BTreeMap<String, Service>,
    seen: &mut BTreeMap<String, Position>,
    diags: &mut Vec<Diagnostic>,
) {
    let (name, pos, path) = (&d.name, &d.pos, &d.path);
    if !services::valid_service_name(name) {
        diags.push(Diagnostic::error(pos, path, format!("invalid job name `{name}`: use letters, digits, `_`, `.` and `-`, starting with a letter or digit")));
    }
    if let Some(first) = seen.get(name) {
        diags.push(
            Diagnostic::error(
                pos,
                path,
                format!("duplicate job name `{name}`: already declared at {first}"),
            )
            .with_hint("rename one of the jobs"),
        );
    } else {
        seen.insert(name.clone(), pos.clone());
    }
    if d.source == JobSource::Section {
        if let Some(s) = services.get(name) {
            diags.push(
                Diagnostic::error(
                    pos,
                    path,
                    format!(
                        "job `{name}` has the same name as the service `{name}` (at {})",
                        s.position
                    ),
                )
                .with_hint(format!(
                    "rename the job, or move it onto the service as `services.{name}.x-finetune`"
                )),
            );
        }
    }
}

/// A job's `network` must be declared under the top-level `networks:` (or be `default`).
fn check_network(job: &Node, path: &str, networks: &[String], diags: &mut Vec<Diagnostic>) {
    let Some(net) = job.get("network") else {
        return;
    };
    let Some(name) = net.as_str() else {
        return;
    };
    if name == "default" || networks.iter().any(|n| n == name) {
        return;
    }
    let d = Diagnostic::error(
        &net.pos,
        join(path, "network"),
        format!("network `{name}` is not declared under the top-level `networks:`"),
    );
    let known = networks.iter().map(String::as_str).chain(["default"]);
    diags.push(match suggest(name, known) {
        Some(m) => d.with_hint(format!("did you mean `{m}`?")),
        None => d.with_hint("declare it under `networks:`, or use `default`"),
    });
}
