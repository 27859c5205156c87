//! Building a model image: a generated Dockerfile and the model directory in an in-memory tar
//! context, built by the engine.
//!
//! The image is `FROM` the trainer image (its binary is `serve`'s runtime), with the model at
//! [`SERVED_MODEL_DIR`], [`SERVE_PORT`] exposed, the trainer's `healthcheck` as the health check
//! and `serve` as the command, as the non-root user 65532. The Dockerfile uses only what the
//! classic builder and BuildKit both take offline: no `# syntax` line (BuildKit would pull the
//! frontend), no heredocs, no `COPY --chmod`; the files' modes are set in the tar instead
//! (world-readable, owned by root), so the server can read and never write its model.

use crate::engine::Engine;
use crate::service::{built, Report};
use bollard::query_parameters::BuildImageOptions;
use finetune_spec::serving::{SERVED_MODEL_DIR, SERVE_PORT};
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::Path;

/// Where the trainer image holds its binary (`trainer/Dockerfile`).
pub const TRAINER_BIN: &str = "/usr/local/bin/finetune-trainer";
/// Directory depth past which a walk is taken for a symlink loop.
const MAX_DEPTH: usize = 16;

/// The Dockerfile of a model image built `FROM` the trainer image `from`.
pub fn dockerfile(from: &str) -> String {
    format!(
        "FROM {from}\n\
         COPY model/ {SERVED_MODEL_DIR}/\n\
         EXPOSE {SERVE_PORT}\n\
         USER 65532:65532\n\
         HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 CMD [\"{TRAINER_BIN}\",\"healthcheck\",\"--port\",\"{SERVE_PORT}\"]\n\
         CMD [\"serve\",\"--model\",\"{SERVED_MODEL_DIR}\",\"--host\",\"0.0.0.0\",\"--port\",\"{SERVE_PORT}\"]\n"
    )
}

/// The build context: the Dockerfile and every file under `model_dir` below `model/`.
pub fn context<W: Write>(model_dir: &Path, from: &str, out: W) -> anyhow::Result<W> {
    let mut tar = tar::Builder::new(out);
    let df = dockerfile(from);
    append(
        &mut tar,
        "Dockerfile",
        0o644,
        df.len() as u64,
        df.as_bytes(),
    )?;
    dir_entry(&mut tar, "model/")?;
    walk(&mut tar, model_dir, "model", 0)?;
    Ok(tar.into_inner()?)
}

fn walk<W: Write>(
    tar: &mut tar::Builder<W>,
    dir: &Path,
    rel: &str,
    depth: usize,
) -> anyhow::Result<()> {
    if depth > MAX_DEPTH {
        anyhow::bail!("{} is nested too deep (a symlink loop?)", dir.display());
    }
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", dir.display()))?
        .collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name().to_string_lossy().into_owned();
        let path = format!("{rel}/{name}");
        // Symlinks are followed: the image holds what they point at.
        let meta = std::fs::metadata(e.path())
            .map_err(|err| anyhow::anyhow!("cannot read {}: {err}", e.path().display()))?;
        if meta.is_dir() {
            dir_entry(tar, &format!("{path}/"))?;
            walk(tar, &e.path(), &path, depth + 1)?;
        } else if meta.is_file() {
            let file = std::fs::File::open(e.path())
                .map_err(|err| anyhow::anyhow!("cannot read {}: {err}", e.path().display()))?;
            append(tar, &path, 0o644, meta.len(), file)?;
        }
    }
    Ok(())
}

fn dir_entry<W: Write>(tar: &mut tar::Builder<W>, path: &str) -> anyhow::Result<()> {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Directory);
    h.set_mode(0o755);
    h.set_size(0);
    h.set_cksum();
    tar.append_data(&mut h, path, std::io::empty())?;
    Ok(())
}

fn append<W: Write>(
    tar: &mut tar::Builder<W>,
    path: &str,
    mode: u32,
    size: u64,
    data: impl std::io::Read,
) -> anyhow::Result<()> {
    let mut h = tar::Header::new_gnu();
    h.set_size(size);
    h.set_mode(mode);
    h.set_cksum();
    tar.append_data(&mut h, path, data)?;
    Ok(())
}

/// Build `context` as `tag` with `labels`; returns the image id.
pub async fn build(
    engine: &Engine,
    context: Vec<u8>,
    tag: &str,
    labels: &BTreeMap<String, String>,
    report: &dyn Report,
) -> anyhow::Result<String> {
    report.status(&format!(
        "[+] building model image {tag} ({:.1} MB context)",
        context.len() as f64 / 1e6
    ));
    let options = BuildImageOptions {
        dockerfile: "Dockerfile".to_string(),
        t: Some(tag.to_string()),
        labels: Some(labels.clone().into_iter().collect::<HashMap<_, _>>()),
        rm: true,
        forcerm: true,
        ..Default::default()
    };
    let stream = engine.docker.build_image(
        options,
        None,
        Some(bollard::body_full(bytes::Bytes::from(context))),
    );
    let id = built::finish(engine, stream, "model image", tag).await?;
    report.status(&format!("[+] built {tag} ({id})"));
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dockerfile_serves_the_model_as_the_non_root_user() {
        let d = dockerfile("docker-finetune/trainer:0.1.0");
        let lines: Vec<&str> = d.lines().collect();
        assert_eq!(lines[0], "FROM docker-finetune/trainer:0.1.0");
        assert!(lines.contains(&"COPY model/ /model/"), "{d}");
        assert!(lines.contains(&"EXPOSE 8080"), "{d}");
        assert!(lines.contains(&"USER 65532:65532"), "{d}");
        assert!(
            d.contains(r#"CMD ["/usr/local/bin/finetune-trainer","healthcheck","--port","8080"]"#),
            "{d}"
        );
        assert!(
            d.ends_with(
                "CMD [\"serve\",\"--model\",\"/model\",\"--host\",\"0.0.0.0\",\"--port\",\"8080\"]\n"
            ),
            "{d}"
        );
        // Nothing the offline builders cannot do.
        assert!(!d.contains("syntax") && !d.contains("<<") && !d.contains("--chmod"));
    }

    #[test]
    fn the_context_holds_the_model_world_readable() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("config.json"), "{}").unwrap();
        std::fs::write(d.path().join("model.safetensors"), b"weights").unwrap();
        std::fs::create_dir(d.path().join("sub")).unwrap();
        std::fs::write(d.path().join("sub/x.txt"), "x").unwrap();
        std::fs::set_permissions(
            d.path().join("model.safetensors"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
        let bytes = context(d.path(), "t:1", Vec::new()).unwrap();
        let mut a = tar::Archive::new(bytes.as_slice());
        let seen: Vec<(String, u32, u64)> = a
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                (
                    e.path().unwrap().display().to_string(),
                    h.mode().unwrap(),
                    h.size().unwrap(),
                )
            })
            .collect();
        let names: Vec<&str> = seen.iter().map(|(p, _, _)| p.as_str()).collect();
        assert_eq!(
            names,
            [
                "Dockerfile",
                "model/",
                "model/config.json",
                "model/model.safetensors",
                "model/sub/",
                "model/sub/x.txt"
            ]
        );
        let weights = seen
            .iter()
            .find(|s| s.0 == "model/model.safetensors")
            .unwrap();
        assert_eq!((weights.1, weights.2), (0o644, 7));
        assert_eq!(seen.iter().find(|s| s.0 == "model/sub/").unwrap().1, 0o755);
        assert!(context(&d.path().join("nope"), "t", Vec::new()).is_err());
    }
}
