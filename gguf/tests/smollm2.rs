//! Against the real SmolLM2-135M-Instruct Q4_1 file (scripts/fetch-fixtures.sh) and the
//! reference that the Python `gguf` package and transformers' GGUF loader made from it
//! (scripts/gguf_reference.py, tests/data/smollm2_reference.json).

mod common;

use finetune_gguf::llama::{hf_name, LlamaConfig, LlamaGguf};
use finetune_gguf::{Gguf, GgufFile, GgufTokenizer, GgufWriter, WriteType};
use serde_json::Value;

fn reference() -> Value {
    let text = include_str!("data/smollm2_reference.json");
    serde_json::from_str(text).unwrap()
}

#[test]
fn header_metadata_and_config_match_the_reference() {
    let Some(path) = common::smollm2() else {
        return;
    };
    let g = Gguf::open(&path).unwrap();
    let r = reference();
    let m = &r["metadata"];
    assert_eq!(g.version as u64, m["version"].as_u64().unwrap());
    assert_eq!(
        g.tensors().len() as u64,
        m["tensor_count"].as_u64().unwrap()
    );
    assert_eq!(g.metadata().len() as u64, m["kv_count"].as_u64().unwrap());
    assert_eq!(g.alignment, m["alignment"].as_u64().unwrap());
    assert_eq!(g.data_offset, m["data_offset"].as_u64().unwrap());
    let params: u64 = g.tensors().iter().map(|t| t.n_elements).sum();
    assert_eq!(params, m["parameters"].as_u64().unwrap());
    for (ty, n) in m["tensor_types"].as_object().unwrap() {
        let count = g
            .tensors()
            .iter()
            .filter(|t| t.ty.to_string() == *ty)
            .count();
        assert_eq!(count as u64, n.as_u64().unwrap(), "{ty}");
    }
    assert_eq!(
        g.get_str("tokenizer.ggml.pre").unwrap(),
        m["tokenizer.ggml.pre"].as_str()
    );
    // Every tensor maps to a Hugging Face name.
    for t in g.tensors() {
        assert!(hf_name(&t.name).is_some(), "{}", t.name);
    }

    let cfg = LlamaConfig::from_gguf(&g).unwrap();
    let hf = cfg.to_hf_json();
    for (k, v) in r["hf_config"].as_object().unwrap() {
        match v.as_f64() {
            Some(f) if !v.is_u64() => {
                let ours = hf[k].as_f64().unwrap();
                assert!((ours - f).abs() <= f.abs() * 1e-6, "{k}: {ours} vs {f}");
            }
            _ => assert_eq!(&hf[k], v, "{k}"),
        }
    }
    assert_eq!((cfg.head_dim, cfg.tie_word_embeddings), (64, true));
    assert_eq!(hf["rms_norm_eps"], serde_json::json!(1e-5));
    assert_eq!(cfg.hf_tensors().len(), g.tensors().len());
}

#[test]
fn dequantised_tensors_and_qk_rows_match_the_reference() {
    let Some(path) = common::smollm2() else {
        return;
    };
    let mut file = GgufFile::open(&path).unwrap();
    let mut llama = LlamaGguf::open(&path).unwrap();
    for t in reference()["tensors"].as_array().unwrap() {
        let name = t["name"].as_str().unwrap();
        let info = file.header.tensor(name).unwrap().clone();
        assert_eq!(info.ty.to_string(), t["type"].as_str().unwrap());
        let shape: Vec<usize> = serde_json::from_value(t["shape"].clone()).unwrap();
        assert_eq!(info.shape(), shape, "{name}");
        let v = file.tensor_f32(name).unwrap();
        let (sum, sum_sq) = v.iter().fold((0f64, 0f64), |(s, q), &x| {
            (s + f64::from(x), q + f64::from(x) * f64::from(x))
        });
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-6 * b.abs().max(1.0);
        assert!(
            close(sum, t["sum"].as_f64().unwrap()),
            "{name}: sum {sum} vs {}",
            t["sum"]
        );
        assert!(
            close(sum_sq, t["sum_sq"].as_f64().unwrap()),
            "{name}: sum_sq {sum_sq}"
        );
        let idx: Vec<usize> = serde_json::from_value(t["indices"].clone()).unwrap();
        let want: Vec<f32> = serde_json::from_value(t["values"].clone()).unwrap();
        let got: Vec<f32> = idx.iter().map(|&i| v[i]).collect();
        assert_eq!(got, want, "{name}: values at {idx:?}");

        if let Some(hf) = t["hf_name"].as_str() {
            let (hf_shape, hf_v) = llama.tensor(hf).unwrap();
            assert_eq!(hf_shape, shape);
            let want: Vec<f32> = serde_json::from_value(t["hf_values"].clone()).unwrap();
            let got: Vec<f32> = idx.iter().map(|&i| hf_v[i]).collect();
            assert_eq!(got, want, "{hf}: un-permuted values at {idx:?}");
            assert_ne!(hf_v, v, "{hf}: the un-permutation moved nothing");
        }
    }
}

