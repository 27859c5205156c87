//! SentencePiece vocabularies (`tokenizer.ggml.model = llama`, as Llama 2, TinyLlama and
//! Mistral GGUFs carry them) against transformers' GGUF tokenizer loader: a synthetic
//! vocabulary with scores, byte-fallback tokens and control tokens, written here, read by
//! `scripts/spm_gguf_reference.py` (the exact command is in its docstring), and the ids and
//! decoded texts it recorded in `tests/data/spm_reference.json`.

use finetune_gguf::{tokenizer_metadata, Gguf, GgufTokenizer, GgufWriter, MetaType, MetaValue};
use serde_json::Value;

/// The pieces after the specials and the 256 byte tokens, best score first.
const PIECES: [&str; 40] = [
    "\u{2581}t",
    "he",
    "\u{2581}the",
    "at",
    "\u{2581}c",
    "\u{2581}s",
    "\u{2581}m",
    "\u{2581}o",
    "\u{2581}cat",
    "\u{2581}sat",
    "\u{2581}mat",
    "\u{2581}on",
    "in",
    "\u{2581}a",
    "er",
    "\u{2581}w",
    "or",
    "\u{2581}h",
    "ll",
    "\u{2581}he",
    "llo",
    "\u{2581}hello",
    "\u{2581}wor",
    "ld",
    "\u{2581}world",
    "\u{2581}",
    "e",
    "t",
    "a",
    "h",
    "c",
    "s",
    "m",
    "o",
    "n",
    "l",
    "w",
    "r",
    "d",
    "i",
];

/// The synthetic vocabulary as a GGUF file: `<unk>` 0, `<s>` 1, `</s>` 2, `<0x00>`..`<0xFF>`
/// (3..259), then [`PIECES`] with falling scores, and a llama config for transformers.
fn spm_gguf() -> Vec<u8> {
    let mut tokens: Vec<String> = ["<unk>", "<s>", "</s>"].map(String::from).to_vec();
    let mut scores = vec![0.0f32; 3];
    let mut types = vec![2i32, 3, 3];
    for b in 0..=255u8 {
        tokens.push(format!("<0x{b:02X}>"));
        scores.push(0.0);
        types.push(6);
    }
    for (i, p) in PIECES.iter().enumerate() {
        tokens.push(p.to_string());
        scores.push(-(i as f32) - 1.0);
        types.push(1);
    }
    let n = tokens.len() as u32;
    let arr = |ty, v: Vec<MetaValue>| MetaValue::Array(ty, v);
    let mut w = GgufWriter::new();
    let meta = [
        ("general.architecture", MetaValue::String("llama".into())),
        ("general.name", MetaValue::String("spm-test".into())),
        ("llama.context_length", MetaValue::U32(64)),
        ("llama.embedding_length", MetaValue::U32(8)),
        ("llama.block_count", MetaValue::U32(1)),
        ("llama.feed_forward_length", MetaValue::U32(16)),
        ("llama.attention.head_count", MetaValue::U32(2)),
        ("llama.attention.head_count_kv", MetaValue::U32(2)),
        ("llama.rope.dimension_count", MetaValue::U32(4)),
        (
            "llama.attention.layer_norm_rms_epsilon",
            MetaValue::F32(1e-5),
        ),
        ("llama.vocab_size", MetaValue::U32(n)),
        ("tokenizer.ggml.model", MetaValue::String("llama".into())),
        (
            "tokenizer.ggml.tokens",
            arr(
                MetaType::String,
                tokens.into_iter().map(MetaValue::String).collect(),
            ),
        ),
        (
            "tokenizer.ggml.scores",
            arr(
                MetaType::F32,
                scores.into_iter().map(MetaValue::F32).collect(),
            ),
        ),
        (
            "tokenizer.ggml.token_type",
            arr(
                MetaType::I32,
                types.into_iter().map(MetaValue::I32).collect(),
            ),
        ),
        ("tokenizer.ggml.unknown_token_id", MetaValue::U32(0)),
        ("tokenizer.ggml.bos_token_id", MetaValue::U32(1)),
        ("tokenizer.ggml.eos_token_id", MetaValue::U32(2)),
        ("tokenizer.ggml.add_bos_token", MetaValue::Bool(true)),
        ("tokenizer.ggml.add_eos_token", MetaValue::Bool(false)),
    ];
    for (k, v) in meta {
        w.metadata(k, v).unwrap();
    }
    w.to_bytes()
}

