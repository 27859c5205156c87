//! The quickstart example end to end on real MiniLM and tweets: `docker finetune up` trains,
//! and the output holds the model, the run record and a falling loss; then `package` makes the
//! model image, the stack's `classifier` serves it (`docker compose up --wait`, the image's health
//! check), and `POST /predict` over HTTP gives the labels `finetune-trainer predict` gives.

use crate::setup;
use finetune_spec::contract::ExitReason;
use finetune_tests::served::{self, Cleanup};
use finetune_tests::{http, outputs, project, project::Project, skip_or_fail};

#[test]
fn quickstart_up_trains_minilm_and_writes_outputs() {
    let (_lock, env) = setup!();
    if !project::real_fixtures_present() {
        skip_or_fail!(
            "MiniLM/tweets fixtures not in {} (run scripts/fetch-fixtures.sh)",
            project::fixtures_dir().display()
        );
    }
    crate::ensure_trainer_image(env);
    let p = Project::example(env, "quickstart", "quickstart").unwrap();
    p.add_real_fixtures("models/minilm", "data").unwrap();

    let up = p.finetune(&["up"]);
    assert_eq!(up.code, Some(0), "{up}");

    let out = p.path("runs/sentiment");
    for f in [
        "model/model.safetensors",
        "model/config.json",
        "model/tokenizer.json",
    ] {
        assert!(out.join(f).is_file(), "missing output {f}");
    }
    let record = outputs::run_record(&out).unwrap();
    assert_eq!(record.exit_reason, ExitReason::Completed);
    let eval = record.final_eval.expect("final eval metrics in run.json");
    assert!(eval.accuracy > 0.0 && eval.accuracy <= 1.0, "{eval:?}");

    let logs = outputs::train_logs(&out).unwrap();
    let (first, last) = outputs::loss_first_last_third(&logs)
        .unwrap_or_else(|| panic!("too few logged steps: {logs:?}"));
    assert!(
        last < first,
        "loss did not fall: first third {first:.4}, last third {last:.4}"
    );

    // The stack serves the model: package, then `classifier` from the image.
    let cleanup = Cleanup::new(env);
    let pkg = p.finetune(&["package", "sentiment"]);
    assert_eq!(pkg.code, Some(0), "{pkg}");
    let tag = pkg
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("tag"))
        .map(|t| t.trim().to_string())
        .unwrap_or_else(|| panic!("no tag line: {pkg}"));
    cleanup.image(&tag);
    assert!(
        tag.starts_with(&format!("{}/sentiment:v1-minilm-", p.name)),
        "{tag}"
    );
    let labels = served::labels(env, &tag).unwrap();
    assert_eq!(
        labels["io.docker-finetune.config-hash"],
        record.config_hash.as_str()
    );

    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    std::fs::write(
        p.path(".env"),
        format!("MODEL_IMAGE={tag}\nCLASSIFIER_PORT={port}\n"),
    )
    .unwrap();
    let up = p.compose(&["up", "-d", "--wait", "classifier"]);
    assert_eq!(up.code, Some(0), "{up}");
    let addr = format!("127.0.0.1:{port}");
    let texts = [
        "what a lovely flight, thank you",
        "two hours on hold and my bag is lost",
    ];
    let trainer = format!("docker-finetune/trainer:{}", crate::plugin_version());
    let expected = served::trainer_predict(env, &trainer, &out.join("model"), &texts).unwrap();
    assert_eq!(served::predict(&addr, &texts).unwrap(), expected);
    assert_eq!(http::get(&addr, "/health").unwrap().status, 200);
}
