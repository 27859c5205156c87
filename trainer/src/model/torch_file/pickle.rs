//! A minimal unpickler for what a `torch.save` state dict's `data.pkl` holds (pickle protocols
//! 2 to 5): dicts, tuples, lists, strings, ints, `collections.OrderedDict`,
//! `torch._utils._rebuild_tensor_v2`, `_rebuild_parameter` and persistent storage ids. Tensors
//! come out as references into storages ([`TensorRef`]); the caller reads their bytes.
//!
//! Nothing here executes pickled code: any callable other than the few above becomes an opaque
//! value, and a tensor built from one is an error.

use std::collections::HashMap;

/// Unpickles `data` into the value its STOP opcode returns.
pub(super) fn unpickle(data: &[u8]) -> Result<Val, String> {
    Unpickler::new(data).run()
}

/// Element types of torch storages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum StorageType {
    F32,
    F16,
    Bf16,
    F64,
    /// Integer or bool storages: skipped (buffers, not weights).
    Other(&'static str),
}

impl StorageType {
    fn from_class(name: &str) -> Result<Self, String> {
        Ok(match name {
            "FloatStorage" => StorageType::F32,
            "HalfStorage" => StorageType::F16,
            "BFloat16Storage" => StorageType::Bf16,
            "DoubleStorage" => StorageType::F64,
            "LongStorage" => StorageType::Other("int64"),
            "IntStorage" => StorageType::Other("int32"),
            "ShortStorage" => StorageType::Other("int16"),
            "CharStorage" => StorageType::Other("int8"),
            "ByteStorage" => StorageType::Other("uint8"),
            "BoolStorage" => StorageType::Other("bool"),
            other => return Err(format!("unsupported storage type torch.{other}")),
        })
    }

    pub(super) fn size(self) -> usize {
        match self {
            StorageType::F32 => 4,
            StorageType::F16 | StorageType::Bf16 => 2,
            StorageType::F64 => 8,
            StorageType::Other(_) => 1,
        }
    }
}

/// A value on the unpickler's stack (payloads kept only where a state dict needs them).
#[derive(Debug, Clone)]
pub(super) enum Val {
    None,
    Bool,
    Int(i64),
    Float,
    Str(String),
    Bytes,
    Tuple(Vec<Val>),
    List(Vec<Val>),
    Dict(Vec<(Val, Val)>),
    Global(String, String),
    Storage {
        ty: StorageType,
        key: String,
    },
    Tensor(TensorRef),
    /// The result of a callable we do not model.
    Opaque(String),
}

/// A tensor as the pickle describes it: a storage key, an element offset, shape and strides.
#[derive(Debug, Clone)]
pub(super) struct TensorRef {
    pub(super) ty: StorageType,
    pub(super) key: String,
    pub(super) offset: usize,
    pub(super) shape: Vec<usize>,
    pub(super) stride: Vec<usize>,
}

/// What a value is, for error messages.
pub(super) fn kind(v: &Val) -> String {
    match v {
        Val::None => "None".into(),
        Val::Bool => "a bool".into(),
        Val::Int(_) => "an int".into(),
        Val::Float => "a float".into(),
        Val::Str(_) => "a string".into(),
        Val::Bytes => "bytes".into(),
        Val::Tuple(_) => "a tuple".into(),
        Val::List(_) => "a list".into(),
        Val::Dict(_) => "a dict".into(),
        Val::Global(m, n) => format!("{m}.{n}"),
        Val::Storage { .. } => "a storage".into(),
        Val::Tensor(_) => "a tensor".into(),
        Val::Opaque(what) => format!("an object built by {what}"),
    }
}

/// A stack machine for the pickle opcodes a state dict uses (protocols 2 to 5).
struct Unpickler<'a> {
    data: &'a [u8],
    pos: usize,
    stack: Vec<Val>,
    /// Positions in `stack` where MARKs were pushed.
    marks: Vec<usize>,
    memo: HashMap<u32, Val>,
}

impl<'a> Unpickler<'a> {
    fn new(data: &'a [u8]) -> Self {
        Unpickler {
            data,
            pos: 0,
            stack: Vec::new(),
            marks: Vec::new(),
            memo: HashMap::new(),
        }
    }