/// Writes the file `scripts/spm_gguf_reference.py` reads (to `$SPM_GGUF_OUT`).
#[test]
#[ignore = "writes the reference script's input; run by hand"]
fn write_spm_gguf_for_reference() {
    let out = std::env::var("SPM_GGUF_OUT").expect("SPM_GGUF_OUT names the file");
    std::fs::write(out, spm_gguf()).unwrap();
}

fn reference() -> Value {
    serde_json::from_str(include_str!("data/spm_reference.json")).unwrap()
}

fn tokenizer() -> (GgufTokenizer, tokenizers::Tokenizer) {
    let g = Gguf::parse(&spm_gguf()).unwrap();
    let t = GgufTokenizer::from_gguf(&g).unwrap();
    let hf = t.json.to_string().parse().unwrap();
    (t, hf)
}

#[test]
fn sentencepiece_ids_match_transformers_gguf_loader() {
    let r = reference();
    let (t, hf) = tokenizer();
    assert_eq!(t.bos_token.as_deref(), Some("<s>"));
    assert_eq!(t.eos_token.as_deref(), Some("</s>"));
    assert_eq!(t.unk_token.as_deref(), Some("<unk>"));
    assert!(t.add_bos_token);
    let cases = r["cases"].as_array().unwrap();
    assert!(cases.len() >= 6);
    for case in cases {
        let text = case["text"].as_str().unwrap();
        let ids = |v: &Value| -> Vec<u32> {
            v.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_u64().unwrap() as u32)
                .collect()
        };
        let with = hf.encode(text, true).unwrap();
        assert_eq!(with.get_ids(), ids(&case["ids"]), "{text:?} with specials");
        let without = hf.encode(text, false).unwrap();
        assert_eq!(
            without.get_ids(),
            ids(&case["ids_no_special"]),
            "{text:?} without specials"
        );
        let decoded = hf.decode(without.get_ids(), true).unwrap();
        assert_eq!(
            decoded,
            case["decoded"].as_str().unwrap(),
            "{text:?} decoded"
        );
    }
}

#[test]
fn unknown_tokenizer_models_and_missing_scores_are_clear_errors() {
    let g = Gguf::parse(&spm_gguf()).unwrap();
    // The same file without scores.
    let mut w = GgufWriter::new();
    for (k, v) in g.metadata() {
        if k != "tokenizer.ggml.scores" {
            w.metadata(k.clone(), v.clone()).unwrap();
        }
    }
    let e = GgufTokenizer::from_gguf(&Gguf::parse(&w.to_bytes()).unwrap()).unwrap_err();
    assert!(e.to_string().contains("tokenizer.ggml.scores"), "{e}");
    let mut w = GgufWriter::new();
    for (k, v) in g.metadata() {
        let v = if k == "tokenizer.ggml.model" {
            MetaValue::String("rwkv".into())
        } else {
            v.clone()
        };
        w.metadata(k.clone(), v).unwrap();
    }
    let e = GgufTokenizer::from_gguf(&Gguf::parse(&w.to_bytes()).unwrap()).unwrap_err();
    assert!(e.to_string().contains("\"rwkv\""), "{e}");
}

#[test]
fn exporting_a_sentencepiece_tokenizer_to_gguf_is_refused_not_mangled() {
    let (t, _) = tokenizer();
    let e = tokenizer_metadata(&t.json, None).unwrap_err();
    assert!(e.to_string().contains("Metaspace"), "{e}");
}
