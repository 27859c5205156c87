//! Checkpoints: `checkpoints/step-N/` holding `model.safetensors` (every float parameter by
//! module path), `optimizer.safetensors` (AdamW moments) and `manifest.json` (position, optimizer
//! and scheduler settings, RNG scheme, early-stopping state, config hash, dataset hashes and a
//! sha256 per file). Written to `.tmp-step-N/`, fsynced, renamed into place, the newest `keep`
//! kept; on start the newest one whose hashes verify is used.

use crate::error::RunError;
use crate::model::export::F32Tensor;
use crate::training::early_stop::StopState;
use crate::training::loss_scale::LossScale;
use burn::tensor::TensorData;
use finetune_spec::contract::EvalMetrics;
use finetune_spec::digest::sha256_hex;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

pub const MANIFEST: &str = "manifest.json";
pub const MODEL_FILE: &str = "model.safetensors";
pub const OPTIMIZER_FILE: &str = "optimizer.safetensors";

/// Everything needed to continue a run exactly where it stopped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    /// Optimizer steps done.
    pub step: u64,
    /// The epoch to continue in (0-based) and the micro-batches of it already consumed.
    pub epoch: usize,
    pub batch_in_epoch: usize,
    pub optimizer: OptimizerState,
    pub scheduler: SchedulerState,
    pub rng: RngState,
    pub early_stopping: StopState,
    /// Training-loss sum and count since the last log line (so log lines match an uninterrupted run).
    pub loss_sum: f64,
    pub loss_count: u64,
    #[serde(default)]
    pub last_eval: Option<EvalMetrics>,
    /// Step of `last_eval`.
    #[serde(default)]
    pub last_eval_step: Option<u64>,
    /// The f16 loss scaler (f16 runs only; absent in older checkpoints).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss_scale: Option<LossScale>,
    pub config_hash: String,
    pub dataset_sha256: BTreeMap<String, String>,
    pub labels: Vec<String>,
    pub trainer_version: String,
    /// sha256 of each file in the checkpoint directory (except this manifest).
    pub files: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OptimizerState {
    pub kind: String,
    /// Adam's step count `t`.
    pub steps: u64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SchedulerState {
    pub kind: String,
    pub base_lr: f64,
    pub warmup_steps: u64,
    pub total_steps: u64,
    /// The schedule is a function of the step; this is the next step's input.
    pub next_step: u64,
}

/// The backend RNG is re-seeded before every micro-batch from (seed, step, micro-batch); the
/// shuffle from (seed, epoch). So the seed and the position are the whole RNG state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RngState {
    pub scheme: String,
    pub seed: u64,
    pub next_step: u64,
}

/// A checkpoint read back and verified.
pub struct Loaded {
    pub dir: PathBuf,
    pub manifest: Manifest,
    pub model: BTreeMap<String, TensorData>,
    pub optimizer: BTreeMap<String, TensorData>,
}

/// `checkpoints/step-N` directories under `dir`, newest first.
pub fn list(dir: &Path) -> Vec<(u64, PathBuf)> {
    let mut out: Vec<(u64, PathBuf)> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let step = name.strip_prefix("step-")?.parse().ok()?;
            Some((step, e.path()))
        })
        .collect();
    out.sort_by_key(|b| std::cmp::Reverse(b.0));
    out
}

