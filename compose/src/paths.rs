//! Lexical path handling, as Compose does it: `.` and `..` resolved without touching the
//! filesystem, and job paths kept inside the project directory.

use std::path::{Component, Path, PathBuf};

/// `path` cleaned of `.` and `..` (lexically; a `..` at the root stays).
pub fn clean(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// Resolve `text` against `dir`; `Err` with the resolved path when a relative path escapes.
pub fn resolve_path(text: &str, dir: &Path) -> Result<PathBuf, PathBuf> {
    let p = Path::new(text);
    if p.is_absolute() {
        return Ok(clean(p));
    }
    let joined = clean(&dir.join(p));
    if joined.starts_with(clean(dir)) {
        Ok(joined)
    } else {
        Err(joined)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_stay_inside_the_directory() {
        assert_eq!(clean(Path::new("/a/./b/../c")), PathBuf::from("/a/c"));
        assert_eq!(
            resolve_path("m", Path::new("/p")),
            Ok(PathBuf::from("/p/m"))
        );
        assert_eq!(
            resolve_path("/x/../y", Path::new("/p")),
            Ok(PathBuf::from("/y"))
        );
        assert_eq!(
            resolve_path("../m", Path::new("/p")),
            Err(PathBuf::from("/m"))
        );
    }
}
