//! Model tests on a tiny random BERT ([`finetune_fixtures::TinyBert::WORDS`], no downloads):
//! loading, LoRA freezing and gradients, export = merged weights, export names, bad checkpoints.

use std::collections::BTreeSet;

use burn::module::{AutodiffModule, Module, Param};
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use finetune_fixtures::TinyBert;
use finetune_spec::{LoraSpec, Method};
use finetune_trainer::backend::{Cpu, Train};
use finetune_trainer::model::init::SeededRng;
use finetune_trainer::model::{
    export_model, load_classifier, load_for_inference, BertClassifier, HeadSource, Weights,
};
use finetune_trainer::tokenize::TextTokenizer;

const TEXTS: [&str; 3] = ["I love this movie!", "terrible , boring film", "ok"];

fn labels() -> Vec<String> {
    ["negative", "neutral", "positive"]
        .map(String::from)
        .to_vec()
}

fn lora(targets: &[&str]) -> Method {
    Method::Lora(LoraSpec {
        r: finetune_spec::Count::of(4),
        alpha: finetune_spec::Positive::of(8.0),
        dropout: finetune_spec::Ratio::of(0.0),
        targets: targets.iter().map(|s| s.to_string()).collect(),
    })
}

fn logits<B: Backend>(model: &BertClassifier<B>, dir: &std::path::Path) -> Vec<f32> {
    let tok = TextTokenizer::from_dir(dir, 16).unwrap();
    let t = tok
        .encode_batch(&TEXTS)
        .unwrap()
        .to_tensors::<B>(&Default::default());
    model
        .forward(t.input_ids, t.attention_mask, t.token_type_ids)
        .into_data()
        .convert::<f32>()
        .into_vec::<f32>()
        .unwrap()
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Gives every LoRA `B` random values, as training would.
fn perturb_lora_b<B: Backend>(mut model: BertClassifier<B>) -> BertClassifier<B> {
    let mut rng = SeededRng::new(99, 0);
    for layer in &mut model.bert.layers {
        for lin in [
            &mut layer.attention.query,
            &mut layer.attention.key,
            &mut layer.attention.value,
            &mut layer.attention.output_dense,
            &mut layer.intermediate,
            &mut layer.output,
        ] {
            if let Some(l) = lin.lora.as_mut() {
                let dims = l.b.val().dims();
                let vals = rng.normal(dims[0] * dims[1], 0.3);
                let t = Tensor::<B, 2>::from_data(TensorData::new(vals, dims), &l.b.device());
                l.b = Param::from_tensor(t);
            }
        }
    }
    model
}

#[test]
fn lora_export_equals_merged_weights() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("tiny");
    TinyBert::WORDS.write(&src, 7).unwrap();
    let device = Default::default();
    let base = load_classifier::<Cpu>(&src, &labels(), &Method::Full, 3, &device).unwrap();
    let loaded = load_classifier::<Cpu>(
        &src,
        &labels(),
        &lora(&["query", "value", "dense"]),
        3,
        &device,
    )
    .unwrap();
    assert!(loaded.model.has_lora());
    // B = 0 at start: the adapted model is the base model.
    let before = logits(&loaded.model, &src);
    assert!(max_diff(&before, &logits(&base.model, &src)) < 1e-6);

    let model = perturb_lora_b(loaded.model);
    let with_lora = logits(&model, &src);
    assert!(
        max_diff(&with_lora, &before) > 1e-3,
        "the adapters must change the output"
    );

    let out = tmp.path().join("out");
    export_model(&model, &loaded.config, &loaded.labels, &src, &out).unwrap();
    let plain = load_for_inference::<Cpu>(&out, &device).unwrap();
    assert!(!plain.model.has_lora());
    assert_eq!(plain.labels, labels());
    assert_eq!(plain.head, HeadSource::Checkpoint);
    let d = max_diff(&with_lora, &logits(&plain.model, &out));
    assert!(
        d <= 1e-5,
        "exported model differs from the LoRA model by {d}"
    );
    // merge_lora gives the same model in memory.
    let merged = model.merge_lora();
    assert!(max_diff(&with_lora, &logits(&merged, &src)) <= 1e-5);
    assert!(out.join("tokenizer.json").is_file());
}

