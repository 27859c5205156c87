//! The trainer image: its name, which variant a job needs, whether it exists, and building it
//! from `trainer/Dockerfile`.
//!
//! Two build paths. With a static trainer binary built on the host (`--binary`,
//! `FINETUNE_TRAINER_BIN`, or `<source>/dist/finetune-trainer`), the context is just the
//! Dockerfile and that binary and the target is `runtime-prebuilt` (`FROM scratch`): seconds, no
//! pull. Otherwise (or with `--from-source`) the whole source tree is the context and the
//! multi-stage build compiles the trainer (`runtime`, or `runtime-cuda` for CUDA). The image name
//! and the Dockerfile path are the compose library's ([`render::trainer_image`],
//! [`render::DOCKERFILE`]), so what `build` tags is what the rendered services run.

use super::context::{build_context, PREBUILT_PATH};
use super::Report;
use crate::engine::{labels, Engine};
use crate::exit::{fail_hint, ExitCode};
use bollard::query_parameters::BuildImageOptions;
use finetune_compose::{render, Project, RenderOptions};
use finetune_spec::digest::file_sha256;
use futures_util::StreamExt;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub use finetune_compose::render::DOCKERFILE;

/// The build target of the prebuilt path.
pub const PREBUILT_TARGET: &str = "runtime-prebuilt";
/// Image label holding the sha256 of the host binary a prebuilt image was built from.
const TRAINER_SHA_LABEL: &str = "com.docker.finetune.trainer-sha256";

/// The trainer image this plugin version builds and runs (`-cuda` for the CUDA variant).
pub fn trainer_image(cuda: bool) -> String {
    render::trainer_image(env!("CARGO_PKG_VERSION"), cuda)
}

/// What to build.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    pub from_source: bool,
    pub binary: Option<PathBuf>,
    pub cuda: bool,
    pub source: Option<PathBuf>,
    pub tag: Option<String>,
    pub build_args: Vec<(String, String)>,
    pub no_cache: bool,
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

/// The build options an automatic build (by `up` or the provider) uses.
fn automatic(cuda: bool) -> BuildOptions {
    BuildOptions {
        cuda,
        binary: binary_from_env(),
        ..Default::default()
    }
}

/// Decide between the prebuilt and the from-source build.
pub fn plan(opts: &BuildOptions) -> anyhow::Result<Plan> {
    let source = find_source(opts.source.as_deref()).ok_or_else(|| {
        fail_hint(
            ExitCode::BuildFailed,
            format!("cannot find `{DOCKERFILE}`"),
            "run from the docker-finetune source tree or pass `--source DIR` (or FINETUNE_SOURCE_DIR)",
        )
    })?;
    let tag = opts.tag.clone().unwrap_or_else(|| trainer_image(opts.cuda));
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
            PREBUILT_TARGET
        } else {
            "runtime"
        },
        source,
        binary,
        tag,
    })
}

/// The rendered services' `build:` section: the source tree when one is found, with the
/// prebuilt target when a host-built trainer binary is there and the jobs get no GPUs.
pub fn render_build(gpu_runtime: bool) -> (Option<PathBuf>, Option<String>) {
    let source = find_source(None);
    let prebuilt = source.as_ref().is_some_and(|s| {
        plan(&BuildOptions {
            source: Some(s.clone()),
            ..automatic(false)
        })
        .is_ok_and(|p| p.binary.is_some())
    });
    let target = (prebuilt && !gpu_runtime).then(|| PREBUILT_TARGET.to_string());
    (source, target)
}

/// The trainer image variants (`true` for CUDA) the jobs `names` need; jobs that name their
/// own `image` bring it themselves.
pub fn variants(project: &Project, names: &[String], render: &RenderOptions) -> Vec<bool> {
    let mut v: Vec<bool> = names
        .iter()
        .filter_map(|n| project.job(n))
        .filter(|j| j.spec.image.is_none())
        .map(|j| render::effective_gpus(&j.spec, render).is_some())
        .collect();
    v.sort();
    v.dedup();
    v
}

/// Build the image unless it exists and is current (or `force`). Returns its tag.
pub async fn ensure(
    engine: &Engine,
    cuda: bool,
    force: bool,
    report: &dyn Report,
) -> anyhow::Result<String> {
    let tag = trainer_image(cuda);
    if !force
        && engine.image_exists(&tag).await
        && !stale_prebuilt(engine, &tag, cuda, report).await
    {
        return Ok(tag);
    }
    report.status(&format!("[+] building trainer image {tag}"));
    build(engine, &automatic(cuda), report).await?;
    Ok(tag)
}

/// Whether the image was built from a host trainer binary that has changed since: its
/// trainer-sha256 label differs from the binary a build would use now.
async fn stale_prebuilt(engine: &Engine, tag: &str, cuda: bool, report: &dyn Report) -> bool {
    let Ok(plan) = plan(&automatic(cuda)) else {
        return false;
    };
    let Some(bin) = plan.binary else { return false };
    let Ok(now) = file_sha256(&bin) else {
        return false;
    };
    let label = engine
        .docker
        .inspect_image(tag)
        .await
        .ok()
        .and_then(|i| i.config)
        .and_then(|c| c.labels)
        .and_then(|l| l.get(TRAINER_SHA_LABEL).cloned());
    let stale = label.is_some_and(|l| l != now);
    if stale {
        report.status(&format!(
            "[+] {} changed since {tag} was built; rebuilding",
            bin.display()
        ));
    }
    stale
}

