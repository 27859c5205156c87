//! One output directory brought up to date in MLflow: [`Syncer::poll`] sends whatever the
//! directory holds that the server does not have yet, and nothing twice.
//!
//! `up` calls it on each tick while it follows a job (on a thread of its own, [`super::live`]),
//! and `runs --sync` once per job; both go through this one function. In order: the MLflow run
//! (found in the state file, else created), the params (once), the tags that changed, the
//! metrics records past the last step sent of their kind, then, once the run has ended, `run.json`
//! and `model/` as artifacts and last the final status, so that a run MLflow shows as finished
//! has everything.

use super::client::{self, Batch, Client, Error, KeyValue};
use super::map::{self, Kind};
use super::state::{fingerprint, State};
use super::Target;
use finetune_spec::contract::{output, MetricsRecord, RunRecord, Status};
use finetune_spec::JobSpec;
use std::path::{Path, PathBuf};

/// What one poll sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sent {
    pub params: usize,
    pub tags: usize,
    pub metrics: usize,
    pub artifacts: usize,
    /// The status set, if one was.
    pub status: Option<String>,
}

impl Sent {
    pub fn is_empty(&self) -> bool {
        *self == Sent::default()
    }
}

/// Keeps one job's output directory in step with one MLflow run.
pub struct Syncer {
    client: Client,
    target: Target,
    spec: JobSpec,
    project: String,
    output: PathBuf,
    /// Whether this process has checked the state against the server (once: a state file from
    /// a crash may lag the server by one batch, and a run may have been deleted).
    checked: bool,
}

impl Syncer {
    pub fn new(target: Target, spec: &JobSpec, project: &str) -> Result<Syncer, Error> {
        Ok(Syncer {
            client: Client::new(&target.uri, target.auth.clone())?,
            spec: spec.clone(),
            project: project.to_string(),
            output: spec.output.clone(),
            target,
            checked: false,
        })
    }

    /// The MLflow run id this output directory is tracked as, if it has one yet.
    pub fn run_id(&self) -> Option<String> {
        Some(State::load(&self.output, &self.target.uri).run_id).filter(|r| !r.is_empty())
    }

    /// Sends what is missing. `exit` is the container's exit code when the caller saw the job
    /// end: a run that ended without writing its record is then closed as failed or killed.
    pub fn poll(&mut self, exit: Option<i64>) -> Result<Sent, Error> {
        let status = Status::read(&self.output);
        let record = read_record(&self.output);
        let has_metrics = self.output.join(output::METRICS).is_file();
        if status.is_none() && record.is_none() && !has_metrics {
            // Not started yet: no run to create.
            return Ok(Sent::default());
        }
        let mut state = State::load(&self.output, &self.target.uri);
        if let Some(s) = &status {
            if state.starts_over(&s.started_at, s.resumed_from_step.is_some()) {
                state = state.fresh();
            }
        }
        let mut sent = Sent::default();
        self.ensure_run(&mut state, status.as_ref(), record.as_ref())?;
        if let Some(s) = status
            .as_ref()
            .filter(|s| state.trainer_run.as_ref() != Some(&s.started_at))
        {
            state.trainer_run = Some(s.started_at.clone());
            self.save(&state)?;
        }

        if !state.params_sent {
            let params = map::params(&self.spec);
            for chunk in params.chunks(client::MAX_PARAMS_TAGS_PER_BATCH) {
                self.send(&state, chunk.to_vec(), Vec::new(), Vec::new())?;
            }
            state.params_sent = true;
            sent.params = params.len();
            self.save(&state)?;
        }

        // run.json is this run's when no newer run started since (a resumed run keeps the
        // interrupted run's record until it ends).
        let current =
            record.filter(|r| status.as_ref().is_none_or(|s| s.started_at == r.started_at));
        let tags = map::tags(&self.spec, &self.project, current.as_ref());
        let changed = state.changed_tags(&tags);
        if !changed.is_empty() {
            for chunk in changed.chunks(client::MAX_PARAMS_TAGS_PER_BATCH) {
                let kv = chunk.iter().map(|(key, value)| KeyValue {
                    key: key.clone(),
                    value: value.clone(),
                });
                self.send(&state, Vec::new(), kv.collect(), Vec::new())?;
            }
            state.tags.extend(changed.iter().cloned());
            sent.tags = changed.len();
            self.save(&state)?;
        }

        sent.metrics = self.send_metrics(&mut state)?;

        let started_at = status.as_ref().map(|s| s.started_at.clone());
        let ended = match (&current, exit) {
            (Some(r), _) => Some(map::run_status(r.exit_reason)),
            (None, Some(code)) => Some(map::exit_status(code)),
            (None, None) => None,
        };
        match ended {
            Some(final_status) => {
                sent.artifacts = self.send_artifacts(&mut state)?;
                let of = current
                    .as_ref()
                    .map(|r| r.started_at.clone())
                    .or(started_at);
                if state.status.as_deref() != Some(final_status) || state.status_of != of {
                    self.client
                        .update_run(&state.run_id, final_status, Some(now_ms()))?;
                    state.status = Some(final_status.to_string());
                    state.status_of = of;
                    sent.status = state.status.clone();
                    self.save(&state)?;
                }
            }
            // A resumed run after one that ended: the MLflow run is running again.
            None if state.status.as_deref().is_some_and(|s| s != "RUNNING")
                && started_at.is_some()
                && state.status_of != started_at =>
            {
                self.client.update_run(&state.run_id, "RUNNING", None)?;
                state.status = Some("RUNNING".into());
                state.status_of = started_at;
                sent.status = state.status.clone();
                self.save(&state)?;
            }
            None => {}
        }
        Ok(sent)
    }

