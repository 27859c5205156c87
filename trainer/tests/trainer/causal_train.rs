//! Text-generation jobs through the binary, on tiny random checkpoints written by the test: a
//! Llama with LoRA that learns a reply (eval loss falls) and exports an HF directory, a PEFT
//! adapter and a GGUF file; exact resume from a checkpoint; a GPT-2 full fine-tune; and the
//! refusals that must come before any training.

use crate::common::{model_bytes, rewind_to, run_json, trainer};
use burn::tensor::{Int, Tensor, TensorData};
use finetune_fixtures::{TinyGpt2, TinyLlama};
use finetune_spec::Architecture;
use finetune_trainer::backend::Cpu;
use finetune_trainer::model::causal::lm::{load_causal, CausalLm};
use std::path::Path;
use std::process::Output;

/// `n` chats whose assistant always gives the same reply, so a model can learn it.
fn write_chats(path: &Path, n: usize, offset: usize) {
    let rows: Vec<String> = (0..n)
        .map(|i| {
            let q = format!("how is item {} today?", i + offset);
            serde_json::json!({"messages": [
                {"role": "user", "content": q},
                {"role": "assistant", "content": "It is fine, thanks."}
            ]})
            .to_string()
        })
        .collect();
    std::fs::write(path, rows.join("\n") + "\n").unwrap();
}

/// The byte-level fixture tokenizers spend a token per byte: SmolLM2's default system prompt alone
/// is about 70, so chats need 256; GPT-2's 64 positions bound its rows.
fn max_length(model: &Path) -> &'static str {
    if model.ends_with("gpt2") {
        "64"
    } else {
        "256"
    }
}

