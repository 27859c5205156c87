//! The reader: a GGUF header (magic, version, metadata, tensor infos) parsed with a bounds check
//! before every read and every allocation, so a truncated or garbage file gives a
//! [`GgufError`] and never a panic or an allocation larger than the file; then tensor data read
//! and dequantised one tensor at a time, so a large model need not fit in memory twice.

use crate::dequant::dequantize;
use crate::error::{GgufError, Result};
use crate::types::{GgmlType, MetaType, MetaValue};
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

/// The alignment of tensor data when `general.alignment` is absent.
pub const DEFAULT_ALIGNMENT: u64 = 32;
/// Longest metadata string read (chat templates run to tens of KiB; nothing legit near this).
const MAX_STRING: u64 = 64 << 20;
/// Most elements in one metadata array (vocabularies and merges have a few hundred thousand):
/// with a value taking 32 bytes in memory, one array stays under 128 MiB.
const MAX_ARRAY: u64 = 4 << 20;
/// Deepest array-of-array nesting (real files use one level).
const MAX_DEPTH: usize = 4;
/// ggml's GGML_MAX_DIMS.
const MAX_DIMS: u32 = 4;
/// Most elements in one tensor (2^53: exact in f64, far beyond any model).
const MAX_ELEMENTS: u64 = 1 << 53;

/// One tensor's description from the header.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorInfo {
    pub name: String,
    /// Dimensions in ggml order: `dims[0]` varies fastest (a PyTorch `[out, in]` weight is
    /// `[in, out]` here).
    pub dims: Vec<u64>,
    pub ty: GgmlType,
    /// Offset of the data from the start of the data section.
    pub offset: u64,
    pub n_elements: u64,
    pub n_bytes: u64,
}

impl TensorInfo {
    /// The shape in PyTorch / Hugging Face order (slowest dimension first).
    pub fn shape(&self) -> Vec<usize> {
        self.dims.iter().rev().map(|&d| d as usize).collect()
    }
}

/// A parsed GGUF header: what a file declares, checked to be consistent with its length.
#[derive(Debug, Clone)]
pub struct Gguf {
    pub version: u32,
    pub alignment: u64,
    /// Absolute offset of the data section.
    pub data_offset: u64,
    /// Length of the file the header was read from.
    pub file_len: u64,
    metadata: Vec<(String, MetaValue)>,
    keys: HashMap<String, usize>,
    tensors: Vec<TensorInfo>,
    names: HashMap<String, usize>,
}

