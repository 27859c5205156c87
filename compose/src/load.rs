//! Loading a Compose project the way `docker compose` finds and reads it.
//!
//! Files: the `-f` flags, else `COMPOSE_FILE` (split on `COMPOSE_PATH_SEPARATOR`, default `:`),
//! else the first of `compose.yaml`, `compose.yml`, `docker-compose.yaml`, `docker-compose.yml`
//! found in the working directory or a parent, plus its `compose.override.*` /
//! `docker-compose.override.*` sibling. The project directory is `--project-directory`, else the
//! first file's directory. Variables: `--env-file` files (else `<project dir>/.env` if present),
//! overridden by the process environment. Each file is parsed with positions, interpolated, and
//! merged onto the previous ones by Compose's rules ([`crate::merge`]); local `include:` entries
//! are read for their services (remote ones are skipped with a warning). The project name is `-p`,
//! else the top-level `name:`, else `COMPOSE_PROJECT_NAME`, else the directory name, normalised like
//! Compose (lowercase, only `[a-z0-9_-]`, no leading `_` or `-`).

use crate::diagnostic::{Diagnostic, Position};
use crate::interpolate::{interpolate_tree, InterpolateError};
use crate::merge::merge;
use crate::paths::clean;
use crate::project::{self, Project};
use crate::yaml::{self, Kind, Node, YamlError};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Default compose file names, in Compose's order of preference.
pub const DEFAULT_FILES: &[&str] = &[
    "compose.yaml",
    "compose.yml",
    "docker-compose.yaml",
    "docker-compose.yml",
];
/// Override files read after a default file found in the same directory.
pub const OVERRIDE_FILES: &[&str] = &[
    "compose.override.yaml",
    "compose.override.yml",
    "docker-compose.override.yaml",
    "docker-compose.override.yml",
];

/// The flags and environment that select a Compose project.
#[derive(Debug, Clone, Default)]
pub struct ProjectOptions {
    /// `-f` files, in order; empty means `COMPOSE_FILE`, then the default names.
    pub files: Vec<PathBuf>,
    /// `-p`.
    pub project_name: Option<String>,
    /// `--project-directory`.
    pub project_directory: Option<PathBuf>,
    /// `--env-file` (repeatable); empty means `<project dir>/.env` if it exists.
    pub env_files: Vec<PathBuf>,
    /// `--profile` (repeatable); empty means `COMPOSE_PROFILES`.
    pub profiles: Vec<String>,
    /// The process environment: it overrides env files, and supplies `COMPOSE_*`.
    pub env: BTreeMap<String, String>,
    /// Where relative `-f` paths and the default-file search start; default the current directory.
    pub working_dir: Option<PathBuf>,
}

impl ProjectOptions {
    /// Options with `env` taken from the process environment and nothing else set.
    pub fn from_env() -> ProjectOptions {
        ProjectOptions {
            env: std::env::vars().collect(),
            ..ProjectOptions::default()
        }
    }
}

/// Why a project could not be loaded. A valid compose file never produces one.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("no compose file found in {} or its parents: expected one of {}; use `-f FILE`", .dir.display(), DEFAULT_FILES.join(", "))]
    NoComposeFile { dir: PathBuf },
    #[error("cannot read {}: {source}", .path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Yaml(#[from] YamlError),
    #[error("{}", .0.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<Diagnostic>),
    #[error("env file {}: {source}", .path.display())]
    EnvFile {
        path: PathBuf,
        source: crate::env::EnvError,
    },
    #[error("include cycle: {}", .0.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(" -> "))]
    IncludeCycle(Vec<PathBuf>),
}

impl LoadError {
    /// The error as positioned diagnostics, so `validate` prints every problem the same way.
    pub fn diagnostics(&self) -> Vec<Diagnostic> {
        match self {
            LoadError::Yaml(e) => vec![Diagnostic::error(&e.pos, "", &e.message)],
            LoadError::Invalid(d) => d.clone(),
            LoadError::Read { path, source } => vec![Diagnostic::error(
                &Position::new(std::sync::Arc::from(path.as_path()), 0, 0),
                "",
                format!("cannot read: {source}"),
            )],
            LoadError::EnvFile { path, source } => vec![Diagnostic::error(
                &Position::new(std::sync::Arc::from(path.as_path()), source.line, 1),
                "",
                source.message.clone(),
            )],
            other => vec![Diagnostic::error(
                &Position::none("compose"),
                "",
                other.to_string(),
            )],
        }
    }
}