#[test]
fn tokenizer_ids_match_transformers() {
    let Some(path) = common::smollm2() else {
        return;
    };
    let g = Gguf::open(&path).unwrap();
    let tok = GgufTokenizer::from_gguf(&g).unwrap();
    let r = reference();
    let hf = tokenizers::Tokenizer::from_bytes(tok.json.to_string().as_bytes()).unwrap();
    let strings = r["strings"].as_array().unwrap();
    for (s, ids) in strings.iter().zip(r["ids"].as_array().unwrap()) {
        let s = s.as_str().unwrap();
        let want: Vec<u32> = serde_json::from_value(ids.clone()).unwrap();
        let enc = hf.encode(s, true).unwrap();
        assert_eq!(enc.get_ids(), want, "ids of {s:?}");
        if !s.contains("<|") {
            assert_eq!(hf.decode(&want, false).unwrap(), s, "decoding {s:?}");
        }
    }
    let sp = &r["special_tokens"];
    assert_eq!(tok.bos_token.as_deref(), sp["bos"].as_str());
    assert_eq!(tok.eos_token.as_deref(), sp["eos"].as_str());
    assert_eq!(tok.pad_token.as_deref(), sp["pad"].as_str());
    assert_eq!(tok.unk_token.as_deref(), sp["unk"].as_str());
    let template = tok.chat_template.as_deref().unwrap();
    assert!(template.contains("<|im_start|>"));
    let cfg = tok.tokenizer_config();
    assert_eq!(cfg["chat_template"].as_str(), Some(template));
}

#[test]
fn f16_and_q8_0_exports_read_back_within_tolerance() {
    let Some(path) = common::smollm2() else {
        return;
    };
    let mut src = GgufFile::open(&path).unwrap();
    let names = [
        "blk.0.attn_q.weight",
        "blk.0.attn_norm.weight",
        "token_embd.weight",
    ];
    let originals: Vec<(Vec<usize>, Vec<f32>)> = names
        .iter()
        .map(|n| {
            (
                src.header.tensor(n).unwrap().shape(),
                src.tensor_f32(n).unwrap(),
            )
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    for ty in [WriteType::F16, WriteType::Q8_0] {
        let mut w = GgufWriter::new();
        for (k, v) in src.header.metadata() {
            w.metadata(k.clone(), v.clone()).unwrap();
        }
        for (n, (shape, v)) in names.iter().zip(&originals) {
            w.tensor(*n, shape, v, ty).unwrap();
        }
        let out = dir.path().join(format!("{ty:?}.gguf"));
        w.write(&out).unwrap();
        let mut back = GgufFile::open(&out).unwrap();
        assert_eq!(back.header.metadata(), src.header.metadata());
        for (n, (shape, v)) in names.iter().zip(&originals) {
            assert_eq!(back.header.tensor(n).unwrap().shape(), *shape);
            assert_eq!(back.header.tensor(n).unwrap().ty, ty.ggml());
            let got = back.tensor_f32(n).unwrap();
            for (block_got, block) in got.chunks(32).zip(v.chunks(32)) {
                let amax = block.iter().fold(0f32, |m, x| m.max(x.abs()));
                for (g, x) in block_got.iter().zip(block) {
                    let tol = match ty {
                        WriteType::F16 => x.abs() / 1024.0 + 1e-7,
                        _ => amax / 127.0 * 0.57,
                    };
                    assert!((g - x).abs() <= tol, "{n} {ty:?}: {g} vs {x}");
                }
            }
        }
        let tok = GgufTokenizer::from_gguf(&back.header).unwrap();
        assert!(tok.chat_template.is_some());
    }
}

#[test]
fn the_tokenizer_exports_back_to_the_same_metadata() {
    let Some(path) = common::smollm2() else {
        return;
    };
    let g = Gguf::open(&path).unwrap();
    let tok = GgufTokenizer::from_gguf(&g).unwrap();
    let meta = finetune_gguf::tokenizer_metadata(&tok.json, Some(&tok.tokenizer_config())).unwrap();
    // model, pre, tokens, types, merges, 4 special ids, add_bos_token, chat template.
    assert_eq!(meta.len(), 11);
    for (k, v) in &meta {
        let original = g.get(k).unwrap_or_else(|| panic!("{k} is not in the file"));
        match (v.as_u64(), original.as_u64()) {
            (Some(a), Some(b)) => assert_eq!(a, b, "{k}"),
            _ => assert_eq!(v, original, "{k}"),
        }
    }
}
