//! Forward-pass parity with PyTorch + transformers on all-MiniLM-L6-v2: the reference values
//! in `tests/data/minilm_reference.json` come from `scripts/reference_logits.py` (the exact
//! command is in the file). Same tokens, [CLS] hidden state and logits within 1e-4.

use crate::common;
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;
use finetune_spec::Method;
use finetune_trainer::backend::Cpu;
use finetune_trainer::model::{load::linear_from_hf, load_classifier};
use finetune_trainer::tokenize::TextTokenizer;
use serde_json::Value;

const TOLERANCE: f32 = 1e-4;

fn reference() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/minilm_reference.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("reference file is committed"))
        .expect("reference JSON")
}

fn matrix(v: &Value) -> Vec<Vec<f64>> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect()
        })
        .collect()
}

fn max_abs_diff<B: Backend>(t: Tensor<B, 2>, want: &[Vec<f64>]) -> f32 {
    let [rows, cols] = t.dims();
    assert_eq!((rows, cols), (want.len(), want[0].len()), "shape");
    let got = t.into_data().convert::<f32>().into_vec::<f32>().unwrap();
    got.iter()
        .zip(want.iter().flatten())
        .map(|(g, w)| (*g as f64 - w).abs() as f32)
        .fold(0.0, f32::max)
}

#[test]
fn minilm_matches_pytorch() {
    let Some(dir) = common::minilm_dir() else {
        return;
    };
    let r = reference();
    let device = Default::default();
    let n = r["num_labels"].as_u64().unwrap() as usize;
    let labels: Vec<String> = (0..n).map(|i| i.to_string()).collect();
    let mut loaded = load_classifier::<Cpu>(&dir, &labels, &Method::Full, 0, &device).unwrap();
    // The head formula of scripts/reference_logits.py.
    let h = loaded.config.hidden_size;
    let w: Vec<f32> = (0..n)
        .flat_map(|j| {
            (0..h).map(move |i| (0.2 * (0.1 * i as f64 + 0.7 * j as f64 + 0.3).sin()) as f32)
        })
        .collect();
    let b: Vec<f32> = (0..n).map(|j| (0.1 * (j as f64 - 1.0)) as f32).collect();
    loaded.model.classifier = linear_from_hf(&w, &b, h, n, &device);

    // Our tokenizer gives the reference's tokens.
    let sentences: Vec<&str> = r["sentences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    let max_length = r["max_length"].as_u64().unwrap() as usize;
    let tok = TextTokenizer::from_dir(&dir, max_length).unwrap();
    let enc = tok.encode_batch(&sentences).unwrap();
    let flat = |k: &str| -> Vec<i64> {
        matrix(&r[k])
            .into_iter()
            .flatten()
            .map(|v| v as i64)
            .collect()
    };
    assert_eq!(
        enc.input_ids,
        flat("input_ids"),
        "input_ids differ from the HF tokenizer's"
    );
    assert_eq!(enc.attention_mask, flat("attention_mask"));
    assert_eq!(enc.token_type_ids, flat("token_type_ids"));

    let t = enc.to_tensors::<Cpu>(&device);
    let hidden = loaded.model.bert.forward(
        t.input_ids.clone(),
        t.attention_mask.clone(),
        t.token_type_ids.clone(),
    );
    let [batch, _, dim] = hidden.dims();
    let cls = hidden
        .clone()
        .slice([0..batch, 0..1, 0..dim])
        .reshape([batch, dim]);
    let cls_diff = max_abs_diff(cls, &matrix(&r["cls_hidden"]));
    let logits = loaded.model.head(hidden);
    let logit_diff = max_abs_diff(logits, &matrix(&r["logits"]));
    eprintln!("parity: max |Δ| cls hidden {cls_diff:.3e}, logits {logit_diff:.3e}");
    assert!(
        cls_diff <= TOLERANCE,
        "[CLS] hidden state differs by {cls_diff}"
    );
    assert!(logit_diff <= TOLERANCE, "logits differ by {logit_diff}");
    // Same again through the public forward.
    let again = loaded
        .model
        .forward(t.input_ids, t.attention_mask, t.token_type_ids);
    assert!(max_abs_diff(again, &matrix(&r["logits"])) <= TOLERANCE);
}