    fn bytes(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.data.len())
            .ok_or("truncated pickle")?;
        let b = &self.data[self.pos..end];
        self.pos = end;
        Ok(b)
    }

    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.bytes(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, String> {
        let b = self.bytes(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn line(&mut self) -> Result<String, String> {
        let rest = &self.data[self.pos..];
        let end = rest
            .iter()
            .position(|&c| c == b'\n')
            .ok_or("truncated pickle")?;
        self.pos += end + 1;
        Ok(String::from_utf8_lossy(&rest[..end]).into_owned())
    }

    fn string(&mut self, n: usize) -> Result<Val, String> {
        let b = self.bytes(n)?;
        Ok(Val::Str(
            std::str::from_utf8(b)
                .map_err(|_| "invalid UTF-8 in a pickled string")?
                .to_string(),
        ))
    }

    fn pop(&mut self) -> Result<Val, String> {
        self.stack
            .pop()
            .ok_or_else(|| "pickle stack underflow".into())
    }

    fn pop_mark(&mut self) -> Result<Vec<Val>, String> {
        let at = self.marks.pop().ok_or("pickle MARK missing")?;
        if at > self.stack.len() {
            return Err("pickle MARK past the stack".into());
        }
        Ok(self.stack.split_off(at))
    }

    fn top(&mut self) -> Result<&mut Val, String> {
        self.stack
            .last_mut()
            .ok_or_else(|| "pickle stack underflow".into())
    }

    fn memo_put(&mut self, key: u32) -> Result<(), String> {
        let v = self.top()?.clone();
        self.memo.insert(key, v);
        Ok(())
    }

    fn memo_get(&mut self, key: u32) -> Result<(), String> {
        let v = self
            .memo
            .get(&key)
            .cloned()
            .ok_or_else(|| format!("pickle memo {key} missing"))?;
        self.stack.push(v);
        Ok(())
    }

    fn set_items(&mut self, items: Vec<Val>) -> Result<(), String> {
        if !items.len().is_multiple_of(2) {
            return Err("odd number of dict items".into());
        }
        let Val::Dict(d) = self.top()? else {
            return Err("SETITEMS on a non-dict".into());
        };
        let mut it = items.into_iter();
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            d.push((k, v));
        }
        Ok(())
    }

    fn run(mut self) -> Result<Val, String> {
        loop {
            let op = self.u8()?;
            match op {
                0x80 => {
                    let proto = self.u8()?;
                    if proto > 5 {
                        return Err(format!("pickle protocol {proto} is not supported"));
                    }
                }
                0x95 => {
                    self.bytes(8)?; // FRAME: a length hint only.
                }
                b'.' => return self.pop(),
                b'(' => self.marks.push(self.stack.len()),
                b'}' => self.stack.push(Val::Dict(Vec::new())),
                b']' => self.stack.push(Val::List(Vec::new())),
                b')' => self.stack.push(Val::Tuple(Vec::new())),
                b'N' => self.stack.push(Val::None),
                0x88 => self.stack.push(Val::Bool),
                0x89 => self.stack.push(Val::Bool),
                b'K' => {
                    let v = self.u8()?;
                    self.stack.push(Val::Int(v as i64));
                }
                b'M' => {
                    let b = self.bytes(2)?;
                    self.stack
                        .push(Val::Int(u16::from_le_bytes([b[0], b[1]]) as i64));
                }
                b'J' => {
                    let v = self.u32()? as i32;
                    self.stack.push(Val::Int(v as i64));
                }
                0x8a => {
                    let n = self.u8()? as usize;
                    let b = self.bytes(n)?;
                    if n > 8 {
                        return Err("integer too large in pickle".into());
                    }
                    let mut buf = if b.last().is_some_and(|&x| x & 0x80 != 0) {
                        [0xffu8; 8]
                    } else {
                        [0u8; 8]
                    };
                    buf[..n].copy_from_slice(b);
                    self.stack.push(Val::Int(i64::from_le_bytes(buf)));
                }
                b'G' => {
                    self.bytes(8)?;
                    self.stack.push(Val::Float);
                }
                b'X' => {
                    let n = self.u32()? as usize;
                    let v = self.string(n)?;
                    self.stack.push(v);
                }
                0x8c => {
                    let n = self.u8()? as usize;
                    let v = self.string(n)?;
                    self.stack.push(v);
                }
                0x8d => {
                    let b = self.bytes(8)?;
                    let mut a = [0u8; 8];
                    a.copy_from_slice(b);
                    let v = self.string(u64::from_le_bytes(a) as usize)?;
                    self.stack.push(v);
                }
                b'T' | b'B' => {
                    let n = self.u32()? as usize;
                    self.bytes(n)?;
                    self.stack.push(Val::Bytes);
                }
                b'U' | b'C' => {
                    let n = self.u8()? as usize;
                    self.bytes(n)?;
                    self.stack.push(Val::Bytes);
                }
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    self.stack.push(Val::Global(module, name));
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    match (module, name) {
                        (Val::Str(m), Val::Str(n)) => self.stack.push(Val::Global(m, n)),
                        _ => return Err("STACK_GLOBAL needs two strings".into()),
                    }
                }
                b'q' => {
                    let k = self.u8()? as u32;
                    self.memo_put(k)?;
                }
                b'r' => {
                    let k = self.u32()?;
                    self.memo_put(k)?;
                }
                0x94 => {
                    let k = self.memo.len() as u32;
                    self.memo_put(k)?;
                }
                b'h' => {
                    let k = self.u8()? as u32;
                    self.memo_get(k)?;
                }
                b'j' => {
                    let k = self.u32()?;
                    self.memo_get(k)?;
                }
                b't' => {
                    let items = self.pop_mark()?;
                    self.stack.push(Val::Tuple(items));
                }
                0x85..=0x87 => {
                    let n = (op - 0x84) as usize;
                    if self.stack.len() < n {
                        return Err("pickle stack underflow".into());
                    }
                    let items = self.stack.split_off(self.stack.len() - n);
                    self.stack.push(Val::Tuple(items));
                }
                b'l' => {
                    let items = self.pop_mark()?;
                    self.stack.push(Val::List(items));
                }
                b'a' => {
                    let v = self.pop()?;
                    if let Val::List(l) = self.top()? {
                        l.push(v);
                    }
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    if let Val::List(l) = self.top()? {
                        l.extend(items);
                    }
                }
                b'd' => {
                    let items = self.pop_mark()?;
                    self.stack.push(Val::Dict(Vec::new()));
                    self.set_items(items)?;
                }
                b's' => {
                    let v = self.pop()?;
                    let k = self.pop()?;
                    self.set_items(vec![k, v])?;
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    self.set_items(items)?;
                }
                b'Q' => {
                    let pid = self.pop()?;
                    let v = persistent_load(pid)?;
                    self.stack.push(v);
                }
                b'R' => {
                    let args = self.pop()?;
                    let func = self.pop()?;
                    let v = reduce(func, args)?;
                    self.stack.push(v);
                }
                0x81 => {
                    let _args = self.pop()?;
                    let cls = self.pop()?;
                    self.stack.push(Val::Opaque(kind(&cls)));
                }
                // BUILD sets an object's state (e.g. an OrderedDict's `_metadata`): not needed.
                b'b' => {
                    self.pop()?;
                }
                other => {
                    return Err(format!(
                        "unsupported pickle opcode 0x{other:02x} at byte {}",
                        self.pos - 1
                    ))
                }
            }
        }
    }
}

