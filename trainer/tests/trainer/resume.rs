//! The training loop end to end through the binary, on a tiny random BERT written by the test:
//! kill-and-resume equality, corrupted-checkpoint fallback, config-hash refusal, finished-run
//! short-circuit, repeatability, bad rows reported by line, and SIGTERM/SIGINT ending in a
//! checkpoint and the INTERRUPTED exit code.

use crate::common::{model_bytes, rewind_to, run_json, tiny_run_inputs, trainer};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

fn base_args(model: &Path, train: &Path, eval: &Path, out: &Path) -> Vec<String> {
    [
        "--threads",
        "1",
        "train",
        "--model",
        model.to_str().unwrap(),
        "--train",
        train.to_str().unwrap(),
        "--eval",
        eval.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
        "--epochs",
        "3",
        "--batch-size",
        "4",
        "--lr",
        "0.001",
        "--seed",
        "11",
        "--log-every-steps",
        "1",
        "--checkpoint-every",
        "5",
        "--keep-checkpoints",
        "100",
        "--grad-accum",
        "2",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn run(args: &[String]) -> Output {
    trainer().args(args).output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Training lines of metrics.jsonl as (step, loss, lr), and eval lines as (step, loss, accuracy).
fn metric_values(out: &Path) -> Vec<(u64, f64, f64)> {
    let text = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
    text.lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            match v.get("eval") {
                Some(e) => (
                    v["step"].as_u64().unwrap(),
                    e["loss"].as_f64().unwrap(),
                    e["accuracy"].as_f64().unwrap(),
                ),
                None => (
                    v["step"].as_u64().unwrap(),
                    v["loss"].as_f64().unwrap(),
                    v["lr"].as_f64().unwrap(),
                ),
            }
        })
        .collect()
}

#[test]
fn sigkill_and_resume_ends_with_identical_weights_and_corrupt_checkpoints_are_skipped() {
    let d = tempfile::tempdir().unwrap();
    let (model, train, eval) = tiny_run_inputs(d.path(), 120, 16);

    // A: uninterrupted.
    let out_a = d.path().join("a");
    let a = run(&base_args(&model, &train, &eval, &out_a));
    assert!(a.status.success(), "{}", stderr(&a));
    let weights_a = model_bytes(&out_a);

    // B: SIGKILLed as soon as checkpoint 15 exists, then resumed.
    let out_b = d.path().join("b");
    let mut child = trainer()
        .args(base_args(&model, &train, &eval, &out_b))
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(300);
    while !out_b.join("checkpoints/step-15").is_dir() && Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    // Whether or not the kill landed mid-run, continue as if killed right after checkpoint 15,
    // corrupted (truncated) to check the fallback to the previous one, step 10.
    rewind_to(&out_b, 15);
    let ck15 = out_b.join("checkpoints/step-15/model.safetensors");
    let corrupted = ck15.is_file();
    assert!(corrupted, "checkpoint 15 was never written");
    {
        let len = std::fs::metadata(&ck15).unwrap().len();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&ck15)
            .unwrap()
            .set_len(len / 3)
            .unwrap();
    }
    let b = run(&base_args(&model, &train, &eval, &out_b));
    let log = stderr(&b);
    assert!(b.status.success(), "{log}");
    assert!(log.contains("resuming from"), "{log}");
    assert!(
        log.contains("(step 10,"),
        "did not fall back to step 10: {log}"
    );
    assert!(log.contains("step-15 is incomplete or corrupt"), "{log}");
    assert!(
        model_bytes(&out_b) == weights_a,
        "resumed run's weights differ from the uninterrupted run's"
    );
    assert_eq!(metric_values(&out_a), metric_values(&out_b));

    // A finished run is not trained again.
    let again = run(&base_args(&model, &train, &eval, &out_a));
    assert!(again.status.success());
    assert!(
        stderr(&again).contains("nothing to do"),
        "{}",
        stderr(&again)
    );

    // A checkpoint from another config is refused, unless forced.
    rewind_to(&out_a, 10);
    let mut other = base_args(&model, &train, &eval, &out_a);
    let lr = other.iter().position(|a| a == "--lr").unwrap();
    other[lr + 1] = "0.002".into();
    let refused = run(&other);
    assert_eq!(refused.status.code(), Some(3), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("--force-resume"),
        "{}",
        stderr(&refused)
    );
    other.push("--force-resume".into());
    let forced = run(&other);
    assert!(forced.status.success(), "{}", stderr(&forced));
    assert!(stderr(&forced).contains("resuming from"));
}

