//! `data package DIR --tag REPO:TAG`: a directory's files as a dataset image.
//!
//! The image is `FROM scratch` and holds the files under `/data` (what a job with `data.image`
//! mounts there, see `finetune_compose::data_image`) and the no-op entrypoint of [`noop`]. It is
//! built by the engine from a tar context (`Dockerfile`, `noop`, `data/...`), as the trainer image
//! is. What `.dockerignore` in DIR excludes stays out, as do `.git` and the `.dockerignore` itself.
//! Files go in world-readable (0644, directories 0755) whatever their mode on the host, since the
//! job reads them as user 65532. The label `com.docker.finetune.data.files` lists every file with
//! its sha256 and, for data files (`.jsonl`, `.ndjson`, `.csv`, `.parquet`, `.pq`), its row count
//! as the dataset readers count rows (`finetune_spec::dataset::count_rows`).

use super::noop;
use crate::engine::{labels, Engine};
use crate::exit::{fail, ExitCode};
use crate::service::dockerignore::DockerIgnore;
use crate::service::{built, Report};
use bollard::query_parameters::BuildImageOptions;
use finetune_spec::contract::DATA_DIR;
use finetune_spec::dataset::count_rows;
use finetune_spec::digest::file_sha256;
use finetune_spec::DataFormat;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::io::{Seek, Write};
use std::path::{Path, PathBuf};

/// Never part of a dataset image.
const ALWAYS_IGNORED: &[&str] = &[".git", ".dockerignore"];
/// Directory depth past which a walk is taken for a symlink loop.
const MAX_DEPTH: usize = 32;

/// One file of a dataset image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileEntry {
    /// Relative to DIR (and to the image's `/data`), `/`-separated.
    #[serde(skip)]
    pub path: String,
    #[serde(skip)]
    pub size: u64,
    pub sha256: String,
    /// Rows, for data files.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows: Option<usize>,
}

/// A packaged image.
#[derive(Debug, Clone)]
pub struct Packaged {
    pub id: String,
    pub tag: String,
    pub files: Vec<FileEntry>,
}

/// The files of `dir` that go into the image, in path order: sha256, size and row count each.
/// A missing or empty directory, and a data file whose rows cannot be counted, are errors.
pub fn scan(dir: &Path) -> anyhow::Result<Vec<FileEntry>> {
    if !dir.is_dir() {
        let what = if dir.exists() {
            "is not a directory"
        } else {
            "does not exist"
        };
        return Err(fail(
            ExitCode::Usage,
            format!("dataset directory {} {what}", dir.display()),
        ));
    }
    let ignore = DockerIgnore::in_dir(dir, ALWAYS_IGNORED)?;
    let mut paths = Vec::new();
    walk(dir, "", &ignore, 0, &mut paths)?;
    if paths.is_empty() {
        return Err(fail(
            ExitCode::Usage,
            format!(
                "dataset directory {} has no files to package{}",
                dir.display(),
                if dir.join(".dockerignore").is_file() {
                    " (after its .dockerignore)"
                } else {
                    ""
                }
            ),
        ));
    }
    paths
        .into_iter()
        .map(|(rel, abs)| entry(rel, &abs))
        .collect()
}

/// Every file under `dir/rel` that `ignore` keeps, as (relative path, host path).
fn walk(
    dir: &Path,
    rel: &str,
    ignore: &DockerIgnore,
    depth: usize,
    out: &mut Vec<(String, PathBuf)>,
) -> anyhow::Result<()> {
    let here = dir.join(rel);
    if depth > MAX_DEPTH {
        anyhow::bail!("{} is nested too deep (a symlink loop?)", here.display());
    }
    let mut entries: Vec<_> = std::fs::read_dir(&here)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", here.display()))?
        .collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name().to_string_lossy().into_owned();
        let r = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        let ignored = ignore.ignored(&r);
        // Symlinks are followed: the image holds what they point at.
        let meta = std::fs::metadata(e.path())
            .map_err(|err| anyhow::anyhow!("cannot read {}: {err}", e.path().display()))?;
        if meta.is_dir() {
            if !ignored || ignore.has_exceptions() {
                walk(dir, &r, ignore, depth + 1, out)?;
            }
        } else if meta.is_file() && !ignored {
            out.push((r, e.path()));
        }
    }
    Ok(())
}

fn entry(path: String, abs: &Path) -> anyhow::Result<FileEntry> {
    let sha256 =
        file_sha256(abs).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", abs.display()))?;
    let size = std::fs::metadata(abs)?.len();
    let rows = match data_format(&path) {
        Some(format) => {
            Some(count_rows(abs, format).map_err(|e| fail(ExitCode::InvalidSpec, e.to_string()))?)
        }
        None => None,
    };
    Ok(FileEntry {
        path,
        size,
        sha256,
        rows,
    })
}

