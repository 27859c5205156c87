//! Shared by the test files: a small synthetic GGUF with metadata of every type and tensors of
//! every written type, and the real SmolLM2 fixture's location.

#![allow(dead_code)]

use finetune_gguf::{GgufWriter, MetaType, MetaValue, WriteType};
use std::path::PathBuf;

/// Metadata of every value type, a nested array, a llama config and a tiny tokenizer.
pub fn every_type() -> Vec<(&'static str, MetaValue)> {
    let strs = |v: &[&str]| {
        MetaValue::Array(
            MetaType::String,
            v.iter().map(|s| MetaValue::String(s.to_string())).collect(),
        )
    };
    vec![
        ("general.architecture", MetaValue::String("llama".into())),
        ("t.u8", MetaValue::U8(200)),
        ("t.i8", MetaValue::I8(-100)),
        ("t.u16", MetaValue::U16(60_000)),
        ("t.i16", MetaValue::I16(-30_000)),
        ("t.u32", MetaValue::U32(4_000_000_000)),
        ("t.i32", MetaValue::I32(-2_000_000_000)),
        ("t.f32", MetaValue::F32(0.125)),
        ("t.bool", MetaValue::Bool(true)),
        ("t.string", MetaValue::String("héllo ✓".into())),
        ("t.u64", MetaValue::U64(u64::MAX)),
        ("t.i64", MetaValue::I64(i64::MIN)),
        ("t.f64", MetaValue::F64(-1e300)),
        ("t.empty", MetaValue::Array(MetaType::U32, vec![])),
        (
            "t.nested",
            MetaValue::Array(
                MetaType::Array,
                vec![
                    MetaValue::Array(MetaType::I16, vec![MetaValue::I16(1), MetaValue::I16(-2)]),
                    MetaValue::Array(MetaType::I16, vec![]),
                ],
            ),
        ),
        ("llama.embedding_length", MetaValue::U32(32)),
        ("llama.block_count", MetaValue::U32(1)),
        ("llama.feed_forward_length", MetaValue::U32(64)),
        ("llama.attention.head_count", MetaValue::U32(4)),
        ("llama.attention.head_count_kv", MetaValue::U32(2)),
        ("llama.context_length", MetaValue::U32(128)),
        ("tokenizer.ggml.model", MetaValue::String("gpt2".into())),
        (
            "tokenizer.ggml.tokens",
            strs(&["<s>", "a", "b", "ab", "Ġ", "Ġa"]),
        ),
        ("tokenizer.ggml.merges", strs(&["a b", "Ġ a"])),
        (
            "tokenizer.ggml.token_type",
            MetaValue::Array(
                MetaType::I32,
                (0..6)
                    .map(|i| MetaValue::I32(if i == 0 { 3 } else { 1 }))
                    .collect(),
            ),
        ),
        ("tokenizer.ggml.bos_token_id", MetaValue::U32(0)),
    ]
}

/// `n` deterministic values in about [-1, 1].
pub fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    (0..n).map(|_| rng.next_f32()).collect()
}

/// A small file: [`every_type`] metadata, then F32, F16 and Q8_0 tensors.
pub fn small_file() -> Vec<u8> {
    let mut w = GgufWriter::new();
    for (k, v) in every_type() {
        w.metadata(k, v).unwrap();
    }
    w.tensor("norm.weight", &[5], &values(5, 1), WriteType::F32)
        .unwrap();
    w.tensor("half.weight", &[3, 7], &values(21, 2), WriteType::F16)
        .unwrap();
    w.tensor("q8.weight", &[2, 64], &values(128, 3), WriteType::Q8_0)
        .unwrap();
    w.to_bytes()
}

/// xorshift64*: seeded, so the fuzz test mutates the same bytes on every run.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// Uniform in [-1, 1).
    pub fn next_f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
}

/// The SmolLM2 GGUF fixture, or `None` (with a message) when it was not fetched; panics under
/// CI=true, where fixtures are required.
pub fn smollm2() -> Option<PathBuf> {
    let dir = std::env::var_os("FINETUNE_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.fixtures"));
    let path = dir.join("smollm2/SmolLM2-135M-Instruct.Q4_1.gguf");
    if path.is_file() {
        return Some(path);
    }
    let msg = format!(
        "SmolLM2 GGUF fixture not found at {}: run scripts/fetch-fixtures.sh",
        path.display()
    );
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{msg} (CI=true: fixtures are required)");
    }
    eprintln!("SKIPPED: {msg}");
    None
}