/// `('storage', torch.XStorage, key, location, numel)` → a storage reference.
fn persistent_load(pid: Val) -> Result<Val, String> {
    let Val::Tuple(items) = pid else {
        return Err("persistent id is not a tuple".into());
    };
    match items.as_slice() {
        [Val::Str(tag), Val::Global(module, class), Val::Str(key), ..]
            if tag == "storage" && module == "torch" =>
        {
            Ok(Val::Storage {
                ty: StorageType::from_class(class)?,
                key: key.clone(),
            })
        }
        _ => Err("unsupported persistent id (not a torch storage)".into()),
    }
}

fn as_usizes(v: &Val, what: &str) -> Result<Vec<usize>, String> {
    match v {
        Val::Tuple(items) | Val::List(items) => items
            .iter()
            .map(|x| match x {
                Val::Int(i) if *i >= 0 => Ok(*i as usize),
                _ => Err(format!(
                    "tensor {what} holds a non-integer or negative value"
                )),
            })
            .collect(),
        _ => Err(format!("tensor {what} is not a tuple")),
    }
}

fn reduce(func: Val, args: Val) -> Result<Val, String> {
    let Val::Global(module, name) = &func else {
        return Ok(Val::Opaque(kind(&func)));
    };
    let args = match args {
        Val::Tuple(a) => a,
        _ => return Ok(Val::Opaque(format!("{module}.{name}"))),
    };
    match (module.as_str(), name.as_str()) {
        ("collections", "OrderedDict") => Ok(Val::Dict(Vec::new())),
        ("torch._utils", "_rebuild_tensor_v2") | ("torch._utils", "_rebuild_tensor") => {
            let (storage, offset, shape, stride) = match args.as_slice() {
                [s, Val::Int(o), size, stride, ..] if *o >= 0 => (s, *o as usize, size, stride),
                _ => return Err(format!("unexpected arguments to {module}.{name}")),
            };
            let Val::Storage { ty, key } = storage else {
                return Err(format!("{module}.{name} without a storage"));
            };
            Ok(Val::Tensor(TensorRef {
                ty: *ty,
                key: key.clone(),
                offset,
                shape: as_usizes(shape, "size")?,
                stride: as_usizes(stride, "stride")?,
            }))
        }
        // A saved nn.Parameter: its data tensor is the first argument.
        ("torch._utils", "_rebuild_parameter")
        | ("torch._utils", "_rebuild_parameter_with_state") => match args.into_iter().next() {
            Some(t @ Val::Tensor(_)) => Ok(t),
            _ => Err(format!("{module}.{name} without a tensor")),
        },
        _ => Ok(Val::Opaque(format!("{module}.{name}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unpickles_a_state_dict_shape() {
        // {"w": _rebuild_tensor_v2(pers(('storage', torch.FloatStorage, '0', 'cpu', 4)),
        //  0, (2, 2), (2, 1), False, OrderedDict())}, protocol 2, as torch.save writes it.
        let mut p = vec![0x80, 2, b'}', b'q', 0, b'(', b'X'];
        p.extend(1u32.to_le_bytes());
        p.push(b'w');
        p.extend(b"ctorch._utils\n_rebuild_tensor_v2\nq\x01((X");
        p.extend(7u32.to_le_bytes());
        p.extend(b"storageq\x02ctorch\nFloatStorage\nq\x03X");
        p.extend(1u32.to_le_bytes());
        p.extend(b"0X");
        p.extend(3u32.to_le_bytes());
        p.extend(b"cpuq\x04K\x04tq\x05QK\x00K\x02K\x02\x86K\x02K\x01\x86\x89");
        p.extend(b"ccollections\nOrderedDict\n)Rtq\x06Ru.");
        let v = Unpickler::new(&p).run().unwrap();
        let Val::Dict(items) = v else { panic!("{v:?}") };
        assert_eq!(items.len(), 1);
        let Val::Tensor(t) = &items[0].1 else {
            panic!("{items:?}")
        };
        assert_eq!(
            (t.shape.as_slice(), t.stride.as_slice()),
            (&[2, 2][..], &[2, 1][..])
        );
        assert_eq!((t.ty, t.key.as_str(), t.offset), (StorageType::F32, "0", 0));
    }

    #[test]
    fn rejects_garbage_and_unknown_code() {
        assert!(Unpickler::new(b"\x80\x02").run().is_err());
        assert!(Unpickler::new(b"\x80\x02\xff").run().is_err());
        // An unknown callable is opaque; a tensor needs a storage.
        let e = reduce(
            Val::Global("torch._utils".into(), "_rebuild_tensor_v2".into()),
            Val::Tuple(vec![
                Val::Opaque("os.system".into()),
                Val::Int(0),
                Val::Tuple(vec![]),
                Val::Tuple(vec![]),
            ]),
        )
        .unwrap_err();
        assert!(e.contains("without a storage"), "{e}");
    }
}
