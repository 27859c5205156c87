//! `pytorch_model.bin` loading: the committed files in `tests/data/torch_bin/` were written once by
//! `scripts/torch_bin_testdata.py` (torch is not needed here). The reader must give exactly the
//! tensors of the matching `model.safetensors`, whatever their layout in the torch file (strided
//! views, shared storages with offsets), and f16/bf16/f64 values converted to f32.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use burn::tensor::{Int, Tensor, TensorData};
use finetune_spec::Method;
use finetune_trainer::backend::Cpu;
use finetune_trainer::model::{load_classifier, HeadSource, Weights};

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/torch_bin")
}

/// A model dir with `config.json` and only the given weights file.
fn model_dir(weights: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for f in ["config.json", weights] {
        std::fs::copy(data().join(f), dir.path().join(f)).unwrap();
    }
    dir
}

#[test]
fn pytorch_bin_tensors_equal_the_safetensors_ones() {
    let st_dir = model_dir("model.safetensors");
    let bin_dir = model_dir("pytorch_model.bin");
    let st = Weights::from_dir(st_dir.path()).unwrap();
    let bin = Weights::from_dir(bin_dir.path()).unwrap();
    let names: BTreeSet<&str> = st.names().collect();
    assert_eq!(names, bin.names().collect::<BTreeSet<_>>());
    assert!(names.contains("bert.encoder.layer.0.attention.self.query.weight"));
    for name in names {
        let (shape, values) = st.get(name).unwrap();
        let (bshape, bvalues) = bin.get(name).unwrap();
        assert_eq!(shape, bshape, "{name}");
        assert_eq!(values, bvalues, "{name}");
    }
}

#[test]
fn a_model_from_pytorch_bin_gives_the_same_logits() {
    let labels: Vec<String> = (0..3).map(|i| format!("LABEL_{i}")).collect();
    let device = Default::default();
    let logits = |weights: &str| {
        let dir = model_dir(weights);
        let m = load_classifier::<Cpu>(dir.path(), &labels, &Method::Full, 0, &device).unwrap();
        assert_eq!(m.head, HeadSource::Checkpoint);
        let ids: Vec<i64> = (0..2 * 10).map(|i| (i * 7 % 40) as i64).collect();
        let ids = Tensor::<Cpu, 2, Int>::from_data(TensorData::new(ids, [2, 10]), &device);
        let mask = Tensor::<Cpu, 2, Int>::ones([2, 10], &device);
        let tt = Tensor::<Cpu, 2, Int>::zeros([2, 10], &device);
        m.model
            .forward(ids, mask, tt)
            .into_data()
            .to_vec::<f32>()
            .unwrap()
    };
    let a = logits("model.safetensors");
    assert_eq!(a.len(), 6);
    assert_eq!(a, logits("pytorch_model.bin"));
}

/// `((i % 32) / 8 - 2)` over row-major indices, as the script writes it.
fn formula(i: usize) -> f32 {
    (i % 32) as f32 / 8.0 - 2.0
}

#[test]
fn reads_half_precision_strided_and_offset_tensors() {
    let w = Weights::from_pytorch(&data().join("formats.bin")).unwrap();
    let dense: Vec<f32> = (0..6).map(formula).collect();
    for name in ["f32", "f16", "bf16", "f64"] {
        assert_eq!(w.get(name), Some((&[2, 3][..], &dense[..])), "{name}");
    }
    // formula(3, 4).t(): element [i][j] is formula(j * 4 + i).
    let strided: Vec<f32> = (0..4)
        .flat_map(|i| (0..3).map(move |j| formula(j * 4 + i)))
        .collect();
    assert_eq!(w.get("strided"), Some((&[4, 3][..], &strided[..])));
    // formula(4, 4)[1:3, ::2]: flat indices 4, 6, 8, 10.
    let sliced: Vec<f32> = [4, 6, 8, 10].map(formula).to_vec();
    assert_eq!(w.get("sliced"), Some((&[2, 2][..], &sliced[..])));
    assert_eq!(w.get("scalar"), Some((&[][..], &[1.5f32][..])));
    // Integer buffers are not weights.
    assert!(w.get("position_ids").is_none());
}

#[test]
fn a_broken_pytorch_bin_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(data().join("config.json"), dir.path().join("config.json")).unwrap();
    let bin = dir.path().join("pytorch_model.bin");
    // Not a zip (e.g. the pre-1.6 legacy format).
    std::fs::write(&bin, b"\x80\x02legacy").unwrap();
    let e = Weights::from_dir(dir.path()).err().unwrap().to_string();
    assert!(
        e.contains("pytorch_model.bin") && e.contains("not a zip archive"),
        "{e}"
    );
    // A truncated archive.
    let full = std::fs::read(data().join("pytorch_model.bin")).unwrap();
    std::fs::write(&bin, &full[..full.len() / 2]).unwrap();
    let e = Weights::from_dir(dir.path()).err().unwrap().to_string();
    assert!(e.contains("cannot read this PyTorch checkpoint"), "{e}");
}