#[test]
fn export_uses_hf_sequence_classification_names() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("tiny");
    TinyBert::WORDS.write(&src, 1).unwrap();
    let device = Default::default();
    let m = load_classifier::<Cpu>(&src, &labels(), &lora(&["query"]), 0, &device).unwrap();
    let out = tmp.path().join("out");
    export_model(&m.model, &m.config, &m.labels, &src, &out).unwrap();
    let src_names: BTreeSet<String> = Weights::from_dir(&src)
        .unwrap()
        .names()
        .map(|n| format!("bert.{n}"))
        .collect();
    let out_names: BTreeSet<String> = Weights::from_dir(&out)
        .unwrap()
        .names()
        .map(String::from)
        .collect();
    let mut want = src_names.clone();
    want.insert("classifier.weight".into());
    want.insert("classifier.bias".into());
    assert_eq!(out_names, want, "no LoRA tensors, HF names, bert. prefix");
    let cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("config.json")).unwrap()).unwrap();
    assert_eq!(cfg["architectures"][0], "BertForSequenceClassification");
    assert_eq!(cfg["id2label"]["2"], "positive");
    assert_eq!(cfg["label2id"]["neutral"], 1);
    assert_eq!(cfg["num_labels"], 3);
    assert_eq!(cfg["problem_type"], "single_label_classification");
    // Reloading the export for further training keeps its head.
    let again = load_classifier::<Cpu>(&out, &labels(), &Method::Full, 5, &device).unwrap();
    assert_eq!(again.head, HeadSource::Checkpoint);
    assert!(max_diff(&logits(&m.model, &src), &logits(&again.model, &out)) <= 1e-5);
    // A different label count gets a fresh head.
    let two = ["a", "b"].map(String::from);
    let other = load_classifier::<Cpu>(&out, &two, &Method::Full, 5, &device).unwrap();
    assert_eq!(other.head, HeadSource::Initialised);
}

#[test]
fn lora_freezes_the_base_and_trains_adapters_pooler_and_head() {
    type B = Train<Cpu>;
    let tmp = tempfile::tempdir().unwrap();
    TinyBert::WORDS.write(tmp.path(), 2).unwrap();
    let device = Default::default();
    let full = load_classifier::<B>(tmp.path(), &labels(), &Method::Full, 0, &device).unwrap();
    let (trainable, total) = full.model.param_counts();
    assert_eq!(trainable, total, "full fine-tuning trains everything");

    let m = load_classifier::<B>(
        tmp.path(),
        &labels(),
        &lora(&["query", "value"]),
        0,
        &device,
    )
    .unwrap();
    let (trainable, total) = m.model.param_counts();
    let h = 16;
    let adapters = 2 /*layers*/ * 2 /*targets*/ * (h * 4 + 4 * h);
    let pooler = h * h + h;
    let head = h * 3 + 3;
    assert_eq!(trainable, adapters + pooler + head);
    assert!(total > trainable);

    // Gradients reach adapters and head, not the frozen base.
    let model = perturb_lora_b(m.model);
    let tok = TextTokenizer::from_dir(tmp.path(), 16).unwrap();
    let t = tok.encode_batch(&TEXTS).unwrap().to_tensors::<B>(&device);
    let loss = model
        .forward(t.input_ids, t.attention_mask, t.token_type_ids)
        .powi_scalar(2)
        .sum();
    let grads = loss.backward();
    let l0 = &model.bert.layers[0];
    let lora_q = l0.attention.query.lora.as_ref().unwrap();
    assert!(lora_q.a.val().grad(&grads).is_some());
    assert!(lora_q.b.val().grad(&grads).is_some());
    assert!(model.classifier.weight.val().grad(&grads).is_some());
    assert!(model.bert.pooler.weight.val().grad(&grads).is_some());
    assert!(l0.attention.query.base.weight.val().grad(&grads).is_none());
    assert!(l0.intermediate.base.weight.val().grad(&grads).is_none());
    assert!(model
        .bert
        .embeddings
        .word_embeddings
        .weight
        .val()
        .grad(&grads)
        .is_none());
    // require_grad survives valid() / train round trips (checkpoint resume relies on it).
    let back: BertClassifier<B> = BertClassifier::from_inner(model.valid());
    assert_eq!(back.param_counts().0, trainable);
    let _ = back.num_params();
}

