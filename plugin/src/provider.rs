//! The Compose provider protocol, as pure functions: argv parsing and the JSON lines Compose reads.
//!
//! Compose (2.36+) runs `docker-finetune compose --project-name=P up --key=value … SERVICE` for a
//! service declared `provider: {type: finetune, options: {...}}` (2.36 passes `--project-name P`
//! as two arguments; both are accepted). Options arrive one argv element each, in any order; a
//! list option is a repeated flag. Compose reads stdout as JSON lines
//! (`{"type":"info"|"error"|"debug"|"setenv","message":…}`) and discards stderr, so nothing
//! else may ever be printed on stdout.

use serde::Serialize;
use std::collections::BTreeMap;

/// What Compose asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Metadata,
    Up,
    Down,
}

/// One provider invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub project: Option<String>,
    pub action: Action,
    /// Options by key; a repeated flag gives several values. A bare `--flag` is `"true"`.
    pub options: BTreeMap<String, Vec<String>>,
    /// The provider service's name.
    pub service: Option<String>,
}

/// Why the argv is not a provider call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("missing action: expected `metadata`, `up` or `down`")]
    MissingAction,
    #[error("unknown action `{0}`: expected `metadata`, `up` or `down`")]
    UnknownAction(String),
    #[error("`--project-name` needs a value")]
    MissingProjectName,
    #[error("unexpected argument `{0}`")]
    Unexpected(String),
}

/// Parse the arguments after `compose`.
pub fn parse(args: &[String]) -> Result<Call, ParseError> {
    let mut project = None;
    let mut it = args.iter().peekable();
    // Flags before the action: the project name (either form); others are ignored so that a
    // newer Compose adding a global flag does not break the provider.
    let action = loop {
        let Some(a) = it.next() else {
            return Err(ParseError::MissingAction);
        };
        if let Some(v) = a.strip_prefix("--project-name=") {
            project = Some(v.to_string());
        } else if a == "--project-name" || a == "-p" {
            project = Some(it.next().ok_or(ParseError::MissingProjectName)?.clone());
        } else if a.starts_with('-') {
            continue;
        } else {
            break match a.as_str() {
                "metadata" => Action::Metadata,
                "up" => Action::Up,
                "down" => Action::Down,
                other => return Err(ParseError::UnknownAction(other.to_string())),
            };
        }
    };
    let mut options: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut service = None;
    for a in it {
        if let Some(kv) = a.strip_prefix("--") {
            let (k, v) = kv.split_once('=').unwrap_or((kv, "true"));
            options
                .entry(k.to_string())
                .or_default()
                .push(v.to_string());
        } else if service.is_none() {
            service = Some(a.clone());
        } else {
            return Err(ParseError::Unexpected(a.clone()));
        }
    }
    Ok(Call {
        project: project.filter(|p| !p.is_empty()),
        action,
        options,
        service,
    })
}

/// One JSON line for Compose.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Message {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub message: String,
}

impl Message {
    pub fn info(m: impl Into<String>) -> Message {
        Message {
            kind: "info",
            message: m.into(),
        }
    }
    pub fn debug(m: impl Into<String>) -> Message {
        Message {
            kind: "debug",
            message: m.into(),
        }
    }
    pub fn error(m: impl Into<String>) -> Message {
        Message {
            kind: "error",
            message: m.into(),
        }
    }
    pub fn setenv(key: &str, value: &str) -> Message {
        Message {
            kind: "setenv",
            message: format!("{key}={value}"),
        }
    }
    /// The line, without a newline; messages are flattened to one line because Compose reads
    /// one JSON document per line.
    pub fn line(&self) -> String {
        let flat = Message {
            kind: self.kind,
            message: self.message.replace(['\n', '\r'], " "),
        };
        serde_json::to_string(&flat).unwrap_or_default()
    }
}

/// One parameter in the metadata reply.
#[derive(Debug, Clone, Serialize)]
pub struct Parameter {
    pub name: String,
    pub description: String,
    pub required: bool,
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<&'static str>,
}

/// Options the plugin itself reads (the rest describe the job, see
/// `finetune_spec::options::OPTIONS`).
pub const PLUGIN_KEYS: &[(&str, &str)] = &[
    (
        "job",
        "run this job of the project's x-finetune section instead of one built from options",
    ),
    (
        "file",
        "compose file holding the x-finetune section (repeatable; default: compose.yaml & co.)",
    ),
    (
        "project_directory",
        "directory that relative paths start from (default: the current directory)",
    ),
    (
        "smoke",
        "run a few steps on a small slice of the data into <output>/smoke",
    ),
];

