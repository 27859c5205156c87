//! Locating the binaries under test: `docker-finetune`, the static `finetune-trainer`, and the
//! Compose v2 CLI plugin.
//!
//! The plugin and trainer come from the same cargo target dir as the test executable
//! (`target/<triple>/release/deps/e2e-*` → `target/<triple>/release/`), so `scripts/test.sh`'s one
//! static build serves both. `FINETUNE_PLUGIN_BIN` / `FINETUNE_TRAINER_BIN` override.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// Directories a cargo build may have put binaries in, nearest to the test executable first.
fn candidate_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Ok(exe) = std::env::current_exe() {
        // .../<profile>/deps/e2e-hash → .../<profile>
        if let Some(profile_dir) = exe.parent().and_then(Path::parent) {
            dirs.push(profile_dir.to_path_buf());
        }
    }
    let root = crate::repo_root();
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    for t in [target, root.join("target"), root.join("target-plugin")] {
        dirs.push(t.join("x86_64-unknown-linux-gnu/release"));
        dirs.push(t.join("release"));
        dirs.push(t.join("debug"));
    }
    dirs
}

fn find(env_var: &str, name: &str) -> Result<PathBuf> {
    if let Some(p) = std::env::var_os(env_var) {
        let p = PathBuf::from(p);
        if p.is_file() {
            return Ok(p);
        }
        bail!("{env_var}={} is not a file", p.display());
    }
    candidate_dirs()
        .into_iter()
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .with_context(|| {
            format!(
                "no `{name}` binary next to the test executable or in target/: build it first \
                 (scripts/test.sh does) or set {env_var}"
            )
        })
}

/// The `docker-finetune` CLI plugin binary.
pub fn plugin() -> Result<PathBuf> {
    find("FINETUNE_PLUGIN_BIN", "docker-finetune")
}

/// The trainer binary; it must be static, because the image it goes into is `FROM scratch`.
pub fn trainer() -> Result<PathBuf> {
    let p = find("FINETUNE_TRAINER_BIN", "finetune-trainer")?;
    if has_interpreter(&p)? {
        bail!(
            "{} is dynamically linked; the scratch image needs a static build: \
             RUSTFLAGS='-C target-feature=+crt-static' cargo build --release --target x86_64-unknown-linux-gnu",
            p.display()
        );
    }
    Ok(p)
}

/// Whether an ELF64 file has a PT_INTERP program header (i.e. needs a dynamic loader).
pub fn has_interpreter(path: &Path) -> Result<bool> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    if bytes.len() < 64 || &bytes[..4] != b"\x7fELF" || bytes[4] != 2 {
        bail!("{} is not an ELF64 file", path.display());
    }
    let u16_at = |o: usize| u16::from_le_bytes([bytes[o], bytes[o + 1]]) as usize;
    let phoff = u64::from_le_bytes(bytes[0x20..0x28].try_into()?) as usize;
    let (phentsize, phnum) = (u16_at(0x36), u16_at(0x38));
    for i in 0..phnum {
        let o = phoff + i * phentsize;
        if o + 4 > bytes.len() {
            bail!("{}: truncated program headers", path.display());
        }
        const PT_INTERP: u32 = 3;
        if u32::from_le_bytes(bytes[o..o + 4].try_into()?) == PT_INTERP {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The Compose v2 CLI plugin (`docker-compose`), as `scripts/install-compose.sh` installs it.
pub fn compose_plugin() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    if let Some(c) = std::env::var_os("DOCKER_CONFIG") {
        dirs.push(PathBuf::from(c).join("cli-plugins"));
    }
    if let Some(h) = std::env::var_os("HOME") {
        dirs.push(PathBuf::from(h).join(".docker/cli-plugins"));
    }
    for d in [
        "/usr/local/lib/docker/cli-plugins",
        "/usr/local/libexec/docker/cli-plugins",
        "/usr/lib/docker/cli-plugins",
        "/usr/libexec/docker/cli-plugins",
    ] {
        dirs.push(PathBuf::from(d));
    }
    dirs.into_iter()
        .map(|d| d.join("docker-compose"))
        .find(|p| p.is_file())
}
