//! `build`: the trainer image, built by the engine from `trainer/Dockerfile`.
//!
//! Two paths. With a static trainer binary built on the host (`--binary`, `FINETUNE_TRAINER_BIN`,
//! or `<source>/dist/finetune-trainer`), the context is just the Dockerfile and that binary and
//! the target is `runtime-prebuilt` (`FROM scratch`): seconds, no pull. Otherwise (or with
//! `--from-source`) the whole source tree is the context and the multi-stage build compiles the
//! trainer (`runtime`, or `runtime-cuda` with `--cuda`). Progress lines stream to stderr.

use crate::cli::build::BuildArgs;
use crate::commands::Ctx;
use crate::engine::{labels, Engine};
use crate::exit::{fail_hint, ExitCode};
use crate::ui;
use bollard::query_parameters::BuildImageOptions;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The Dockerfile, relative to the source tree (and to the build context).
pub const DOCKERFILE: &str = "trainer/Dockerfile";
/// Where the prebuilt binary sits in the context (the `runtime-prebuilt` stage copies it).
pub const PREBUILT_PATH: &str = "dist/finetune-trainer";

#[derive(Debug, Clone, Default)]
pub struct Options {
    pub from_source: bool,
    pub binary: Option<PathBuf>,
    pub cuda: bool,
    pub source: Option<PathBuf>,
    pub tag: Option<String>,
    pub build_args: Vec<(String, String)>,
    pub no_cache: bool,
}

impl From<BuildArgs> for Options {
    fn from(a: BuildArgs) -> Options {
        Options {
            from_source: a.from_source,
            binary: a.binary,
            cuda: a.cuda,
            source: a.source,
            tag: a.tag,
            build_args: a
                .build_args
                .iter()
                .map(|kv| match kv.split_once('=') {
                    Some((k, v)) => (k.to_string(), v.to_string()),
                    // Like docker: `--build-arg KEY` takes the value from the environment.
                    None => (kv.clone(), std::env::var(kv).unwrap_or_default()),
                })
                .collect(),
            no_cache: a.no_cache,
        }
    }
}

/// The source tree holding `trainer/Dockerfile`: the flag or `FINETUNE_SOURCE_DIR`, else the
/// current directory or a parent, else a parent of the plugin binary (a cargo build inside the
/// repository).
pub fn find_source(explicit: Option<&Path>) -> Option<PathBuf> {
    if let Some(p) = explicit {
        return Some(p.to_path_buf());
    }
    if let Some(p) = std::env::var_os("FINETUNE_SOURCE_DIR").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let has = |d: &Path| d.join(DOCKERFILE).is_file();
    let cwd = std::env::current_dir().ok();
    let exe = std::env::current_exe().ok();
    [cwd, exe]
        .into_iter()
        .flatten()
        .find_map(|start| start.ancestors().find(|d| has(d)).map(Path::to_path_buf))
}

/// `FINETUNE_TRAINER_BIN`, when set.
pub fn binary_from_env() -> Option<PathBuf> {
    std::env::var_os("FINETUNE_TRAINER_BIN")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// What will be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub source: PathBuf,
    /// `Some` for the prebuilt path.
    pub binary: Option<PathBuf>,
    pub target: &'static str,
    pub tag: String,
}

/// Decide between the prebuilt and the from-source build.
pub fn plan(opts: &Options) -> anyhow::Result<Plan> {
    let source = find_source(opts.source.as_deref()).ok_or_else(|| {
        fail_hint(
            ExitCode::BuildFailed,
            format!("cannot find `{DOCKERFILE}`"),
            "run from the docker-finetune source tree or pass `--source DIR` (or FINETUNE_SOURCE_DIR)",
        )
    })?;
    let tag = opts
        .tag
        .clone()
        .unwrap_or_else(|| crate::commands::config::trainer_image(opts.cuda));
    if opts.cuda || opts.from_source {
        return Ok(Plan {
            source,
            binary: None,
            target: if opts.cuda { "runtime-cuda" } else { "runtime" },
            tag,
        });
    }
    let binary = opts
        .binary
        .clone()
        .or_else(|| Some(source.join(PREBUILT_PATH)).filter(|p| p.is_file()));
    if let Some(b) = &binary {
        if !b.is_file() {
            return Err(fail_hint(
                ExitCode::BuildFailed,
                format!("trainer binary {} does not exist", b.display()),
                "build it with `RUSTFLAGS='-C target-feature=+crt-static' cargo build --release \
                 --target x86_64-unknown-linux-gnu -p finetune-trainer`, or use `--from-source`",
            ));
        }
    }
    Ok(Plan {
        target: if binary.is_some() {
            "runtime-prebuilt"
        } else {
            "runtime"
        },
        source,
        binary,
        tag,
    })
}

