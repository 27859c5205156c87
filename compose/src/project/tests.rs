//! Tests of project building: the three forms, defaults, names, provider options.

use super::*;
use crate::yaml::parse;
use finetune_spec::{ByteSize, Gpus, Method};
use std::path::{Path, PathBuf};

fn project(y: &str) -> Project {
    let n = parse(y, Path::new("/p/compose.yaml")).unwrap();
    build("p".into(), "/p".into(), vec![], &n, BTreeMap::new(), &[])
}

const SECTION: &str = "services:\n  db: {image: pg}\nx-finetune:\n  defaults:\n    resources: {gpus: 1, memory: 8g}\n    train: {epochs: 5}\n  jobs:\n    a:\n      model: ./m\n      data: {train: d/t.jsonl, eval_split: 0.1, labels: [0, 1]}\n      output: ./runs/a\n      train: {batch_size: 8}\n      method: {lora: {r: 4}}\n      depends_on: [db]\n      environment: [HF_TOKEN, A=1]\n";

#[test]
fn defaults_merge_under_section_jobs() {
    let p = project(SECTION);
    assert!(p.diagnostics.is_empty(), "{:#?}", p.diagnostics);
    let j = &p.job("a").unwrap().spec;
    assert_eq!(j.model, PathBuf::from("/p/m"));
    assert_eq!(j.data.train, PathBuf::from("/p/d/t.jsonl"));
    assert_eq!(j.train.epochs.get(), 5);
    assert_eq!(j.train.batch_size.get(), 8);
    assert_eq!(j.resources.gpus, Gpus::Count(1));
    assert_eq!(j.resources.memory, Some(ByteSize(8 << 30)));
    assert_eq!(j.data.labels, Some(vec!["0".into(), "1".into()]));
    assert!(matches!(&j.method, Method::Lora(l) if l.r.get() == 4));
    assert_eq!(j.environment.get("HF_TOKEN"), Some(&None));
    assert_eq!(j.environment.get("A"), Some(&Some("1".into())));
    assert_eq!(p.job("a").unwrap().position_of("data.train").line, 10);
}

#[test]
fn service_form_names_the_job_after_the_service() {
    let p = project("services:\n  db: {image: pg}\n  tune:\n    depends_on: [db]\n    x-finetune:\n      model: m\n      data: {train: t.csv}\n      output: out\n");
    assert!(p.diagnostics.is_empty(), "{:#?}", p.diagnostics);
    let j = p.job("tune").unwrap();
    assert_eq!(j.source, JobSource::Service("tune".into()));
    assert_eq!(j.spec.depends_on, vec!["db".to_string()]);
}

#[test]
fn collisions_escapes_and_missing_services_are_reported() {
    let p = project("services:\n  api: {image: x}\n  b:\n    x-finetune: {model: m, data: {train: t}, output: o}\nx-finetune:\n  jobs:\n    api: {model: m, data: {train: t}, output: o}\n    b: {model: ../m, data: {train: t, eval: e, eval_split: 0.2}, output: o, depends_on: [apx]}\n");
    let msgs: Vec<String> = p.diagnostics.iter().map(|d| d.to_string()).collect();
    let all = msgs.join("\n");
    assert!(all.contains("same name as the service `api`"), "{all}");
    assert!(all.contains("duplicate job name `b`"), "{all}");
    assert!(all.contains("escapes the project directory"), "{all}");
    assert!(all.contains("mutually exclusive"), "{all}");
    assert!(all.contains("did you mean `api`?"), "{all}");
    assert!(p.job("api").is_none());
}

#[test]
fn profiles_gate_service_jobs() {
    let y = "services:\n  t:\n    profiles: [train]\n    x-finetune: {model: m, data: {train: t}, output: o}\n";
    assert!(project(y).jobs.is_empty());
    let n = parse(y, Path::new("/p/c.yaml")).unwrap();
    let p = build(
        "p".into(),
        "/p".into(),
        vec![],
        &n,
        BTreeMap::new(),
        &["train".into()],
    );
    assert_eq!(p.jobs.len(), 1);
}

