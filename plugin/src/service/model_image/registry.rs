//! Pushing a model image through the engine, with the credentials the docker CLI would use.
//!
//! The engine pushes; the plugin only hands it credentials, found as `docker login` leaves them in
//! `$DOCKER_CONFIG/config.json` (the directory of [`crate::endpoint::EndpointInputs::config_dir`]):
//! a `credHelpers` entry for the registry, else an `auths` entry (`auth` is base64 `user:password`,
//! or an `identitytoken`), else the `credsStore` helper. Helpers are the CLI's
//! `docker-credential-<name> get` programs. No credentials is fine: the registry may not need any.
//! A failed push is one line saying which registry and why, with a hint for the usual causes.

use crate::engine::Engine;
use crate::exit::{fail_hint, ExitCode};
use crate::service::Report;
use base64::Engine as _;
use bollard::auth::DockerCredentials;
use bollard::query_parameters::PushImageOptions;
use finetune_spec::image_ref::ImageRef;
use futures_util::StreamExt;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// The key Docker Hub's credentials are stored under.
const DOCKER_HUB: &str = "https://index.docker.io/v1/";

/// The registry host of a repository name (`docker.io` when the name has none), as the engine
/// reads it: a first component with a `.` or `:`, or `localhost`, is a host.
pub fn registry_host(name: &str) -> String {
    match name.split_once('/') {
        Some((first, _)) if first.contains(['.', ':']) || first == "localhost" => first.to_string(),
        _ => "docker.io".to_string(),
    }
}

/// The credentials `config.json` under `config_dir` holds for `host`, if any.
pub fn credentials(config_dir: &Path, host: &str) -> Option<DockerCredentials> {
    let text = std::fs::read_to_string(config_dir.join("config.json")).ok()?;
    let config: serde_json::Value = serde_json::from_str(&text).ok()?;
    let server = if host == "docker.io" {
        DOCKER_HUB.to_string()
    } else {
        host.to_string()
    };
    if let Some(helper) = config
        .pointer("/credHelpers")
        .and_then(|h| h.get(host))
        .and_then(|h| h.as_str())
    {
        return from_helper(helper, &server);
    }
    if let Some(creds) = config
        .get("auths")
        .and_then(|a| a.as_object())
        .and_then(|auths| {
            auths
                .iter()
                .find(|(k, _)| auth_key_host(k) == auth_key_host(&server))
        })
        .and_then(|(_, entry)| from_entry(entry, &server))
    {
        return Some(creds);
    }
    let store = config.get("credsStore").and_then(|s| s.as_str())?;
    from_helper(store, &server)
}

/// The host of an `auths` key (`https://host/v1/`, `host`, `http://host`).
fn auth_key_host(key: &str) -> &str {
    let k = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let k = k.split('/').next().unwrap_or(k);
    if k == "index.docker.io" {
        "docker.io"
    } else {
        k
    }
}

/// An `auths` entry: `auth` (base64 `user:password`) or `identitytoken`.
fn from_entry(entry: &serde_json::Value, server: &str) -> Option<DockerCredentials> {
    if let Some(token) = entry.get("identitytoken").and_then(|t| t.as_str()) {
        return Some(DockerCredentials {
            identitytoken: Some(token.to_string()),
            serveraddress: Some(server.to_string()),
            ..Default::default()
        });
    }
    let auth = entry.get("auth").and_then(|a| a.as_str())?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(auth.trim())
        .ok()?;
    let (user, password) = std::str::from_utf8(&decoded).ok()?.split_once(':')?;
    Some(DockerCredentials {
        username: Some(user.to_string()),
        password: Some(password.to_string()),
        serveraddress: Some(server.to_string()),
        ..Default::default()
    })
}

