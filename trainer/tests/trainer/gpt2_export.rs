//! The causal-LM exports on the tiny GPT-2: the merged HF directory reloads into `Gpt2` with
//! the LoRA-adapted model's logits and the tensor names `GPT2LMHeadModel` saves; the PEFT
//! adapter has PEFT's names, shapes and config, and its pairs rebuild the merged weights.
//!
//! With `FINETUNE_KEEP_EXPORT=dir` the files stay in `dir` (`base/`, `merged/`, `adapter/`):
//! `scripts/gpt2_reference.py dir/base` and `scripts/peft_check.py dir` read them.

use std::collections::BTreeMap;
use std::path::PathBuf;

use burn::module::Param;
use burn::tensor::{Tensor, TensorData};
use finetune_trainer::backend::Cpu;
use finetune_trainer::model::causal::export::{
    export_causal_dir, export_peft_adapter, AdapterInfo,
};
use finetune_trainer::model::causal::gpt2::Gpt2;
use finetune_trainer::model::causal::gpt2_load::load_gpt2;
use finetune_trainer::model::init::SeededRng;
use finetune_trainer::model::{LoraConfig, Weights};
use serde_json::Value;

use crate::gpt2::{ids, max_abs_diff, tiny_gpt2, values};

/// `$FINETUNE_KEEP_EXPORT` (kept), else a temp dir (removed with the guard).
fn out_dir() -> (PathBuf, Option<tempfile::TempDir>) {
    match std::env::var_os("FINETUNE_KEEP_EXPORT") {
        Some(dir) => (PathBuf::from(dir), None),
        None => {
            let tmp = tempfile::tempdir().unwrap();
            (tmp.path().to_path_buf(), Some(tmp))
        }
    }
}

fn lora() -> LoraConfig {
    LoraConfig {
        r: 4,
        alpha: 8.0,
        dropout: 0.0,
        // `c_proj` is both attn.c_proj and mlp.c_proj (PEFT's suffix rule); c_fc stays plain.
        targets: vec!["c_attn".into(), "c_proj".into()],
    }
}

/// The adapted model with every `B` set to seeded non-zero values (fresh adapters are zero).
fn with_trained_adapters(model: Gpt2<Cpu>) -> Gpt2<Cpu> {
    let mut model = model.apply_lora(&lora(), 3).unwrap();
    let mut rng = SeededRng::new(11, 0);
    for block in model.h.iter_mut() {
        for lin in [
            &mut block.attn.c_attn,
            &mut block.attn.c_proj,
            &mut block.mlp.c_proj,
        ] {
            let lora = lin.lora.as_mut().expect("targeted");
            let dims = lora.b.dims();
            let b = TensorData::new(rng.uniform(dims[0] * dims[1], 0.5), dims);
            lora.b = Param::from_tensor(Tensor::from_data(b, &Default::default()));
        }
        assert!(block.mlp.c_fc.lora.is_none());
    }
    model
}

fn batch() -> (Vec<Vec<i64>>, Vec<Vec<i64>>) {
    let input = vec![vec![5, 40, 77, 100, 3, 9], vec![8, 120, 33, 2, 2, 2]];
    let mask = vec![vec![1; 6], vec![1, 1, 1, 0, 0, 0]];
    (input, mask)
}

fn logits(model: &Gpt2<Cpu>) -> Vec<f32> {
    let (input, mask) = batch();
    values(model.forward(ids(&input), ids(&mask)))
}

fn tensors(path: PathBuf) -> BTreeMap<String, (Vec<usize>, Vec<f32>)> {
    let w = Weights::from_safetensors(&path).unwrap();
    w.names()
        .map(|n| {
            let (s, v) = w.get(n).unwrap();
            (n.to_string(), (s.to_vec(), v.to_vec()))
        })
        .collect()
}

