//! Prints a GGUF file's header (metadata, tensor types, a Llama's config); with `--dequantize`,
//! also reads and dequantises every tensor and prints how long that took (bench/gguf.sh).
//!
//!     cargo run --release --example gguf_inspect -- FILE.gguf [--dequantize]

use finetune_gguf::llama::LlamaConfig;
use finetune_gguf::{GgufFile, MetaValue};
use std::collections::BTreeMap;
use std::time::Instant;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .ok_or_else(|| anyhow::anyhow!("usage: gguf_inspect FILE.gguf [--dequantize]"))?;
    let dequant = args.next().as_deref() == Some("--dequantize");
    let start = Instant::now();
    let mut file = GgufFile::open(&path)?;
    let g = &file.header;
    println!(
        "GGUF v{}: {} metadata keys, {} tensors",
        g.version,
        g.metadata().len(),
        g.tensors().len()
    );
    for (k, v) in g.metadata() {
        let shown = match v {
            MetaValue::Array(_, items) => format!("[{} items]", items.len()),
            MetaValue::String(s) if s.len() > 60 => {
                format!("{:?}...", s.chars().take(60).collect::<String>())
            }
            v => format!("{v:?}"),
        };
        println!("  {k} = {shown}");
    }
    let mut types = BTreeMap::new();
    for t in g.tensors() {
        *types.entry(t.ty.to_string()).or_insert(0) += 1;
    }
    println!("tensor types: {types:?}");
    if let Ok(cfg) = LlamaConfig::from_gguf(g) {
        println!("config.json: {}", cfg.to_hf_json());
    }
    if dequant {
        let names: Vec<String> = g.tensors().iter().map(|t| t.name.clone()).collect();
        let mut values = 0usize;
        for n in &names {
            values += file.tensor_f32(n)?.len();
        }
        println!(
            "read + dequantised {} tensors ({values} values) in {:.3} s",
            names.len(),
            start.elapsed().as_secs_f64()
        );
    }
    Ok(())
}
