//! Re-exports a llama GGUF the way the trainer exports a fine-tuned model: every tensor read by
//! its Hugging Face name (q/k rows in Hugging Face order), then written back under its GGUF
//! name (q/k rows permuted again) as F16 or Q8_0 (norms as F32), with the source's metadata.
//! scripts/gguf_export_check.py loads the result with the Python `gguf` package and
//! transformers.
//!
//!     cargo run --release --example gguf_export -- IN.gguf OUT.gguf f16|q8_0

use finetune_gguf::llama::{gguf_name, permute_rows, LlamaGguf};
use finetune_gguf::{GgufWriter, MetaValue, WriteType};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [src, out, ty] = args.as_slice() else {
        anyhow::bail!("usage: gguf_export IN.gguf OUT.gguf f16|q8_0");
    };
    let (ty, file_type) = match ty.as_str() {
        "f16" => (WriteType::F16, 1),
        "q8_0" => (WriteType::Q8_0, 7),
        other => anyhow::bail!("unknown type {other:?}: f16 or q8_0"),
    };
    let mut model = LlamaGguf::open(src)?;
    let cfg = model.config.clone();
    let mut w = GgufWriter::new();
    for (k, v) in model.file.header.metadata() {
        w.metadata(k.clone(), v.clone())?;
    }
    w.metadata("general.file_type", MetaValue::U32(file_type))?;
    for (hf, _) in cfg.hf_tensors() {
        let (shape, v) = model.tensor(&hf)?;
        let cols = shape[1..].iter().product::<usize>().max(1);
        let v = if hf.contains("q_proj") {
            permute_rows(&v, cols, cfg.num_attention_heads)
        } else if hf.contains("k_proj") {
            permute_rows(&v, cols, cfg.num_key_value_heads)
        } else {
            v
        };
        let ty = if shape.len() == 1 { WriteType::F32 } else { ty };
        w.tensor(gguf_name(&hf).expect("a llama name"), &shape, &v, ty)?;
    }
    w.write(out)?;
    println!("wrote {out}");
    Ok(())
}
