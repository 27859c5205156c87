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
