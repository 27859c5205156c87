//! The best evaluation's weights, for early stopping: `checkpoints/best/model.safetensors`
//! (every float parameter by module path, like a checkpoint) and `best.json` (its step and the
//! model file's sha256). Kept on disk, not only in memory, so a run killed and resumed still
//! exports the best weights. Each file is written to a temp name, fsynced and renamed; the model
//! file goes first and `best.json` names its hash, so a crash between the two renames is detected
//! (hash mismatch) rather than pairing one step's weights with another's record.

use crate::checkpoint::{from_safetensors, sync_dir, to_safetensors, write_synced};
use crate::error::RunError;
use burn::tensor::TensorData;
use finetune_spec::digest::sha256_hex;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

const MODEL_FILE: &str = "model.safetensors";
const RECORD_FILE: &str = "best.json";

#[derive(Debug, Serialize, Deserialize)]
struct Record {
    step: u64,
    model_sha256: String,
}

/// Saves `tensors` as the best weights, at `step`, under `dir`.
pub fn save(dir: &Path, step: u64, tensors: &BTreeMap<String, TensorData>) -> Result<(), RunError> {
    fs::create_dir_all(dir).map_err(|e| RunError::output(dir, e))?;
    let bytes = to_safetensors(tensors).map_err(RunError::Failed)?;
    let record = Record {
        step,
        model_sha256: sha256_hex(&bytes),
    };
    let json = serde_json::to_vec_pretty(&record).map_err(|e| RunError::Failed(e.to_string()))?;
    for (name, bytes) in [(MODEL_FILE, &bytes), (RECORD_FILE, &json)] {
        let tmp = dir.join(format!(".tmp-{name}"));
        let fin = dir.join(name);
        write_synced(&tmp, bytes)?;
        fs::rename(&tmp, &fin).map_err(|e| RunError::output(&fin, e))?;
        sync_dir(dir);
    }
    Ok(())
}

/// The best weights saved for `step`, or why they cannot be used.
pub fn load(dir: &Path, step: u64) -> Result<BTreeMap<String, TensorData>, String> {
    let text = fs::read(dir.join(RECORD_FILE)).map_err(|e| format!("{RECORD_FILE}: {e}"))?;
    let record: Record =
        serde_json::from_slice(&text).map_err(|e| format!("{RECORD_FILE}: {e}"))?;
    if record.step != step {
        return Err(format!(
            "it holds step {}, the best evaluation was at step {step}",
            record.step
        ));
    }
    let bytes = fs::read(dir.join(MODEL_FILE)).map_err(|e| format!("{MODEL_FILE}: {e}"))?;
    if sha256_hex(&bytes) != record.model_sha256 {
        return Err(format!("{MODEL_FILE} does not match {RECORD_FILE}"));
    }
    from_safetensors(&bytes).map_err(|e| format!("{MODEL_FILE}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(v: f32) -> BTreeMap<String, TensorData> {
        BTreeMap::from([("w".to_string(), TensorData::new(vec![v, 1.0], [2]))])
    }

    #[test]
    fn save_replace_load_and_refuse_a_mismatch() {
        let d = tempfile::tempdir().unwrap();
        save(d.path(), 3, &t(3.0)).unwrap();
        save(d.path(), 5, &t(5.0)).unwrap();
        let got = load(d.path(), 5).unwrap();
        assert_eq!(got["w"].as_slice::<f32>().unwrap(), &[5.0, 1.0]);
        let e = load(d.path(), 3).unwrap_err();
        assert!(e.contains("holds step 5"), "{e}");
        // Weights replaced without the record (a crash between the two renames): refused.
        fs::write(d.path().join(MODEL_FILE), to_safetensors(&t(7.0)).unwrap()).unwrap();
        let e = load(d.path(), 5).unwrap_err();
        assert!(e.contains("does not match"), "{e}");
    }
}
