//! The trainer build context as a tar archive: the Dockerfile and a host-built binary for the
//! prebuilt path, or the source tree without what `.dockerignore` (see [`super::dockerignore`])
//! and the build outputs exclude.

use super::dockerignore::DockerIgnore;
use finetune_compose::render::DOCKERFILE;
use std::path::Path;

/// Where the prebuilt binary sits in the context (the `runtime-prebuilt` stage copies it).
pub const PREBUILT_PATH: &str = "dist/finetune-trainer";

/// The context for a build from `source`, with `binary` for the prebuilt path.
pub fn build_context(source: &Path, binary: Option<&Path>) -> anyhow::Result<Vec<u8>> {
    let mut tar = tar::Builder::new(Vec::new());
    tar.follow_symlinks(true);
    match binary {
        Some(bin) => {
            tar.append_path_with_name(source.join(DOCKERFILE), DOCKERFILE)?;
            let ignore = source.join(".dockerignore");
            if ignore.is_file() {
                tar.append_path_with_name(&ignore, ".dockerignore")?;
            }
            let data = std::fs::read(bin)?;
            append_file(&mut tar, PREBUILT_PATH, &data)?;
        }
        None => {
            let excludes = DockerIgnore::for_context(source)?;
            add_dir(&mut tar, source, Path::new(""), &excludes)?;
            // The classic builder runs the `runtime-prebuilt` stage before any later target, and
            // its COPY fails without a `dist/finetune-trainer`; an empty file satisfies it and
            // never reaches the `runtime` image.
            if !source.join(PREBUILT_PATH).is_file() {
                append_file(&mut tar, PREBUILT_PATH, &[])?;
            }
        }
    }
    Ok(tar.into_inner()?)
}

fn append_file(tar: &mut tar::Builder<Vec<u8>>, path: &str, data: &[u8]) -> anyhow::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_size(data.len() as u64);
    header.set_mode(0o755);
    header.set_cksum();
    tar.append_data(&mut header, path, data)?;
    Ok(())
}

/// Add what is under `root/rel`, in name order. An excluded directory is still walked when a
/// `!` pattern could re-include something below it (Docker does the same), but gets no entry.
fn add_dir(
    tar: &mut tar::Builder<Vec<u8>>,
    root: &Path,
    rel: &Path,
    excludes: &DockerIgnore,
) -> anyhow::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(root.join(rel))?.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let r = rel.join(e.file_name());
        let rs = r.to_string_lossy().replace('\\', "/");
        let ignored = excludes.ignored(&rs);
        let ft = e.file_type()?;
        if ft.is_dir() {
            if !ignored {
                tar.append_dir(&r, e.path())?;
            }
            if !ignored || excludes.has_exceptions() {
                add_dir(tar, root, &r, excludes)?;
            }
        } else if !ignored && (ft.is_file() || ft.is_symlink()) {
            tar.append_path_with_name(e.path(), &r)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn re_included_files_under_an_excluded_directory_reach_the_context() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("docs/keep")).unwrap();
        std::fs::write(d.path().join("docs/a.md"), "a").unwrap();
        std::fs::write(d.path().join("docs/keep/b.md"), "b").unwrap();
        std::fs::write(d.path().join(".dockerignore"), "docs\n!docs/keep/b.md\n").unwrap();
        let tar_bytes = build_context(d.path(), None).unwrap();
        let mut a = tar::Archive::new(tar_bytes.as_slice());
        let names: Vec<String> = a
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        assert!(names.iter().any(|n| n == "docs/keep/b.md"), "{names:?}");
        assert!(!names.iter().any(|n| n == "docs/a.md"), "{names:?}");
    }
}