fn args(model: &Path, train: &Path, eval: &Path, out: &Path, extra: &[&str]) -> Vec<String> {
    let mut a: Vec<String> = [
        "--threads",
        "1",
        "train",
        "--task",
        "text-generation",
        "--model",
        model.to_str().unwrap(),
        "--train",
        train.to_str().unwrap(),
        "--eval",
        eval.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
        "--batch-size",
        "4",
        "--max-length",
        max_length(model),
        "--seed",
        "5",
        "--log-every-steps",
        "1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

fn run(args: &[String]) -> Output {
    trainer().args(args).output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Whether a run in `out` got as far as a checkpoint or a model.
fn trained(out: &Path) -> bool {
    let checkpoints = std::fs::read_dir(out.join("checkpoints"))
        .map(|d| d.count() > 0)
        .unwrap_or(false);
    checkpoints || out.join("model").exists() || out.join("metrics.jsonl").exists()
}

/// The eval losses of `metrics.jsonl`, in order.
fn eval_losses(out: &Path) -> Vec<f64> {
    std::fs::read_to_string(out.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .filter_map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["eval"]["loss"].as_f64()
        })
        .collect()
}

fn logits(m: &CausalLm<Cpu>, ids: &[i64]) -> Vec<f32> {
    let dev = Default::default();
    let t = Tensor::<Cpu, 2, Int>::from_data(TensorData::new(ids.to_vec(), [1, ids.len()]), &dev);
    m.forward(t.clone(), t.ones_like())
        .into_data()
        .convert::<f32>()
        .to_vec()
        .unwrap()
}

#[test]
fn tiny_llama_lora_learns_the_reply_and_exports_hf_peft_and_gguf() {
    let d = tempfile::tempdir().unwrap();
    let (model, train, eval, out) = (
        d.path().join("llama"),
        d.path().join("train.jsonl"),
        d.path().join("eval.jsonl"),
        d.path().join("out"),
    );
    TinyLlama::TINY.write(&model, 3).unwrap();
    write_chats(&train, 32, 0);
    write_chats(&eval, 8, 1000);
    let extra = [
        "--method",
        "lora",
        "--lora-r",
        "4",
        "--lora-alpha",
        "8",
        "--lora-targets",
        "q_proj",
        "--lora-targets",
        "v_proj",
        "--lora-targets",
        "down_proj",
        "--epochs",
        "4",
        "--lr",
        "0.2",
        "--export",
        "gguf",
    ];
    let o = run(&args(&model, &train, &eval, &out, &extra));
    assert!(o.status.success(), "{}", stderr(&o));

    // LoRA on a random 16-wide model with a frozen tied head moves slowly; it still learns: the
    // eval loss falls after every epoch (the GPT-2 test below checks a clear fall).
    // The base model's evaluation (step 0), then one per epoch.
    let losses = eval_losses(&out);
    assert_eq!(losses.len(), 5, "{losses:?}");
    assert!(
        losses.windows(2).all(|w| w[1] < w[0]),
        "eval loss did not fall: {losses:?}"
    );
    let rec = run_json(&out);
    assert_eq!(rec["base_eval"]["loss"].as_f64(), Some(losses[0]), "{rec}");
    let e = &rec["final_eval"];
    let (loss, ppl) = (
        e["loss"].as_f64().unwrap(),
        e["perplexity"].as_f64().unwrap(),
    );
    assert!((ppl - loss.exp()).abs() < 1e-9 * ppl, "{e}");
    assert!(e["tokens"].as_u64().unwrap() > 8 * 5, "{e}");
    assert!(e.get("macro_f1").is_none(), "{e}");
    assert!((0.0..=1.0).contains(&e["accuracy"].as_f64().unwrap()));

    // model/: an HF Llama with the fixture's tensor names, LoRA merged (so not the base).
    let dev = Default::default();
    let (base, _) = load_causal::<Cpu>(&model, &dev).unwrap();
    let (tuned, src) = load_causal::<Cpu>(&out.join("model"), &dev).unwrap();
    assert_eq!(src.architecture, Architecture::Llama);
    let names = |m: &CausalLm<Cpu>| m.hf_tensors().into_iter().map(|t| t.0).collect::<Vec<_>>();
    assert_eq!(names(&base), names(&tuned));
    assert!(tuned.lora_tensors().is_empty());
    let ids = [1i64, 120, 101, 108, 108, 111, 2];
    let (lb, lt) = (logits(&base, &ids), logits(&tuned, &ids));
    assert!(
        lb.iter().zip(&lt).any(|(a, b)| (a - b).abs() > 1e-3),
        "model/ is the base model"
    );

    // adapter/: PEFT's files, one A/B pair per adapted module per layer.
    let cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("adapter/adapter_config.json")).unwrap())
            .unwrap();
    assert_eq!(cfg["peft_type"], "LORA");
    assert_eq!(cfg["r"], 4);
    assert_eq!(cfg["fan_in_fan_out"], false);
    let bytes = std::fs::read(out.join("adapter/adapter_model.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    assert_eq!(
        st.names().len(),
        TinyLlama::TINY.layers * 3 * 2,
        "{:?}",
        st.names()
    );
    assert!(st
        .names()
        .iter()
        .all(|n| n.starts_with("base_model.model.model.layers.")));

    // model.gguf: read back by our GGUF loader, the same logits as model/ within f16 rounding.
    let (from_gguf, g) = load_causal::<Cpu>(&out.join("model.gguf"), &dev).unwrap();
    assert!(g.from_gguf);
    let lg = logits(&from_gguf, &ids);
    let diff = lt
        .iter()
        .zip(&lg)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(diff < 2e-2, "GGUF logits differ from model/'s by {diff}");

    if let Some(keep) = std::env::var_os("FINETUNE_KEEP_EXPORT") {
        keep_for_python(Path::new(&keep), &model, &out, &tuned);
    }
}

/// The rows `scripts/peft_check.py` feeds both sides (right-padded, mask 0 on padding).
const CHECK_IDS: [[i64; 8]; 2] = [
    [5, 40, 77, 100, 3, 9, 200, 31],
    [8, 120, 33, 60, 2, 2, 2, 2],
];
const CHECK_MASK: [[i64; 8]; 2] = [[1; 8], [1, 1, 1, 1, 0, 0, 0, 0]];

/// For `scripts/peft_check.py KEEP` (transformers and PEFT on our Llama export): `base/`,
/// `merged/` (our `model/`), `adapter/`, `model.gguf`, and `ours.json`, our trainer's logits of
/// `merged/` on [`CHECK_IDS`].
fn keep_for_python(keep: &Path, base: &Path, out: &Path, tuned: &CausalLm<Cpu>) {
    let copy_dir = |from: &Path, to: &Path| {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    };
    copy_dir(base, &keep.join("base"));
    copy_dir(&out.join("model"), &keep.join("merged"));
    copy_dir(&out.join("adapter"), &keep.join("adapter"));
    std::fs::copy(out.join("model.gguf"), keep.join("model.gguf")).unwrap();
    let dev = Default::default();
    let flat = |rows: &[[i64; 8]; 2]| rows.iter().flatten().copied().collect::<Vec<_>>();
    let ids = Tensor::<Cpu, 2, Int>::from_data(TensorData::new(flat(&CHECK_IDS), [2, 8]), &dev);
    let mask = Tensor::<Cpu, 2, Int>::from_data(TensorData::new(flat(&CHECK_MASK), [2, 8]), &dev);
    let logits = tuned.forward(ids, mask);
    let dims = logits.dims();
    let values: Vec<f32> = logits.into_data().convert::<f32>().to_vec().unwrap();
    let ours =
        serde_json::json!({"ids": CHECK_IDS, "mask": CHECK_MASK, "shape": dims, "logits": values});
    std::fs::write(keep.join("ours.json"), ours.to_string()).unwrap();
}

#[test]
fn a_resumed_text_generation_run_ends_with_the_same_weights() {
    let d = tempfile::tempdir().unwrap();
    let (model, train, eval) = (
        d.path().join("llama"),
        d.path().join("train.jsonl"),
        d.path().join("eval.jsonl"),
    );
    TinyLlama::TINY.write(&model, 4).unwrap();
    write_chats(&train, 24, 0);
    write_chats(&eval, 4, 500);
    let extra = [
        "--epochs",
        "2",
        "--lr",
        "0.01",
        "--grad-accum",
        "2",
        "--checkpoint-every",
        "2",
        "--keep-checkpoints",
        "100",
    ];
    let (a, b) = (d.path().join("a"), d.path().join("b"));
    let o = run(&args(&model, &train, &eval, &a, &extra));
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(&args(&model, &train, &eval, &b, &extra));
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(model_bytes(&a), model_bytes(&b), "two seeded runs differ");
    rewind_to(&b, 2);
    let o = run(&args(&model, &train, &eval, &b, &extra));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("resuming from"), "{}", stderr(&o));
    assert_eq!(model_bytes(&a), model_bytes(&b), "resumed run differs");
    assert_eq!(run_json(&a)["final_eval"], run_json(&b)["final_eval"]);
}