impl Gguf {
    /// Parses the header of the file at `path` (tensor data is not read).
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        Self::read_from(BufReader::new(file), len)
    }

    /// Parses the header of an in-memory file.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        Self::read_from(bytes, bytes.len() as u64)
    }

    /// Parses the header from `r`, positioned at the start of a file of `len` bytes.
    pub fn read_from(r: impl Read, len: u64) -> Result<Self> {
        Parser { r, pos: 0, len }.header()
    }

    /// Metadata in file order.
    pub fn metadata(&self) -> &[(String, MetaValue)] {
        &self.metadata
    }

    pub fn get(&self, key: &str) -> Option<&MetaValue> {
        self.keys.get(key).map(|&i| &self.metadata[i].1)
    }

    /// Tensor infos in file order.
    pub fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }

    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.names.get(name).map(|&i| &self.tensors[i])
    }

    /// `key` as a non-negative integer; `None` when absent, an error when of another type.
    pub fn get_u64(&self, key: &str) -> Result<Option<u64>> {
        self.typed(key, "a non-negative integer", MetaValue::as_u64)
    }

    /// `key` as a number; `None` when absent, an error when of another type.
    pub fn get_f64(&self, key: &str) -> Result<Option<f64>> {
        self.typed(key, "a number", MetaValue::as_f64)
    }

    /// `key` as a string; `None` when absent, an error when of another type.
    pub fn get_str(&self, key: &str) -> Result<Option<&str>> {
        self.typed(key, "a string", MetaValue::as_str)
    }

    /// `key` as a bool; `None` when absent, an error when of another type.
    pub fn get_bool(&self, key: &str) -> Result<Option<bool>> {
        self.typed(key, "a bool", MetaValue::as_bool)
    }

    /// `key` as an array; `None` when absent, an error when of another type.
    pub fn get_array(&self, key: &str) -> Result<Option<&[MetaValue]>> {
        self.typed(key, "an array", MetaValue::as_array)
    }

    fn typed<'a, T>(
        &'a self,
        key: &str,
        want: &str,
        f: impl Fn(&'a MetaValue) -> Option<T>,
    ) -> Result<Option<T>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => f(v).map(Some).ok_or_else(|| GgufError::Metadata {
                key: key.into(),
                why: format!("expected {want}, found {:?}", v.ty()),
            }),
        }
    }

    /// The raw bytes of tensor `name`, read from `r` (the file this header came from).
    pub fn tensor_bytes<R: Read + Seek>(&self, r: &mut R, name: &str) -> Result<Vec<u8>> {
        let t = self
            .tensor(name)
            .ok_or_else(|| GgufError::NoTensor(name.into()))?;
        r.seek(SeekFrom::Start(self.data_offset + t.offset))?;
        // n_bytes was checked against the file length when the header was parsed.
        let mut buf = vec![0u8; t.n_bytes as usize];
        r.read_exact(&mut buf)?;
        Ok(buf)
    }

    /// Tensor `name` dequantised to f32, in row-major PyTorch order of [`TensorInfo::shape`].
    pub fn tensor_f32<R: Read + Seek>(&self, r: &mut R, name: &str) -> Result<Vec<f32>> {
        let t = self
            .tensor(name)
            .ok_or_else(|| GgufError::NoTensor(name.into()))?;
        if !t.ty.dequantizable() {
            return Err(GgufError::UnsupportedType {
                tensor: name.into(),
                ty: t.ty,
            });
        }
        let bytes = self.tensor_bytes(r, name)?;
        dequantize(t.ty, &bytes, t.n_elements as usize)
    }
}

/// A GGUF file opened for reading: its header and the open file for tensor data.
pub struct GgufFile {
    pub header: Gguf,
    file: BufReader<File>,
}

impl GgufFile {
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let header = Gguf::open(&path)?;
        let file = BufReader::with_capacity(1 << 20, File::open(path)?);
        Ok(Self { header, file })
    }

    /// Tensor `name` dequantised to f32 (see [`Gguf::tensor_f32`]).
    pub fn tensor_f32(&mut self, name: &str) -> Result<Vec<f32>> {
        self.header.tensor_f32(&mut self.file, name)
    }

    /// The raw bytes of tensor `name`.
    pub fn tensor_bytes(&mut self, name: &str) -> Result<Vec<u8>> {
        self.header.tensor_bytes(&mut self.file, name)
    }
}

/// A reader that knows its position and the file's length, and checks one against the other
/// before each read.
struct Parser<R> {
    r: R,
    pos: u64,
    len: u64,
}

impl<R: Read> Parser<R> {
    fn header(mut self) -> Result<Gguf> {
        let magic: [u8; 4] = self.array("magic")?;
        if &magic != b"GGUF" {
            return Err(GgufError::BadMagic(magic));
        }
        let version = self.u32("version")?;
        if !(2..=3).contains(&version) {
            return Err(GgufError::UnsupportedVersion(version));
        }
        // Smallest tensor info: empty name, n_dims, type, offset; smallest pair: empty key,
        // type, one byte of value.
        let n_tensors = self.count("tensor count", 8 + 4 + 4 + 8, u64::MAX)?;
        let n_kv = self.count("metadata count", 8 + 4 + 1, u64::MAX)?;

        let (mut metadata, mut keys) = (Vec::new(), HashMap::new());
        for _ in 0..n_kv {
            let key = self.string("metadata key")?;
            let at = self.pos;
            let ty = self.meta_type(at)?;
            let value = self.value(ty, 0)?;
            if keys.insert(key.clone(), metadata.len()).is_some() {
                return Err(GgufError::DuplicateKey(key));
            }
            metadata.push((key, value));
        }
        let alignment = alignment(metadata.iter().find(|(k, _)| k == "general.alignment"))?;

        let (mut tensors, mut names) = (Vec::new(), HashMap::new());
        for _ in 0..n_tensors {
            let t = self.tensor_info()?;
            if names.insert(t.name.clone(), tensors.len()).is_some() {
                return Err(GgufError::DuplicateTensor(t.name));
            }
            tensors.push(t);
        }
        let data_offset = self.pos.div_ceil(alignment) * alignment;
        let gguf = Gguf {
            version,
            alignment,
            data_offset,
            file_len: self.len,
            metadata,
            keys,
            tensors,
            names,
        };
        check_layout(&gguf)?;
        Ok(gguf)
    }

