//! Writing a `docker save` archive (the engine's image export) to a file, all or nothing.
//!
//! The archive is streamed into a temporary file in the target's directory, flushed to disk
//! (`fsync`), then renamed over the target, and the directory is synced: a failure at any point
//! (the engine, a full disk, Ctrl-C) leaves no partial file under the target's name and an older
//! archive of that name untouched; the temporary file is removed on the way out.

use crate::engine::Engine;
use crate::exit::{fail_hint, ExitCode};
use futures_util::{Stream, StreamExt};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Export `images` from the engine into `out`; returns the archive's size in bytes.
pub async fn save(engine: &Engine, images: &[&str], out: &Path) -> anyhow::Result<u64> {
    let stream = engine
        .docker
        .export_images(images)
        .map(|r| r.map_err(|e| e.to_string()));
    write_atomically(stream, out).await
}

/// The stream's bytes into `out`, through a temporary file and a rename. An error of the stream is
/// the engine's; one of the file is the disk's (exit 8 when it is full).
pub async fn write_atomically<S>(stream: S, out: &Path) -> anyhow::Result<u64>
where
    S: Stream<Item = Result<bytes::Bytes, String>>,
{
    let dir = parent(out);
    if !dir.is_dir() {
        return Err(fail_hint(
            ExitCode::Usage,
            format!(
                "cannot write {}: {} is not a directory",
                out.display(),
                dir.display()
            ),
            "create the directory first, or write the archive elsewhere",
        ));
    }
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "bundle".into());
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".partial")
        .tempfile_in(&dir)
        .map_err(|e| disk(&e, out))?;
    let mut written = 0u64;
    futures_util::pin_mut!(stream);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            fail_hint(
                ExitCode::Other,
                format!(
                    "the engine's export failed: {}",
                    e.trim().lines().next().unwrap_or("")
                ),
                format!("nothing was written to {}", out.display()),
            )
        })?;
        tmp.write_all(&chunk).map_err(|e| disk(&e, out))?;
        written += chunk.len() as u64;
    }
    tmp.as_file_mut().sync_all().map_err(|e| disk(&e, out))?;
    tmp.persist(out).map_err(|e| disk(&e.error, out))?;
    // The rename itself is durable once the directory is synced.
    if let Ok(d) = std::fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(written)
}

fn parent(out: &Path) -> PathBuf {
    match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn disk(e: &std::io::Error, out: &Path) -> anyhow::Error {
    // tempfile wraps its errors with the path: the kind survives, the raw code may not.
    let full =
        e.raw_os_error() == Some(libc::ENOSPC) || e.kind() == std::io::ErrorKind::StorageFull;
    fail_hint(
        if full {
            ExitCode::DiskFull
        } else {
            ExitCode::Other
        },
        format!("cannot write {}: {e}", out.display()),
        if full {
            "free disk space there or write the archive elsewhere; nothing was left behind"
        } else {
            "check the directory's permissions; nothing was left behind"
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(
        parts: Vec<Result<&'static [u8], &'static str>>,
    ) -> impl Stream<Item = Result<bytes::Bytes, String>> {
        futures_util::stream::iter(
            parts
                .into_iter()
                .map(|p| p.map(bytes::Bytes::from_static).map_err(String::from)),
        )
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[tokio::test]
    async fn a_whole_stream_lands_under_the_name() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("b.tar");
        let n = write_atomically(chunks(vec![Ok(b"abc"), Ok(b"def")]), &out)
            .await
            .unwrap();
        assert_eq!((n, std::fs::read(&out).unwrap()), (6, b"abcdef".to_vec()));
        assert_eq!(names(dir.path()), ["b.tar"]);
    }

    #[tokio::test]
    async fn a_failure_midway_leaves_the_old_file_and_no_partial_one() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("b.tar");
        std::fs::write(&out, "old archive").unwrap();
        let e = write_atomically(chunks(vec![Ok(b"new"), Err("boom\nmore")]), &out)
            .await
            .unwrap_err();
        let f = e.downcast_ref::<crate::exit::Failure>().unwrap();
        assert_eq!(f.message, "the engine's export failed: boom");
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "old archive");
        assert_eq!(names(dir.path()), ["b.tar"]);
    }

    #[tokio::test]
    async fn a_missing_directory_is_a_usage_error() {
        let dir = tempfile::tempdir().unwrap();
        let e = write_atomically(chunks(vec![]), &dir.path().join("no/b.tar"))
            .await
            .unwrap_err();
        let f = e.downcast_ref::<crate::exit::Failure>().unwrap();
        assert_eq!(f.code, ExitCode::Usage);
    }

    #[test]
    fn a_full_disk_is_exit_8() {
        // The real thing (a small tmpfs) is in the e2e bundle test; this is the mapping.
        let e = disk(
            &std::io::Error::from_raw_os_error(libc::ENOSPC),
            Path::new("x.tar"),
        );
        let f = e.downcast_ref::<crate::exit::Failure>().unwrap();
        assert_eq!(f.code, ExitCode::DiskFull);
        assert!(f.message.contains("x.tar"));
        let e = disk(
            &std::io::Error::from_raw_os_error(libc::EACCES),
            Path::new("x.tar"),
        );
        assert_eq!(
            e.downcast_ref::<crate::exit::Failure>().unwrap().code,
            ExitCode::Other
        );
    }
}
