//! Host directories the trainer writes: output and cache directories created before a start,
//! writable by the trainer's non-root user 65532 (chowned to it when the plugin runs as root, else
//! made mode 0777, since a non-root user cannot chown), the job files, and the free-disk check.

use crate::exit::{fail_hint, ExitCode};
use std::path::Path;

/// The uid:gid the trainer runs as in its container.
pub const TRAINER_UID: u32 = 65532;

/// Below this, `doctor` fails the disk check and `up` refuses to start (exit 8).
pub const MIN_FREE: u64 = 256 << 20;
/// Below this, a warning.
pub const LOW_FREE: u64 = 2 << 30;

pub fn gib(b: u64) -> String {
    format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64)
}

/// Bytes free for unprivileged users on the filesystem holding `path` (or its nearest existing
/// parent).
pub fn free_bytes(path: &Path) -> Option<u64> {
    let existing = path.ancestors().find(|p| p.exists())?;
    let c = std::ffi::CString::new(existing.as_os_str().as_encoded_bytes()).ok()?;
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated path and `s` a valid out-pointer.
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut s) };
    (rc == 0).then(|| s.f_bavail as u64 * s.f_frsize as u64)
}

/// Refuse (exit 8) when less than [`MIN_FREE`] is free where job `name` writes.
pub fn check_disk(name: &str, output: &Path) -> anyhow::Result<()> {
    match free_bytes(output) {
        Some(free) if free < MIN_FREE => Err(fail_hint(
            ExitCode::DiskFull,
            format!(
                "only {} free where job `{name}` writes ({})",
                gib(free),
                output.display()
            ),
            "free disk space or point `output` elsewhere",
        )),
        _ => Ok(()),
    }
}

fn io_failure(e: &std::io::Error, what: String, hint: &str) -> anyhow::Error {
    fail_hint(
        if e.raw_os_error() == Some(libc::ENOSPC) {
            ExitCode::DiskFull
        } else {
            ExitCode::Other
        },
        what,
        hint,
    )
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Create an output (or cache) directory the trainer's user can write.
pub fn prepare_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| {
        io_failure(
            &e,
            format!("cannot create {}: {e}", dir.display()),
            "check the `output` path and its permissions",
        )
    })?;
    if is_root() {
        chown_tree(dir)?;
    } else {
        use std::os::unix::fs::PermissionsExt;
        // Not root: we cannot chown to 65532, so open the directory up instead.
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777)).map_err(|e| {
            fail_hint(
                ExitCode::Other,
                format!(
                    "cannot make {} writable for the trainer (uid {TRAINER_UID}): {e}",
                    dir.display()
                ),
                format!(
                    "run `sudo chown -R {TRAINER_UID}:{TRAINER_UID} {}`",
                    dir.display()
                ),
            )
        })?;
    }
    Ok(())
}

fn chown_tree(dir: &Path) -> anyhow::Result<()> {
    std::os::unix::fs::lchown(dir, Some(TRAINER_UID), Some(TRAINER_UID))?;
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                chown_tree(&e.path())?;
            } else {
                std::os::unix::fs::lchown(e.path(), Some(TRAINER_UID), Some(TRAINER_UID))?;
            }
        }
    }
    Ok(())
}

/// Write a job file (the spec the trainer reads) world-readable: the trainer runs as 65532.
pub fn write_job_file(path: &Path, content: &str) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, content).map_err(|e| {
        io_failure(
            &e,
            format!("cannot write {}: {e}", path.display()),
            "check the output directory's permissions and free space",
        )
    })?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_dirs_are_made_writable_for_the_trainer() {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("runs/a");
        prepare_dir(&out).unwrap();
        let md = std::fs::metadata(&out).unwrap();
        if is_root() {
            assert_eq!(md.uid(), TRAINER_UID);
        } else {
            assert_eq!(md.permissions().mode() & 0o777, 0o777);
        }
    }

    #[test]
    fn free_space_is_found_for_paths_that_do_not_exist_yet() {
        assert!(free_bytes(Path::new("/tmp/does/not/exist")).is_some());
    }

    #[test]
    fn job_files_are_world_readable() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("o/job.json");
        write_job_file(&p, "{}\n").unwrap();
        let mode = std::fs::metadata(&p).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o644);
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "{}\n");
    }
}
