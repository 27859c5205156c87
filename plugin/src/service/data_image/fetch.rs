//! Copying data files out of a dataset image without running anything: a container is created
//! from the image (never started), each file is read with the archive API
//! (`GET /containers/{id}/archive`, API 1.20+), and the container is removed. `validate --data`
//! then checks the copies as it checks host files.

use super::noop;
use crate::engine::Engine;
use bollard::models::ContainerCreateBody;
use bollard::query_parameters::{DownloadFromContainerOptions, RemoveContainerOptions};
use finetune_spec::contract::DATA_DIR;
use futures_util::StreamExt;
use std::io::{Seek, Write};
use std::path::{Path, PathBuf};

/// What became of one file.
pub type Copied = Result<PathBuf, String>;

/// Copy `files` (paths relative to the image's `/data`) out of `reference` into `into`, each at
/// the same relative path there. `Err` when the image cannot be read at all; a file the image
/// lacks is an `Err` of its own, naming it.
pub async fn copy_out(
    engine: &Engine,
    reference: &str,
    files: &[PathBuf],
    into: &Path,
) -> anyhow::Result<Vec<Copied>> {
    let body = ContainerCreateBody {
        image: Some(reference.to_string()),
        // Never run; an entrypoint lets the engine create a container of an image that has none.
        entrypoint: Some(vec![noop::PATH.to_string()]),
        network_disabled: Some(true),
        ..Default::default()
    };
    let created = engine
        .docker
        .create_container(
            None::<bollard::query_parameters::CreateContainerOptions>,
            body,
        )
        .await
        .map_err(|e| match e {
            bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            } => anyhow::anyhow!("dataset image `{reference}` is not on the engine"),
            e => anyhow::anyhow!("cannot read dataset image `{reference}`: {e}"),
        })?;
    let mut out = Vec::new();
    for file in files {
        out.push(copy_one(engine, &created.id, reference, file, into).await);
    }
    let _ = engine
        .docker
        .remove_container(
            &created.id,
            Some(RemoveContainerOptions {
                force: true,
                v: true,
                link: false,
            }),
        )
        .await;
    Ok(out)
}

async fn copy_one(
    engine: &Engine,
    container: &str,
    reference: &str,
    file: &Path,
    into: &Path,
) -> Copied {
    let inside = Path::new(DATA_DIR).join(file);
    let options = DownloadFromContainerOptions {
        path: inside.to_string_lossy().into_owned(),
    };
    // The archive is streamed to a temporary file, not held in memory: datasets can be large.
    let mut tar = tempfile::tempfile().map_err(|e| e.to_string())?;
    let mut stream = engine
        .docker
        .download_from_container(container, Some(options));
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(bytes) => tar.write_all(&bytes).map_err(|e| e.to_string())?,
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => {
                return Err(format!(
                    "{} is not in dataset image `{reference}`",
                    inside.display()
                ))
            }
            Err(e) => {
                return Err(format!(
                    "reading {} from `{reference}`: {e}",
                    inside.display()
                ))
            }
        }
    }
    let dest = into.join(file);
    let unpacked = tokio::task::spawn_blocking(move || unpack_file(tar, &dest).map(|()| dest))
        .await
        .map_err(|e| e.to_string())?;
    unpacked.map_err(|e| format!("reading {} from `{reference}`: {e}", inside.display()))
}

/// The archive API's tar of one path: its first entry, which must be a regular file.
fn unpack_file(mut tar: std::fs::File, dest: &Path) -> std::io::Result<()> {
    tar.rewind()?;
    let mut archive = tar::Archive::new(tar);
    let mut entries = archive.entries()?;
    let mut entry = entries
        .next()
        .ok_or_else(|| std::io::Error::other("empty archive"))??;
    if !entry.header().entry_type().is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut out = std::fs::File::create(dest)?;
    std::io::copy(&mut entry, &mut out)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_archive_of_one_file_unpacks_to_its_destination() {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(3);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, "train.jsonl", &b"{}\n"[..]).unwrap();
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(&b.into_inner().unwrap()).unwrap();
        let d = tempfile::tempdir().unwrap();
        let dest = d.path().join("sub/train.jsonl");
        unpack_file(f, &dest).unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"{}\n");

        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_size(0);
        h.set_cksum();
        b.append_data(&mut h, "sub/", std::io::empty()).unwrap();
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(&b.into_inner().unwrap()).unwrap();
        let e = unpack_file(f, &d.path().join("x")).unwrap_err();
        assert!(e.to_string().contains("not a regular file"));
    }
}