/// The data formats whose rows are counted: the readers' extensions, except `.json`, which is as
/// often one JSON document (`dataset_info.json`) as JSON lines.
fn data_format(path: &str) -> Option<DataFormat> {
    let p = Path::new(path);
    let json = p
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    DataFormat::from_path(p).filter(|_| !json)
}

/// The `com.docker.finetune.data.files` label: `{path: {sha256, rows?}}`.
pub fn files_label(files: &[FileEntry]) -> String {
    let map: BTreeMap<&str, &FileEntry> = files.iter().map(|f| (f.path.as_str(), f)).collect();
    serde_json::to_string(&map).unwrap_or_default()
}

/// The build context, written to `out`: the Dockerfile, the no-op program and the files under
/// `data/`.
pub fn context<W: Write>(
    dir: &Path,
    files: &[FileEntry],
    program: &[u8],
    out: W,
) -> anyhow::Result<W> {
    let dockerfile = format!(
        "FROM scratch\nCOPY data/ {DATA_DIR}/\nCOPY noop {}\nENTRYPOINT [\"{}\"]\n",
        noop::PATH,
        noop::PATH
    );
    let mut tar = tar::Builder::new(out);
    append(&mut tar, "Dockerfile", 0o644, 0, dockerfile.as_bytes())?;
    append(&mut tar, "noop", 0o755, 0, program)?;
    let mut dirs = std::collections::BTreeSet::new();
    for f in files {
        // Parent directories first, each once, world-readable.
        let parts: Vec<&str> = f.path.split('/').collect();
        let mut parent = String::from("data");
        for part in &parts[..parts.len() - 1] {
            parent = format!("{parent}/{part}");
            if dirs.insert(parent.clone()) {
                let mut h = tar::Header::new_gnu();
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                h.set_cksum();
                tar.append_data(&mut h, format!("{parent}/"), std::io::empty())?;
            }
        }
        let abs = dir.join(&f.path);
        let meta = std::fs::metadata(&abs)?;
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs());
        let mut h = tar::Header::new_gnu();
        h.set_size(meta.len());
        h.set_mode(0o644);
        h.set_mtime(mtime);
        h.set_cksum();
        let file = std::fs::File::open(&abs)?;
        tar.append_data(&mut h, format!("data/{}", f.path), file)?;
    }
    Ok(tar.into_inner()?)
}

fn append<W: Write>(
    tar: &mut tar::Builder<W>,
    path: &str,
    mode: u32,
    mtime: u64,
    data: &[u8],
) -> anyhow::Result<()> {
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(mode);
    h.set_mtime(mtime);
    h.set_cksum();
    tar.append_data(&mut h, path, data)?;
    Ok(())
}

/// Build the dataset image of `dir`, whose [`scan`] is `files`, as `tag` (already checked to be
/// a reference).
pub async fn package(
    engine: &Engine,
    dir: &Path,
    files: Vec<FileEntry>,
    tag: &str,
    report: &dyn Report,
) -> anyhow::Result<Packaged> {
    let arch = engine.info().await?.architecture.unwrap_or_default();
    let program = noop::program(&arch).ok_or_else(|| {
        fail(
            ExitCode::BuildFailed,
            format!(
                "dataset images are built for x86_64 and aarch64 engines; this engine is `{arch}`"
            ),
        )
    })?;
    // Written to a temporary file and streamed from there: a dataset may not fit in memory.
    let context = {
        let (dir, files) = (dir.to_path_buf(), files.clone());
        tokio::task::spawn_blocking(move || -> anyhow::Result<std::fs::File> {
            let mut file = context(&dir, &files, &program, tempfile::tempfile()?)?;
            file.rewind()?;
            Ok(file)
        })
        .await??
    };
    report.status(&format!(
        "[+] building dataset image {tag} from {} ({} files, {:.1} MB)",
        dir.display(),
        files.len(),
        context.metadata()?.len() as f64 / 1e6
    ));
    let image_labels = HashMap::from([
        (labels::DATA_FILES.to_string(), files_label(&files)),
        (
            labels::VERSION.to_string(),
            env!("CARGO_PKG_VERSION").to_string(),
        ),
    ]);
    let options = BuildImageOptions {
        dockerfile: "Dockerfile".to_string(),
        t: Some(tag.to_string()),
        labels: Some(image_labels),
        rm: true,
        forcerm: true,
        ..Default::default()
    };
    let stream = engine.docker.build_image(
        options,
        None,
        Some(bollard::body_try_stream(chunks(context))),
    );
    let id = built::finish(engine, stream, "dataset image", tag).await?;
    Ok(Packaged {
        id,
        tag: tag.to_string(),
        files,
    })
}

