//! Deterministic fuzzing of the reader: every truncation of a small file and thousands of
//! seeded random mutations give an error or a consistent file, never a panic. Whatever parses
//! is also dequantised and turned into a config and tokenizer, which must not panic either.

mod common;

use common::{small_file, Rng};
use finetune_gguf::{llama::LlamaConfig, Gguf, GgufTokenizer};

/// Everything a caller does with a file that parsed.
fn exercise(bytes: &[u8]) {
    let Ok(g) = Gguf::parse(bytes) else { return };
    let mut r = std::io::Cursor::new(bytes);
    for t in g.tensors() {
        let _ = g.tensor_f32(&mut r, &t.name);
        assert!(g.data_offset + t.offset + t.n_bytes <= bytes.len() as u64);
    }
    let _ = LlamaConfig::from_gguf(&g).map(|c| c.to_hf_json());
    let _ = GgufTokenizer::from_gguf(&g);
}

#[test]
fn every_truncation_is_an_error() {
    let file = small_file();
    assert!(Gguf::parse(&file).is_ok());
    for len in 0..file.len() {
        let e = Gguf::parse(&file[..len]);
        assert!(
            e.is_err(),
            "a file cut at {len} of {} bytes parsed",
            file.len()
        );
    }
}

#[test]
fn random_mutations_never_panic() {
    let file = small_file();
    let mut rng = Rng::new(20_240_601);
    let (mut parsed, mut failed) = (0, 0);
    for _ in 0..5000 {
        let mut b = file.clone();
        for _ in 0..1 + rng.below(4) {
            let i = rng.below(b.len());
            b[i] = match rng.below(4) {
                0 => b[i] ^ (1 << rng.below(8)),
                1 => 0xff,
                2 => 0,
                _ => rng.next_u64() as u8,
            };
        }
        if rng.below(8) == 0 {
            b.truncate(rng.below(b.len()));
        }
        match Gguf::parse(&b) {
            Ok(_) => parsed += 1,
            Err(e) => {
                failed += 1;
                assert!(!e.to_string().is_empty());
            }
        }
        exercise(&b);
    }
    // Both outcomes happen: the mutations reach past the header checks.
    assert!(
        parsed > 100 && failed > 100,
        "{parsed} parsed, {failed} failed"
    );
}

#[test]
fn random_garbage_is_refused() {
    let mut rng = Rng::new(7);
    for n in 0..2000 {
        let mut b: Vec<u8> = (0..rng.below(512)).map(|_| rng.next_u64() as u8).collect();
        if n % 2 == 0 && b.len() >= 8 {
            // A valid magic and version, so the counts and lengths after them are garbage.
            b[..8].copy_from_slice(b"GGUF\x03\0\0\0");
        }
        assert!(Gguf::parse(&b).is_err());
    }
}