/// Saves a checkpoint for `manifest.step` and prunes all but the newest `keep`.
pub fn save(
    dir: &Path,
    mut manifest: Manifest,
    model: &BTreeMap<String, TensorData>,
    optimizer: &BTreeMap<String, TensorData>,
    keep: usize,
) -> Result<PathBuf, RunError> {
    let step = manifest.step;
    let fin = dir.join(format!("step-{step}"));
    let tmp = dir.join(format!(".tmp-step-{step}"));
    let io = |p: &Path, e| RunError::output(p, e);
    fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    if tmp.exists() {
        fs::remove_dir_all(&tmp).map_err(|e| io(&tmp, e))?;
    }
    fs::create_dir(&tmp).map_err(|e| io(&tmp, e))?;
    for (name, tensors) in [(MODEL_FILE, model), (OPTIMIZER_FILE, optimizer)] {
        let bytes = to_safetensors(tensors).map_err(RunError::Failed)?;
        manifest.files.insert(name.to_string(), sha256_hex(&bytes));
        write_synced(&tmp.join(name), &bytes)?;
    }
    let json = serde_json::to_vec_pretty(&manifest).map_err(|e| RunError::Failed(e.to_string()))?;
    write_synced(&tmp.join(MANIFEST), &json)?;
    sync_dir(&tmp);
    if fin.exists() {
        // Same step saved before (e.g. by an earlier attempt of this run): replace it.
        fs::remove_dir_all(&fin).map_err(|e| io(&fin, e))?;
    }
    fs::rename(&tmp, &fin).map_err(|e| io(&fin, e))?;
    sync_dir(dir);
    for (_, old) in list(dir).into_iter().skip(keep.max(1)) {
        let _ = fs::remove_dir_all(old);
    }
    Ok(fin)
}

/// Reads and verifies one checkpoint directory.
pub fn load(dir: &Path) -> Result<Loaded, String> {
    let mtext = fs::read(dir.join(MANIFEST)).map_err(|e| format!("manifest: {e}"))?;
    let manifest: Manifest =
        serde_json::from_slice(&mtext).map_err(|e| format!("manifest: {e}"))?;
    for name in [MODEL_FILE, OPTIMIZER_FILE] {
        if !manifest.files.contains_key(name) {
            return Err(format!("manifest lists no {name}"));
        }
    }
    let mut read = BTreeMap::new();
    for (name, want) in &manifest.files {
        let bytes = fs::read(dir.join(name)).map_err(|e| format!("{name}: {e}"))?;
        let got = sha256_hex(&bytes);
        if &got != want {
            return Err(format!(
                "{name}: sha256 {got} does not match the manifest's {want}"
            ));
        }
        read.insert(name.clone(), bytes);
    }
    let model = from_safetensors(&read[MODEL_FILE]).map_err(|e| format!("{MODEL_FILE}: {e}"))?;
    let optimizer =
        from_safetensors(&read[OPTIMIZER_FILE]).map_err(|e| format!("{OPTIMIZER_FILE}: {e}"))?;
    Ok(Loaded {
        dir: dir.to_path_buf(),
        manifest,
        model,
        optimizer,
    })
}

/// The newest checkpoint under `dir` that verifies; broken ones are reported through `warn` and
/// skipped. Leftover `.tmp-step-*` directories (a save cut short) are removed.
pub fn newest_valid(dir: &Path, warn: &mut dyn FnMut(String)) -> Option<Loaded> {
    for e in fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.file_name().to_string_lossy().starts_with(".tmp-step-") {
            let _ = fs::remove_dir_all(e.path());
        }
    }
    for (step, path) in list(dir) {
        match load(&path) {
            Ok(l) if l.manifest.step == step => return Some(l),
            Ok(l) => warn(format!(
                "checkpoint {} says step {}, skipped",
                path.display(),
                l.manifest.step
            )),
            Err(e) => warn(format!(
                "checkpoint {} is incomplete or corrupt ({e}); falling back to the previous one",
                path.display()
            )),
        }
    }
    None
}

pub(crate) fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), RunError> {
    let mut f = File::create(path).map_err(|e| RunError::output(path, e))?;
    f.write_all(bytes).map_err(|e| RunError::output(path, e))?;
    f.sync_all().map_err(|e| RunError::output(path, e))
}