/// Load the project the options select.
pub fn load_project(opts: &ProjectOptions) -> Result<Project, LoadError> {
    let cwd = match &opts.working_dir {
        Some(d) => absolute(d, &std::env::current_dir().unwrap_or_default()),
        None => std::env::current_dir().map_err(|source| LoadError::Read {
            path: ".".into(),
            source,
        })?,
    };
    let files = find_files(opts, &cwd)?;
    let dir = match &opts.project_directory {
        Some(d) => absolute(d, &cwd),
        None => files[0]
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| cwd.clone()),
    };
    let env = environment(opts, &dir, &cwd)?;
    let mut warnings = Vec::new();
    let mut model: Option<Node> = None;
    for f in &files {
        let node = read_file(f, &env)?;
        let node = with_includes(node, f, &env, &mut vec![f.clone()], &mut warnings)?;
        model = Some(match model {
            None => node,
            Some(base) => merge(base, node),
        });
    }
    let model = model.unwrap_or_else(|| Node::empty_map(Position::none("compose")));
    if !matches!(model.kind, Kind::Map(_)) {
        return Err(LoadError::Invalid(vec![Diagnostic::error(
            &model.pos,
            "",
            format!(
                "a compose file must be a mapping, found {}",
                model.type_name()
            ),
        )]));
    }
    let name = opts
        .project_name
        .clone()
        .or_else(|| model.get("name").and_then(Node::as_str).map(str::to_string))
        .or_else(|| {
            env.get("COMPOSE_PROJECT_NAME")
                .filter(|s| !s.is_empty())
                .cloned()
        })
        .unwrap_or_else(|| {
            dir.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        });
    let profiles: Vec<String> = if opts.profiles.is_empty() {
        env.get("COMPOSE_PROFILES")
            .map(|p| {
                p.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    } else {
        opts.profiles.clone()
    };
    let mut project = project::build(
        normalize_project_name(&name),
        dir,
        files,
        &model,
        env,
        &profiles,
    );
    project.diagnostics.extend(warnings);
    Ok(project)
}

/// Compose's project-name normalisation.
pub fn normalize_project_name(name: &str) -> String {
    let s: String = name
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '-')
        .collect();
    s.trim_start_matches(['_', '-']).to_string()
}

/// `path` made absolute against `base` and cleaned of `.` and `..` (lexically, like Compose).
pub fn absolute(path: &Path, base: &Path) -> PathBuf {
    let joined = if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    };
    clean(&joined)
}

fn find_files(opts: &ProjectOptions, cwd: &Path) -> Result<Vec<PathBuf>, LoadError> {
    if !opts.files.is_empty() {
        return Ok(opts.files.iter().map(|f| absolute(f, cwd)).collect());
    }
    // Compose also takes COMPOSE_FILE (and its separator) from the `.env` of the project
    // directory (or working directory); the process environment wins.
    let start_dir = opts
        .project_directory
        .as_ref()
        .map(|d| absolute(d, cwd))
        .unwrap_or_else(|| cwd.to_path_buf());
    let mut vars = std::fs::read_to_string(start_dir.join(".env"))
        .ok()
        .and_then(|t| crate::env::parse_env_file(&t, &opts.env).ok())
        .unwrap_or_default();
    vars.extend(opts.env.iter().map(|(k, v)| (k.clone(), v.clone())));
    if let Some(list) = vars.get("COMPOSE_FILE").filter(|s| !s.is_empty()) {
        let sep = vars
            .get("COMPOSE_PATH_SEPARATOR")
            .filter(|s| !s.is_empty())
            .map(String::as_str)
            .unwrap_or(":");
        let files: Vec<PathBuf> = list
            .split(sep)
            .filter(|s| !s.is_empty())
            .map(|f| absolute(Path::new(f), cwd))
            .collect();
        if !files.is_empty() {
            return Ok(files);
        }
    }
    let start = opts
        .project_directory
        .as_ref()
        .map(|d| absolute(d, cwd))
        .unwrap_or_else(|| cwd.to_path_buf());
    let mut dir = Some(start.as_path());
    while let Some(d) = dir {
        if let Some(first) = DEFAULT_FILES
            .iter()
            .map(|n| d.join(n))
            .find(|p| p.is_file())
        {
            let mut files = vec![first];
            if let Some(o) = OVERRIDE_FILES
                .iter()
                .map(|n| d.join(n))
                .find(|p| p.is_file())
            {
                files.push(o);
            }
            return Ok(files);
        }
        dir = d.parent();
    }
    Err(LoadError::NoComposeFile { dir: start })
}

