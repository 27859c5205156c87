//! The Llama model against transformers' `LlamaForCausalLM`: logits on the fixtures' TinyLlama
//! (GQA, tied head) and on SmolLM2-135M-Instruct read from its Q4_1 GGUF, padded batches, the
//! KV cache (token by token and in chunks equals the full forward), greedy generation, and the
//! one-line errors of bad checkpoints. Reference values: `tests/data/llama_reference.json`,
//! from `scripts/causal_reference.py` (the exact commands are in its docstring).

use crate::common;
use burn::tensor::{Int, Tensor, TensorData};
use finetune_fixtures::TinyLlama;
use finetune_trainer::backend::Cpu;
use finetune_trainer::model::blocks::KvCache;
use finetune_trainer::model::causal::{load_llama, Llama};
use finetune_trainer::model::ModelError;
use serde_json::Value;
use std::path::Path;

const TOLERANCE: f32 = 1e-4;
const CACHE_TOLERANCE: f32 = 1e-5;
const TINY_SEED: u64 = 7;

fn reference() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/llama_reference.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("reference file is committed"))
        .expect("reference JSON")
}

fn ints(v: &Value) -> Vec<i64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_i64().unwrap())
        .collect()
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .flat_map(|x| match x.as_array() {
            Some(row) => row.iter().map(|y| y.as_f64().unwrap() as f32).collect(),
            None => vec![x.as_f64().unwrap() as f32],
        })
        .collect()
}

fn ids_tensor(rows: &[Vec<i64>]) -> Tensor<Cpu, 2, Int> {
    let n = rows[0].len();
    let flat: Vec<i64> = rows.iter().flatten().copied().collect();
    Tensor::from_data(TensorData::new(flat, [rows.len(), n]), &Default::default())
}

/// Logits `[seq, vocab]` of one unpadded row.
fn row_logits(model: &Llama<Cpu>, ids: &[i64]) -> (Vec<f32>, usize) {
    let ids = ids_tensor(&[ids.to_vec()]);
    let logits = model.forward(ids.clone(), ids.ones_like());
    let vocab = logits.dims()[2];
    (logits.into_data().into_vec::<f32>().unwrap(), vocab)
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "lengths");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// `weight · (index % 13 + 1)` summed over every tensor, tensors in name order: the script's
/// fingerprint of the checkpoint it read.
fn fingerprint(safetensors: &Path) -> f64 {
    let bytes = std::fs::read(safetensors).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut names: Vec<String> = st.names().into_iter().map(String::from).collect();
    names.sort();
    let mut total = 0.0;
    for name in names {
        let data = st.tensor(&name).unwrap().data().to_vec();
        for (k, c) in data.chunks_exact(4).enumerate() {
            let v = f32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64;
            total += v * ((k % 13) + 1) as f64;
        }
    }
    total
}

fn tiny_model(dir: &Path) -> Llama<Cpu> {
    TinyLlama::TINY.write(dir, TINY_SEED).unwrap();
    load_llama::<Cpu>(dir, &Default::default()).unwrap().0
}

fn smollm2() -> Option<Llama<Cpu>> {
    let dir = common::smollm2_dir()?;
    let path = dir.join("SmolLM2-135M-Instruct.Q4_1.gguf");
    Some(load_llama::<Cpu>(&path, &Default::default()).unwrap().0)
}

/// Writes the checkpoint `scripts/causal_reference.py --tiny` reads (to `$TINY_LLAMA_OUT`).
#[test]
#[ignore = "writes the reference script's input; run by hand"]
fn write_tiny_llama_for_reference() {
    let out = std::env::var("TINY_LLAMA_OUT").expect("TINY_LLAMA_OUT names the directory");
    TinyLlama::TINY.write(Path::new(&out), TINY_SEED).unwrap();
}

#[test]
fn llama_tiny_matches_transformers() {
    let r = &reference()["tiny"];
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_model(dir.path());
    let want = r["fingerprint"].as_f64().unwrap();
    let got = fingerprint(&dir.path().join("model.safetensors"));
    assert!(
        (got - want).abs() <= 1e-9 * want.abs().max(1.0),
        "TinyLlama's weights changed (fingerprint {got} vs {want}): rerun scripts/causal_reference.py"
    );
    let mut worst = 0f32;
    for (ids, logits) in r["ids"]
        .as_array()
        .unwrap()
        .iter()
        .zip(r["logits"].as_array().unwrap())
    {
        let (ours, _) = row_logits(&model, &ints(ids));
        worst = worst.max(max_abs_diff(&ours, &floats(logits)));
    }
    eprintln!("TinyLlama: max |logit diff| vs transformers = {worst:e}");
    assert!(worst < TOLERANCE, "max abs diff {worst}");
}