#[test]
fn seeded_lora_and_head_are_reproducible() {
    let tmp = tempfile::tempdir().unwrap();
    TinyBert::WORDS.write(tmp.path(), 4).unwrap();
    let device = Default::default();
    let a = load_classifier::<Cpu>(tmp.path(), &labels(), &lora(&["dense"]), 11, &device).unwrap();
    let b = load_classifier::<Cpu>(tmp.path(), &labels(), &lora(&["dense"]), 11, &device).unwrap();
    let c = load_classifier::<Cpu>(tmp.path(), &labels(), &lora(&["dense"]), 12, &device).unwrap();
    assert_eq!(logits(&a.model, tmp.path()), logits(&b.model, tmp.path()));
    assert_ne!(logits(&a.model, tmp.path()), logits(&c.model, tmp.path()));
    let q = |m: &BertClassifier<Cpu>| {
        m.bert.layers[1]
            .output
            .lora
            .as_ref()
            .unwrap()
            .a
            .val()
            .into_data()
    };
    assert_eq!(q(&a.model), q(&b.model));
    assert!(
        a.model.bert.layers[0].attention.query.lora.is_none(),
        "`dense` does not pick query"
    );
    assert!(a.model.bert.layers[0].attention.output_dense.lora.is_some());
    assert!(a.model.bert.layers[0].intermediate.lora.is_some());
}

#[test]
fn bad_checkpoints_name_the_problem() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    TinyBert::WORDS.write(dir, 5).unwrap();
    let device = Default::default();
    // Missing tensor.
    let w = Weights::from_dir(dir).unwrap();
    drop(w);
    let mut cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    cfg["num_hidden_layers"] = 3.into();
    std::fs::write(dir.join("config.json"), cfg.to_string()).unwrap();
    let e = load_classifier::<Cpu>(dir, &labels(), &Method::Full, 0, &device)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("missing tensor `bert.encoder.layer.2.attention.self.query.weight`"),
        "{e}"
    );
    // Shape mismatch.
    cfg["num_hidden_layers"] = 2.into();
    cfg["intermediate_size"] = 48.into();
    std::fs::write(dir.join("config.json"), cfg.to_string()).unwrap();
    let e = load_classifier::<Cpu>(dir, &labels(), &Method::Full, 0, &device)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("intermediate.dense.weight") && e.contains("[48, 16]"),
        "{e}"
    );
    // Unsupported architecture.
    cfg["model_type"] = "gpt2".into();
    std::fs::write(dir.join("config.json"), cfg.to_string()).unwrap();
    let e = load_classifier::<Cpu>(dir, &labels(), &Method::Full, 0, &device)
        .unwrap_err()
        .to_string();
    assert!(e.contains("model_type `gpt2` is not supported"), "{e}");
    // No weights at all; a pytorch_model.bin that is not a torch.save zip is named as such.
    std::fs::remove_file(dir.join("model.safetensors")).unwrap();
    let e = Weights::from_dir(dir).err().unwrap().to_string();
    assert!(
        e.contains("no model.safetensors or pytorch_model.bin"),
        "{e}"
    );
    std::fs::write(dir.join("pytorch_model.bin"), b"PK").unwrap();
    let e = Weights::from_dir(dir).err().unwrap().to_string();
    assert!(
        e.contains("pytorch_model.bin") && e.contains("not a zip archive"),
        "{e}"
    );
    std::fs::remove_file(dir.join("pytorch_model.bin")).unwrap();
    // Inference needs labels.
    TinyBert::WORDS.write(dir, 5).unwrap();
    let e = load_for_inference::<Cpu>(dir, &device)
        .unwrap_err()
        .to_string();
    assert!(e.contains("id2label"), "{e}");
    // A bad LoRA target.
    let e = load_classifier::<Cpu>(dir, &labels(), &lora(&["qkv"]), 0, &device)
        .unwrap_err()
        .to_string();
    assert!(e.contains("`qkv`"), "{e}");
}

#[test]
fn padding_does_not_change_a_rows_logits() {
    let tmp = tempfile::tempdir().unwrap();
    TinyBert::WORDS.write(tmp.path(), 6).unwrap();
    let device = Default::default();
    let m = load_classifier::<Cpu>(tmp.path(), &labels(), &Method::Full, 1, &device).unwrap();
    let tok = TextTokenizer::from_dir(tmp.path(), 32).unwrap();
    let run = |texts: &[&str]| {
        let t = tok.encode_batch(texts).unwrap().to_tensors::<Cpu>(&device);
        m.model
            .forward(t.input_ids, t.attention_mask, t.token_type_ids)
            .into_data()
            .convert::<f32>()
            .into_vec::<f32>()
            .unwrap()
    };
    let alone = run(&["ok"]);
    let padded = run(&[
        "ok",
        "this movie is really very good and fun , not boring !",
    ]);
    assert_eq!(tok.encode_batch(&["ok", TEXTS[0]]).unwrap().seq, 7);
    assert!(
        max_diff(&alone, &padded[..3]) <= 1e-5,
        "{alone:?} vs {padded:?}"
    );
}