#[test]
fn gpt2_export_merged_dir_and_peft_adapter() {
    let (out, _guard) = out_dir();
    let (base_dir, merged_dir, adapter_dir) =
        (out.join("base"), out.join("merged"), out.join("adapter"));
    let (base, config) = tiny_gpt2(&base_dir);
    let base_logits = logits(&base);
    let model = with_trained_adapters(base);
    let adapted = logits(&model);
    assert!(
        max_abs_diff(&base_logits, &adapted) > 1e-2,
        "the adapters change nothing"
    );

    // Merged: reloads with the adapted logits, under the checkpoint's own names and shapes.
    export_causal_dir(
        &merged_dir,
        model.hf_tensors(),
        &config.export_json(),
        &base_dir,
    )
    .unwrap();
    let (reloaded, _) = load_gpt2::<Cpu>(&merged_dir, &Default::default()).unwrap();
    let diff = max_abs_diff(&logits(&reloaded), &adapted);
    println!("merged export reloaded: max |logit diff| = {diff:e}");
    assert!(diff < 1e-5, "{diff}");
    let merged = tensors(merged_dir.join("model.safetensors"));
    let original = tensors(base_dir.join("model.safetensors"));
    let shapes = |m: &BTreeMap<String, (Vec<usize>, Vec<f32>)>| {
        m.iter()
            .map(|(n, (s, _))| (n.clone(), s.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(shapes(&merged), shapes(&original));
    for f in [
        "tokenizer.json",
        "tokenizer_config.json",
        "generation_config.json",
    ] {
        assert!(merged_dir.join(f).is_file(), "{f} not copied");
    }

    // Adapter: PEFT's config and names; A·B rebuilds each merged weight from the base one.
    let info = AdapterInfo {
        base_model_name_or_path: base_dir.to_str().unwrap(),
        fan_in_fan_out: true,
    };
    export_peft_adapter(&adapter_dir, model.lora_tensors(), &lora(), &info).unwrap();
    let cfg: Value =
        serde_json::from_slice(&std::fs::read(adapter_dir.join("adapter_config.json")).unwrap())
            .unwrap();
    assert_eq!(cfg["peft_type"], "LORA");
    assert_eq!(cfg["task_type"], "CAUSAL_LM");
    assert_eq!(cfg["r"], 4);
    assert_eq!(cfg["lora_alpha"], 8);
    assert_eq!(cfg["fan_in_fan_out"], true);
    assert_eq!(
        cfg["target_modules"],
        serde_json::json!(["c_attn", "c_proj"])
    );
    let adapter = tensors(adapter_dir.join("adapter_model.safetensors"));
    assert_eq!(adapter.len(), 2 * 3 * 2, "{:?}", adapter.keys());
    let scale = 8.0 / 4.0;
    for layer in 0..2 {
        for (module, d_in, d_out) in [
            ("attn.c_attn", 16, 48),
            ("attn.c_proj", 16, 16),
            ("mlp.c_proj", 64, 16),
        ] {
            let p = format!("base_model.model.transformer.h.{layer}.{module}");
            let (sa, a) = &adapter[&format!("{p}.lora_A.weight")];
            let (sb, b) = &adapter[&format!("{p}.lora_B.weight")];
            assert_eq!(
                (sa.as_slice(), sb.as_slice()),
                (&[4, d_in][..], &[d_out, 4][..]),
                "{p}"
            );
            // PEFT with fan_in_fan_out: W[in, out] + scale · (B·A)ᵀ.
            let name = format!("transformer.h.{layer}.{module}.weight");
            let (w0, w1) = (&original[&name].1, &merged[&name].1);
            for i in 0..d_in {
                for o in 0..d_out {
                    let ba: f32 = (0..4).map(|k| b[o * 4 + k] * a[k * d_in + i]).sum();
                    let want = w0[i * d_out + o] + scale * ba;
                    assert!((w1[i * d_out + o] - want).abs() < 1e-5, "{name}[{i}, {o}]");
                }
            }
        }
    }
}

#[test]
fn gpt2_lora_targets_are_checked_against_its_modules() {
    let tmp = tempfile::tempdir().unwrap();
    let (model, _) = tiny_gpt2(tmp.path());
    let bad = LoraConfig {
        targets: vec!["q_proj".into()],
        ..lora()
    };
    let e = model.apply_lora(&bad, 0).unwrap_err().to_string();
    assert!(e.contains("`q_proj`") && e.contains("attn.c_attn"), "{e}");
}

#[test]
fn adapter_export_needs_adapters() {
    let tmp = tempfile::tempdir().unwrap();
    let (model, _) = tiny_gpt2(&tmp.path().join("base"));
    let info = AdapterInfo {
        base_model_name_or_path: "base",
        fan_in_fan_out: true,
    };
    let e = export_peft_adapter(&tmp.path().join("a"), model.lora_tensors(), &lora(), &info);
    assert!(e.is_err());
    assert!(!tmp.path().join("a/adapter_config.json").exists());
}
