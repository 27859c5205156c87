//! Model images end to end: `package` a trained job, run the image and talk to it over real HTTP
//! (from the host and from another container of a Compose stack), push it to a real registry and
//! pull it back, carry it in a `bundle` archive through `docker load`, quantize it to int8; and
//! the bad inputs (unknown job, no finished run, registry down, full disk) as one error line each.

use crate::setup;
use finetune_tests::env::{DockerEnv, Run};
use finetune_tests::project::Project;
use finetune_tests::served::{self, Cleanup};
use finetune_tests::{http, outputs, project, skip_or_fail};

const TEXTS: &[&str] = &[
    "what a lovely flight, thank you",
    "two hours on hold and my bag is lost",
    "great crew and a smooth landing",
];

/// The `package` fixture trained (tiny model, a few seconds).
fn trained<'a>(env: &'a DockerEnv, test: &str) -> Project<'a> {
    crate::ensure_trainer_image(env);
    let p = Project::fixture(env, test, "package").unwrap();
    p.add_tiny_model("models/tiny").unwrap();
    p.add_tiny_data("data/train.jsonl", 64, 1).unwrap();
    p.add_tiny_data("data/eval.jsonl", 48, 2).unwrap();
    let up = p.finetune(&["up"]);
    assert_eq!(up.code, Some(0), "{up}");
    p
}

/// The value of a `key   value` line of the plugin's stdout.
fn field(run: &Run, key: &str) -> String {
    run.stdout
        .lines()
        .find_map(|l| l.strip_prefix(key).map(|v| v.trim().to_string()))
        .unwrap_or_else(|| panic!("no `{key}` line: {run}"))
}

/// Exactly one `error:` line, containing `what`.
fn one_error(run: &Run, what: &str) {
    let errors: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("error:"))
        .collect();
    assert!(
        errors.len() == 1 && errors[0].contains(what),
        "expected one error about `{what}`: {run}"
    );
    assert!(!run.stderr.contains("panicked"), "{run}");
}

fn trainer_image() -> String {
    format!("docker-finetune/trainer:{}", crate::plugin_version())
}

/// `/health`, `/predict` (labels equal to `finetune-trainer predict`'s on the run's model) and the
/// 4xx answers to a malformed body, an oversized one and a wrong content type.
fn assert_serves(p: &Project, addr: &str) {
    let expected =
        served::trainer_predict(p.env, &trainer_image(), &p.path("runs/tiny/model"), TEXTS)
            .unwrap();
    assert_eq!(expected.len(), TEXTS.len());
    assert_eq!(served::predict(addr, TEXTS).unwrap(), expected);

    let health = http::get(addr, "/health").unwrap();
    assert_eq!(health.status, 200, "{health:?}");
    let bad = http::request(
        addr,
        "POST",
        "/predict",
        Some("application/json"),
        b"{\"inputs\": [",
    )
    .unwrap();
    assert_eq!(bad.status, 400, "malformed JSON: {bad:?}");
    let big = format!(
        "{{\"inputs\": [\"{}\"]}}",
        "a".repeat(finetune_spec::serving::DEFAULT_MAX_BODY_BYTES + 1)
    );
    let big = http::request(
        addr,
        "POST",
        "/predict",
        Some("application/json"),
        big.as_bytes(),
    )
    .unwrap();
    assert_eq!(big.status, 413, "oversized body: {}", big.status);
    let body = serde_json::json!({"inputs": ["hello"]}).to_string();
    let wrong = http::request(
        addr,
        "POST",
        "/predict",
        Some("text/plain"),
        body.as_bytes(),
    )
    .unwrap();
    assert_eq!(wrong.status, 415, "wrong content type: {wrong:?}");
}

