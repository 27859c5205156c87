//! `quantize`: MiniLM (with the head the loader gives it) on the tweets' eval set keeps its
//! accuracy and predictions within the bounds in under 30 % of the bytes, and is served;
//! on the tiny model: the directory's layout and config, no overwrite, no training from it, and
//! clear errors (no panic) for corrupt int8 files.

use std::collections::HashMap;
use std::path::Path;

use finetune_spec::serving::{QuantizationReport, QUANTIZATION_FILE};
use safetensors::{Dtype, SafeTensors};
use serde_json::json;

use crate::common;
use crate::serving_common::{classifier_from, cli_predict, tiny_classifier, Server};

fn quantize(model: &Path, out: &Path, data: Option<&Path>) -> std::process::Output {
    let mut cmd = common::trainer();
    cmd.args(["--threads", "2", "quantize", "--model"]).arg(model).arg("--out").arg(out);
    if let Some(d) = data {
        cmd.arg("--data").arg(d).args(["--max-length", "128"]);
    }
    cmd.output().unwrap()
}

fn report(dir: &Path) -> QuantizationReport {
    serde_json::from_slice(&std::fs::read(dir.join(QUANTIZATION_FILE)).unwrap()).unwrap()
}

#[test]
fn minilm_int8_keeps_accuracy_and_predictions_in_under_30_percent_of_the_bytes() {
    let (Some(minilm), Some(tweets)) = (common::minilm_dir(), common::tweets_dir()) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let f32_dir = classifier_from(&minilm, &tmp.path().join("f32"));
    let int8_dir = tmp.path().join("int8");
    let eval = tweets.join("eval.jsonl");
    let o = quantize(&f32_dir, &int8_dir, Some(&eval));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    eprintln!("{out}");
    assert_eq!(out.trim().lines().count(), 1, "one summary line: {out}");

    let r = report(&int8_dir);
    assert_eq!((r.layers, r.embeddings), (6 * 6 + 2, 3), "{r:?}");
    assert!(r.size_ratio() <= 0.30, "size ratio {}", r.size_ratio());
    let file = std::fs::metadata(int8_dir.join("model.safetensors")).unwrap().len();
    assert_eq!(file, r.bytes_quantized);
    let e = r.eval.as_ref().unwrap();
    assert_eq!(e.rows, 200);
    assert!((e.accuracy_f32 - e.accuracy_quantized).abs() <= 0.01, "{e:?}");

    // Row by row: the same label on >= 99 % of rows, probabilities close on all.
    let texts: Vec<String> = std::fs::read_to_string(&eval)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["text"].as_str().unwrap().to_string())
        .collect();
    let a = cli_predict(&f32_dir, &texts);
    let b = cli_predict(&int8_dir, &texts);
    let agree = a.iter().zip(&b).filter(|(x, y)| x["label"] == y["label"]).count();
    assert!(agree as f64 >= 0.99 * texts.len() as f64, "{agree}/{} agree", texts.len());
    let worst = a
        .iter()
        .zip(&b)
        .flat_map(|(x, y)| {
            let (px, py) = (x["probabilities"].as_object().unwrap(), &y["probabilities"]);
            px.iter().map(|(k, v)| (v.as_f64().unwrap() - py[k].as_f64().unwrap()).abs()).collect::<Vec<_>>()
        })
        .fold(0.0, f64::max);
    eprintln!("int8 vs f32: {agree}/{} labels agree, largest probability change {worst:.4}", texts.len());
    assert!(worst < 0.05, "largest probability change {worst}");

    // Served: /info carries the report, /predict answers as predict on the int8 dir.
    let server = Server::start(&int8_dir, &[]);
    let info = crate::serving_common::request(server.port, "GET", "/info", &[], b"").json();
    assert_eq!(info["quantization"]["bytes_quantized"], r.bytes_quantized);
    let served = server.predict(&json!({ "inputs": &texts[..3] }));
    crate::serving_common::assert_same_predictions(&served.json(), &b[..3]);
}

/// The tensors of a safetensors file, as (dtype, shape, bytes) by name.
fn tensors(path: &Path) -> HashMap<String, (Dtype, Vec<usize>, Vec<u8>)> {
    let bytes = std::fs::read(path).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    st.tensors()
        .into_iter()
        .map(|(n, v)| (n, (v.dtype(), v.shape().to_vec(), v.data().to_vec())))
        .collect()
}

