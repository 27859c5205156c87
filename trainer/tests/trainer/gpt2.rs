//! GPT-2 on burn against transformers' `GPT2LMHeadModel`, on the tiny random checkpoint
//! `fixtures::TinyGpt2` writes: the logits within 1e-4 of `tests/data/gpt2_reference.json`
//! (made by `scripts/gpt2_reference.py`, the command in its docstring, which also records a
//! hash of the checkpoint so the fixture and the reference cannot drift apart silently);
//! padding does not change a row; a bad config or checkpoint fails with one line naming the
//! file.

use burn::tensor::{Int, Tensor, TensorData};
use finetune_fixtures::TinyGpt2;
use finetune_trainer::backend::Cpu;
use finetune_trainer::model::causal::gpt2::Gpt2;
use finetune_trainer::model::causal::gpt2_load::load_gpt2;
use finetune_trainer::model::export::{serialize, F32Tensor};
use finetune_trainer::model::{ModelError, Weights};
use serde_json::Value;
use std::path::Path;

const TOLERANCE: f32 = 1e-4;

/// The seed of the checkpoint the reference was made from (the export test writes the same).
pub const SEED: u64 = 7;

/// FNV-1a (64-bit) of `bytes` as 16 hex digits: the checkpoint's fingerprint, cheap to compute
/// in the Python script too (no hashing crate in the trainer).
pub fn fnv1a64(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

fn reference() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/gpt2_reference.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("reference file is committed"))
        .expect("reference JSON")
}

/// `[batch, seq]` integer input from rows of JSON numbers.
fn int_input(v: &Value) -> Tensor<Cpu, 2, Int> {
    let rows: Vec<Vec<i64>> = serde_json::from_value(v.clone()).expect("integer rows");
    ids(&rows)
}

/// `[batch, seq]` integer input from equal-length rows.
pub fn ids(rows: &[Vec<i64>]) -> Tensor<Cpu, 2, Int> {
    let (b, s) = (rows.len(), rows[0].len());
    let flat: Vec<i64> = rows.concat();
    Tensor::from_data(TensorData::new(flat, [b, s]), &Default::default())
}

/// Row-major f32 values of a tensor.
pub fn values<const D: usize>(t: Tensor<Cpu, D>) -> Vec<f32> {
    t.into_data().convert::<f32>().into_vec::<f32>().unwrap()
}

pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "lengths");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// The tiny checkpoint of the reference, written under `dir`.
pub fn tiny_gpt2(
    dir: &Path,
) -> (
    Gpt2<Cpu>,
    finetune_trainer::model::causal::gpt2_config::Gpt2Config,
) {
    TinyGpt2::TINY.write(dir, SEED).unwrap();
    load_gpt2::<Cpu>(dir, &Default::default()).unwrap()
}

#[test]
fn gpt2_matches_transformers() {
    let r = reference();
    let tmp = tempfile::tempdir().unwrap();
    let (model, _) = tiny_gpt2(tmp.path());
    let bytes = std::fs::read(tmp.path().join("model.safetensors")).unwrap();
    assert_eq!(
        fnv1a64(&bytes),
        r["model_safetensors_fnv1a64"].as_str().unwrap(),
        "fixtures::TinyGpt2 no longer writes the checkpoint the reference was made from: \
         rerun scripts/gpt2_reference.py"
    );
    let cases = r["cases"].as_array().unwrap();
    assert!(cases.len() >= 3);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let logits = model.forward(
            int_input(&case["input_ids"]),
            int_input(&case["attention_mask"]),
        );
        let want: Vec<Vec<Vec<f32>>> = serde_json::from_value(case["logits"].clone()).unwrap();
        assert_eq!(
            logits.dims(),
            [want.len(), want[0].len(), TinyGpt2::VOCAB],
            "{name}: shape"
        );
        let want: Vec<f32> = want.into_iter().flatten().flatten().collect();
        let diff = max_abs_diff(&values(logits), &want);
        println!("{name}: max |logit - transformers| = {diff:e}");
        assert!(diff < TOLERANCE, "{name}: {diff}");
    }
}