    fn tensor_info(&mut self) -> Result<TensorInfo> {
        let name = self.string("tensor name")?;
        let bad = |why: String| GgufError::BadTensor {
            tensor: name.clone(),
            why,
        };
        let n_dims = self.u32("tensor dimension count")?;
        if n_dims == 0 || n_dims > MAX_DIMS {
            return Err(bad(format!(
                "{n_dims} dimensions (1 to {MAX_DIMS} allowed)"
            )));
        }
        let mut dims = Vec::with_capacity(n_dims as usize);
        for _ in 0..n_dims {
            dims.push(self.u64("tensor dimension")?);
        }
        let n_elements = dims
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d))
            .filter(|&n| n > 0 && n <= MAX_ELEMENTS)
            .ok_or_else(|| bad(format!("absurd dimensions {dims:?}")))?;
        let id = self.u32("tensor type")?;
        let ty = GgmlType::from_id(id).ok_or_else(|| GgufError::UnknownTensorType {
            tensor: name.clone(),
            ty: id,
        })?;
        if !dims[0].is_multiple_of(ty.block_size()) {
            return Err(bad(format!(
                "first dimension {} is not a multiple of {ty}'s block size {}",
                dims[0],
                ty.block_size()
            )));
        }
        let n_bytes = n_elements / ty.block_size() * ty.type_size();
        let offset = self.u64("tensor offset")?;
        Ok(TensorInfo {
            name,
            dims,
            ty,
            offset,
            n_elements,
            n_bytes,
        })
    }

    fn value(&mut self, ty: MetaType, depth: usize) -> Result<MetaValue> {
        Ok(match ty {
            MetaType::U8 => MetaValue::U8(self.array::<1>("u8 value")?[0]),
            MetaType::I8 => MetaValue::I8(self.array::<1>("i8 value")?[0] as i8),
            MetaType::U16 => MetaValue::U16(u16::from_le_bytes(self.array("u16 value")?)),
            MetaType::I16 => MetaValue::I16(i16::from_le_bytes(self.array("i16 value")?)),
            MetaType::U32 => MetaValue::U32(self.u32("u32 value")?),
            MetaType::I32 => MetaValue::I32(i32::from_le_bytes(self.array("i32 value")?)),
            MetaType::F32 => MetaValue::F32(f32::from_le_bytes(self.array("f32 value")?)),
            MetaType::Bool => MetaValue::Bool(self.array::<1>("bool value")?[0] != 0),
            MetaType::String => MetaValue::String(self.string("string value")?),
            MetaType::U64 => MetaValue::U64(self.u64("u64 value")?),
            MetaType::I64 => MetaValue::I64(i64::from_le_bytes(self.array("i64 value")?)),
            MetaType::F64 => MetaValue::F64(f64::from_le_bytes(self.array("f64 value")?)),
            MetaType::Array => {
                if depth >= MAX_DEPTH {
                    return Err(GgufError::NestedTooDeep(MAX_DEPTH));
                }
                let at = self.pos;
                let elem = self.meta_type(at)?;
                let n = self.count("array length", elem.min_size(), MAX_ARRAY)?;
                // Grows as elements are read: memory stays proportional to bytes read.
                let mut items = Vec::with_capacity(n.min(4096) as usize);
                for _ in 0..n {
                    items.push(self.value(elem, depth + 1)?);
                }
                MetaValue::Array(elem, items)
            }
        })
    }

    fn meta_type(&mut self, at: u64) -> Result<MetaType> {
        let id = self.u32("value type")?;
        MetaType::from_id(id).ok_or(GgufError::UnknownValueType { ty: id, offset: at })
    }

    /// A u64 count of items of at least `min_size` bytes each, checked against what is left of
    /// the file and against `max`.
    fn count(&mut self, what: &'static str, min_size: u64, max: u64) -> Result<u64> {
        let offset = self.pos;
        let n = self.u64(what)?;
        let fits = n
            .checked_mul(min_size)
            .is_some_and(|b| b <= self.len - self.pos);
        if !fits || n > max {
            return Err(GgufError::TooLarge {
                what,
                count: n,
                offset,
            });
        }
        Ok(n)
    }

    fn string(&mut self, what: &'static str) -> Result<String> {
        let offset = self.pos;
        let n = self.u64(what)?;
        if n > MAX_STRING {
            return Err(GgufError::TooLarge {
                what,
                count: n,
                offset,
            });
        }
        self.need(n, what)?;
        let mut buf = vec![0u8; n as usize];
        self.r.read_exact(&mut buf)?;
        self.pos += n;
        String::from_utf8(buf).map_err(|_| GgufError::InvalidUtf8 { offset })
    }

    fn u32(&mut self, what: &'static str) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    fn u64(&mut self, what: &'static str) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N]> {
        self.need(N as u64, what)?;
        let mut buf = [0u8; N];
        self.r.read_exact(&mut buf)?;
        self.pos += N as u64;
        Ok(buf)
    }

    fn need(&self, n: u64, what: &'static str) -> Result<()> {
        if n > self.len - self.pos {
            return Err(GgufError::Truncated {
                what,
                offset: self.pos,
                len: self.len,
            });
        }
        Ok(())
    }
}

