//! What was packaged from one output directory: `.finetune/packages.json`.
//!
//! An output directory holds one run at a time (a new `up` trains it again from scratch), so the
//! run numbers of model image tags (`v3`) live here: each trainer run that `package` sees, told
//! apart by its `started_at`, gets the next number, and keeps it when it is packaged again (another
//! tag, a quantized variant, a push). Each run lists its images: tag, image id, the repository
//! digest once pushed, and the quantization scheme. The file is written through a temporary file
//! and a rename, so it is never half written.

use finetune_spec::contract::RunRecord;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The ledger file under an output directory.
pub fn path(output_dir: &Path) -> PathBuf {
    output_dir.join(".finetune").join("packages.json")
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Ledger {
    pub runs: Vec<LedgerRun>,
}

/// One trainer run and the images made of it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LedgerRun {
    pub number: u32,
    /// `run.json`'s `started_at`: what tells one run of the directory from the next.
    pub started_at: String,
    pub config_hash: String,
    pub images: Vec<PackagedImage>,
}

/// One model image.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PackagedImage {
    pub tag: String,
    /// The local image id (`sha256:...`).
    pub id: String,
    /// `REPO@sha256:...` after a push.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// The quantization scheme (`int8`), when the weights were quantized.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quantized: Option<String>,
    pub packaged_at: String,
}

impl Ledger {
    /// The ledger under `output_dir`; empty when there is none (or it cannot be read: it only
    /// numbers runs, and numbering again from 1 is better than refusing to package).
    pub fn load(output_dir: &Path) -> Ledger {
        std::fs::read(path(output_dir))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    pub fn save(&self, output_dir: &Path) -> std::io::Result<()> {
        let p = path(output_dir);
        if let Some(dir) = p.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = p.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(self)?)?;
        std::fs::rename(tmp, p)
    }

    /// The run `record` is, if it was seen before.
    pub fn run(&self, record: &RunRecord) -> Option<&LedgerRun> {
        self.runs.iter().find(|r| r.started_at == record.started_at)
    }

    /// The number of the run `record` is: its own when seen before, else the next one (not yet
    /// recorded: [`Ledger::add`] does that once an image exists).
    pub fn number(&self, record: &RunRecord) -> u32 {
        self.run(record).map_or_else(
            || self.runs.iter().map(|r| r.number).max().unwrap_or(0) + 1,
            |r| r.number,
        )
    }

    /// Record `image` as made of `record` (replacing an earlier image of the same tag).
    pub fn add(&mut self, record: &RunRecord, image: PackagedImage) {
        let number = self.number(record);
        let idx = match self
            .runs
            .iter()
            .position(|r| r.started_at == record.started_at)
        {
            Some(i) => i,
            None => {
                self.runs.push(LedgerRun {
                    number,
                    started_at: record.started_at.clone(),
                    config_hash: record.config_hash.clone(),
                    images: Vec::new(),
                });
                self.runs.len() - 1
            }
        };
        let images = &mut self.runs[idx].images;
        images.retain(|i| i.tag != image.tag);
        images.push(image);
    }

    /// The images made of `record`, oldest first.
    pub fn images(&self, record: &RunRecord) -> &[PackagedImage] {
        self.run(record).map_or(&[], |r| r.images.as_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(started_at: &str) -> RunRecord {
        serde_json::from_value(serde_json::json!({
            "job": "a", "trainer_version": "0.1.0", "config_hash": "abc", "dataset_sha256": {},
            "seed": 1, "backend": "cpu", "started_at": started_at, "finished_at": "f", "duration_s": 1.0,
            "steps": 4, "epochs": 1.0, "exit_reason": "completed",
            "spec": {"name": "a", "model": "/model", "data": {"train": "/data/t.jsonl"}, "output": "/output"}
        }))
        .unwrap()
    }

    fn image(tag: &str) -> PackagedImage {
        PackagedImage {
            tag: tag.into(),
            id: format!("sha256:{tag}"),
            ..Default::default()
        }
    }

    #[test]
    fn runs_are_numbered_in_the_order_they_are_packaged_and_keep_their_number() {
        let dir = tempfile::tempdir().unwrap();
        let mut l = Ledger::load(dir.path());
        let (first, second) = (record("t1"), record("t2"));
        assert_eq!(l.number(&first), 1);
        l.add(&first, image("a:v1"));
        // Packaged again (another tag): the same run, the same number.
        l.add(&first, image("a:v1-int8"));
        assert_eq!(l.number(&first), 1);
        assert_eq!(l.number(&second), 2);
        l.add(&second, image("a:v2"));
        l.save(dir.path()).unwrap();

        let mut back = Ledger::load(dir.path());
        assert_eq!(back, l);
        assert_eq!(back.images(&first).len(), 2);
        // The same tag again replaces the entry (a re-package after `docker rmi`).
        let mut again = image("a:v1");
        again.digest = Some("r/a@sha256:00".into());
        back.add(&first, again.clone());
        assert_eq!(back.images(&first).len(), 2);
        assert_eq!(back.images(&first).last(), Some(&again));
        assert!(back.images(&record("t3")).is_empty());
        assert!(!path(dir.path()).with_extension("json.tmp").exists());
    }

    #[test]
    fn an_unreadable_ledger_numbers_from_one() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(".finetune")).unwrap();
        std::fs::write(path(dir.path()), "{not json").unwrap();
        assert_eq!(Ledger::load(dir.path()).number(&record("t")), 1);
    }
}