#[test]
fn gpt2_padding_does_not_change_a_row() {
    let tmp = tempfile::tempdir().unwrap();
    let (model, _) = tiny_gpt2(tmp.path());
    let long = vec![40, 77, 100, 3, 9, 200, 31];
    let short = vec![50, 60, 70, 80];
    let pad = |row: &[i64], fill: i64| {
        let mut r = row.to_vec();
        r.resize(long.len(), fill);
        r
    };
    let mask = |n: usize| pad(&vec![1; n], 0);
    // Any id in the padding: it must be ignored.
    let batch = model.forward(
        ids(&[long.clone(), pad(&short, 255)]),
        ids(&[mask(long.len()), mask(short.len())]),
    );
    let alone = model.forward(
        ids(std::slice::from_ref(&short)),
        ids(&[vec![1; short.len()]]),
    );
    let row = values(batch.clone().narrow(0, 1, 1).narrow(1, 0, short.len()));
    let diff = max_abs_diff(&row, &values(alone));
    assert!(
        diff < 1e-5,
        "padded row differs from the row alone by {diff}"
    );
    // Causal: changing the last token changes only the last position's logits.
    let mut changed = long.clone();
    *changed.last_mut().unwrap() = 41;
    let all = vec![1; long.len()];
    let a = values(model.forward(
        ids(std::slice::from_ref(&long)),
        ids(std::slice::from_ref(&all)),
    ));
    let b = values(model.forward(ids(&[changed]), ids(&[all])));
    let cut = (long.len() - 1) * TinyGpt2::VOCAB;
    assert!(
        max_abs_diff(&a[..cut], &b[..cut]) < 1e-6,
        "an earlier position saw the future"
    );
    assert!(
        max_abs_diff(&a[cut..], &b[cut..]) > 1e-3,
        "the last token is ignored"
    );
}

/// One line, naming `file`.
fn assert_one_line(e: &ModelError, file: &str) {
    let msg = e.to_string();
    assert!(!msg.contains('\n'), "{msg}");
    assert!(msg.contains(file), "{msg}");
}

#[test]
fn gpt2_refuses_another_activation_naming_config_json() {
    let tmp = tempfile::tempdir().unwrap();
    TinyGpt2::TINY.write(tmp.path(), SEED).unwrap();
    let path = tmp.path().join("config.json");
    let mut cfg: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    cfg["activation_function"] = "relu".into();
    std::fs::write(&path, cfg.to_string()).unwrap();
    let e = load_gpt2::<Cpu>(tmp.path(), &Default::default()).unwrap_err();
    assert!(matches!(e, ModelError::Config { .. }), "{e}");
    assert_one_line(&e, "config.json");
    assert!(e.to_string().contains("`relu`"), "{e}");
}

#[test]
fn gpt2_names_a_missing_tensor_and_its_file() {
    let tmp = tempfile::tempdir().unwrap();
    TinyGpt2::TINY.write(tmp.path(), SEED).unwrap();
    let path = tmp.path().join("model.safetensors");
    let weights = Weights::from_safetensors(&path).unwrap();
    let kept: Vec<(String, F32Tensor)> = weights
        .names()
        .filter(|n| *n != "transformer.h.1.mlp.c_fc.bias")
        .map(|n| {
            let (shape, v) = weights.get(n).unwrap();
            (n.to_string(), F32Tensor::from_values(shape.to_vec(), v))
        })
        .collect();
    let bytes = serialize(kept.iter().map(|(n, t)| (n.as_str(), t)), tmp.path()).unwrap();
    std::fs::write(&path, bytes).unwrap();
    let e = load_gpt2::<Cpu>(tmp.path(), &Default::default()).unwrap_err();
    assert!(matches!(e, ModelError::MissingTensor { .. }), "{e}");
    assert_one_line(&e, "model.safetensors");
    assert!(e.to_string().contains("h.1.mlp.c_fc.bias"), "{e}");
}
