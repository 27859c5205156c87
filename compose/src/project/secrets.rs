//! `data.redact_key`: the Compose secret holding the key of `redact_mode: hash`.
//!
//! The job names a top-level `secrets:` entry; the rendered job service lists it, and Compose
//! mounts its file at `/run/secrets/<name>`. Only `file:` secrets work: the job container's root
//! filesystem is read-only, and Compose injects `environment:`/`content:` secrets by copying into
//! the container, which it then refuses ("`file` is the sole supported option"). A file secret is
//! a bind mount that keeps the host file's owner and mode (Compose ignores `uid`/`gid`/`mode`
//! for them), so the trainer's user (65532) must be able to read the file itself.
//!
//! The key file is read here only to measure it: its bytes never reach a diagnostic.

use crate::de::join;
use crate::diagnostic::{suggest, Diagnostic};
use crate::yaml::Node;
use finetune_spec::redact::{trim_newline, HashKey};
use std::path::Path;

/// The trainer's user and group in job containers (`render::DEFAULT_USER`).
const TRAINER_ID: u32 = 65532;

/// Checks the job's `redact_key` (`data.redact_key`, or the provider's flat `redact_key`) against
/// the top-level `secrets:` of `model`, and the key file it names.
pub(super) fn check_redact_key(
    model: &Node,
    job: &Node,
    path: &str,
    dir: &Path,
    diags: &mut Vec<Diagnostic>,
) {
    let (node, key_path) = match job.get("data").and_then(|d| d.get("redact_key")) {
        Some(n) => (n, join(path, "data.redact_key")),
        None => match job.get("redact_key") {
            Some(n) => (n, join(path, "redact_key")),
            None => return,
        },
    };
    let Some(name) = node.as_str() else {
        return; // the spec reader reports the type
    };
    let secrets = model.get("secrets");
    let Some(secret) = secrets.and_then(|s| s.get(name)) else {
        let known: Vec<String> = secrets
            .and_then(Node::as_map)
            .into_iter()
            .flatten()
            .map(|(k, _)| k.key_text())
            .collect();
        let d = Diagnostic::error(
            &node.pos,
            key_path,
            format!("secret `{name}` is not declared under the top-level `secrets:`"),
        );
        diags.push(match suggest(name, known.iter().map(String::as_str)) {
            Some(m) => d.with_hint(format!("did you mean `{m}`?")),
            None => d.with_hint(format!(
                "declare it: `secrets: {{{name}: {{file: ./{name}.key}}}}`; `openssl rand -hex 32 > {name}.key` makes a key"
            )),
        });
        return;
    };
    let secret_pos = secrets
        .and_then(|s| s.key(name))
        .map_or(&secret.pos, |k| &k.pos);
    let Some(file) = secret.get("file") else {
        diags.push(
            Diagnostic::error(
                secret_pos,
                format!("secrets.{name}"),
                format!("secret `{name}` must be a `file:` secret to hold the redaction key"),
            )
            .with_hint("job containers have a read-only root filesystem, where Compose can mount only `file:` secrets"),
        );
        return;
    };
    let Some(rel) = file.as_str() else {
        return;
    };
    let at = format!("secrets.{name}.file");
    // `./pii.key` shows as `<dir>/pii.key`.
    let host: std::path::PathBuf = dir
        .join(rel)
        .components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .collect();
    match std::fs::read(&host) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => diags.push(
            Diagnostic::error(
                &file.pos,
                at,
                format!("the key file {} does not exist", host.display()),
            )
            .with_hint(format!("`openssl rand -hex 32 > {rel}` makes a key")),
        ),
        Err(e) => diags.push(Diagnostic::error(
            &file.pos,
            at,
            format!("cannot read the key file {}: {e}", host.display()),
        )),
        Ok(bytes) => {
            let key = trim_newline(&bytes);
            if HashKey::new(key).is_err() {
                diags.push(
                    Diagnostic::error(
                        &file.pos,
                        at,
                        format!(
                            "the key in {} is too short ({} of {} bytes or more); a short key lets hashed values be guessed",
                            host.display(),
                            key.len(),
                            HashKey::MIN_LEN
                        ),
                    )
                    .with_hint(format!("`openssl rand -hex 32 > {rel}` makes a key")),
                );
            } else if let Some(why) = unreadable_by_trainer(&host) {
                diags.push(
                    Diagnostic::warning(
                        &file.pos,
                        at,
                        format!(
                            "the trainer runs as {TRAINER_ID}:{TRAINER_ID} and cannot read the key file {} ({why})",
                            host.display()
                        ),
                    )
                    .with_hint(format!("`chown {TRAINER_ID}:{TRAINER_ID} {rel}` lets it read the file and keeps it private; Compose mounts secret files as they are")),
                );
            }
        }
    }
}

/// Why uid/gid 65532 cannot read `path`, or `None` when it can.
#[cfg(unix)]
fn unreadable_by_trainer(path: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    let mode = m.mode();
    let readable = (m.uid() == TRAINER_ID && mode & 0o400 != 0)
        || (m.gid() == TRAINER_ID && mode & 0o040 != 0)
        || mode & 0o004 != 0;
    (!readable).then(|| format!("mode {:04o}, owner {}:{}", mode & 0o7777, m.uid(), m.gid()))
}

#[cfg(not(unix))]
fn unreadable_by_trainer(_: &Path) -> Option<String> {
    None
}
