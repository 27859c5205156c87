//! What was already sent to MLflow for one output directory: `.finetune/mlflow.json`.
//!
//! It holds the MLflow run (so a resumed run, and a later `runs --sync`, continue the same one),
//! the last step sent for each kind of `metrics.jsonl` record, the params, tags and artifacts
//! sent, and the status last set. Metrics are deduplicated by (kind, step), not by byte offset:
//! a resumed trainer truncates `metrics.jsonl` to its checkpoint and appends again, so offsets
//! move back while MLflow already holds those steps. The file is saved after every call that
//! changed something on the server, so a crash repeats at most the call in flight.

use super::map::Kind;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The state file under an output directory.
pub fn path(output_dir: &Path) -> PathBuf {
    output_dir.join(".finetune").join("mlflow.json")
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct State {
    /// The server the run lives on; another server (the spec changed) starts a new state.
    pub uri: String,
    pub experiment_id: String,
    pub run_id: String,
    /// The run's artifact root on the server's artifact proxy; `None` when it does not proxy.
    pub artifact_root: Option<String>,
    pub params_sent: bool,
    /// Tags as last set (a tag is set again only when its value changes).
    pub tags: BTreeMap<String, String>,
    /// The last step sent, by record kind (`train`, `eval`).
    pub steps: BTreeMap<String, u64>,
    /// Artifacts sent, by relative path: the file's size and modification time then, so a file
    /// the trainer rewrote (a resumed run's new model) is sent again.
    pub artifacts: BTreeMap<String, String>,
    /// The status last set (`RUNNING`, `FINISHED`, ...).
    pub status: Option<String>,
    /// The `started_at` of the trainer run that status was for: a later run in the same output
    /// directory (resumed) sets the MLflow run back to `RUNNING`.
    pub status_of: Option<String>,
    /// The `started_at` of the latest trainer run sent into this MLflow run (the first one, or
    /// a resume of it).
    pub trainer_run: Option<String>,
}

impl State {
    /// The state saved for `uri` under `output_dir`, or a fresh one (none saved, unreadable, or
    /// saved for another server).
    pub fn load(output_dir: &Path, uri: &str) -> State {
        let saved: Option<State> = std::fs::read(path(output_dir))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        match saved {
            Some(s) if s.uri == uri => s,
            _ => State {
                uri: uri.to_string(),
                ..State::default()
            },
        }
    }

    /// Writes the file (through a temporary file and a rename, so it is never half written).
    pub fn save(&self, output_dir: &Path) -> std::io::Result<()> {
        let p = path(output_dir);
        if let Some(dir) = p.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = p.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(self)?)?;
        std::fs::rename(tmp, p)
    }

    /// Whether a trainer run that started at `started_at` (resuming from a checkpoint when
    /// `resumed`) is a new run rather than this one or a resume of it: the output directory was
    /// trained again from scratch, which is a new MLflow run.
    pub fn starts_over(&self, started_at: &str, resumed: bool) -> bool {
        self.has_run()
            && !resumed
            && self
                .trainer_run
                .as_deref()
                .is_some_and(|seen| seen != started_at)
    }

    /// This state with nothing sent: for a new MLflow run on the same server.
    pub fn fresh(&self) -> State {
        State {
            uri: self.uri.clone(),
            ..State::default()
        }
    }

    pub fn has_run(&self) -> bool {
        !self.run_id.is_empty()
    }

    /// The last step of `kind` that was sent.
    pub fn last_step(&self, kind: Kind) -> Option<u64> {
        self.steps.get(kind.name()).copied()
    }

    /// Whether a record of `kind` at `step` still has to be sent: never a (key, step) twice.
    pub fn wants(&self, kind: Kind, step: u64) -> bool {
        self.last_step(kind).is_none_or(|last| step > last)
    }

    /// Records that everything of `kind` up to `step` was sent (never moves back).
    pub fn sent(&mut self, kind: Kind, step: u64) {
        let e = self.steps.entry(kind.name().to_string()).or_insert(step);
        *e = (*e).max(step);
    }

    /// The tags whose value differs from what was last set.
    pub fn changed_tags(&self, tags: &[(String, String)]) -> Vec<(String, String)> {
        tags.iter()
            .filter(|(k, v)| self.tags.get(k) != Some(v))
            .cloned()
            .collect()
    }
}

/// An artifact's fingerprint: size and modification time (nanoseconds).
pub fn fingerprint(file: &Path) -> Option<String> {
    let m = std::fs::metadata(file).ok()?;
    let mtime = m
        .modified()
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_nanos();
    Some(format!("{}:{mtime}", m.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_sent_once_per_kind_even_when_the_file_moves_back() {
        let mut s = State::default();
        assert!(s.wants(Kind::Train, 10) && s.wants(Kind::Eval, 10));
        s.sent(Kind::Train, 10);
        s.sent(Kind::Train, 20);
        assert!(!s.wants(Kind::Train, 20) && !s.wants(Kind::Train, 10));
        assert!(s.wants(Kind::Train, 30));
        // The evaluation at step 20 is its own kind.
        assert!(s.wants(Kind::Eval, 20));
        // A resumed run rewrites steps 11..20 from its checkpoint: they are not sent again, and
        // the mark never moves back.
        s.sent(Kind::Train, 15);
        assert_eq!(s.last_step(Kind::Train), Some(20));
    }

    #[test]
    fn a_resume_continues_and_a_fresh_run_starts_over() {
        let mut s = State::default();
        assert!(!s.starts_over("t1", false), "no run yet");
        s.run_id = "r".into();
        assert!(
            !s.starts_over("t1", false),
            "a state from before runs were told apart"
        );
        s.trainer_run = Some("t1".into());
        assert!(!s.starts_over("t1", false));
        assert!(!s.starts_over("t2", true));
        assert!(s.starts_over("t2", false));
        assert!(!s.fresh().has_run());
    }

    #[test]
    fn the_file_round_trips_and_belongs_to_one_server() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = State::load(dir.path(), "http://a:5000");
        assert!(!s.has_run());
        s.run_id = "r1".into();
        s.sent(Kind::Eval, 40);
        s.tags.insert("finetune.job".into(), "j".into());
        s.save(dir.path()).unwrap();
        let back = State::load(dir.path(), "http://a:5000");
        assert_eq!(back, s);
        assert_eq!(
            back.changed_tags(&[
                ("finetune.job".into(), "j".into()),
                ("finetune.image".into(), "sha256:1".into())
            ]),
            vec![("finetune.image".to_string(), "sha256:1".to_string())]
        );
        // Another server: nothing of this run is there.
        assert!(!State::load(dir.path(), "http://b:5000").has_run());
        std::fs::write(path(dir.path()), "{not json").unwrap();
        assert!(!State::load(dir.path(), "http://a:5000").has_run());
    }
}
