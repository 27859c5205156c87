//! The file format on synthetic files: every metadata type round-trips through the writer and
//! the reader, v2 files read, and each kind of broken file gets its own clear error.

mod common;

use common::{every_type, small_file, values};
use finetune_gguf::{dequantize, GgmlType, Gguf, GgufError, GgufWriter, MetaValue, WriteType};

#[test]
fn every_metadata_type_round_trips() {
    let g = Gguf::parse(&small_file()).unwrap();
    assert_eq!(g.version, 3);
    let want = every_type();
    assert_eq!(g.metadata().len(), want.len());
    for ((k, v), (wk, wv)) in g.metadata().iter().zip(&want) {
        assert_eq!((k.as_str(), v), (*wk, wv));
    }
    assert_eq!(g.get_u64("t.u32").unwrap(), Some(4_000_000_000));
    assert_eq!(g.get_f64("t.i16").unwrap(), Some(-30_000.0));
    assert!(matches!(g.get_str("t.u8"), Err(GgufError::Metadata { .. })));
    assert_eq!(g.get_str("absent").unwrap(), None);
}

#[test]
fn tensors_round_trip_within_their_types_tolerance() {
    let bytes = small_file();
    let g = Gguf::parse(&bytes).unwrap();
    let mut r = std::io::Cursor::new(&bytes);
    let names: Vec<_> = g
        .tensors()
        .iter()
        .map(|t| (t.name.as_str(), t.ty, t.shape()))
        .collect();
    assert_eq!(
        names,
        [
            ("norm.weight", GgmlType::F32, vec![5]),
            ("half.weight", GgmlType::F16, vec![3, 7]),
            ("q8.weight", GgmlType::Q8_0, vec![2, 64]),
        ]
    );
    assert_eq!(g.tensor_f32(&mut r, "norm.weight").unwrap(), values(5, 1));
    for (got, want) in g
        .tensor_f32(&mut r, "half.weight")
        .unwrap()
        .iter()
        .zip(values(21, 2))
    {
        assert!((got - want).abs() <= want.abs() / 1024.0, "{got} vs {want}");
    }
    for (got, want) in g
        .tensor_f32(&mut r, "q8.weight")
        .unwrap()
        .iter()
        .zip(values(128, 3))
    {
        assert!((got - want).abs() <= 1.0 / 127.0 * 0.57, "{got} vs {want}");
    }
    for t in g.tensors() {
        assert_eq!((g.data_offset + t.offset) % 32, 0, "{} unaligned", t.name);
    }
    assert!(matches!(
        g.tensor_f32(&mut r, "nope"),
        Err(GgufError::NoTensor(_))
    ));
}

#[test]
fn version_2_files_and_custom_alignment_read() {
    let mut w = GgufWriter::new();
    w.metadata("general.alignment", MetaValue::U32(64)).unwrap();
    w.tensor("a", &[4], &[1.0, 2.0, 3.0, 4.0], WriteType::F32)
        .unwrap();
    w.tensor("b", &[2], &[5.0, 6.0], WriteType::F32).unwrap();
    let mut bytes = w.to_bytes();
    bytes[4] = 2;
    let g = Gguf::parse(&bytes).unwrap();
    assert_eq!((g.version, g.alignment), (2, 64));
    assert_eq!(g.data_offset % 64, 0);
    assert_eq!(g.tensor("b").unwrap().offset, 64);
    let mut r = std::io::Cursor::new(&bytes);
    assert_eq!(g.tensor_f32(&mut r, "b").unwrap(), [5.0, 6.0]);
}

/// A one-tensor file with the tensor info's fields patched.
fn patched(ty: u32, offset: u64, dim0: u64) -> Vec<u8> {
    let mut w = GgufWriter::new();
    w.tensor("w", &[64], &values(64, 9), WriteType::F32)
        .unwrap();
    let mut b = w.to_bytes();
    // Header 24 bytes; name: 8 + 1; n_dims 4; dims 8; type 4; offset 8.
    b[37..45].copy_from_slice(&dim0.to_le_bytes());
    b[45..49].copy_from_slice(&ty.to_le_bytes());
    b[49..57].copy_from_slice(&offset.to_le_bytes());
    b
}