/// `general.alignment`: a u32 power of two (as llama.cpp requires), or the default.
fn alignment(kv: Option<&(String, MetaValue)>) -> Result<u64> {
    match kv.map(|(_, v)| v) {
        None => Ok(DEFAULT_ALIGNMENT),
        Some(MetaValue::U32(a)) if a.is_power_of_two() => Ok(u64::from(*a)),
        Some(v) => Err(GgufError::BadAlignment(format!(
            "expected a u32 power of two, found {v:?}"
        ))),
    }
}

/// Every tensor's data aligned, inside the file, and apart from every other's.
fn check_layout(g: &Gguf) -> Result<()> {
    if g.tensors.is_empty() {
        return Ok(());
    }
    let data_len = g
        .file_len
        .checked_sub(g.data_offset)
        .ok_or(GgufError::Truncated {
            what: "data section",
            offset: g.data_offset,
            len: g.file_len,
        })?;
    for t in &g.tensors {
        let bad = |why: String| GgufError::BadTensor {
            tensor: t.name.clone(),
            why,
        };
        if !t.offset.is_multiple_of(g.alignment) {
            return Err(bad(format!(
                "offset {} is not a multiple of the alignment {}",
                t.offset, g.alignment
            )));
        }
        if t.offset
            .checked_add(t.n_bytes)
            .is_none_or(|end| end > data_len)
        {
            return Err(bad(format!(
                "data ({} bytes at offset {}) runs past the end of the data section ({data_len} bytes)",
                t.n_bytes, t.offset
            )));
        }
    }
    let mut order: Vec<&TensorInfo> = g.tensors.iter().collect();
    order.sort_by_key(|t| t.offset);
    for w in order.windows(2) {
        if w[0].offset + w[0].n_bytes > w[1].offset {
            return Err(GgufError::Overlap {
                first: w[0].name.clone(),
                second: w[1].name.clone(),
            });
        }
    }
    Ok(())
}
