//! A test project: a copy of `tests/fixtures/<name>/` (or an example) in a temp dir, plus the
//! models and data the test needs, and helpers to run `docker finetune` and `docker compose` on it
//! under a unique Compose project name.

use crate::engine::ProjectGuard;
use crate::env::{DockerEnv, Run};
use anyhow::{bail, Context, Result};
use finetune_fixtures::TinyBert;
use std::path::{Path, PathBuf};

/// The real fixtures (`scripts/fetch-fixtures.sh`): `$FINETUNE_FIXTURES` or `<repo>/.fixtures`.
pub fn fixtures_dir() -> PathBuf {
    std::env::var_os("FINETUNE_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::repo_root().join(".fixtures"))
}

/// Whether MiniLM and the tweets slices are present.
pub fn real_fixtures_present() -> bool {
    let f = fixtures_dir();
    [
        "minilm/config.json",
        "minilm/model.safetensors",
        "minilm/tokenizer.json",
    ]
    .iter()
    .chain(["tweets/train.jsonl", "tweets/eval.jsonl"].iter())
    .all(|p| f.join(p).is_file())
}

pub struct Project<'a> {
    pub env: &'a DockerEnv,
    pub dir: tempfile::TempDir,
    pub name: String,
    pub guard: ProjectGuard<'a>,
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let e = e?;
        let (src, dst) = (e.path(), to.join(e.file_name()));
        if src.is_dir() {
            copy_dir(&src, &dst)?;
        } else {
            std::fs::copy(&src, &dst)
                .with_context(|| format!("copying {} to {}", src.display(), dst.display()))?;
        }
    }
    Ok(())
}

/// Hard-links `from` to `to` (same filesystem) or copies it.
fn link_or_copy(from: &Path, to: &Path) -> Result<()> {
    if let Some(p) = to.parent() {
        std::fs::create_dir_all(p)?;
    }
    if std::fs::hard_link(from, to).is_err() {
        std::fs::copy(from, to)
            .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
    }
    Ok(())
}

impl<'a> Project<'a> {
    /// A project from `tests/fixtures/<fixture>/`, run as Compose project `ft-e2e-<test>-<pid>`.
    pub fn fixture(env: &'a DockerEnv, test: &str, fixture: &str) -> Result<Project<'a>> {
        Self::from_dir(
            env,
            test,
            &crate::repo_root().join("tests/fixtures").join(fixture),
        )
    }

    /// A project from `examples/<example>/`.
    pub fn example(env: &'a DockerEnv, test: &str, example: &str) -> Result<Project<'a>> {
        Self::from_dir(
            env,
            test,
            &crate::repo_root().join("examples").join(example),
        )
    }

    fn from_dir(env: &'a DockerEnv, test: &str, src: &Path) -> Result<Project<'a>> {
        if !src.is_dir() {
            bail!("missing project dir {}", src.display());
        }
        let dir = tempfile::Builder::new()
            .prefix(&format!("finetune-e2e-{test}-"))
            .tempdir()?;
        copy_dir(src, dir.path())?;
        let name = crate::engine::project_name(test);
        let guard = ProjectGuard::new(env, &name);
        Ok(Project {
            env,
            dir,
            name,
            guard,
        })
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Writes a tiny random BERT checkpoint at `rel` ([`TinyBert::CHARS`]: any text tokenizes).
    pub fn add_tiny_model(&self, rel: &str) -> Result<()> {
        Ok(TinyBert::CHARS.write(&self.path(rel), 7)?)
    }

    /// Writes a small learnable JSONL dataset at `rel` ([`finetune_fixtures::write_sentiment`]).
    pub fn add_tiny_data(&self, rel: &str, rows: usize, seed: u64) -> Result<()> {
        Ok(finetune_fixtures::write_sentiment(
            &self.path(rel),
            rows,
            seed,
        )?)
    }

    /// Links MiniLM into `<rel_model>/` and the tweets slices into `<rel_data>/{train,eval}.jsonl`.
    pub fn add_real_fixtures(&self, rel_model: &str, rel_data: &str) -> Result<()> {
        let f = fixtures_dir();
        for file in ["config.json", "model.safetensors", "tokenizer.json"] {
            link_or_copy(
                &f.join("minilm").join(file),
                &self.path(rel_model).join(file),
            )?;
        }
        for file in ["train.jsonl", "eval.jsonl"] {
            link_or_copy(
                &f.join("tweets").join(file),
                &self.path(rel_data).join(file),
            )?;
        }
        Ok(())
    }

    /// `docker finetune -p <project> ARGS` in the project dir.
    pub fn finetune(&self, args: &[&str]) -> Run {
        let mut all = vec!["finetune", "-p", self.name.as_str()];
        all.extend_from_slice(args);
        self.env.docker_in(Some(self.dir.path()), all)
    }

    /// `docker compose -p <project> ARGS` in the project dir.
    pub fn compose(&self, args: &[&str]) -> Run {
        let mut all = vec!["compose", "-p", self.name.as_str()];
        all.extend_from_slice(args);
        self.env.docker_in(Some(self.dir.path()), all)
    }

    /// Builds the trainer image from the static binary under test (the fast, pull-free path).
    pub fn build_image(&self) -> Run {
        let bin = self.env.trainer.to_string_lossy().into_owned();
        self.finetune(&["build", "--binary", &bin])
    }

    /// Polls `cond` every 100 ms until it holds or `secs` pass.
    pub fn wait_for(&self, secs: u64, mut cond: impl FnMut() -> bool) -> bool {
        let end = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        while std::time::Instant::now() < end {
            if cond() {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        cond()
    }
}