#[test]
fn package_builds_a_labelled_image_that_serves_over_http_and_in_a_stack() {
    let (_lock, env) = setup!();
    crate::ensure_trainer_image(env);
    let cleanup = Cleanup::new(env);

    // Bad inputs first: one error line each, nothing built.
    let p = Project::fixture(env, "package-serve", "package").unwrap();
    let unknown = p.finetune(&["package", "nope"]);
    assert_eq!(unknown.code, Some(1), "{unknown}");
    one_error(&unknown, "no job `nope`");
    let untrained = p.finetune(&["package", "tiny"]);
    assert_eq!(untrained.code, Some(10), "{untrained}");
    one_error(&untrained, "job `tiny` has no finished run");
    let bad_tag = p.finetune(&["package", "tiny", "--tag", "Bad:Tag"]);
    assert_eq!(bad_tag.code, Some(2), "{bad_tag}");
    drop(p);

    let p = trained(env, "package-serve");
    let pkg = p.finetune(&["package", "tiny"]);
    assert_eq!(pkg.code, Some(0), "{pkg}");
    let tag = field(&pkg, "tag");
    cleanup.image(&tag);
    assert_eq!(field(&pkg, "run"), "1");
    assert_eq!(field(&pkg, "from"), trainer_image());

    // The default tag: <project>/<job>:v<run>-<model>-<yyyymmdd>, the date of `created`.
    let labels = served::labels(env, &tag).unwrap();
    let label = |k: &str| {
        labels
            .get(k)
            .and_then(|v| v.as_str())
            .unwrap_or_else(|| panic!("no label {k}: {labels:?}"))
            .to_string()
    };
    let created = label("org.opencontainers.image.created");
    let date: String = created.chars().take(10).filter(|c| *c != '-').collect();
    assert_eq!(tag, format!("{}/tiny:v1-tiny-{date}", p.name));

    // The labels carry the run record.
    let record = outputs::run_record(&p.path("runs/tiny")).unwrap();
    assert_eq!(label("io.docker-finetune.config-hash"), record.config_hash);
    assert_eq!(label("io.docker-finetune.project"), p.name);
    assert_eq!(label("io.docker-finetune.job"), "tiny");
    assert_eq!(label("io.docker-finetune.run"), "1");
    for role in ["train", "eval"] {
        assert_eq!(
            label(&format!("io.docker-finetune.dataset.{role}.sha256")),
            record.dataset_sha256[role]
        );
    }
    let eval = record.final_eval.clone().expect("eval metrics");
    let accuracy: f64 = label("io.docker-finetune.eval.accuracy").parse().unwrap();
    assert!(
        (accuracy - eval.accuracy).abs() < 1e-6,
        "{accuracy} vs {eval:?}"
    );
    assert_eq!(label("io.docker-finetune.base-model"), "tiny");
    assert_eq!(
        label("io.docker-finetune.trainer-version"),
        record.trainer_version
    );
    assert_eq!(
        label("org.opencontainers.image.version"),
        tag.rsplit_once(':').unwrap().1
    );
    assert_eq!(label("org.opencontainers.image.base.name"), trainer_image());

    // The image's own settings: the model, the port, the user, the health check, `serve`.
    assert_eq!(
        served::inspect(env, &tag, "{{.Config.User}}"),
        "65532:65532"
    );
    assert!(served::inspect(env, &tag, "{{json .Config.ExposedPorts}}").contains("8080/tcp"));
    assert!(served::inspect(env, &tag, "{{json .Config.Healthcheck}}").contains("healthcheck"));
    assert_eq!(
        served::inspect(env, &tag, "{{json .Config.Cmd}}"),
        r#"["serve","--model","/model","--host","0.0.0.0","--port","8080"]"#
    );

    // `runs` shows the image the run was packaged as.
    let runs = p.finetune(&["runs", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&runs.stdout).unwrap();
    assert_eq!(v[0]["packages"][0]["tag"], tag.as_str(), "{runs}");
    let table = p.finetune(&["runs"]);
    assert!(table.stdout.contains(&tag), "{table}");

    // Served from the host, over HTTP.
    let s = served::serve(env, &cleanup, &tag).unwrap();
    assert_serves(&p, &s.addr);
    // The image's HEALTHCHECK (the trainer's `healthcheck`) turns the container healthy.
    assert!(
        p.wait_for(90, || {
            env.docker(["inspect", "-f", "{{.State.Health.Status}}", &s.id])
                .stdout
                .trim()
                == "healthy"
        }),
        "the container never became healthy: {}",
        env.docker(["inspect", "-f", "{{json .State.Health}}", &s.id])
    );

    // Another container of the stack reaches it (see the fixture for why through `model`'s network).
    std::fs::write(p.path(".env"), format!("MODEL_IMAGE={tag}\n")).unwrap();
    let model = p.compose(&["--profile", "serve", "up", "-d", "--wait", "model"]);
    assert_eq!(model.code, Some(0), "{model}");
    let probe = p.compose(&["--profile", "serve", "run", "--rm", "--no-deps", "probe"]);
    assert_eq!(
        probe.code,
        Some(0),
        "probe could not reach `model`: {probe}"
    );

    // Packaged again: the same run keeps its number.
    let again = p.finetune(&[
        "package",
        "tiny",
        "--tag",
        &format!("{}-again/tiny:v1", p.name),
    ]);
    assert_eq!(again.code, Some(0), "{again}");
    cleanup.image(&field(&again, "tag"));
    assert_eq!(field(&again, "run"), "1");
}

/// The test registry (`scripts/start-registry.sh`), or a skip (a failure in CI).
fn registry() -> Option<String> {
    std::env::var("FINETUNE_TEST_REGISTRY")
        .ok()
        .filter(|r| !r.is_empty())
}

#[test]
fn package_push_round_trips_through_a_real_registry() {
    let (_lock, env) = setup!();
    let Some(registry) = registry() else {
        skip_or_fail!("FINETUNE_TEST_REGISTRY is unset (run scripts/start-registry.sh)");
    };
    let cleanup = Cleanup::new(env);
    let p = trained(env, "package-push");
    let tag = format!("{registry}/{}/tiny:v1", p.name);
    cleanup.image(&tag);

    let push = p.finetune(&["package", "tiny", "--tag", &tag, "--push"]);
    assert_eq!(push.code, Some(0), "{push}");
    let digest = field(&push, "digest");
    assert!(
        digest.starts_with(&format!("{registry}/{}/tiny@sha256:", p.name)),
        "{push}"
    );
    let labels = served::labels(env, &tag).unwrap();
    let runs = p.finetune(&["runs", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&runs.stdout).unwrap();
    assert_eq!(v[0]["packages"][0]["digest"], digest.as_str(), "{runs}");

    // Gone from the engine, pulled back: the same digest, the same labels, and it serves.
    env.docker(["rmi", "-f", &tag]).ok();
    assert!(!env.docker(["image", "inspect", &tag]).success());
    let pull = env.docker(["pull", &tag]);
    assert!(pull.success(), "{pull}");
    let digests = served::inspect(env, &tag, "{{json .RepoDigests}}");
    assert!(digests.contains(&digest), "{digests} lacks {digest}");
    assert_eq!(served::labels(env, &tag).unwrap(), labels);
    let s = served::serve(env, &cleanup, &tag).unwrap();
    assert_serves(&p, &s.addr);

    // A registry that is down: one line, non-zero, after the image was built.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let down_tag = format!("127.0.0.1:{port}/{}/tiny:v1", p.name);
    cleanup.image(&down_tag);
    let down = p.finetune(&["package", "tiny", "--tag", &down_tag, "--push"]);
    assert_eq!(down.code, Some(10), "{down}");
    one_error(
        &down,
        &format!("pushing {down_tag} to 127.0.0.1:{port} failed"),
    );
    // An unknown host: the same.
    let unknown_tag = format!("no-such-registry.invalid:5000/{}/tiny:v1", p.name);
    cleanup.image(&unknown_tag);
    let unknown = p.finetune(&["package", "tiny", "--tag", &unknown_tag, "--push"]);
    assert_eq!(unknown.code, Some(10), "{unknown}");
    one_error(&unknown, "pushing no-such-registry.invalid:5000/");
}

#[test]
fn bundle_carries_the_model_through_docker_load() {
    let (_lock, env) = setup!();
    let cleanup = Cleanup::new(env);
    let p = Project::fixture(env, "bundle", "package").unwrap();
    let none = p.finetune(&["bundle", "tiny", "-o", "b.tar"]);
    assert_eq!(none.code, Some(10), "{none}");
    one_error(&none, "has no finished run");
    drop(p);

    let p = trained(env, "bundle");
    // The run has no image yet: bundle packages it first.
    let out = p.path("dist/tiny.tar");
    std::fs::create_dir_all(p.path("dist")).unwrap();
    let b = p.finetune(&["bundle", "tiny", "-o", "dist/tiny.tar", "--with-trainer"]);
    assert_eq!(b.code, Some(0), "{b}");
    let tag = b
        .stdout
        .lines()
        .filter_map(|l| l.strip_prefix("image"))
        .map(|t| t.trim().to_string())
        .next()
        .unwrap();
    cleanup.image(&tag);
    assert!(b.stderr.contains("packaging it"), "{b}");
    assert!(out.is_file());
    let dir_entries: Vec<String> = std::fs::read_dir(p.path("dist"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(dir_entries, ["tiny.tar"], "a partial file was left behind");
    // The archive holds both images, by tag.
    let manifest = std::process::Command::new("tar")
        .args(["-xOf", out.to_str().unwrap(), "manifest.json"])
        .output()
        .unwrap();
    let manifest = String::from_utf8_lossy(&manifest.stdout);
    assert!(manifest.contains(&tag), "{manifest}");
    assert!(manifest.contains(&trainer_image()), "{manifest}");

    // A host with no registry: the image is removed, loaded from the archive, and serves.
    env.docker(["rmi", "-f", &tag]).ok();
    let load = env.docker(["load", "-i", out.to_str().unwrap()]);
    assert!(load.success(), "{load}");
    assert!(load.stdout.contains(&tag), "{load}");
    let s = served::serve(env, &cleanup, &tag).unwrap();
    assert_serves(&p, &s.addr);

    // The image exists now: a second bundle reuses it.
    let again = p.finetune(&["bundle", "tiny", "-o", "dist/tiny.tar"]);
    assert_eq!(again.code, Some(0), "{again}");
    assert!(!again.stderr.contains("packaging it"), "{again}");

    full_disk_leaves_the_old_archive(env, &p);
}

/// On a full disk (a 1 MiB tmpfs), `bundle` fails with exit 8 and one line, leaving the archive
/// already there untouched and no partial file. Mounting needs root; CI runs as root.
fn full_disk_leaves_the_old_archive(env: &DockerEnv, p: &Project) {
    let root = std::process::Command::new("id").arg("-u").output().unwrap();
    if String::from_utf8_lossy(&root.stdout).trim() != "0" {
        if finetune_tests::is_ci() {
            panic!("CI=true: the full-disk check needs root (mount -t tmpfs)");
        }
        eprintln!("SKIPPED (full disk): not root, cannot mount a small tmpfs");
        return;
    }
    let mnt = p.path("full");
    std::fs::create_dir_all(&mnt).unwrap();
    let mount = std::process::Command::new("mount")
        .args([
            "-t",
            "tmpfs",
            "-o",
            "size=1m",
            "tmpfs",
            mnt.to_str().unwrap(),
        ])
        .status()
        .unwrap();
    assert!(mount.success(), "mount -t tmpfs failed");
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(mnt.clone());
    std::fs::write(mnt.join("tiny.tar"), "the old archive").unwrap();
    let full = p.finetune(&["bundle", "tiny", "-o", "full/tiny.tar"]);
    assert_eq!(full.code, Some(8), "{full}");
    one_error(&full, "No space left on device");
    assert_eq!(
        std::fs::read_to_string(mnt.join("tiny.tar")).unwrap(),
        "the old archive"
    );
    let left: Vec<_> = std::fs::read_dir(&mnt).unwrap().collect();
    assert_eq!(left.len(), 1, "a partial file was left behind");
    let _ = env;
}

#[test]
fn package_quantize_int8_keeps_accuracy_and_shrinks_the_weights() {
    let (_lock, env) = setup!();
    if !project::real_fixtures_present() {
        skip_or_fail!(
            "MiniLM/tweets fixtures not in {} (run scripts/fetch-fixtures.sh)",
            project::fixtures_dir().display()
        );
    }
    crate::ensure_trainer_image(env);
    let cleanup = Cleanup::new(env);
    let p = Project::fixture(env, "package-int8", "package-int8").unwrap();
    p.add_real_fixtures("models/minilm", "data").unwrap();
    let up = p.finetune(&["up"]);
    assert_eq!(up.code, Some(0), "{up}");
    let record = outputs::run_record(&p.path("runs/sentiment")).unwrap();

    let tag = format!("{}/sentiment:int8", p.name);
    cleanup.image(&tag);
    let q = p.finetune(&["package", "sentiment", "--quantize", "int8", "--tag", &tag]);
    assert_eq!(q.code, Some(0), "{q}");
    let labels = served::labels(env, &tag).unwrap();
    let num = |k: &str| -> f64 {
        labels
            .get(&format!("io.docker-finetune.quantization.{k}"))
            .and_then(|v| v.as_str())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no quantization.{k} label: {labels:?}"))
    };
    assert_eq!(labels["io.docker-finetune.quantization.scheme"], "int8");
    let (f32_acc, int8_acc) = (num("accuracy-f32"), num("accuracy-quantized"));
    assert!(
        (f32_acc - int8_acc).abs() <= 0.01,
        "int8 accuracy {int8_acc} vs f32 {f32_acc}"
    );
    // Scored on the job's whole eval set.
    let eval = record.final_eval.expect("eval metrics");
    assert_eq!(num("eval.rows"), eval.samples as f64);
    let ratio = num("size-ratio");
    assert!(
        ratio > 0.0 && ratio <= 0.30,
        "int8 weights are {ratio} of f32"
    );
    assert_eq!(
        labels["io.docker-finetune.quantization.eval.sha256"],
        record.dataset_sha256["eval"].as_str()
    );

    // The temporary quantize directory is gone; the image serves the quantized model and says so.
    let state: Vec<String> = std::fs::read_dir(p.path("runs/sentiment/.finetune"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        state.iter().all(|n| !n.starts_with("quantized-")),
        "{state:?}"
    );
    let s = served::serve(env, &cleanup, &tag).unwrap();
    let info = http::get(&s.addr, "/info").unwrap().json().unwrap();
    assert_eq!(info["quantization"]["scheme"], "int8", "{info}");
    assert_eq!(served::predict(&s.addr, TEXTS).unwrap().len(), TEXTS.len());
    let runs = p.finetune(&["runs", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&runs.stdout).unwrap();
    assert_eq!(v[0]["packages"][0]["quantized"], "int8", "{runs}");
}