#[test]
fn broken_files_give_one_clear_error_each() {
    let err = |b: &[u8]| Gguf::parse(b).unwrap_err();
    let ok = patched(0, 0, 64);
    assert!(Gguf::parse(&ok).is_ok());

    assert!(matches!(err(b"GGML\x03\0\0\0"), GgufError::BadMagic(_)));
    assert!(matches!(err(b"GG"), GgufError::Truncated { .. }));
    let mut v = ok.clone();
    v[4..8].copy_from_slice(&1u32.to_le_bytes());
    assert!(matches!(err(&v), GgufError::UnsupportedVersion(1)));
    v[4..8].copy_from_slice(&3u32.to_be_bytes());
    assert!(err(&v).to_string().contains("big-endian"));

    let mut v = ok.clone();
    v[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(matches!(
        err(&v),
        GgufError::TooLarge {
            what: "tensor count",
            ..
        }
    ));
    let mut v = ok.clone();
    v[16..24].copy_from_slice(&(1u64 << 40).to_le_bytes());
    assert!(matches!(
        err(&v),
        GgufError::TooLarge {
            what: "metadata count",
            ..
        }
    ));
    let mut v = ok.clone();
    v[24..32].copy_from_slice(&(u64::MAX - 3).to_le_bytes());
    assert!(matches!(
        err(&v),
        GgufError::TooLarge {
            what: "tensor name",
            ..
        }
    ));

    assert!(matches!(
        err(&patched(99, 0, 64)),
        GgufError::UnknownTensorType { ty: 99, .. }
    ));
    let e = err(&patched(8, 0, 48)).to_string();
    assert!(e.contains("block size 32"), "{e}");
    let e = err(&patched(0, 16, 64)).to_string();
    assert!(e.contains("not a multiple of the alignment"), "{e}");
    let e = err(&patched(0, 32, 64)).to_string();
    assert!(e.contains("runs past the end"), "{e}");
    let e = err(&patched(0, 0, u64::MAX)).to_string();
    assert!(e.contains("absurd dimensions"), "{e}");

    // Two tensors over the same bytes.
    let mut w = GgufWriter::new();
    w.tensor("a", &[8], &values(8, 1), WriteType::F32).unwrap();
    w.tensor("b", &[8], &values(8, 2), WriteType::F32).unwrap();
    let mut b = w.to_bytes();
    let at = b.windows(2).position(|x| x == b"b\x01").unwrap() + 1;
    // b's offset (32) follows its n_dims (4), dim (8) and type (4).
    b[at + 16..at + 24].copy_from_slice(&16u64.to_le_bytes());
    let e = err(&b);
    assert!(
        matches!(e, GgufError::BadTensor { .. } | GgufError::Overlap { .. }),
        "{e}"
    );
    b[at + 16..at + 24].copy_from_slice(&0u64.to_le_bytes());
    assert!(matches!(err(&b), GgufError::Overlap { .. }));

    // Duplicate keys, bad alignment, unknown value types, deep nesting.
    let mut w = GgufWriter::new();
    w.metadata("general.alignment", MetaValue::U32(48)).unwrap();
    assert!(matches!(err(&w.to_bytes()), GgufError::BadAlignment(_)));
    let mut w = GgufWriter::new();
    w.metadata("k", MetaValue::U8(1))
        .unwrap()
        .metadata("j", MetaValue::U8(2))
        .unwrap();
    let mut b = w.to_bytes();
    let j = b.iter().rposition(|&c| c == b'j').unwrap();
    b[j] = b'k';
    assert!(matches!(err(&b), GgufError::DuplicateKey(_)));
    b[j + 1] = 13;
    assert!(matches!(
        err(&b),
        GgufError::UnknownValueType { ty: 13, .. }
    ));
    let mut deep = MetaValue::Array(finetune_gguf::MetaType::U8, vec![]);
    for _ in 0..6 {
        deep = MetaValue::Array(finetune_gguf::MetaType::Array, vec![deep]);
    }
    let mut w = GgufWriter::new();
    w.metadata("deep", deep).unwrap();
    assert!(matches!(err(&w.to_bytes()), GgufError::NestedTooDeep(_)));
}

#[test]
fn the_writer_refuses_what_it_cannot_write() {
    let mut w = GgufWriter::new();
    assert!(w
        .tensor("q", &[2, 30], &values(60, 1), WriteType::Q8_0)
        .is_err());
    assert!(w
        .tensor("s", &[2, 3], &values(5, 1), WriteType::F32)
        .is_err());
    assert!(w
        .metadata(
            "mixed",
            MetaValue::Array(finetune_gguf::MetaType::U8, vec![MetaValue::I8(1)])
        )
        .is_err());
    w.tensor("a", &[1], &[1.0], WriteType::F32).unwrap();
    assert!(matches!(
        w.tensor("a", &[1], &[1.0], WriteType::F32),
        Err(GgufError::DuplicateTensor(_))
    ));
}

#[test]
fn the_writer_replaces_files_whole() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.gguf");
    let mut w = GgufWriter::new();
    w.tensor("a", &[32], &values(32, 4), WriteType::Q8_0)
        .unwrap();
    w.write(&path).unwrap();
    let g = Gguf::open(&path).unwrap();
    let mut f = std::fs::File::open(&path).unwrap();
    let back = g.tensor_f32(&mut f, "a").unwrap();
    let direct = dequantize(
        GgmlType::Q8_0,
        &finetune_gguf::quantize(WriteType::Q8_0, &values(32, 4)),
        32,
    )
    .unwrap();
    assert_eq!(back, direct);
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "no temp file left"
    );
}
