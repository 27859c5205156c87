//! Any bytes: parsing, and everything done with a file that parses, must not panic.
#![no_main]

use finetune_gguf::{llama::LlamaConfig, Gguf, GgufTokenizer};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(g) = Gguf::parse(data) {
        let mut r = std::io::Cursor::new(data);
        for t in g.tensors() {
            let _ = g.tensor_f32(&mut r, &t.name);
        }
        let _ = LlamaConfig::from_gguf(&g).map(|c| c.to_hf_json());
        let _ = GgufTokenizer::from_gguf(&g);
    }
});
