//! Which Docker engine to talk to, resolved the way the docker CLI resolves it.
//!
//! The docker CLI runs a plugin with its own argv unchanged (`docker-finetune --context x
//! finetune up`) and exports neither `DOCKER_HOST` nor the chosen context, so the plugin repeats
//! the CLI's resolution (docker/cli `cli/command/cli.go`, `resolveContextName`):
//!
//! 1. `-H/--host` (cannot be combined with `--context`);
//! 2. `--context`;
//! 3. `DOCKER_HOST` (the default context, pointed elsewhere);
//! 4. `DOCKER_CONTEXT`;
//! 5. `currentContext` in `$DOCKER_CONFIG/config.json` (`--config` overrides `DOCKER_CONFIG`,
//!    which defaults to `~/.docker`);
//! 6. the default context: `unix:///var/run/docker.sock`.
//!
//! A named context's endpoint is `Endpoints.docker.Host` in
//! `$DOCKER_CONFIG/contexts/meta/<sha256(name)>/meta.json`.
//!
//! Everything here is pure over an [`EndpointInputs`] so it can be tested without a home
//! directory or an environment.

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// The default engine socket on Linux.
pub const DEFAULT_HOST: &str = "unix:///var/run/docker.sock";

/// Inputs to the resolution: flags, environment and the config directory.
#[derive(Debug, Clone, Default)]
pub struct EndpointInputs {
    pub host_flag: Vec<String>,
    pub context_flag: Option<String>,
    pub config_flag: Option<PathBuf>,
    pub env_docker_host: Option<String>,
    pub env_docker_context: Option<String>,
    pub env_docker_config: Option<PathBuf>,
    pub home: Option<PathBuf>,
}

impl EndpointInputs {
    /// Inputs from the process environment plus the given flags.
    pub fn from_env(
        host_flag: Vec<String>,
        context_flag: Option<String>,
        config_flag: Option<PathBuf>,
    ) -> EndpointInputs {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        EndpointInputs {
            host_flag,
            context_flag,
            config_flag,
            env_docker_host: var("DOCKER_HOST"),
            env_docker_context: var("DOCKER_CONTEXT"),
            env_docker_config: var("DOCKER_CONFIG").map(PathBuf::from),
            home: var("HOME").map(PathBuf::from),
        }
    }

    /// The docker config directory: `--config`, `DOCKER_CONFIG`, `~/.docker`.
    pub fn config_dir(&self) -> PathBuf {
        self.config_flag
            .clone()
            .or_else(|| self.env_docker_config.clone())
            .unwrap_or_else(|| {
                self.home
                    .clone()
                    .unwrap_or_else(|| PathBuf::from("/root"))
                    .join(".docker")
            })
    }
}

/// The resolved engine endpoint and where it came from (shown by `doctor` and in errors).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `unix:///path` or `tcp://host:port` (or another scheme the engine client rejects later).
    pub host: String,
    /// The context name, `default` when no named context applies.
    pub context: String,
    /// Where the endpoint came from, e.g. `--host flag`, `DOCKER_HOST`, `context "remote"`.
    pub source: String,
}

/// Why the endpoint cannot be resolved.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EndpointError {
    #[error("conflicting options: cannot specify both --host and --context")]
    HostAndContext,
    #[error("only one --host is supported, got {0}")]
    SeveralHosts(usize),
    #[error("context \"{name}\" does not exist (no {path})")]
    UnknownContext { name: String, path: String },
    #[error("context \"{name}\" is unreadable: {reason}")]
    BadContext { name: String, reason: String },
}

/// The directory of a context's metadata: `contexts/meta/<sha256(name)>`.
pub fn context_meta_dir(config_dir: &Path, name: &str) -> PathBuf {
    let digest = hex::encode(Sha256::digest(name.as_bytes()));
    config_dir.join("contexts").join("meta").join(digest)
}