/// SIGTERM (`docker stop`) and SIGINT (Ctrl-C): the loop saves a checkpoint at the step it is
/// on, records the interruption in `run.json` and `status.json`, exits with INTERRUPTED (5),
/// and the next run resumes from that checkpoint.
#[test]
fn sigterm_and_sigint_save_a_checkpoint_and_exit_interrupted() {
    let d = tempfile::tempdir().unwrap();
    let (model, train, eval) = tiny_run_inputs(d.path(), 160, 16);
    for signal in ["TERM", "INT"] {
        let out = d.path().join(signal);
        let mut args = base_args(&model, &train, &eval, &out);
        // 20 steps an epoch: long enough to be signalled mid-run.
        let epochs = args.iter().position(|a| a == "--epochs").unwrap();
        args[epochs + 1] = "10".into();
        std::fs::create_dir_all(&out).unwrap();
        let log_path = d.path().join(format!("{signal}.log"));
        let mut child = trainer()
            .args(&args)
            .stderr(Stdio::from(std::fs::File::create(&log_path).unwrap()))
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(300);
        while !out.join("checkpoints/step-5").is_dir() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(2));
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before the signal"
        );
        let kill = std::process::Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(child.id().to_string())
            .status()
            .unwrap();
        assert!(kill.success());
        let status = child.wait().unwrap();
        let log = std::fs::read_to_string(&log_path).unwrap();
        assert_eq!(status.code(), Some(5), "SIG{signal}: {log}");
        let rec = run_json(&out);
        assert_eq!(rec["exit_reason"], "interrupted", "{rec}");
        let step = rec["steps"].as_u64().unwrap();
        assert!((5..200).contains(&step), "{rec}");
        assert!(
            log.contains(&format!("interrupted: checkpoint saved at step {step}")),
            "{log}"
        );
        assert!(out.join(format!("checkpoints/step-{step}")).is_dir());
        let st: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("status.json")).unwrap()).unwrap();
        assert_eq!(
            (st["state"].as_str(), st["step"].as_u64()),
            (Some("interrupted"), Some(step))
        );

        let again = run(&args);
        assert!(again.status.success(), "{}", stderr(&again));
        assert!(
            stderr(&again).contains(&format!("(step {step},")),
            "did not resume from step {step}: {}",
            stderr(&again)
        );
        assert_eq!(run_json(&out)["exit_reason"], "completed");
    }
}

#[test]
fn same_seed_twice_gives_identical_metrics_and_weights() {
    let d = tempfile::tempdir().unwrap();
    let (model, train, eval) = tiny_run_inputs(d.path(), 40, 16);
    let outs: Vec<PathBuf> = ["x", "y"].iter().map(|n| d.path().join(n)).collect();
    for out in &outs {
        let o = run(&base_args(&model, &train, &eval, out));
        assert!(o.status.success(), "{}", stderr(&o));
    }
    assert_eq!(metric_values(&outs[0]), metric_values(&outs[1]));
    assert!(model_bytes(&outs[0]) == model_bytes(&outs[1]));
    let rec = run_json(&outs[0]);
    assert_eq!(rec["exit_reason"], "completed");
    assert_eq!(rec["seed"], 11);
    assert!(rec["final_eval"]["accuracy"].is_number());
    assert!(rec["dataset_sha256"]["train"].is_string());

    // predict and eval on the exported model.
    let p = trainer()
        .args(["predict", "--model"])
        .arg(outs[0].join("model"))
        .args(["i love this movie", "i hate this film"])
        .output()
        .unwrap();
    assert!(p.status.success(), "{}", stderr(&p));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&p.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    let probs = lines[0]["probabilities"].as_object().unwrap();
    let sum: f64 = probs.values().map(|v| v.as_f64().unwrap()).sum();
    assert!((sum - 1.0).abs() < 1e-4);
    let e = trainer()
        .args(["eval", "--model"])
        .arg(outs[0].join("model"))
        .arg("--data")
        .arg(&eval)
        .output()
        .unwrap();
    assert!(e.status.success(), "{}", stderr(&e));
    let m: serde_json::Value = serde_json::from_slice(&e.stdout).unwrap();
    assert_eq!(m["samples"], 16);
    assert_eq!(m["accuracy"], rec["final_eval"]["accuracy"]);
}

#[test]
fn bad_rows_are_reported_by_file_and_line() {
    let d = tempfile::tempdir().unwrap();
    let (model, train, eval) = tiny_run_inputs(d.path(), 8, 16);
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&train)
        .unwrap();
    writeln!(f, "{{\"text\": \"\", \"label\": \"positive\"}}").unwrap();
    let o = run(&base_args(&model, &train, &eval, &d.path().join("o")));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let want = format!("{}:9: field `text` is empty", train.display());
    assert!(stderr(&o).contains(&want), "{}", stderr(&o));

    let mut f = std::fs::File::create(&eval).unwrap();
    writeln!(f, "{{\"text\": \"so so\", \"label\": \"meh\"}}").unwrap();
    let (_, train, _) = tiny_run_inputs(&d.path().join("fresh"), 8, 16);
    let o = run(&base_args(&model, &train, &eval, &d.path().join("o2")));
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("eval.jsonl:1: unknown label `meh`"),
        "{}",
        stderr(&o)
    );
}
