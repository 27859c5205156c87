//! `docker finetune build --binary`: the runtime image from the static trainer built on the
//! host (no pull, no registry), and what that image is allowed to do.

use crate::setup;
use finetune_tests::project::Project;

#[test]
fn prebuilt_binary_image_runs_non_root_without_network() {
    let (_lock, env) = setup!();
    let p = Project::fixture(env, "build", "build-prebuilt").unwrap();
    let tag = format!("ft-e2e-build:{}", std::process::id());
    let bin = env.trainer.to_string_lossy().into_owned();

    let build = p.finetune(&["build", "--binary", &bin, "--tag", &tag]);
    assert!(build.success(), "{build}");
    // Removed at the end whatever happens below.
    struct Rmi<'a>(&'a finetune_tests::env::DockerEnv, String);
    impl Drop for Rmi<'_> {
        fn drop(&mut self) {
            self.0.docker(["rmi", "-f", &self.1]);
        }
    }
    let _rmi = Rmi(env, tag.clone());

    let user = env
        .docker(["image", "inspect", "-f", "{{.Config.User}}", &tag])
        .ok();
    let user = user.stdout.trim();
    assert!(
        !user.is_empty() && !user.starts_with("0") && !user.starts_with("root"),
        "the image runs as `{user}`: expected a non-root user"
    );
    let labels = env
        .docker(["image", "inspect", "-f", "{{json .Config.Labels}}", &tag])
        .ok();
    assert!(
        labels.stdout.contains(env!("CARGO_PKG_VERSION")),
        "no trainer version label: {labels}"
    );

    let run = env
        .docker([
            "run",
            "--rm",
            "--network",
            "none",
            "--read-only",
            "--cap-drop",
            "ALL",
            "--security-opt",
            "no-new-privileges",
            &tag,
            "--version",
        ])
        .ok();
    assert!(
        run.stdout.contains(env!("CARGO_PKG_VERSION")),
        "`finetune-trainer --version` in the image: {run}"
    );
}

/// `trainer/Dockerfile`'s `builder` stage copies the real sources of the trainer's workspace
/// crates over the stubbed skeleton. A workspace crate the trainer depends on that the stage
/// forgets stays a stub, and `docker finetune build` from source fails for users without a Rust
/// toolchain (it did once, when the GGUF reader became a dependency). This needs no engine:
/// `cargo metadata` against the Dockerfile's text.
#[test]
fn dockerfile_builder_copies_every_workspace_crate_the_trainer_needs() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap();
    let needed = trainer_workspace_crates(root);
    assert!(
        needed.contains("trainer") && needed.contains("spec"),
        "cargo metadata lost the trainer's own crates: {needed:?}"
    );
    let dockerfile = std::fs::read_to_string(root.join("trainer/Dockerfile")).unwrap();
    let builder = dockerfile
        .split("\nFROM ")
        .find(|stage| stage.starts_with("${RUST_IMAGE} AS builder"))
        .expect("trainer/Dockerfile has no `builder` stage");
    for dir in &needed {
        assert!(
            builder.contains(&format!("\nCOPY {dir}/ /src/{dir}/")),
            "the builder stage does not COPY `{dir}/` (a dependency of finetune-trainer)"
        );
        assert!(
            builder.contains(&format!(" /src/{dir} ")),
            "the builder stage copies `{dir}/` but does not touch its sources before building"
        );
    }
}

/// The workspace directories finetune-trainer depends on, itself included (normal and build
/// dependencies; dev-dependencies never reach the image). `--no-deps`: the manifests alone, so
/// nothing is resolved or downloaded (path dependencies carry their `path`).
fn trainer_workspace_crates(root: &std::path::Path) -> std::collections::BTreeSet<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = std::process::Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(root)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let packages = meta["packages"].as_array().unwrap();
    let dir_of = |manifest: &str| -> String {
        let dir = std::path::Path::new(manifest).parent().unwrap();
        dir.strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .into_owned()
    };
    let mut seen = std::collections::BTreeSet::new();
    let mut todo = vec!["trainer".to_string()];
    while let Some(dir) = todo.pop() {
        if !seen.insert(dir.clone()) {
            continue;
        }
        let pkg = packages
            .iter()
            .find(|p| p["manifest_path"].as_str().map(dir_of).as_deref() == Some(dir.as_str()))
            .unwrap_or_else(|| panic!("no workspace package in {dir}/"));
        for dep in pkg["dependencies"].as_array().unwrap() {
            let runtime = dep["kind"].is_null() || dep["kind"] == "build";
            if let (true, Some(path)) = (runtime, dep["path"].as_str()) {
                let rel = std::path::Path::new(path).strip_prefix(root).unwrap();
                todo.push(rel.to_string_lossy().into_owned());
            }
        }
    }
    seen
}
