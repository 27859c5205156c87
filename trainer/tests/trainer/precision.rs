//! Mixed precision through the binary, on flex: `precision: bf16` and `f16` autocast the matrix
//! products and keep f32 master weights, so their losses follow the f32 run's, checkpoints and
//! exports stay f32, and an f16 run (with its loss scaler) resumes exactly.

use crate::common::{model_bytes, rewind_to, run_json, tiny_run_inputs, train_cmd};
use std::path::Path;

/// The tolerance on each logged training loss, relative to the f32 run's. bf16 keeps 8 bits of
/// mantissa: one product is off by up to 2⁻⁸ ≈ 0.4 %; after a dozen steps the runs have
/// drifted by a few of those. f16 (11 bits) stays 8x closer.
const BF16_REL: f64 = 0.03;
const F16_REL: f64 = 0.005;

fn train(precision: &str, dir: &Path, out: &Path) -> std::process::Output {
    let (model, train, eval) = (
        dir.join("model"),
        dir.join("train.jsonl"),
        dir.join("eval.jsonl"),
    );
    train_cmd(1, &model, &train, &eval, out)
        .args(["--epochs", "2", "--batch-size", "8", "--lr", "0.002"])
        .args(["--seed", "5", "--log-every-steps", "1"])
        .args(["--checkpoint-every", "4", "--keep-checkpoints", "100"])
        .args(["--precision", precision])
        .output()
        .unwrap()
}

/// The training losses of metrics.jsonl, by step.
fn losses(out: &Path) -> Vec<(u64, f64)> {
    std::fs::read_to_string(out.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v.get("lr").is_some())
        .map(|v| (v["step"].as_u64().unwrap(), v["loss"].as_f64().unwrap()))
        .collect()
}

/// The dtype of every tensor in a safetensors file's header.
fn dtypes(file: &Path) -> Vec<String> {
    let bytes = std::fs::read(file).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    header
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| *k != "__metadata__")
        .map(|(_, v)| v["dtype"].as_str().unwrap().to_string())
        .collect()
}

fn assert_follows(name: &str, half: &[(u64, f64)], full: &[(u64, f64)], rel: f64) {
    assert_eq!(half.len(), full.len(), "{name}: same steps logged");
    assert!(half.len() >= 10, "{name}: enough steps to compare");
    let mut identical = true;
    for ((step, h), (_, f)) in half.iter().zip(full) {
        let d = (h - f).abs() / f.abs();
        assert!(
            d <= rel,
            "{name} step {step}: loss {h} vs f32 {f} ({d:.4} > {rel})"
        );
        identical &= h == f;
    }
    assert!(
        !identical,
        "{name}: the losses equal f32's bit for bit: nothing ran in half"
    );
}

#[test]
fn half_precision_runs_follow_f32_with_f32_weights_and_f16_resumes_exactly() {
    let d = tempfile::tempdir().unwrap();
    tiny_run_inputs(d.path(), 64, 16);
    let run = |p: &str| {
        let out = d.path().join(format!("out-{p}"));
        let o = train(p, d.path(), &out);
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert!(o.status.success(), "{p} run failed: {err}");
        (out, err)
    };
    let (f32_out, _) = run("f32");
    let (bf16_out, bf16_log) = run("bf16");
    let (f16_out, _) = run("f16");
    assert!(
        bf16_log.contains("f32 weights, bf16 matrix products"),
        "{bf16_log}"
    );

    let full = losses(&f32_out);
    assert_follows("bf16", &losses(&bf16_out), &full, BF16_REL);
    assert_follows("f16", &losses(&f16_out), &full, F16_REL);

    for (out, p) in [(&bf16_out, "bf16"), (&f16_out, "f16")] {
        assert_eq!(run_json(out)["precision"], p);
        let exported = dtypes(&out.join("model/model.safetensors"));
        assert!(
            exported.iter().all(|t| t == "F32"),
            "{p} export: {exported:?}"
        );
        let ckpt = out.join("checkpoints/step-4");
        for e in std::fs::read_dir(&ckpt).unwrap().flatten() {
            if e.path().extension().is_some_and(|x| x == "safetensors") {
                let t = dtypes(&e.path());
                assert!(t.iter().all(|t| t == "F32"), "{p} {:?}: {t:?}", e.path());
            }
        }
    }

    // The f16 checkpoint carries the loss scaler (GradScaler's initial 65536, no overflow on
    // this model); bf16 needs none.
    let manifest = |out: &Path| -> serde_json::Value {
        let text = std::fs::read(out.join("checkpoints/step-4/manifest.json")).unwrap();
        serde_json::from_slice(&text).unwrap()
    };
    assert_eq!(manifest(&f16_out)["loss_scale"]["scale"], 65536.0);
    assert!(manifest(&bf16_out).get("loss_scale").is_none());

    // Killed after step 4 and resumed: the same weights as the uninterrupted f16 run.
    let finished = model_bytes(&f16_out);
    rewind_to(&f16_out, 4);
    let o = train("f16", d.path(), &f16_out);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        model_bytes(&f16_out) == finished,
        "the resumed f16 run's weights differ"
    );
}