/// A file's bytes as a stream of 1 MiB chunks; it ends at the first error.
fn chunks(
    file: std::fs::File,
) -> impl futures_util::Stream<Item = std::io::Result<bytes::Bytes>> + Send {
    use tokio::io::AsyncReadExt;
    futures_util::stream::unfold(Some(tokio::fs::File::from_std(file)), |file| async move {
        let mut file = file?;
        let mut buf = vec![0u8; 1 << 20];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(bytes::Bytes::from(buf)), Some(file)))
            }
            Err(e) => Some((Err(e), None)),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    fn dir(files: &[(&str, &[u8])]) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        for (p, body) in files {
            let path = d.path().join(p);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, body).unwrap();
        }
        d
    }

    #[test]
    fn files_are_hashed_counted_and_filtered_by_dockerignore() {
        let d = dir(&[
            (
                "train.jsonl",
                b"{\"text\":\"a\",\"label\":\"x\"}\n\n{\"text\":\"b\",\"label\":\"y\"}\n",
            ),
            ("sub/eval.csv", b"text,label\nc,x\n"),
            ("README.md", b"hi"),
            ("dataset_info.json", b"{\n  \"a\": 1\n}\n"),
            ("scratch/tmp.jsonl", b"{}\n"),
            (".git/HEAD", b"ref"),
            (".dockerignore", b"scratch\n"),
        ]);
        let files = scan(d.path()).unwrap();
        let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "README.md",
                "dataset_info.json",
                "sub/eval.csv",
                "train.jsonl"
            ]
        );
        let rows: Vec<Option<usize>> = files.iter().map(|f| f.rows).collect();
        assert_eq!(rows, [None, None, Some(1), Some(2)]);
        assert_eq!(files[0].sha256, finetune_spec::digest::sha256_hex(b"hi"));
        let label: serde_json::Value = serde_json::from_str(&files_label(&files)).unwrap();
        assert_eq!(label["train.jsonl"]["rows"], 2);
        assert_eq!(label["README.md"]["sha256"], files[0].sha256);
        assert!(label["README.md"].get("rows").is_none());
    }

    #[test]
    fn missing_and_empty_directories_are_usage_errors() {
        let code = |e: anyhow::Error| e.downcast_ref::<crate::exit::Failure>().unwrap().code;
        let d = tempfile::tempdir().unwrap();
        let e = scan(&d.path().join("nope")).unwrap_err();
        assert!(e.to_string().contains("does not exist"), "{e}");
        assert_eq!(code(e), ExitCode::Usage);
        let e = scan(d.path()).unwrap_err();
        assert!(e.to_string().contains("has no files"), "{e}");
        let only_ignored = dir(&[("a.txt", b"x"), (".dockerignore", b"*.txt\n")]);
        let e = scan(only_ignored.path()).unwrap_err();
        assert!(e.to_string().contains("after its .dockerignore"), "{e}");
        let bad = dir(&[("t.parquet", b"not parquet")]);
        assert_eq!(code(scan(bad.path()).unwrap_err()), ExitCode::InvalidSpec);
    }

    #[tokio::test]
    async fn a_file_streams_whole_in_chunks() {
        let body: Vec<u8> = (0..(5 << 19) + 7).map(|i| (i % 251) as u8).collect();
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(&body).unwrap();
        f.rewind().unwrap();
        let parts: Vec<bytes::Bytes> = chunks(f).map(|c| c.unwrap()).collect().await;
        assert_eq!(parts.len(), 3);
        assert_eq!(parts.concat(), body);
    }

    #[test]
    fn the_context_holds_world_readable_files_under_data() {
        let d = dir(&[("sub/e.csv", b"text,label\nc,x\n"), ("t.jsonl", b"{}\n")]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let p = d.path().join("t.jsonl");
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let files = scan(d.path()).unwrap();
        let bytes = context(d.path(), &files, b"\x7fELF", Vec::new()).unwrap();
        let mut a = tar::Archive::new(bytes.as_slice());
        let mut seen = Vec::new();
        for e in a.entries().unwrap() {
            let mut e = e.unwrap();
            let path = e.path().unwrap().display().to_string();
            let mode = e.header().mode().unwrap();
            let mut body = String::new();
            std::io::Read::read_to_string(&mut e, &mut body).unwrap_or_default();
            seen.push((path, mode, body));
        }
        let names: Vec<&str> = seen.iter().map(|(p, _, _)| p.as_str()).collect();
        assert_eq!(
            names,
            [
                "Dockerfile",
                "noop",
                "data/sub/",
                "data/sub/e.csv",
                "data/t.jsonl"
            ]
        );
        let mode = |n: &str| seen.iter().find(|(p, _, _)| p == n).unwrap().1;
        assert_eq!(
            (mode("noop"), mode("data/sub/"), mode("data/t.jsonl")),
            (0o755, 0o755, 0o644)
        );
        let dockerfile = &seen[0].2;
        assert!(dockerfile.starts_with("FROM scratch\n"), "{dockerfile}");
        assert!(dockerfile.contains("COPY data/ /data/\n"), "{dockerfile}");
        assert!(dockerfile.contains(&format!("ENTRYPOINT [\"{}\"]", noop::PATH)));
    }
}