pub(crate) fn sync_dir(dir: &Path) {
    // Persists renames and new entries; some filesystems refuse fsync on a directory.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Serialises f32 tensors by name.
pub fn to_safetensors(tensors: &BTreeMap<String, TensorData>) -> Result<Vec<u8>, String> {
    let mut views = Vec::with_capacity(tensors.len());
    for (name, data) in tensors {
        let values = data
            .as_slice::<f32>()
            .map_err(|e| format!("{name}: {e:?}"))?;
        views.push((
            name.clone(),
            F32Tensor::from_values(data.shape.to_vec(), values),
        ));
    }
    safetensors::serialize(views.iter().map(|(n, t)| (n.as_str(), t)), None)
        .map_err(|e| e.to_string())
}

/// Reads f32 tensors written by [`to_safetensors`].
pub fn from_safetensors(bytes: &[u8]) -> Result<BTreeMap<String, TensorData>, String> {
    let st = safetensors::SafeTensors::deserialize(bytes).map_err(|e| e.to_string())?;
    let mut out = BTreeMap::new();
    for (name, view) in st.tensors() {
        if view.dtype() != safetensors::Dtype::F32 {
            return Err(format!("{name}: dtype {:?}, expected F32", view.dtype()));
        }
        let values: Vec<f32> = view
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        out.insert(name, TensorData::new(values, view.shape().to_vec()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(step: u64) -> Manifest {
        Manifest {
            format: 1,
            step,
            epoch: 0,
            batch_in_epoch: step as usize,
            optimizer: OptimizerState {
                kind: "adamw".into(),
                steps: step,
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
                weight_decay: 0.01,
            },
            scheduler: SchedulerState {
                kind: "linear".into(),
                base_lr: 1e-3,
                warmup_steps: 1,
                total_steps: 10,
                next_step: step,
            },
            rng: RngState {
                scheme: "x".into(),
                seed: 1,
                next_step: step,
            },
            early_stopping: StopState::default(),
            loss_sum: 0.25,
            loss_count: 1,
            last_eval: None,
            last_eval_step: None,
            loss_scale: None,
            config_hash: "h".into(),
            dataset_sha256: BTreeMap::new(),
            labels: vec!["a".into(), "b".into()],
            trainer_version: "t".into(),
            files: BTreeMap::new(),
        }
    }

    fn tensors(v: f32) -> BTreeMap<String, TensorData> {
        let mut m = BTreeMap::new();
        m.insert(
            "w".to_string(),
            TensorData::new(vec![v, 2.0, 3.0, 4.0], [2, 2]),
        );
        m
    }

    #[test]
    fn save_load_prune_and_fall_back_from_a_corrupt_one() {
        let d = tempfile::tempdir().unwrap();
        for s in [1, 2, 3] {
            save(d.path(), manifest(s), &tensors(s as f32), &tensors(0.5), 2).unwrap();
        }
        let steps: Vec<u64> = list(d.path()).iter().map(|x| x.0).collect();
        assert_eq!(steps, vec![3, 2]);
        let l = load(&d.path().join("step-3")).unwrap();
        assert_eq!(l.manifest.step, 3);
        assert_eq!(
            l.model["w"].as_slice::<f32>().unwrap(),
            &[3.0, 2.0, 3.0, 4.0]
        );
        // Truncate the newest checkpoint's weights: the previous one is used, with a warning.
        let f = d.path().join("step-3").join(MODEL_FILE);
        let len = fs::metadata(&f).unwrap().len();
        File::options()
            .write(true)
            .open(&f)
            .unwrap()
            .set_len(len / 2)
            .unwrap();
        fs::create_dir(d.path().join(".tmp-step-4")).unwrap();
        let mut warnings = Vec::new();
        let l = newest_valid(d.path(), &mut |w| warnings.push(w)).unwrap();
        assert_eq!(l.manifest.step, 2);
        assert_eq!(warnings.len(), 1);
        assert!(
            warnings[0].contains("step-3 is incomplete or corrupt"),
            "{warnings:?}"
        );
        assert!(!d.path().join(".tmp-step-4").exists());
    }
}