#[test]
fn provider_options_become_a_job() {
    let opts: BTreeMap<String, Vec<String>> = [
        ("model", vec!["./m"]),
        ("train", vec!["d/t.jsonl"]),
        ("output", vec!["o"]),
        ("epochs", vec!["2"]),
        ("gpus", vec!["0", "1"]),
        ("lora_r", vec!["4"]),
        ("memory", vec!["2g"]),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.into_iter().map(String::from).collect()))
    .collect();
    let j = job_from_provider_options("ft", &opts, Path::new("/p")).unwrap();
    assert_eq!(j.train.epochs.get(), 2);
    assert_eq!(j.resources.gpus, Gpus::Ids(vec!["0".into(), "1".into()]));
    assert!(matches!(&j.method, Method::Lora(l) if l.r.get() == 4));
    assert_eq!(j.data.train, PathBuf::from("/p/d/t.jsonl"));
    let mut bad = opts.clone();
    bad.insert("epocs".into(), vec!["1".into()]);
    bad.insert("batch_size".into(), vec!["0".into()]);
    let e = job_from_provider_options("ft", &bad, Path::new("/p")).unwrap_err();
    assert_eq!(e.len(), 2, "{e:#?}");
    assert!(
        e[0].hint.as_deref() == Some("did you mean `epochs`?")
            || e[1].hint.as_deref() == Some("did you mean `epochs`?")
    );
}

#[test]
fn dataset_image_paths_stay_inside_the_image() {
    let p = project("x-finetune:\n  jobs:\n    a: {model: m, data: {image: \"acme/tweets:v1\", train: ./sub/../t.jsonl, eval: e/v.csv}, output: o}\n");
    assert!(p.diagnostics.is_empty(), "{:#?}", p.diagnostics);
    let d = &p.job("a").unwrap().spec.data;
    // Not resolved against the project directory: they are in the image.
    assert_eq!(d.train, PathBuf::from("t.jsonl"));
    assert_eq!(d.eval, Some(PathBuf::from("e/v.csv")));
    assert_eq!(d.image.as_deref(), Some("acme/tweets:v1"));
}

#[test]
fn bad_dataset_images_are_reported_at_their_keys() {
    let p = project("services:\n  a-data: {image: x}\nx-finetune:\n  jobs:\n    a: {model: m, data: {image: Acme, train: /t.jsonl, eval: ../e.jsonl}, output: o}\n");
    let all: Vec<String> = p.diagnostics.iter().map(|d| d.to_string()).collect();
    let all = all.join("\n");
    assert!(
        all.contains("`Acme` is not a valid image reference"),
        "{all}"
    );
    assert!(all.contains("a service named `a-data`"), "{all}");
    assert!(all.contains("`/t.jsonl` is absolute"), "{all}");
    assert!(all.contains("`../e.jsonl` climbs out"), "{all}");
    assert!(p.diagnostics.iter().all(|d| d.line == 5), "{all}");
    assert!(p.job("a").is_none());
}

#[test]
fn tracking_in_defaults_reaches_every_job_but_not_job_json() {
    let p = project("x-finetune:\n  defaults:\n    tracking: {mlflow: {uri: 'http://u:pw@mlflow:5000', experiment: tweets}}\n  jobs:\n    a: {model: m, data: {train: t.csv}, output: a}\n    b:\n      model: m\n      data: {train: t.csv}\n      output: b\n      tracking: {mlflow: {uri: 'http://other:5000'}}\n");
    assert!(p.diagnostics.is_empty(), "{:#?}", p.diagnostics);
    let mlflow = |j: &str| {
        p.job(j)
            .unwrap()
            .spec
            .tracking
            .clone()
            .and_then(|t| t.mlflow)
            .unwrap()
    };
    assert_eq!(mlflow("a").uri, "http://u:pw@mlflow:5000");
    assert_eq!(mlflow("a").experiment.as_deref(), Some("tweets"));
    // The job's own mapping is merged over the defaults key by key.
    assert_eq!(mlflow("b").uri, "http://other:5000");
    assert_eq!(mlflow("b").experiment.as_deref(), Some("tweets"));
    // The trainer never sees it (the URI may hold credentials), and the job stays offline.
    let spec = &p.job("a").unwrap().spec;
    let rendered = crate::render::job_json(spec);
    assert!(rendered.tracking.is_none());
    assert!(rendered.network.is_none());
    let text = serde_json::to_string(&rendered).unwrap();
    assert!(!text.contains("mlflow") && !text.contains("pw@"), "{text}");
}

#[test]
fn a_tracking_uri_that_is_no_server_is_an_error_at_its_key() {
    let p = project("x-finetune:\n  jobs:\n    a:\n      model: m\n      data: {train: t.csv}\n      output: a\n      tracking: {mlflow: {uri: ./mlruns}}\n");
    let d = &p.diagnostics[0];
    assert!(d.is_error(), "{d:?}");
    assert_eq!(d.path, "x-finetune.jobs.a.tracking.mlflow.uri");
    assert_eq!(d.line, 7);
}
