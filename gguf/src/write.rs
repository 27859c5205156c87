//! The writer: metadata and F32/F16/Q8_0 tensors into a GGUF v3 file, laid out as llama.cpp
//! lays them out (tensor data in order, each aligned), written to a temporary file and renamed
//! so a failed export never leaves a half-written model.

use crate::dequant::{quantize, WriteType};
use crate::error::{GgufError, Result};
use crate::read::DEFAULT_ALIGNMENT;
use crate::types::MetaValue;
use std::io::Write;
use std::path::Path;

struct Tensor {
    name: String,
    /// ggml order (fastest first).
    dims: Vec<u64>,
    ty: WriteType,
    data: Vec<u8>,
}

/// A GGUF file being assembled.
#[derive(Default)]
pub struct GgufWriter {
    metadata: Vec<(String, MetaValue)>,
    tensors: Vec<Tensor>,
}

impl GgufWriter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets metadata `key` (replacing an earlier value). Array elements must all be of the
    /// array's declared type.
    pub fn metadata(&mut self, key: impl Into<String>, value: MetaValue) -> Result<&mut Self> {
        let key = key.into();
        if !homogeneous(&value) {
            return Err(GgufError::Metadata {
                key,
                why: "array elements of another type than the array's".into(),
            });
        }
        self.metadata.retain(|(k, _)| *k != key);
        self.metadata.push((key, value));
        Ok(self)
    }

    /// Adds tensor `name` of PyTorch `shape` (slowest dimension first) holding `values` in
    /// row-major order, stored as `ty`. Q8_0 needs the last dimension to be a multiple of 32.
    pub fn tensor(
        &mut self,
        name: impl Into<String>,
        shape: &[usize],
        values: &[f32],
        ty: WriteType,
    ) -> Result<&mut Self> {
        let name = name.into();
        let bad = |why: String| GgufError::BadTensor {
            tensor: name.clone(),
            why,
        };
        if shape.is_empty() || shape.len() > 4 || shape.contains(&0) {
            return Err(bad(format!("cannot write shape {shape:?}")));
        }
        if shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)) != Some(values.len()) {
            return Err(bad(format!(
                "shape {shape:?} does not hold {} values",
                values.len()
            )));
        }
        let inner = shape[shape.len() - 1];
        if ty == WriteType::Q8_0 && !inner.is_multiple_of(32) {
            return Err(bad(format!(
                "Q8_0 needs the last dimension to be a multiple of 32, not {inner}"
            )));
        }
        if self.tensors.iter().any(|t| t.name == name) {
            return Err(GgufError::DuplicateTensor(name));
        }
        self.tensors.push(Tensor {
            dims: shape.iter().rev().map(|&d| d as u64).collect(),
            data: quantize(ty, values),
            name,
            ty,
        });
        Ok(self)
    }

    /// The whole file.
    pub fn to_bytes(&self) -> Vec<u8> {
        let align = self.alignment();
        let mut out = Vec::new();
        out.extend(b"GGUF");
        out.extend(3u32.to_le_bytes());
        out.extend((self.tensors.len() as u64).to_le_bytes());
        out.extend((self.metadata.len() as u64).to_le_bytes());
        for (key, value) in &self.metadata {
            put_string(&mut out, key);
            out.extend((value.ty() as u32).to_le_bytes());
            put_value(&mut out, value);
        }
        let mut offset = 0u64;
        for t in &self.tensors {
            put_string(&mut out, &t.name);
            out.extend((t.dims.len() as u32).to_le_bytes());
            for d in &t.dims {
                out.extend(d.to_le_bytes());
            }
            out.extend(t.ty.ggml().id().to_le_bytes());
            out.extend(offset.to_le_bytes());
            offset = (offset + t.data.len() as u64).div_ceil(align) * align;
        }
        for t in &self.tensors {
            pad(&mut out, align);
            out.extend(&t.data);
        }
        out
    }

    /// Writes the file to `path` (temporary file, then rename).
    pub fn write(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = std::path::PathBuf::from(tmp);
        let result = (|| {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&self.to_bytes())?;
            f.sync_all()?;
            std::fs::rename(&tmp, path)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        Ok(result?)
    }

    fn alignment(&self) -> u64 {
        self.metadata
            .iter()
            .find(|(k, _)| k == "general.alignment")
            .and_then(|(_, v)| v.as_u64())
            .filter(|a| a.is_power_of_two())
            .unwrap_or(DEFAULT_ALIGNMENT)
    }
}

/// Zero bytes up to the next multiple of `align` from the start of the data section, which
/// itself starts at the first multiple of `align` after the header.
fn pad(out: &mut Vec<u8>, align: u64) {
    let len = out.len() as u64;
    out.resize((len.div_ceil(align) * align) as usize, 0);
}

fn homogeneous(v: &MetaValue) -> bool {
    match v {
        MetaValue::Array(ty, items) => items.iter().all(|i| i.ty() == *ty && homogeneous(i)),
        _ => true,
    }
}

fn put_string(out: &mut Vec<u8>, s: &str) {
    out.extend((s.len() as u64).to_le_bytes());
    out.extend(s.as_bytes());
}

fn put_value(out: &mut Vec<u8>, v: &MetaValue) {
    match v {
        MetaValue::U8(x) => out.push(*x),
        MetaValue::I8(x) => out.push(*x as u8),
        MetaValue::U16(x) => out.extend(x.to_le_bytes()),
        MetaValue::I16(x) => out.extend(x.to_le_bytes()),
        MetaValue::U32(x) => out.extend(x.to_le_bytes()),
        MetaValue::I32(x) => out.extend(x.to_le_bytes()),
        MetaValue::F32(x) => out.extend(x.to_le_bytes()),
        MetaValue::Bool(x) => out.push(u8::from(*x)),
        MetaValue::String(s) => put_string(out, s),
        MetaValue::U64(x) => out.extend(x.to_le_bytes()),
        MetaValue::I64(x) => out.extend(x.to_le_bytes()),
        MetaValue::F64(x) => out.extend(x.to_le_bytes()),
        MetaValue::Array(ty, items) => {
            out.extend((*ty as u32).to_le_bytes());
            out.extend((items.len() as u64).to_le_bytes());
            for item in items {
                put_value(out, item);
            }
        }
    }
}
