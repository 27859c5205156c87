//! Dataset images: `data package` builds one from a directory (labels: each file's sha256 and
//! rows), `validate --data` reads its files without running anything, `up` trains from it through
//! Compose alone (init service + volume) and `run.json` records the image's id with the sha256 of
//! the files the trainer read; `down` removes the containers and the data volume.

use crate::setup;
use finetune_spec::digest::file_sha256;
use finetune_tests::{outputs, project::Project};

#[test]
fn a_packaged_dataset_image_validates_and_trains() {
    let (_lock, env) = setup!();
    crate::ensure_trainer_image(env);
    let p = Project::fixture(env, "data-image", "data-image").unwrap();
    let tag = format!("ft-e2e-dataset-{}:v1", std::process::id());
    // Removed at the end whatever happens below.
    struct Rmi<'a>(&'a finetune_tests::env::DockerEnv, String);
    impl Drop for Rmi<'_> {
        fn drop(&mut self) {
            self.0.docker(["rmi", "-f", &self.1]);
        }
    }
    let _rmi = Rmi(env, tag.clone());
    p.add_tiny_model("models/tiny").unwrap();
    p.add_tiny_data("dataset/train.jsonl", 64, 1).unwrap();
    p.add_tiny_data("dataset/sub/eval.jsonl", 16, 2).unwrap();
    p.add_tiny_data("dataset/scratch/ignored.jsonl", 4, 3)
        .unwrap();
    std::fs::write(p.path("dataset/NOTES.txt"), "tiny sentiment\n").unwrap();
    std::fs::write(p.path("dataset/.dockerignore"), "scratch\n").unwrap();
    std::fs::write(p.path(".env"), format!("DATA_IMAGE={tag}\n")).unwrap();

    // Bad input: one error line each, before the engine is asked.
    for (args, what) in [
        (
            vec!["data", "package", "nope", "--tag", &tag],
            "does not exist",
        ),
        (
            vec!["data", "package", "dataset", "--tag", "Bad:Tag"],
            "not a valid image reference",
        ),
    ] {
        let r = p.finetune(&args);
        assert_eq!(r.code, Some(2), "{r}");
        let errors: Vec<&str> = r
            .stderr
            .lines()
            .filter(|l| l.starts_with("error:"))
            .collect();
        assert!(errors.len() == 1 && errors[0].contains(what), "{r}");
    }

    let pkg = p.finetune(&["data", "package", "dataset", "--tag", &tag]);
    assert_eq!(pkg.code, Some(0), "{pkg}");
    let id = env
        .docker(["image", "inspect", "-f", "{{.Id}}", &tag])
        .ok()
        .stdout
        .trim()
        .to_string();
    assert!(pkg.stdout.contains(&format!("image  {id}")), "{pkg}");
    assert!(pkg.stdout.contains(&format!("tag    {tag}")), "{pkg}");
    let train_sha = file_sha256(&p.path("dataset/train.jsonl")).unwrap();
    let train_line = pkg
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with("train.jsonl"))
        .unwrap_or_else(|| panic!("no train.jsonl row: {pkg}"));
    assert!(
        train_line.contains(" 64 ") && train_line.contains(&train_sha),
        "{pkg}"
    );
    assert!(!pkg.stdout.contains("ignored.jsonl"), "{pkg}");

    // The labels: every file's sha256, rows for the data files, nothing .dockerignore excludes.
    let labels = env
        .docker(["image", "inspect", "-f", "{{json .Config.Labels}}", &tag])
        .ok();
    let labels: serde_json::Value = serde_json::from_str(&labels.stdout).unwrap();
    let files: serde_json::Value =
        serde_json::from_str(labels["com.docker.finetune.data.files"].as_str().unwrap()).unwrap();
    assert_eq!(files["train.jsonl"]["sha256"], train_sha.as_str());
    assert_eq!(files["train.jsonl"]["rows"], 64);
    assert_eq!(files["sub/eval.jsonl"]["rows"], 16);
    assert!(files["NOTES.txt"]["sha256"].is_string() && files["NOTES.txt"].get("rows").is_none());
    let names: Vec<&String> = files.as_object().unwrap().keys().collect();
    assert_eq!(
        names,
        ["NOTES.txt", "sub/eval.jsonl", "train.jsonl"],
        "{files}"
    );

    // validate --data reads the files out of the image; plain validate needs no engine for them.
    let v = p.finetune(&["validate", "--data"]);
    assert_eq!(v.code, Some(0), "{v}");
    assert!(
        v.stderr
            .contains(&format!("tiny: train {tag}:/data/train.jsonl: 64 rows")),
        "{v}"
    );
    assert!(
        p.guard.containers().is_empty(),
        "validate left a container: {v}"
    );
    let missing = p.finetune(&["-f", "missing.yaml", "validate", "--data"]);
    assert_eq!(missing.code, Some(1), "{missing}");
    assert!(
        missing
            .stdout
            .contains("dataset image `ft-e2e-no-such-dataset:v0` is not on the engine"),
        "{missing}"
    );

    let up = p.finetune(&["up"]);
    assert_eq!(up.code, Some(0), "{up}");
    let record = outputs::run_record(&p.path("runs/tiny")).unwrap();
    let image = record.data_image.expect("run.json records the data image");
    assert_eq!(image.reference, tag);
    assert_eq!(image.id.as_deref(), Some(id.as_str()));
    assert_eq!(record.dataset_sha256["train"], train_sha);
    assert_eq!(
        record.dataset_sha256["eval"],
        file_sha256(&p.path("dataset/sub/eval.jsonl")).unwrap()
    );
    assert_eq!(
        record.spec.data.train,
        std::path::PathBuf::from("/data/train.jsonl")
    );

    let volume_filter = format!("label=com.docker.finetune.project={}", p.name);
    let volumes = env
        .docker(["volume", "ls", "-q", "--filter", &volume_filter])
        .ok();
    assert_eq!(volumes.stdout.lines().count(), 1, "{volumes}");
    let down = p.finetune(&["down"]);
    assert_eq!(down.code, Some(0), "{down}");
    assert!(p.guard.containers().is_empty(), "down left containers");
    let volumes = env
        .docker(["volume", "ls", "-q", "--filter", &volume_filter])
        .ok();
    assert!(
        volumes.stdout.trim().is_empty(),
        "down left the data volume: {volumes}"
    );
}