/// `docker-credential-<helper> get`, fed the server on stdin. A missing helper or an entry it does
/// not have is no credentials.
fn from_helper(helper: &str, server: &str) -> Option<DockerCredentials> {
    let mut child = Command::new(format!("docker-credential-{helper}"))
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    child.stdin.take()?.write_all(server.as_bytes()).ok()?;
    let out = child.wait_with_output().ok()?;
    if !out.status.success() {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    let user = v.get("Username")?.as_str()?.to_string();
    let secret = v.get("Secret")?.as_str()?.to_string();
    Some(if user == "<token>" {
        DockerCredentials {
            identitytoken: Some(secret),
            serveraddress: Some(server.to_string()),
            ..Default::default()
        }
    } else {
        DockerCredentials {
            username: Some(user),
            password: Some(secret),
            serveraddress: Some(server.to_string()),
            ..Default::default()
        }
    })
}

/// Push `tag` (`REPO:TAG`) and return its repository digest (`REPO@sha256:...`).
pub async fn push(
    engine: &Engine,
    tag: &str,
    config_dir: &Path,
    report: &dyn Report,
) -> anyhow::Result<String> {
    let r = ImageRef::parse(tag).map_err(|e| fail_hint(ExitCode::Usage, e, "--tag REPO:TAG"))?;
    let host = registry_host(&r.name);
    let creds = credentials(config_dir, &host);
    report.status(&format!(
        "[+] pushing {tag} to {host}{}",
        if creds.is_some() {
            " (with the docker config's credentials)"
        } else {
            ""
        }
    ));
    let options = PushImageOptions {
        tag: r.tag.clone(),
        ..Default::default()
    };
    let mut stream = engine.docker.push_image(&r.name, Some(options), creds);
    while let Some(item) = stream.next().await {
        let message = match item {
            Ok(info) => info.error_detail.and_then(|d| d.message).or(info.error),
            Err(e) => Some(e.to_string()),
        };
        if let Some(m) = message {
            return Err(push_failed(tag, &host, &m));
        }
    }
    let digests = engine
        .docker
        .inspect_image(tag)
        .await?
        .repo_digests
        .unwrap_or_default();
    let prefix = format!("{}@", r.name);
    let digest = digests
        .into_iter()
        .find(|d| d.starts_with(&prefix))
        .ok_or_else(|| {
            fail_hint(
                ExitCode::Other,
                format!("pushed {tag}, but the engine reports no digest for it on {host}"),
                "`docker image inspect` shows the image's RepoDigests",
            )
        })?;
    report.status(&format!("[+] pushed {digest}"));
    Ok(digest)
}

/// One line for a failed push, with a hint for the usual causes.
pub fn push_failed(tag: &str, host: &str, message: &str) -> anyhow::Error {
    let m = message.trim().lines().next().unwrap_or("").to_string();
    let lower = m.to_lowercase();
    let hint = if [
        "connection refused",
        "no such host",
        "dial tcp",
        "i/o timeout",
        "no route",
    ]
    .iter()
    .any(|s| lower.contains(s))
    {
        format!("is the registry at {host} running and reachable from the engine?")
    } else if ["unauthorized", "denied", "authentication required"]
        .iter()
        .any(|s| lower.contains(s))
    {
        format!("`docker login {host}` stores credentials the plugin uses")
    } else if lower.contains("http response to https client") {
        format!("the registry has no TLS: add `{host}` to the engine's insecure-registries")
    } else {
        "`docker push` of the same tag shows the engine's full answer".to_string()
    };
    fail_hint(
        ExitCode::Other,
        format!("pushing {tag} to {host} failed: {m}"),
        hint,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_hosts_are_read_as_the_engine_reads_them() {
        assert_eq!(registry_host("127.0.0.1:5000/p/j"), "127.0.0.1:5000");
        assert_eq!(registry_host("harbor.acme.io/ml/j"), "harbor.acme.io");
        assert_eq!(registry_host("localhost/j"), "localhost");
        assert_eq!(registry_host("quickstart/sentiment"), "docker.io");
        assert_eq!(registry_host("ubuntu"), "docker.io");
    }

    #[test]
    fn credentials_come_from_the_auths_of_config_json() {
        let dir = tempfile::tempdir().unwrap();
        assert!(credentials(dir.path(), "h:1").is_none());
        let auth = base64::engine::general_purpose::STANDARD.encode("alice:s3cr:et");
        std::fs::write(
            dir.path().join("config.json"),
            serde_json::json!({"auths": {
                "harbor.acme.io": {"auth": auth},
                "https://index.docker.io/v1/": {"identitytoken": "tok"},
                "http://127.0.0.1:5000": {"auth": "!!not base64"}
            }})
            .to_string(),
        )
        .unwrap();
        let c = credentials(dir.path(), "harbor.acme.io").unwrap();
        assert_eq!(c.username.as_deref(), Some("alice"));
        // Only the first `:` splits: passwords may hold one.
        assert_eq!(c.password.as_deref(), Some("s3cr:et"));
        assert_eq!(c.serveraddress.as_deref(), Some("harbor.acme.io"));
        let hub = credentials(dir.path(), "docker.io").unwrap();
        assert_eq!(hub.identitytoken.as_deref(), Some("tok"));
        assert_eq!(hub.serveraddress.as_deref(), Some(DOCKER_HUB));
        // A broken entry is no credentials, not an error.
        assert!(credentials(dir.path(), "127.0.0.1:5000").is_none());
        assert!(credentials(dir.path(), "other.io").is_none());
    }

    #[test]
    fn a_missing_credential_helper_is_no_credentials() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"credsStore": "finetune-test-no-such-helper", "credHelpers": {"h.io": "nope-either"}}"#,
        )
        .unwrap();
        assert!(credentials(dir.path(), "h.io").is_none());
        assert!(credentials(dir.path(), "x.io").is_none());
    }

    #[test]
    fn push_failures_are_one_line_with_a_hint() {
        let e = push_failed(
            "127.0.0.1:1/p/j:v1",
            "127.0.0.1:1",
            "Get \"http://127.0.0.1:1/v2/\": dial tcp 127.0.0.1:1: connect: connection refused\nmore",
        );
        let f = e.downcast_ref::<crate::exit::Failure>().unwrap();
        assert!(!f.message.contains('\n'));
        assert!(f
            .message
            .starts_with("pushing 127.0.0.1:1/p/j:v1 to 127.0.0.1:1 failed: "));
        assert!(f.hint.as_deref().unwrap().contains("running and reachable"));
        let e = push_failed("h/p:v", "h", "unauthorized: authentication required");
        let f = e.downcast_ref::<crate::exit::Failure>().unwrap();
        assert!(f.hint.as_deref().unwrap().contains("docker login h"));
    }
}