fn write_tensors(path: &Path, t: &HashMap<String, (Dtype, Vec<usize>, Vec<u8>)>) {
    let views: Vec<(String, safetensors::tensor::TensorView)> = t
        .iter()
        .map(|(n, (d, s, b))| (n.clone(), safetensors::tensor::TensorView::new(*d, s.clone(), b).unwrap()))
        .collect();
    safetensors::serialize_to_file(views, None, path).unwrap();
}

#[test]
fn tiny_int8_layout_config_and_refusals() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tiny_classifier(tmp.path());
    let before = std::fs::read(model.join("model.safetensors")).unwrap();
    let out = tmp.path().join("int8");
    let o = quantize(&model, &out, None);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read(model.join("model.safetensors")).unwrap(), before, "source untouched");
    let t = tensors(&out.join("model.safetensors"));
    let (dtype, shape, _) = &t["bert.encoder.layer.0.attention.self.query.weight"];
    assert_eq!(*dtype, Dtype::I8);
    let (sdtype, sshape, _) = &t["bert.encoder.layer.0.attention.self.query.weight_scale"];
    assert_eq!((*sdtype, sshape.as_slice()), (Dtype::F32, &shape[..1]));
    assert_eq!(t["bert.embeddings.word_embeddings.weight"].0, Dtype::I8);
    assert_eq!(t["classifier.weight"].0, Dtype::I8);
    assert_eq!(t["bert.embeddings.LayerNorm.weight"].0, Dtype::F32);
    assert_eq!(t["classifier.bias"].0, Dtype::F32);
    let cfg: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("config.json")).unwrap()).unwrap();
    assert_eq!(cfg["quantization_config"]["quant_method"], "finetune-int8");
    assert_eq!(cfg["id2label"]["1"], "positive");
    assert!(out.join("tokenizer.json").is_file());
    assert!(report(&out).eval.is_none());
    // Nothing left beside it.
    let names: Vec<String> = std::fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert!(names.iter().all(|n| !n.contains(".tmp")), "{names:?}");

    // Predictions run on it; no overwrite; no training from it.
    let texts = vec!["good movie".to_string(), "bad".to_string()];
    assert_eq!(cli_predict(&out, &texts).len(), 2);
    let again = quantize(&model, &out, None);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    let (_, train, eval) = common::tiny_run_inputs(&tmp.path().join("run"), 8, 4);
    let o = common::train_cmd(1, &out, &train, &eval, &tmp.path().join("out")).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(err.contains("quantized") && err.contains("train from the f32 model"), "{err}");
}

#[test]
fn corrupt_int8_files_get_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tiny_classifier(tmp.path());
    let good = tmp.path().join("int8");
    assert!(quantize(&model, &good, None).status.success());
    let original = tensors(&good.join("model.safetensors"));
    let w = "bert.encoder.layer.0.intermediate.dense.weight";
    let scale = format!("{w}_scale");
    type Edit = fn(&mut HashMap<String, (Dtype, Vec<usize>, Vec<u8>)>, &str, &str);
    let edits: [(&str, Edit, &str); 3] = [
        ("missing scale", |t, _, s| { t.remove(s); }, "its scale `bert.encoder.layer.0.intermediate.dense.weight_scale` is missing"),
        ("scale shape", |t, _, s| { let e = t.get_mut(s).unwrap(); e.1 = vec![e.1[0] - 1]; e.2.truncate(e.2.len() - 4); }, "but its scale has shape"),
        ("wrong dtype", |t, w, _| { t.get_mut(w).unwrap().0 = Dtype::U8; }, "is not an I8 tensor"),
    ];
    for (what, edit, expected) in edits {
        let dir = tmp.path().join(what.replace(' ', "-"));
        std::fs::create_dir_all(&dir).unwrap();
        for f in ["config.json", "tokenizer.json"] {
            std::fs::copy(good.join(f), dir.join(f)).unwrap();
        }
        let mut t = original.clone();
        edit(&mut t, w, &scale);
        write_tensors(&dir.join("model.safetensors"), &t);
        let o = common::trainer().args(["predict", "--model"]).arg(&dir).arg("good").output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{what}");
        assert_eq!(err.trim().lines().count(), 1, "{what}: {err}");
        assert!(err.contains("corrupt quantized weights") && err.contains(expected), "{what}: {err}");
        assert!(!err.contains("panicked"), "{what}: {err}");
    }
}