    /// Finds the run of the state file on the server (once per process), or creates one.
    fn ensure_run(
        &mut self,
        state: &mut State,
        status: Option<&Status>,
        record: Option<&RunRecord>,
    ) -> Result<(), Error> {
        if state.has_run() && !self.checked {
            match self.client.get_run(&state.run_id) {
                Ok(run) if run.info.lifecycle_stage != "deleted" => {
                    // A batch sent just before a crash, with the state not saved: what the server
                    // holds counts as sent.
                    for kind in [Kind::Train, Kind::Eval] {
                        let history = self
                            .client
                            .metric_history(&state.run_id, kind.probe_key())?;
                        if let Some(max) = history.iter().map(|m| m.step).max() {
                            state.sent(kind, max.max(0) as u64);
                        }
                    }
                    self.checked = true;
                    return Ok(());
                }
                Ok(_) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e),
            }
            // Deleted on the server: start over in a new run.
            *state = State {
                uri: state.uri.clone(),
                ..State::default()
            };
        }
        if state.has_run() {
            return Ok(());
        }
        let experiment_id = self.client.experiment_id(&self.target.experiment)?;
        let started = status
            .map(|s| s.started_at.as_str())
            .or(record.map(|r| r.started_at.as_str()))
            .and_then(finetune_spec::time::parse_rfc3339)
            .map(|s| (s * 1000.0) as i64)
            .unwrap_or_else(now_ms);
        let run = self
            .client
            .create_run(&experiment_id, &self.spec.name, started, &[])?;
        state.experiment_id = experiment_id;
        state.run_id = run.info.run_id;
        state.artifact_root = client::proxied_root(&run.info.artifact_uri);
        state.status = Some("RUNNING".into());
        state.status_of = status.map(|s| s.started_at.clone());
        self.checked = true;
        self.save(state)
    }

    /// Sends the records past the last step of their kind, in batches of whole records.
    fn send_metrics(&self, state: &mut State) -> Result<usize, Error> {
        let records = read_metrics(&self.output);
        let now = now_ms();
        let mut total = 0;
        let mut batch = Vec::new();
        let mut marks: Vec<(Kind, u64)> = Vec::new();
        for rec in &records {
            let Some((kind, step, metrics)) = map::metrics(rec, now) else {
                continue;
            };
            // Steps of a kind rise through the file, except where a resumed run rewrote them.
            if !state.wants(kind, step) || marks.iter().any(|(k, s)| *k == kind && *s >= step) {
                continue;
            }
            if batch.len() + metrics.len() > client::MAX_METRICS_PER_BATCH {
                total += self.flush(state, &mut batch, &mut marks)?;
            }
            batch.extend(metrics);
            marks.push((kind, step));
        }
        total += self.flush(state, &mut batch, &mut marks)?;
        Ok(total)
    }

    fn flush(
        &self,
        state: &mut State,
        batch: &mut Vec<client::Metric>,
        marks: &mut Vec<(Kind, u64)>,
    ) -> Result<usize, Error> {
        if marks.is_empty() {
            return Ok(0);
        }
        let n = batch.len();
        if n > 0 {
            self.send(state, Vec::new(), Vec::new(), std::mem::take(batch))?;
        }
        for (kind, step) in marks.drain(..) {
            state.sent(kind, step);
        }
        self.save(state)?;
        Ok(n)
    }

    /// `run.json` and every file under `model/` that is new or changed since it was sent.
    fn send_artifacts(&self, state: &mut State) -> Result<usize, Error> {
        let Some(root) = state.artifact_root.clone() else {
            return Ok(0);
        };
        let mut files = vec![(
            output::RUN_RECORD.to_string(),
            self.output.join(output::RUN_RECORD),
        )];
        list_files(&self.output.join(output::MODEL), output::MODEL, &mut files);
        let mut n = 0;
        for (rel, file) in files {
            let Some(fp) = fingerprint(&file) else {
                continue;
            };
            if state.artifacts.get(&rel) == Some(&fp) {
                continue;
            }
            self.client.upload(&root, &rel, &file)?;
            state.artifacts.insert(rel, fp);
            self.save(state)?;
            n += 1;
        }
        Ok(n)
    }

    fn send(
        &self,
        state: &State,
        params: Vec<KeyValue>,
        tags: Vec<KeyValue>,
        metrics: Vec<client::Metric>,
    ) -> Result<(), Error> {
        let batch = Batch {
            metrics,
            params,
            tags,
        };
        self.client.log_batch(&state.run_id, &batch)
    }

    fn save(&self, state: &State) -> Result<(), Error> {
        state.save(&self.output).map_err(|source| Error::Io {
            path: super::state::path(&self.output).display().to_string(),
            source,
        })
    }
}

