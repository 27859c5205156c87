//! The quickstart example end to end on real MiniLM and tweets: `docker finetune up` trains,
//! and the output holds the model, the run record and a falling loss.

use crate::setup;
use finetune_spec::contract::ExitReason;
use finetune_tests::{outputs, project, project::Project, skip_or_fail};

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
}