/// What an export writes: every checkpoint tensor back under its HF name, shape and values
/// (the transposes are exact), `lm_head` left out as the checkpoint ties it.
#[test]
fn llama_hf_tensors_give_back_the_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_model(dir.path());
    let bytes = std::fs::read(dir.path().join("model.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let ours = model.hf_tensors();
    let mut names: Vec<&str> = ours.iter().map(|(n, _, _)| n.as_str()).collect();
    let mut want: Vec<&str> = st.names();
    names.sort();
    want.sort();
    assert_eq!(names, want);
    for (name, shape, data) in &ours {
        let t = st.tensor(name).unwrap();
        assert_eq!(t.shape(), shape.as_slice(), "{name}");
        let values: Vec<f32> = t
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        assert_eq!(&values, data, "{name}");
    }
}

/// A right-padded batch's real positions equal each row run alone.
fn check_padded_batch(model: &Llama<Cpu>, r: &Value) -> f32 {
    let rows: Vec<Vec<i64>> = r["batch"]["input_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(ints)
        .collect();
    let mask: Vec<Vec<i64>> = r["batch"]["attention_mask"]
        .as_array()
        .unwrap()
        .iter()
        .map(ints)
        .collect();
    let logits = model.forward(ids_tensor(&rows), ids_tensor(&mask));
    let [_, seq, vocab] = logits.dims();
    let all = logits.into_data().into_vec::<f32>().unwrap();
    let mut worst = 0f32;
    for (b, m) in mask.iter().enumerate() {
        let len = m.iter().filter(|&&x| x == 1).count();
        let (alone, _) = row_logits(model, &rows[b][..len]);
        let padded = &all[b * seq * vocab..(b * seq + len) * vocab];
        worst = worst.max(max_abs_diff(padded, &alone));
    }
    worst
}

#[test]
fn llama_padded_rows_equal_unpadded() {
    let r = reference();
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_model(dir.path());
    let worst = check_padded_batch(&model, &r["tiny"]);
    eprintln!("TinyLlama: padded vs unpadded max diff = {worst:e}");
    assert!(worst < CACHE_TOLERANCE, "{worst}");
}

/// The logits of `ids` fed through a KV cache in chunks of `chunk` tokens.
fn cached_logits(model: &Llama<Cpu>, ids: &[i64], chunk: usize) -> Vec<f32> {
    let mut cache = KvCache::new(model.layers.len());
    let mut out = Vec::new();
    for piece in ids.chunks(chunk) {
        let before = cache.len();
        let logits = model.forward_cached(ids_tensor(&[piece.to_vec()]), &mut cache);
        assert_eq!(cache.len(), before + piece.len());
        out.extend(logits.into_data().into_vec::<f32>().unwrap());
    }
    out
}

#[test]
fn llama_cache_equals_full_forward() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_model(dir.path());
    let ids: Vec<i64> = "Hello, cached llama!"
        .bytes()
        .map(|b| b as i64 + 3)
        .collect();
    let (full, _) = row_logits(&model, &ids);
    for chunk in [1, 7] {
        let worst = max_abs_diff(&cached_logits(&model, &ids, chunk), &full);
        eprintln!("TinyLlama: cache in chunks of {chunk} vs full max diff = {worst:e}");
        assert!(worst < CACHE_TOLERANCE, "chunks of {chunk}: {worst}");
    }
}

#[test]
fn llama_smollm2_matches_transformers() {
    let Some(model) = smollm2() else {
        return;
    };
    let r = &reference()["smollm2"];
    let slice: Vec<usize> = ints(&r["slice_ids"])
        .into_iter()
        .map(|i| i as usize)
        .collect();
    let mut worst = 0f32;
    for (ids, want) in r["ids"]
        .as_array()
        .unwrap()
        .iter()
        .zip(r["rows"].as_array().unwrap())
    {
        let ids = ints(ids);
        let (ours, vocab) = row_logits(&model, &ids);
        let picked: Vec<f32> = (0..ids.len())
            .flat_map(|p| slice.iter().map(move |&v| (p, v)))
            .map(|(p, v)| ours[p * vocab + v])
            .collect();
        worst = worst.max(max_abs_diff(&picked, &floats(&want["slice"])));
        let last = &ours[(ids.len() - 1) * vocab..];
        let top: Vec<f32> = ints(&want["top_ids"])
            .iter()
            .map(|&i| last[i as usize])
            .collect();
        worst = worst.max(max_abs_diff(&top, &floats(&want["top_values"])));
        // The reference's top id is our arg max too.
        let argmax = (0..vocab)
            .max_by(|&a, &b| last[a].total_cmp(&last[b]))
            .unwrap();
        assert_eq!(argmax as i64, ints(&want["top_ids"])[0]);
    }
    eprintln!("SmolLM2: max |logit diff| vs transformers = {worst:e}");
    assert!(worst < TOLERANCE, "max abs diff {worst}");
    let padded = check_padded_batch(&model, r);
    eprintln!("SmolLM2: padded vs unpadded max diff = {padded:e}");
    assert!(padded < TOLERANCE, "{padded}");
}

#[test]
fn llama_smollm2_greedy_generation_matches_transformers() {
    let Some(model) = smollm2() else {
        return;
    };
    let r = &reference()["smollm2"];
    let want = ints(&r["generated_ids"]);
    let eos = r["eos_token_id"].as_i64();
    let mut cache = KvCache::new(model.layers.len());
    let mut next = ints(&r["prompt_ids"]);
    let mut got = Vec::new();
    while got.len() < want.len() {
        let logits = model.forward_cached(ids_tensor(&[next]), &mut cache);
        let [_, seq, vocab] = logits.dims();
        let last = logits.slice([0..1, seq - 1..seq, 0..vocab]).argmax(2);
        let id = last.into_data().convert::<i64>().into_vec::<i64>().unwrap()[0];
        got.push(id);
        if Some(id) == eos {
            break;
        }
        next = vec![id];
    }
    assert_eq!(got, want);
}

fn load_err(path: &Path) -> String {
    let e: ModelError = load_llama::<Cpu>(path, &Default::default()).unwrap_err();
    let msg = e.to_string();
    assert!(!msg.contains('\n'), "one line: {msg}");
    assert!(
        msg.contains(&path.display().to_string()),
        "names the file: {msg}"
    );
    msg
}

#[test]
fn llama_bad_checkpoints_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();

    // A GPT-2 config.
    let gpt2 = dir.path().join("gpt2");
    TinyLlama::TINY.write(&gpt2, TINY_SEED).unwrap();
    let mut cfg = TinyLlama::TINY.config_json();
    cfg["model_type"] = "gpt2".into();
    std::fs::write(gpt2.join("config.json"), cfg.to_string()).unwrap();
    let msg = load_err(&gpt2);
    assert!(msg.contains("\"gpt2\""), "{msg}");
    let e = load_llama::<Cpu>(&gpt2, &Default::default()).unwrap_err();
    assert!(matches!(e, ModelError::Unsupported { .. }), "{e}");

    // A checkpoint without one of its tensors.
    let missing = dir.path().join("missing");
    TinyLlama::TINY.write(&missing, TINY_SEED).unwrap();
    let mut cfg = TinyLlama::TINY.config_json();
    cfg["num_hidden_layers"] = 3.into();
    std::fs::write(missing.join("config.json"), cfg.to_string()).unwrap();
    let msg = load_err(&missing);
    assert!(msg.contains("model.layers.2."), "{msg}");
    let e = load_llama::<Cpu>(&missing, &Default::default()).unwrap_err();
    assert!(matches!(e, ModelError::MissingTensor { .. }), "{e}");

    // A GGUF file cut short, and one that is not GGUF at all.
    let Some(smol) = common::smollm2_dir() else {
        return;
    };
    let bytes = std::fs::read(smol.join("SmolLM2-135M-Instruct.Q4_1.gguf")).unwrap();
    let truncated = dir.path().join("truncated.gguf");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    load_err(&truncated);
    let garbage = dir.path().join("garbage.gguf");
    std::fs::write(&garbage, b"not a gguf file at all, just text").unwrap();
    let msg = load_err(&garbage);
    assert!(msg.contains("GGUF"), "{msg}");
}