/// The options `up` understands. Compose drops options not listed here, so every flat key the
/// compose library's `job_from_provider_options` reads is listed (dotted paths such as
/// `train.weight_decay` are accepted by the library but filtered out by Compose).
pub fn up_parameters() -> Vec<Parameter> {
    let plugin = PLUGIN_KEYS.iter().map(|(name, d)| Parameter {
        name: name.to_string(),
        description: d.to_string(),
        required: false,
        kind: "string",
        default: None,
    });
    let job = finetune_spec::options::OPTIONS.iter().map(|o| Parameter {
        name: o.name.to_string(),
        description: format!("sets `{}` of the job (see docs/spec.md)", o.path),
        required: false,
        kind: "string",
        default: None,
    });
    plugin.chain(job).collect()
}

/// The options `down` understands: the ones that name the job. Compose filters `down`'s options
/// through this list too, so without them a job started from a named `job` would be looked up by
/// the service name on `down` and left running.
pub fn down_parameters() -> Vec<Parameter> {
    up_parameters()
        .into_iter()
        .filter(|p| matches!(p.name.as_str(), "job" | "file" | "project_directory"))
        .collect()
}

/// The metadata reply.
pub fn metadata_json() -> String {
    serde_json::json!({
        "description": "Fine-tune a model with docker-finetune as part of the stack; training runs detached in its own container",
        "up": { "parameters": up_parameters() },
        "down": { "parameters": down_parameters() },
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn both_project_name_forms_parse() {
        let a = parse(&args(&["--project-name=demo", "up", "--model=./m", "svc"])).unwrap();
        let b = parse(&args(&[
            "--project-name",
            "demo",
            "up",
            "--model=./m",
            "svc",
        ]))
        .unwrap();
        assert_eq!(a, b);
        assert_eq!(a.project.as_deref(), Some("demo"));
        assert_eq!(a.action, Action::Up);
        assert_eq!(a.service.as_deref(), Some("svc"));
        assert_eq!(a.options["model"], ["./m"]);
    }

    #[test]
    fn options_keep_spaces_equals_and_repeats() {
        let c = parse(&args(&[
            "up",
            "--gpus=0",
            "--text=a b=c",
            "--gpus=1",
            "--wait",
            "svc",
        ]))
        .unwrap();
        assert_eq!(c.options["gpus"], ["0", "1"]);
        assert_eq!(c.options["text"], ["a b=c"]);
        assert_eq!(c.options["wait"], ["true"]);
        assert_eq!(c.project, None);
    }

    #[test]
    fn metadata_and_down_and_errors() {
        assert_eq!(
            parse(&args(&["metadata"])).unwrap().action,
            Action::Metadata
        );
        let d = parse(&args(&["--project-name=p", "down", "svc"])).unwrap();
        assert_eq!(
            (d.action, d.service.as_deref()),
            (Action::Down, Some("svc"))
        );
        assert_eq!(parse(&args(&[])), Err(ParseError::MissingAction));
        assert_eq!(
            parse(&args(&["--project-name"])),
            Err(ParseError::MissingProjectName)
        );
        assert!(matches!(
            parse(&args(&["start"])),
            Err(ParseError::UnknownAction(_))
        ));
        assert!(matches!(
            parse(&args(&["up", "a", "b"])),
            Err(ParseError::Unexpected(_))
        ));
    }

    #[test]
    fn messages_are_single_json_lines() {
        let l = Message::info("line one\nline two").line();
        assert!(!l.contains('\n'));
        let v: serde_json::Value = serde_json::from_str(&l).unwrap();
        assert_eq!(v["type"], "info");
        assert_eq!(v["message"], "line one line two");
        assert_eq!(Message::setenv("URL", "x=y").message, "URL=x=y");
    }

    #[test]
    fn metadata_has_the_schema_compose_expects() {
        let v: serde_json::Value = serde_json::from_str(&metadata_json()).unwrap();
        assert!(v["description"].is_string());
        let params = v["up"]["parameters"].as_array().unwrap();
        assert!(params.iter().all(|p| p["name"].is_string()
            && p["description"].is_string()
            && p["required"].is_boolean()
            && p["type"].is_string()));
        assert!(params.iter().any(|p| p["name"] == "job"));
        let down: Vec<_> = v["down"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert_eq!(down, ["job", "file", "project_directory"]);
    }
}