pub async fn run(ctx: &Ctx, opts: Options) -> anyhow::Result<ExitCode> {
    let engine = ctx.engine().await?;
    build(&engine, &opts).await?;
    Ok(ExitCode::Success)
}

/// Build the image unless it exists (or `force`).
pub async fn ensure_image(engine: &Engine, cuda: bool, force: bool) -> anyhow::Result<String> {
    let tag = crate::commands::config::trainer_image(cuda);
    if !force && engine.image_exists(&tag).await && !stale_prebuilt(engine, &tag, cuda).await {
        return Ok(tag);
    }
    ui::status(format!("[+] building trainer image {tag}"));
    build(
        engine,
        &Options {
            cuda,
            binary: binary_from_env(),
            ..Default::default()
        },
    )
    .await?;
    Ok(tag)
}

/// Whether the image was built from a host trainer binary that has changed since: its
/// `com.docker.finetune.trainer-sha256` label differs from the binary a build would use now.
async fn stale_prebuilt(engine: &Engine, tag: &str, cuda: bool) -> bool {
    let Ok(plan) = plan(&Options {
        cuda,
        binary: binary_from_env(),
        ..Default::default()
    }) else {
        return false;
    };
    let Some(bin) = plan.binary else { return false };
    let Ok(now) = sha256_file(&bin) else {
        return false;
    };
    let label = engine
        .docker
        .inspect_image(tag)
        .await
        .ok()
        .and_then(|i| i.config)
        .and_then(|c| c.labels)
        .and_then(|l| l.get("com.docker.finetune.trainer-sha256").cloned());
    let stale = label.is_some_and(|l| l != now);
    if stale {
        ui::status(format!(
            "[+] {} changed since {tag} was built; rebuilding",
            bin.display()
        ));
    }
    stale
}

/// Build the image and stream the engine's progress to stderr.
pub async fn build(engine: &Engine, opts: &Options) -> anyhow::Result<Plan> {
    let plan = plan(opts)?;
    let mut image_labels = HashMap::from([
        (
            labels::VERSION.to_string(),
            env!("CARGO_PKG_VERSION").to_string(),
        ),
        (
            "com.docker.finetune.trainer-version".to_string(),
            env!("CARGO_PKG_VERSION").to_string(),
        ),
        (
            "com.docker.finetune.variant".to_string(),
            if opts.cuda { "cuda" } else { "cpu" }.to_string(),
        ),
        (
            "com.docker.finetune.build".to_string(),
            if plan.binary.is_some() {
                "prebuilt"
            } else {
                "source"
            }
            .to_string(),
        ),
    ]);
    let context = {
        let plan = plan.clone();
        tokio::task::spawn_blocking(move || build_context(&plan)).await??
    };
    if let Some(b) = &plan.binary {
        image_labels.insert("com.docker.finetune.trainer-sha256".into(), sha256_file(b)?);
    }
    ui::status(format!(
        "[+] building {} (target {}, context {} from {}, {:.1} MB)",
        plan.tag,
        plan.target,
        if plan.binary.is_some() {
            "Dockerfile + trainer binary"
        } else {
            "source tree"
        },
        plan.source.display(),
        context.len() as f64 / 1e6
    ));
    let options = BuildImageOptions {
        dockerfile: DOCKERFILE.to_string(),
        t: Some(plan.tag.clone()),
        target: plan.target.to_string(),
        labels: Some(image_labels),
        buildargs: Some(opts.build_args.iter().cloned().collect()),
        rm: true,
        forcerm: true,
        nocache: opts.no_cache,
        ..Default::default()
    };
    let mut stream = engine.docker.build_image(
        options,
        None,
        Some(bollard::body_full(bytes::Bytes::from(context))),
    );
    while let Some(item) = stream.next().await {
        let info = item.map_err(|e| build_failed(&plan, e.to_string()))?;
        if let Some(err) = info.error_detail.and_then(|d| d.message).or(info.error) {
            return Err(build_failed(&plan, err));
        }
        if let Some(s) = info.stream {
            eprint!("{s}");
        }
        if let Some(s) = info.status {
            eprintln!("{s}");
        }
    }
    ui::status(format!("[+] built {}", plan.tag));
    Ok(plan)
}