/// Every complete record of `metrics.jsonl`, in file order (unreadable lines are skipped, as
/// `up` skips them).
fn read_metrics(output_dir: &Path) -> Vec<MetricsRecord> {
    let text = std::fs::read_to_string(output_dir.join(output::METRICS)).unwrap_or_default();
    // A last line without its newline is still being written.
    let complete = text.rfind('\n').map(|i| &text[..i]).unwrap_or("");
    complete
        .lines()
        .filter_map(|l| serde_json::from_str(l.trim()).ok())
        .collect()
}

fn read_record(output_dir: &Path) -> Option<RunRecord> {
    let bytes = std::fs::read(output_dir.join(output::RUN_RECORD)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Files under `dir`, as `(prefix/relative/path, path)`, sorted so uploads go in a stable order.
fn list_files(dir: &Path, prefix: &str, out: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name().to_string_lossy().to_string();
        let rel = format!("{prefix}/{name}");
        match e.file_type() {
            Ok(t) if t.is_dir() => list_files(&e.path(), &rel, out),
            Ok(t) if t.is_file() => out.push((rel, e.path())),
            _ => {}
        }
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_complete_lines_are_records_and_model_files_are_listed_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let line = r#"{"step":1,"epoch":0.0,"loss":1.0,"lr":0.0,"samples_per_s":1.0}"#;
        std::fs::write(
            dir.path().join(output::METRICS),
            format!("{line}\nnot json\n{line}\n{{\"step\":2,\"ep"),
        )
        .unwrap();
        assert_eq!(read_metrics(dir.path()).len(), 2);
        let m = dir.path().join("model/sub");
        std::fs::create_dir_all(&m).unwrap();
        std::fs::write(dir.path().join("model/b.json"), "{}").unwrap();
        std::fs::write(m.join("a.bin"), "x").unwrap();
        let mut files = Vec::new();
        list_files(&dir.path().join("model"), "model", &mut files);
        let rels: Vec<&str> = files.iter().map(|(r, _)| r.as_str()).collect();
        assert_eq!(rels, ["model/b.json", "model/sub/a.bin"]);
    }
}