/// Resolve the endpoint.
pub fn resolve(inputs: &EndpointInputs) -> Result<Endpoint, EndpointError> {
    if !inputs.host_flag.is_empty() && inputs.context_flag.is_some() {
        return Err(EndpointError::HostAndContext);
    }
    if inputs.host_flag.len() > 1 {
        return Err(EndpointError::SeveralHosts(inputs.host_flag.len()));
    }
    if let Some(h) = inputs.host_flag.first() {
        return Ok(Endpoint {
            host: normalize_host(h),
            context: "default".into(),
            source: "--host flag".into(),
        });
    }
    let (name, source) = if let Some(c) = &inputs.context_flag {
        (c.clone(), "--context flag".to_string())
    } else if let Some(h) = &inputs.env_docker_host {
        return Ok(Endpoint {
            host: normalize_host(h),
            context: "default".into(),
            source: "DOCKER_HOST".into(),
        });
    } else if let Some(c) = &inputs.env_docker_context {
        (c.clone(), "DOCKER_CONTEXT".to_string())
    } else if let Some(c) = current_context(&inputs.config_dir()) {
        (c, "currentContext in config.json".to_string())
    } else {
        ("default".to_string(), "default".to_string())
    };
    if name == "default" {
        // The default context is the environment's engine: DOCKER_HOST when set, else the socket.
        let host = inputs
            .env_docker_host
            .as_deref()
            .map(normalize_host)
            .unwrap_or_else(|| DEFAULT_HOST.to_string());
        return Ok(Endpoint {
            host,
            context: name,
            source,
        });
    }
    let meta = context_meta_dir(&inputs.config_dir(), &name).join("meta.json");
    let text = std::fs::read_to_string(&meta).map_err(|_| EndpointError::UnknownContext {
        name: name.clone(),
        path: meta.display().to_string(),
    })?;
    let host = context_host(&text).map_err(|reason| EndpointError::BadContext {
        name: name.clone(),
        reason,
    })?;
    Ok(Endpoint {
        host: normalize_host(&host),
        source: format!("context \"{name}\" ({source})"),
        context: name,
    })
}

