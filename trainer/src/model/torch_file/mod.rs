//! Reading a PyTorch `pytorch_model.bin` state dict without Python: the zip container that
//! `torch.save` writes since torch 1.6 (`<archive>/data.pkl` + `<archive>/data/<key>` storages,
//! entries stored uncompressed), its pickle read by [`pickle`], and each tensor gathered from
//! its storage. F32, F16 and BF16 tensors are read as f32, contiguous or strided; integer
//! buffers (`position_ids`) are skipped like in safetensors.
//!
//! Why our own: burn-store's PyTorch reader needs `zip` 8 with its default codecs (zstd, bzip2,
//! lzma, aes...) and `tar`; torch writes stored entries, so `zip` without features suffices.

mod pickle;

use pickle::{kind, StorageType, TensorRef, Val};
use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

/// One tensor as f32 values in row-major order with its shape.
pub type F32Tensor = (Vec<usize>, Vec<f32>);

/// Reads every floating-point tensor of the state dict in `path`, by name.
pub fn read_state_dict(path: &Path) -> Result<HashMap<String, F32Tensor>, String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut zip = zip::ZipArchive::new(file).map_err(|e| {
        format!(
            "not a zip archive ({e}); only the zip format torch.save writes since torch 1.6 \
             is read: re-save it with a recent torch, or convert it to model.safetensors"
        )
    })?;
    let pkl_name = (0..zip.len())
        .filter_map(|i| zip.name_for_index(i).map(str::to_string))
        .find(|n| n == "data.pkl" || n.ends_with("/data.pkl"))
        .ok_or("no data.pkl in the archive: not a torch.save file")?;
    let prefix = pkl_name.trim_end_matches("data.pkl").to_string();
    if let Ok(mut f) = zip.by_name(&format!("{prefix}byteorder")) {
        let mut order = String::new();
        f.read_to_string(&mut order).map_err(|e| e.to_string())?;
        if order.trim() != "little" {
            return Err(format!("byte order `{}` is not supported", order.trim()));
        }
    }
    let pickle = read_entry(&mut zip, &pkl_name)?;
    let root = pickle::unpickle(&pickle)?;
    let items = match root {
        Val::Dict(items) => items,
        other => {
            return Err(format!(
                "the pickle holds {}, not a state dict",
                kind(&other)
            ))
        }
    };
    let mut storages: HashMap<String, Vec<u8>> = HashMap::new();
    let mut out = HashMap::new();
    for (name, value) in items {
        let Val::Str(name) = name else {
            return Err(format!("a state dict key is {}, not a string", kind(&name)));
        };
        let t = match value {
            Val::Tensor(t) => t,
            // Non-tensor entries (e.g. `_metadata` in odd exports) are not weights.
            _ => continue,
        };
        if matches!(t.ty, StorageType::Other(_)) {
            continue;
        }
        if !storages.contains_key(&t.key) {
            let bytes = read_entry(&mut zip, &format!("{prefix}data/{}", t.key))?;
            storages.insert(t.key.clone(), bytes);
        }
        let values = gather(&storages[&t.key], &t).map_err(|e| format!("tensor `{name}`: {e}"))?;
        out.insert(name, (t.shape, values));
    }
    Ok(out)
}

fn read_entry<R: Read + std::io::Seek>(
    zip: &mut zip::ZipArchive<R>,
    name: &str,
) -> Result<Vec<u8>, String> {
    let mut f = zip
        .by_name(name)
        .map_err(|e| format!("archive entry {name}: {e}"))?;
    let mut buf = Vec::with_capacity(f.size() as usize);
    f.read_to_end(&mut buf)
        .map_err(|e| format!("archive entry {name}: {e}"))?;
    Ok(buf)
}

/// The tensor's elements in row-major order, following its offset and strides.
fn gather(storage: &[u8], t: &TensorRef) -> Result<Vec<f32>, String> {
    let size = t.ty.size();
    let n: usize = t.shape.iter().product();
    if t.shape.len() != t.stride.len() {
        return Err("shape and stride differ in length".into());
    }
    // The largest element index touched must lie inside the storage.
    let last = t.offset
        + t.shape
            .iter()
            .zip(&t.stride)
            .map(|(&d, &s)| d.saturating_sub(1) * s)
            .sum::<usize>();
    if n > 0 && (last + 1) * size > storage.len() {
        return Err(format!(
            "needs element {last} but its storage holds {}",
            storage.len() / size
        ));
    }
    let read = |i: usize| -> f32 {
        let b = &storage[i * size..(i + 1) * size];
        match t.ty {
            StorageType::F32 => f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            StorageType::F16 => half::f16::from_le_bytes([b[0], b[1]]).to_f32(),
            StorageType::Bf16 => half::bf16::from_le_bytes([b[0], b[1]]).to_f32(),
            StorageType::F64 => {
                f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32
            }
            StorageType::Other(_) => f32::NAN,
        }
    };
    let mut out = Vec::with_capacity(n);
    if n == 0 {
        return Ok(out);
    }
    let rank = t.shape.len();
    let mut idx = vec![0usize; rank];
    let mut pos = t.offset;
    for _ in 0..n {
        out.push(read(pos));
        // Odometer over the dimensions, last fastest.
        for d in (0..rank).rev() {
            idx[d] += 1;
            pos += t.stride[d];
            if idx[d] < t.shape[d] {
                break;
            }
            pos -= t.stride[d] * t.shape[d];
            idx[d] = 0;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tref(shape: &[usize], stride: &[usize], offset: usize) -> TensorRef {
        TensorRef {
            ty: StorageType::F32,
            key: "0".into(),
            offset,
            shape: shape.to_vec(),
            stride: stride.to_vec(),
        }
    }

    fn storage(n: usize) -> Vec<u8> {
        (0..n).flat_map(|i| (i as f32).to_le_bytes()).collect()
    }

    #[test]
    fn gathers_contiguous_strided_and_offset_tensors() {
        let s = storage(12);
        let c = gather(&s, &tref(&[2, 3], &[3, 1], 0)).unwrap();
        assert_eq!(c, vec![0., 1., 2., 3., 4., 5.]);
        // A transposed view of a [3, 2] tensor.
        let t = gather(&s, &tref(&[2, 3], &[1, 2], 0)).unwrap();
        assert_eq!(t, vec![0., 2., 4., 1., 3., 5.]);
        let o = gather(&s, &tref(&[2], &[1], 10)).unwrap();
        assert_eq!(o, vec![10., 11.]);
        let e = gather(&s, &tref(&[2], &[1], 11)).unwrap_err();
        assert!(e.contains("storage holds 12"), "{e}");
    }
}