fn build_failed(plan: &Plan, message: String) -> anyhow::Error {
    fail_hint(
        ExitCode::BuildFailed,
        format!("building {} failed: {}", plan.tag, message.trim()),
        if plan.binary.is_some() {
            "check that the binary is a static x86_64 Linux build".to_string()
        } else {
            "the from-source build needs the base images of trainer/Dockerfile locally (build args) \
             and vendored crates; or build the trainer on the host and use `--binary`"
                .to_string()
        },
    )
}

fn sha256_file(p: &Path) -> anyhow::Result<String> {
    let mut f = std::fs::File::open(p)?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h)?;
    Ok(hex::encode(h.finalize()))
}

/// The build context as a tar archive.
pub fn build_context(plan: &Plan) -> anyhow::Result<Vec<u8>> {
    let mut tar = tar::Builder::new(Vec::new());
    tar.follow_symlinks(true);
    match &plan.binary {
        Some(bin) => {
            tar.append_path_with_name(plan.source.join(DOCKERFILE), DOCKERFILE)?;
            let ignore = plan.source.join(".dockerignore");
            if ignore.is_file() {
                tar.append_path_with_name(&ignore, ".dockerignore")?;
            }
            let data = std::fs::read(bin)?;
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(0o755);
            header.set_cksum();
            tar.append_data(&mut header, PREBUILT_PATH, data.as_slice())?;
        }
        None => {
            let excludes = dockerignore(&plan.source);
            add_dir(&mut tar, &plan.source, Path::new(""), &excludes)?;
            // The classic builder runs the `runtime-prebuilt` stage before any later target, and
            // its COPY fails without a `dist/finetune-trainer`; an empty file satisfies it and
            // never reaches the `runtime` image.
            if !plan.source.join(PREBUILT_PATH).is_file() {
                let mut header = tar::Header::new_gnu();
                header.set_size(0);
                header.set_mode(0o755);
                header.set_cksum();
                tar.append_data(&mut header, PREBUILT_PATH, std::io::empty())?;
            }
        }
    }
    Ok(tar.into_inner()?)
}

/// `.dockerignore` patterns (plus the build outputs that are never wanted in a context).
fn dockerignore(source: &Path) -> Vec<String> {
    let mut pats: Vec<String> = ["target", "target-*", ".git", ".fixtures"]
        .map(String::from)
        .to_vec();
    if let Ok(text) = std::fs::read_to_string(source.join(".dockerignore")) {
        pats.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('!'))
                .map(|l| l.trim_start_matches("./").trim_matches('/').to_string()),
        );
    }
    pats
}

/// Whether a context-relative path matches a pattern: `*` within a component, `**` any depth.
pub fn ignored(rel: &str, patterns: &[String]) -> bool {
    patterns.iter().any(|p| glob(p, rel))
}

fn glob(pattern: &str, path: &str) -> bool {
    let pp: Vec<&str> = pattern.split('/').collect();
    let sp: Vec<&str> = path.split('/').collect();
    fn rec(p: &[&str], s: &[&str]) -> bool {
        match (p.first(), s.first()) {
            (None, _) => true, // a matched directory excludes what is below it
            (Some(&"**"), _) => rec(&p[1..], s) || (!s.is_empty() && rec(p, &s[1..])),
            (Some(_), None) => false,
            (Some(pc), Some(sc)) => component(pc, sc) && rec(&p[1..], &s[1..]),
        }
    }
    rec(&pp, &sp)
}

fn component(p: &str, s: &str) -> bool {
    match p.split_once('*') {
        None => p == s,
        Some((pre, rest)) => {
            if !s.starts_with(pre) {
                return false;
            }
            let s = &s[pre.len()..];
            (0..=s.len()).any(|i| s.is_char_boundary(i) && component(rest, &s[i..]))
        }
    }
}

