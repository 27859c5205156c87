//! GGUF files in and out, without burn, for both the trainer (loading weights, exporting) and
//! the plugin's `validate` (checking a `.gguf` model without loading it).
//!
//! - [`Gguf`]: a strictly bounds-checked header reader (GGUF v2 and v3: metadata of every type,
//!   tensor infos, `general.alignment`); [`GgufFile`] reads tensors from the file.
//! - [`dequantize`]: F32, F16, BF16, Q8_0, Q4_0 and Q4_1 to f32.
//! - [`GgufWriter`]: metadata and F32, F16 or Q8_0 tensors out.
//! - [`llama`]: a llama GGUF as a Hugging Face Llama (config, names, q/k row order).
//! - [`GgufTokenizer`]: the metadata tokenizer as a Hugging Face `tokenizer.json`, and
//!   [`tokenizer_metadata`] the other way, for export.
//!
//! Why not a crate from crates.io: the ones there either parse headers only (no
//! dequantisation), pull in a tensor library, or allocate what a header declares before
//! checking it against the file; a reader fed user files must refuse garbage cheaply.

mod dequant;
mod error;
pub mod llama;
mod read;
mod tokenizer;
mod tokenizer_out;
mod tokenizer_spm;
mod types;
mod write;

pub use dequant::{dequantize, quantize, WriteType};
pub use error::{GgufError, Result};
pub use read::{Gguf, GgufFile, TensorInfo, DEFAULT_ALIGNMENT};
pub use tokenizer::GgufTokenizer;
pub use tokenizer_out::tokenizer_metadata;
pub use types::{GgmlType, MetaType, MetaValue};
pub use write::GgufWriter;