/// Build the image and stream the engine's progress to stderr.
pub async fn build(
    engine: &Engine,
    opts: &BuildOptions,
    report: &dyn Report,
) -> anyhow::Result<Plan> {
    let plan = plan(opts)?;
    let version = env!("CARGO_PKG_VERSION").to_string();
    let mut image_labels = HashMap::from([
        (labels::VERSION.to_string(), version.clone()),
        ("com.docker.finetune.trainer-version".to_string(), version),
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
        tokio::task::spawn_blocking(move || build_context(&plan.source, plan.binary.as_deref()))
            .await??
    };
    if let Some(b) = &plan.binary {
        image_labels.insert(TRAINER_SHA_LABEL.into(), file_sha256(b)?);
    }
    report.status(&format!(
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
        buildargs: Some(build_args(opts)),
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
    // The engine's build output is progress, not data: stderr (which the provider's Compose
    // discards).
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
    report.status(&format!("[+] built {}", plan.tag));
    Ok(plan)
}

/// The build arguments: for the CUDA variant the trainer is built with `--features cuda` and
/// dynamically linked (the driver library is loaded at run time), which the Dockerfile's builder
/// does with `FEATURES=cuda STATIC=false`; then the caller's `--build-arg`s, which win.
fn build_args(opts: &BuildOptions) -> HashMap<String, String> {
    let mut args = HashMap::new();
    if opts.cuda {
        args.insert("FEATURES".to_string(), "cuda".to_string());
        args.insert("STATIC".to_string(), "false".to_string());
    }
    args.extend(opts.build_args.iter().cloned());
    args
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

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("trainer")).unwrap();
        std::fs::write(d.path().join(DOCKERFILE), "FROM scratch\n").unwrap();
        d
    }

    fn plan_for(src: &Path, cuda: bool) -> Plan {
        plan(&BuildOptions {
            source: Some(src.into()),
            cuda,
            ..Default::default()
        })
        .unwrap()
    }

    fn names(tar_bytes: &[u8]) -> Vec<String> {
        let mut a = tar::Archive::new(tar_bytes);
        a.entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect()
    }

    fn context_of(plan: &Plan) -> Vec<u8> {
        build_context(&plan.source, plan.binary.as_deref()).unwrap()
    }

    #[test]
    fn prebuilt_plan_and_context_hold_only_dockerfile_and_binary() {
        let d = tree();
        std::fs::create_dir_all(d.path().join("dist")).unwrap();
        std::fs::write(d.path().join(PREBUILT_PATH), b"\x7fELF").unwrap();
        std::fs::create_dir_all(d.path().join("target")).unwrap();
        let opts = BuildOptions {
            source: Some(d.path().into()),
            ..Default::default()
        };
        let plan = plan(&opts).unwrap();
        assert_eq!(plan.target, "runtime-prebuilt");
        assert_eq!(
            plan.tag,
            format!("docker-finetune/trainer:{}", env!("CARGO_PKG_VERSION"))
        );
        let ctx = context_of(&plan);
        assert_eq!(names(&ctx), [DOCKERFILE, PREBUILT_PATH]);
    }

    #[test]
    fn source_plan_tars_the_tree_without_build_outputs() {
        let d = tree();
        std::fs::create_dir_all(d.path().join("target/debug")).unwrap();
        std::fs::write(d.path().join("target/debug/big"), "x").unwrap();
        std::fs::write(d.path().join("Cargo.toml"), "[workspace]").unwrap();
        let opts = BuildOptions {
            source: Some(d.path().into()),
            ..Default::default()
        };
        let plan = plan(&opts).unwrap();
        assert_eq!((plan.target, plan.binary.is_none()), ("runtime", true));
        let n = names(&context_of(&plan));
        assert!(n.contains(&"Cargo.toml".to_string()));
        assert!(n.iter().any(|x| x == DOCKERFILE));
        assert!(n.iter().all(|x| !x.starts_with("target")), "{n:?}");
        // The classic builder needs some dist/finetune-trainer for the first stage.
        assert!(n.iter().any(|x| x == PREBUILT_PATH), "{n:?}");
        let cuda = plan_for(d.path(), true);
        assert_eq!(cuda.target, "runtime-cuda");
        assert!(cuda.tag.ends_with("-cuda"));
        assert_eq!(cuda.tag, trainer_image(true));
    }

    #[test]
    fn the_cuda_variant_builds_a_dynamic_cuda_trainer() {
        let cpu = build_args(&BuildOptions::default());
        assert!(cpu.is_empty(), "{cpu:?}");
        let cuda = build_args(&BuildOptions {
            cuda: true,
            build_args: vec![("STATIC".into(), "true".into())],
            ..Default::default()
        });
        assert_eq!(cuda["FEATURES"], "cuda");
        // The caller's own `--build-arg` wins.
        assert_eq!(cuda["STATIC"], "true");
        assert_eq!(
            build_args(&BuildOptions {
                cuda: true,
                ..Default::default()
            })["STATIC"],
            "false"
        );
    }

    #[test]
    fn a_missing_binary_is_a_build_failure() {
        let d = tree();
        let e = plan(&BuildOptions {
            source: Some(d.path().into()),
            binary: Some(d.path().join("nope")),
            ..Default::default()
        })
        .unwrap_err();
        let f = e.downcast_ref::<crate::exit::Failure>().unwrap();
        assert_eq!(f.code, ExitCode::BuildFailed);
    }
}
