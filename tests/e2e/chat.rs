//! Causal language models end to end: one compose file with a BERT classifier and a LoRA on the
//! real SmolLM2-135M GGUF (chatterbot conversations), each on the CPU with its own `cpus` and
//! `memory`, run by one `docker finetune up`. `ps` lists both, each job's `run.json` has the
//! metrics of its task, and the LoRA's held-out eval loss ends clearly below the base model's,
//! which the trainer scored before its first step. And `examples/chat` validates with its data.

use crate::setup;
use finetune_spec::contract::{EvalMetrics, ExitReason, MetricsRecord, RunRecord};
use finetune_tests::env::DockerEnv;
use finetune_tests::{outputs, project, project::Project, skip_or_fail};
use std::path::{Path, PathBuf};

/// The GGUF file and the chatterbot YAML that `scripts/fetch-fixtures.sh` fetches.
const GGUF: &str = "smollm2/SmolLM2-135M-Instruct.Q4_1.gguf";
const CHATTERBOT: &str = "chatterbot/english";
/// The chat job's eval loss must end at least this much below the base model's (a fraction).
const MIN_GAIN: f64 = 0.10;

/// The real fixtures, or why they are missing.
fn real_chat_fixtures() -> Result<(PathBuf, PathBuf), String> {
    let f = project::fixtures_dir();
    let (gguf, corpus) = (f.join(GGUF), f.join(CHATTERBOT));
    if !gguf.is_file() || !corpus.join("ai.yml").is_file() {
        return Err(format!(
            "SmolLM2 GGUF or chatterbot corpus not in {} (run scripts/fetch-fixtures.sh)",
            f.display()
        ));
    }
    Ok((gguf, corpus))
}

#[test]
fn a_classifier_and_a_causal_lm_lora_train_in_one_up() {
    let (_lock, env) = setup!();
    let (gguf, corpus) = match real_chat_fixtures() {
        Ok(f) => f,
        Err(e) => skip_or_fail!("{e}"),
    };
    crate::ensure_trainer_image(env);
    let p = Project::fixture(env, "chat", "chat-mixed").unwrap();
    p.add_tiny_model("models/tiny").unwrap();
    p.add_tiny_data("data/sentiment/train.jsonl", 128, 1)
        .unwrap();
    p.add_tiny_data("data/sentiment/eval.jsonl", 32, 2).unwrap();
    link(&gguf, &p.path("models/SmolLM2-135M-Instruct.Q4_1.gguf"));
    short_chats(&corpus, &p.path("data/chat"), 96, 32);

    let up = p.finetune(&["up"]);
    assert_eq!(up.code, Some(0), "{up}");

    // Both containers are still there after `up`, exited 0, each with its own limits.
    let ps = p.finetune(&["ps", "--format", "json"]).ok();
    let rows: Vec<serde_json::Value> = serde_json::from_str(&ps.stdout)
        .unwrap_or_else(|e| panic!("ps --format json is not a JSON list ({e}): {ps}"));
    let jobs: Vec<&str> = rows.iter().filter_map(|r| r["job"].as_str()).collect();
    assert_eq!(jobs, ["chat", "classifier"], "{ps}");
    for r in &rows {
        assert_eq!(r["exit_code"], 0, "{r}");
        assert_eq!(r["oom_killed"], false, "{r}");
    }
    assert_eq!(limits(env, &rows[0]), (1_500_000_000, 3 << 30), "chat");
    assert_eq!(
        limits(env, &rows[1]),
        (500_000_000, 512 << 20),
        "classifier"
    );

    // The classifier's metrics are a classifier's.
    let cls = outputs::run_record(&p.path("runs/classifier")).unwrap();
    assert_eq!(cls.exit_reason, ExitReason::Completed);
    let e = cls.final_eval.as_ref().expect("classifier final_eval");
    assert!(
        e.macro_f1.is_some_and(|f| (0.0..=1.0).contains(&f)),
        "{e:?}"
    );
    assert!(e.perplexity.is_none() && e.tokens.is_none(), "{e:?}");
    assert!(
        cls.base_eval.is_none(),
        "classifiers are not scored before training"
    );

    // The causal LM's are a language model's, and it learnt from the chats.
    let out = p.path("runs/chat");
    let lm = outputs::run_record(&out).unwrap();
    assert_eq!(lm.exit_reason, ExitReason::MaxSteps);
    assert_eq!(lm.steps, 8);
    let (base, last) = lm_evals(&lm);
    assert!(
        last.loss <= base.loss * (1.0 - MIN_GAIN),
        "the eval loss did not fall {:.0}% below the base model's: base {:.4}, final {:.4}",
        MIN_GAIN * 100.0,
        base.loss,
        last.loss
    );
    assert_eq!(
        step_zero_eval(&out).as_ref(),
        Some(base),
        "run.json's base_eval is metrics.jsonl's step-0 eval"
    );
    for f in [
        "model/model.safetensors",
        "model/config.json",
        "model/tokenizer.json",
        "adapter/adapter_config.json",
        "adapter/adapter_model.safetensors",
    ] {
        assert!(out.join(f).is_file(), "missing output {f}");
    }

    // `runs` and the job's log say it against the base model.
    let runs = p.finetune(&["runs"]).ok();
    assert!(
        runs.stdout
            .contains(&format!("{:.4} (base {:.4})", last.loss, base.loss)),
        "{runs}"
    );
    let logs = p.finetune(&["logs", "chat"]).ok().all();
    for line in [
        "base model eval, before training",
        "against the base model",
        "memory: about",
    ] {
        assert!(
            logs.contains(line),
            "no `{line}` in the chat job's log:\n{logs}"
        );
    }
}