/// `currentContext` from `config.json`, if the file exists and names one.
fn current_context(config_dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(config_dir.join("config.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v.get("currentContext")?
        .as_str()
        .filter(|s| !s.is_empty())
        .map(String::from)
}

/// `Endpoints.docker.Host` of a context's `meta.json`.
fn context_host(meta_json: &str) -> Result<String, String> {
    let v: serde_json::Value = serde_json::from_str(meta_json).map_err(|e| e.to_string())?;
    v.pointer("/Endpoints/docker/Host")
        .and_then(|h| h.as_str())
        .map(String::from)
        .ok_or_else(|| "meta.json has no Endpoints.docker.Host".to_string())
}

/// The docker CLI accepts `-H /path/to.sock`-style shorthands and `fd://`; normalise the common
/// ones so the engine client gets a URL.
fn normalize_host(h: &str) -> String {
    let h = h.trim();
    if h.starts_with('/') {
        format!("unix://{h}")
    } else if h == "fd://" || h.is_empty() {
        DEFAULT_HOST.to_string()
    } else {
        h.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_config(dir: &Path) -> EndpointInputs {
        EndpointInputs {
            env_docker_config: Some(dir.to_path_buf()),
            ..Default::default()
        }
    }

    fn write_context(dir: &Path, name: &str, host: &str) {
        let meta = context_meta_dir(dir, name);
        std::fs::create_dir_all(&meta).unwrap();
        std::fs::write(
            meta.join("meta.json"),
            serde_json::json!({"Name": name, "Metadata": {}, "Endpoints": {"docker": {"Host": host, "SkipTLSVerify": false}}}).to_string(),
        )
        .unwrap();
    }

    #[test]
    fn default_is_the_local_socket() {
        let dir = tempfile::tempdir().unwrap();
        let e = resolve(&with_config(dir.path())).unwrap();
        assert_eq!(e.host, DEFAULT_HOST);
        assert_eq!(e.context, "default");
    }

    #[test]
    fn context_meta_dir_is_sha256_of_the_name() {
        // sha256("remote"), as the docker CLI names the directory.
        let d = context_meta_dir(Path::new("/c"), "remote");
        assert_eq!(
            d,
            Path::new(
                "/c/contexts/meta/b71199ebd070b36beab7317920c2c2f1d777df8d05e5527d8458fda57cb17a7a"
            )
        );
    }

    #[test]
    fn precedence_follows_the_docker_cli() {
        let dir = tempfile::tempdir().unwrap();
        write_context(dir.path(), "remote", "tcp://10.0.0.1:2375");
        write_context(dir.path(), "other", "unix:///other.sock");
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"currentContext":"other"}"#,
        )
        .unwrap();
        let base = with_config(dir.path());

        // config.json's current context.
        assert_eq!(resolve(&base).unwrap().host, "unix:///other.sock");
        // DOCKER_CONTEXT beats config.json.
        let mut i = base.clone();
        i.env_docker_context = Some("remote".into());
        assert_eq!(resolve(&i).unwrap().host, "tcp://10.0.0.1:2375");
        // DOCKER_HOST beats DOCKER_CONTEXT.
        i.env_docker_host = Some("tcp://1.2.3.4:2375".into());
        let e = resolve(&i).unwrap();
        assert_eq!(
            (e.host.as_str(), e.source.as_str()),
            ("tcp://1.2.3.4:2375", "DOCKER_HOST")
        );
        // --context beats DOCKER_HOST.
        i.context_flag = Some("remote".into());
        assert_eq!(resolve(&i).unwrap().host, "tcp://10.0.0.1:2375");
        // --host beats everything but cannot be combined with --context.
        i.host_flag = vec!["unix:///h.sock".into()];
        assert_eq!(resolve(&i), Err(EndpointError::HostAndContext));
        i.context_flag = None;
        assert_eq!(resolve(&i).unwrap().host, "unix:///h.sock");
    }

    #[test]
    fn config_flag_beats_docker_config() {
        let env_dir = tempfile::tempdir().unwrap();
        let flag_dir = tempfile::tempdir().unwrap();
        write_context(flag_dir.path(), "x", "tcp://flag:1");
        let i = EndpointInputs {
            context_flag: Some("x".into()),
            config_flag: Some(flag_dir.path().into()),
            env_docker_config: Some(env_dir.path().into()),
            ..Default::default()
        };
        assert_eq!(resolve(&i).unwrap().host, "tcp://flag:1");
    }

    #[test]
    fn explicit_default_context_uses_docker_host() {
        let dir = tempfile::tempdir().unwrap();
        let mut i = with_config(dir.path());
        i.context_flag = Some("default".into());
        i.env_docker_host = Some("tcp://h:1".into());
        assert_eq!(resolve(&i).unwrap().host, "tcp://h:1");
    }

    #[test]
    fn missing_or_broken_contexts_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let mut i = with_config(dir.path());
        i.context_flag = Some("nope".into());
        assert!(matches!(
            resolve(&i),
            Err(EndpointError::UnknownContext { .. })
        ));
        let meta = context_meta_dir(dir.path(), "broken");
        std::fs::create_dir_all(&meta).unwrap();
        std::fs::write(meta.join("meta.json"), "{}").unwrap();
        i.context_flag = Some("broken".into());
        assert!(matches!(resolve(&i), Err(EndpointError::BadContext { .. })));
    }

    #[test]
    fn bare_socket_paths_become_unix_urls() {
        assert_eq!(normalize_host("/run/d.sock"), "unix:///run/d.sock");
        assert_eq!(normalize_host("tcp://x:1"), "tcp://x:1");
    }
}