fn add_dir(
    tar: &mut tar::Builder<Vec<u8>>,
    root: &Path,
    rel: &Path,
    excludes: &[String],
) -> anyhow::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(root.join(rel))?.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let r = rel.join(e.file_name());
        let rs = r.to_string_lossy().replace('\\', "/");
        if ignored(&rs, excludes) {
            continue;
        }
        let ft = e.file_type()?;
        if ft.is_dir() {
            tar.append_dir(&r, e.path())?;
            add_dir(tar, root, &r, excludes)?;
        } else if ft.is_file() || ft.is_symlink() {
            tar.append_path_with_name(e.path(), &r)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ignore_patterns_match_like_dockerignore() {
        let p: Vec<String> = ["target", "target-*", "**/*.log", "docs/build"]
            .map(String::from)
            .to_vec();
        assert!(ignored("target", &p));
        assert!(ignored("target/debug/x", &p));
        assert!(ignored("target-plugin", &p));
        assert!(ignored("a/b/c.log", &p));
        assert!(ignored("docs/build/x.html", &p));
        assert!(!ignored("trainer/src/main.rs", &p));
        assert!(!ignored("docs/spec.md", &p));
    }

    fn tree() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("trainer")).unwrap();
        std::fs::write(d.path().join(DOCKERFILE), "FROM scratch\n").unwrap();
        d
    }

    fn names(tar_bytes: &[u8]) -> Vec<String> {
        let mut a = tar::Archive::new(tar_bytes);
        a.entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect()
    }

    #[test]
    fn prebuilt_plan_and_context_hold_only_dockerfile_and_binary() {
        let d = tree();
        std::fs::create_dir_all(d.path().join("dist")).unwrap();
        std::fs::write(d.path().join(PREBUILT_PATH), b"\x7fELF").unwrap();
        std::fs::create_dir_all(d.path().join("target")).unwrap();
        let opts = Options {
            source: Some(d.path().into()),
            ..Default::default()
        };
        let plan = plan(&opts).unwrap();
        assert_eq!(plan.target, "runtime-prebuilt");
        assert_eq!(
            plan.tag,
            format!("docker-finetune/trainer:{}", env!("CARGO_PKG_VERSION"))
        );
        let ctx = build_context(&plan).unwrap();
        assert_eq!(names(&ctx), [DOCKERFILE, PREBUILT_PATH]);
    }

    #[test]
    fn source_plan_tars_the_tree_without_build_outputs() {
        let d = tree();
        std::fs::create_dir_all(d.path().join("target/debug")).unwrap();
        std::fs::write(d.path().join("target/debug/big"), "x").unwrap();
        std::fs::write(d.path().join("Cargo.toml"), "[workspace]").unwrap();
        let opts = Options {
            source: Some(d.path().into()),
            ..Default::default()
        };
        let plan = plan(&opts).unwrap();
        assert_eq!((plan.target, plan.binary.is_none()), ("runtime", true));
        let n = names(&build_context(&plan).unwrap());
        assert!(n.contains(&"Cargo.toml".to_string()));
        assert!(n.iter().any(|x| x == DOCKERFILE));
        assert!(n.iter().all(|x| !x.starts_with("target")), "{n:?}");
        // The classic builder needs some dist/finetune-trainer for the first stage.
        assert!(n.iter().any(|x| x == PREBUILT_PATH), "{n:?}");
        let cuda = plan_for(d.path(), true);
        assert_eq!(cuda.target, "runtime-cuda");
        assert!(cuda.tag.ends_with("-cuda"));
    }

    fn plan_for(src: &Path, cuda: bool) -> Plan {
        plan(&Options {
            source: Some(src.into()),
            cuda,
            ..Default::default()
        })
        .unwrap()
    }

    #[test]
    fn a_missing_binary_is_a_build_failure() {
        let d = tree();
        let e = plan(&Options {
            source: Some(d.path().into()),
            binary: Some(d.path().join("nope")),
            ..Default::default()
        })
        .unwrap_err();
        let f = e.downcast_ref::<crate::exit::Failure>().unwrap();
        assert_eq!(f.code, ExitCode::BuildFailed);
    }
}