#[test]
fn tiny_gpt2_full_fine_tune_exports_gpt2_and_gguf_export_is_refused_up_front() {
    let d = tempfile::tempdir().unwrap();
    let (model, train, eval) = (
        d.path().join("gpt2"),
        d.path().join("train.jsonl"),
        d.path().join("eval.jsonl"),
    );
    TinyGpt2::TINY.write(&model, 6).unwrap();
    // GPT-2 has no chat template: prompt/completion rows.
    let rows: Vec<String> = (0..16)
        .map(|i| {
            serde_json::json!({"prompt": format!("Q{i}: colour of the sky?"), "completion": " blue"})
                .to_string()
        })
        .collect();
    std::fs::write(&train, rows.join("\n")).unwrap();
    std::fs::write(&eval, rows[..4].join("\n")).unwrap();

    let refused = d.path().join("refused");
    let o = run(&args(
        &model,
        &train,
        &eval,
        &refused,
        &["--export", "gguf"],
    ));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("llama-family"), "{}", stderr(&o));
    assert!(!trained(&refused), "it trained before refusing");

    let out = d.path().join("out");
    let o = run(&args(
        &model,
        &train,
        &eval,
        &out,
        &["--epochs", "6", "--lr", "0.02"],
    ));
    assert!(o.status.success(), "{}", stderr(&o));
    let (tuned, src) = load_causal::<Cpu>(&out.join("model"), &Default::default()).unwrap();
    assert_eq!(src.architecture, Architecture::Gpt2);
    // A full fine-tune learns the one completion fast: the eval loss halves.
    let losses = eval_losses(&out);
    assert!(losses[losses.len() - 1] < losses[0] * 0.5, "{losses:?}");
    assert!(matches!(tuned, CausalLm::Gpt2(_)));
    let cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("model/config.json")).unwrap()).unwrap();
    assert_eq!(cfg["architectures"][0], "GPT2LMHeadModel");
    assert!(
        !out.join("adapter").exists(),
        "a full fine-tune wrote an adapter"
    );
}

#[test]
fn a_text_generation_job_with_redaction_is_refused_before_training() {
    let d = tempfile::tempdir().unwrap();
    let (model, train, eval) = (
        d.path().join("llama"),
        d.path().join("train.jsonl"),
        d.path().join("eval.jsonl"),
    );
    TinyLlama::TINY.write(&model, 3).unwrap();
    write_chats(&train, 4, 0);
    write_chats(&eval, 2, 10);
    let out = d.path().join("out");
    let o = run(&args(&model, &train, &eval, &out, &["--redact", "email"]));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("data.redact"), "{}", stderr(&o));
    assert!(!trained(&out), "it trained before refusing");
}