#[test]
fn the_chat_example_validates_with_its_data() {
    let (_lock, env) = setup!();
    let (gguf, corpus) = match real_chat_fixtures() {
        Ok(f) => f,
        Err(e) => skip_or_fail!("{e}"),
    };
    let p = Project::example(env, "chat-example", "chat").unwrap();
    link(&gguf, &p.path("models/SmolLM2-135M-Instruct.Q4_1.gguf"));
    let split =
        finetune_fixtures::chatterbot::write_messages(&corpus, &p.path("data"), 10).unwrap();
    assert!(split.train > 500 && split.eval > 50, "{split:?}");
    same_rows_from_make_data_py(&corpus, &p.path("data"));
    let v = p.finetune(&["validate", "--data"]);
    assert_eq!(v.code, Some(0), "{v}");
    let all = v.all();
    assert!(all.contains(&format!("{} rows", split.train)), "{v}");
    assert!(all.contains("the trained part in [[ ]]"), "{v}");
    assert!(all.contains("[[") && all.contains("<|im_end|>]]"), "{v}");
}

/// The example's `make-data.py` writes the rows `write_messages` wrote into `data`. It needs
/// python3 with PyYAML (`scripts/fetch-fixtures.sh` installs it); without it the comparison is
/// skipped with a note, and fails under CI=true.
fn same_rows_from_make_data_py(corpus: &Path, data: &Path) {
    let script = finetune_tests::repo_root().join("examples/chat/make-data.py");
    let has_yaml = std::process::Command::new("python3")
        .args(["-c", "import yaml"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_yaml {
        skip_or_fail!("python3 with PyYAML not found (scripts/fetch-fixtures.sh installs it); make-data.py not compared");
    }
    let out = tempfile::tempdir().unwrap();
    let run = std::process::Command::new("python3")
        .arg(&script)
        .arg(corpus)
        .arg(out.path())
        .output()
        .unwrap();
    assert!(run.status.success(), "make-data.py failed: {run:?}");
    for f in ["train.jsonl", "eval.jsonl"] {
        let (py, rs) = (
            std::fs::read_to_string(out.path().join(f)).unwrap(),
            std::fs::read_to_string(data.join(f)).unwrap(),
        );
        let first_diff = py.lines().zip(rs.lines()).find(|(a, b)| a != b);
        assert!(
            py == rs,
            "make-data.py's {f} differs from write_messages': {} vs {} lines, first difference {first_diff:?}",
            py.lines().count(),
            rs.lines().count()
        );
    }
}

/// The step-0 eval line of `metrics.jsonl` (the base model's score).
fn step_zero_eval(out: &Path) -> Option<EvalMetrics> {
    outputs::metrics(out)
        .unwrap()
        .into_iter()
        .find_map(|r| match r {
            MetricsRecord::Eval { step: 0, eval, .. } => Some(eval),
            _ => None,
        })
}

/// The base and final evaluations of a text-generation run, checked to be a language model's.
fn lm_evals(rec: &RunRecord) -> (&EvalMetrics, &EvalMetrics) {
    let base = rec.base_eval.as_ref().expect("run.json has base_eval");
    let last = rec.final_eval.as_ref().expect("run.json has final_eval");
    for e in [base, last] {
        assert!(e.macro_f1.is_none() && e.per_class.is_empty(), "{e:?}");
        let ppl = e.perplexity.expect("a perplexity");
        assert!((ppl - e.loss.exp()).abs() < 1e-6 * ppl, "{e:?}");
        assert!(e.tokens.is_some_and(|t| t > 100), "{e:?}");
        assert_eq!(e.samples, 32, "{e:?}");
    }
    (base, last)
}

/// A job container's CPU limit (nano-CPUs) and memory limit (bytes), from `docker inspect`.
fn limits(env: &DockerEnv, row: &serde_json::Value) -> (i64, i64) {
    let id = row["container"].as_str().expect("container id");
    let r = env
        .docker([
            "inspect",
            "--format",
            "{{.HostConfig.NanoCpus}} {{.HostConfig.Memory}}",
            id,
        ])
        .ok();
    let nums: Vec<i64> = r
        .stdout
        .split_whitespace()
        .filter_map(|n| n.parse().ok())
        .collect();
    match nums[..] {
        [cpus, memory] => (cpus, memory),
        _ => panic!("unexpected inspect output: {r}"),
    }
}

/// `train` single-exchange chats and `eval` held-out ones (questions never seen in training)
/// under `dir`, from the chatterbot corpus: the short kind, which keeps a CPU step fast and every
/// answer inside `max_length`, spread evenly over the corpus's categories.
fn short_chats(corpus: &Path, dir: &Path, train: usize, eval: usize) {
    let all = dir.join("all");
    finetune_fixtures::chatterbot::write_messages(corpus, &all, 10).unwrap();
    for (name, n) in [("train.jsonl", train), ("eval.jsonl", eval)] {
        let text = std::fs::read_to_string(all.join(name)).unwrap();
        let short: Vec<&str> = text.lines().filter(|l| is_short_exchange(l)).collect();
        assert!(
            short.len() >= n,
            "{} short chats in {name}, {n} wanted",
            short.len()
        );
        let picked: Vec<&str> = (0..n).map(|i| short[i * short.len() / n]).collect();
        std::fs::write(dir.join(name), picked.join("\n") + "\n").unwrap();
    }
    std::fs::remove_dir_all(&all).unwrap();
}

/// One question and its answer, each at most 80 bytes.
fn is_short_exchange(row: &str) -> bool {
    let v: serde_json::Value = serde_json::from_str(row).unwrap();
    let turns = v["messages"].as_array().map_or(&[][..], |m| &m[..]);
    turns.len() == 2
        && turns
            .iter()
            .all(|t| t["content"].as_str().is_some_and(|c| c.len() <= 80))
}

/// Hard-links `from` to `to` (same filesystem) or copies it.
fn link(from: &Path, to: &Path) {
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    if std::fs::hard_link(from, to).is_err() {
        std::fs::copy(from, to).unwrap();
    }
}