fn environment(
    opts: &ProjectOptions,
    dir: &Path,
    cwd: &Path,
) -> Result<BTreeMap<String, String>, LoadError> {
    let files: Vec<PathBuf> = if opts.env_files.is_empty() {
        let default = dir.join(".env");
        if default.is_file() {
            vec![default]
        } else {
            Vec::new()
        }
    } else {
        opts.env_files.iter().map(|f| absolute(f, cwd)).collect()
    };
    let mut env = BTreeMap::new();
    for f in files {
        let text = std::fs::read_to_string(&f).map_err(|source| LoadError::Read {
            path: f.clone(),
            source,
        })?;
        let mut scope = opts.env.clone();
        scope.extend(env.clone());
        let vars =
            crate::env::parse_env_file(&text, &scope).map_err(|source| LoadError::EnvFile {
                path: f.clone(),
                source,
            })?;
        env.extend(vars);
    }
    // The process environment wins over env files, as in Compose.
    env.extend(opts.env.iter().map(|(k, v)| (k.clone(), v.clone())));
    Ok(env)
}

fn read_file(path: &Path, env: &BTreeMap<String, String>) -> Result<Node, LoadError> {
    let text = std::fs::read_to_string(path).map_err(|source| LoadError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut node = yaml::parse(&text, path)?;
    let mut errors: Vec<(Position, InterpolateError)> = Vec::new();
    interpolate_tree(&mut node, env, &mut errors);
    if !errors.is_empty() {
        return Err(LoadError::Invalid(
            errors
                .into_iter()
                .map(|(pos, e)| {
                    let d = Diagnostic::error(&pos, "", e.to_string());
                    match e {
                        InterpolateError::Required { name, .. } => d.with_hint(format!(
                            "set `{name}` in the environment or in the project's `.env`"
                        )),
                        InterpolateError::Syntax(_) => d,
                    }
                })
                .collect(),
        ));
    }
    Ok(node)
}

/// Read local `include:` entries (services they define are added where the model has none of
/// that name) and drop the `include` key. Remote includes are skipped with a warning.
fn with_includes(
    node: Node,
    file: &Path,
    env: &BTreeMap<String, String>,
    stack: &mut Vec<PathBuf>,
    warnings: &mut Vec<Diagnostic>,
) -> Result<Node, LoadError> {
    let Some(include) = node.get("include").cloned() else {
        return Ok(node);
    };
    let base = file.parent().unwrap_or(Path::new("/")).to_path_buf();
    let mut paths: Vec<Node> = Vec::new();
    for entry in include.as_seq().cloned().unwrap_or_default() {
        match &entry.kind {
            Kind::Scalar(_) => paths.push(entry.clone()),
            Kind::Map(_) => match entry.get("path") {
                Some(p) if p.as_seq().is_some() => {
                    paths.extend(p.as_seq().cloned().unwrap_or_default())
                }
                Some(p) => paths.push(p.clone()),
                None => {}
            },
            Kind::Seq(_) => {}
        }
    }
    let mut node = node;
    for p in paths {
        let Some(text) = p.as_str() else { continue };
        if text.contains("://") || text.starts_with("git@") {
            warnings.push(Diagnostic::warning(&p.pos, "include", format!("remote include `{text}` is not read; its services are unknown to the fine-tune plugin")));
            continue;
        }
        let path = absolute(Path::new(text), &base);
        if stack.contains(&path) {
            let mut cycle = stack.clone();
            cycle.push(path);
            return Err(LoadError::IncludeCycle(cycle));
        }
        stack.push(path.clone());
        let inc = read_file(&path, env)?;
        let inc = with_includes(inc, &path, env, stack, warnings)?;
        stack.pop();
        if let (Some(Kind::Map(extra)), Kind::Map(entries)) =
            (inc.get("services").map(|s| s.kind.clone()), &mut node.kind)
        {
            let idx = match entries
                .iter()
                .position(|(k, _)| k.as_str() == Some("services"))
            {
                Some(i) => i,
                None => {
                    entries.push((
                        Node::string("services", node.pos.clone()),
                        Node::empty_map(node.pos.clone()),
                    ));
                    entries.len() - 1
                }
            };
            if let Kind::Map(services) = &mut entries[idx].1.kind {
                for (k, v) in extra {
                    if !services.iter().any(|(sk, _)| sk.as_str() == k.as_str()) {
                        services.push((k, v));
                    }
                }
            }
        }
    }
    if let Kind::Map(entries) = &mut node.kind {
        entries.retain(|(k, _)| k.as_str() != Some("include"));
    }
    Ok(node)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_names_are_normalised_like_compose() {
        assert_eq!(normalize_project_name("My App.v2"), "myappv2");
        assert_eq!(normalize_project_name("_-x_y-"), "x_y-");
        assert_eq!(
            normalize_project_name("UNNORMALIZED PATH"),
            "unnormalizedpath"
        );
    }

    #[test]
    fn clean_resolves_dots_lexically() {
        assert_eq!(clean(Path::new("/a/./b/../c")), PathBuf::from("/a/c"));
        assert_eq!(
            absolute(Path::new("x/../../y"), Path::new("/p/q")),
            PathBuf::from("/p/y")
        );
    }
}
