//! Reading what the trainer wrote under a job's output directory, with the contract's own types
//! (`finetune_spec::contract`), so the tests check the real format.

use anyhow::{Context, Result};
use finetune_spec::contract::{output, MetricsRecord, RunRecord, TrainLog};
use std::path::Path;

/// `run.json`.
pub fn run_record(out_dir: &Path) -> Result<RunRecord> {
    let p = out_dir.join(output::RUN_RECORD);
    let text = std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", p.display()))
}

/// Every record of `metrics.jsonl` (a torn last line, from a killed run, is ignored).
pub fn metrics(out_dir: &Path) -> Result<Vec<MetricsRecord>> {
    let p = out_dir.join(output::METRICS);
    let text = std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?;
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        match serde_json::from_str::<MetricsRecord>(line) {
            Ok(r) => out.push(r),
            Err(_) if i + 1 == lines.len() && !text.ends_with('\n') => {}
            Err(e) => {
                return Err(e).with_context(|| format!("{}:{}: bad record", p.display(), i + 1))
            }
        }
    }
    Ok(out)
}

/// The training log lines of `metrics.jsonl`, in order.
pub fn train_logs(out_dir: &Path) -> Result<Vec<TrainLog>> {
    Ok(metrics(out_dir)?
        .into_iter()
        .filter_map(|r| match r {
            MetricsRecord::Train(t) => Some(t),
            MetricsRecord::Eval { .. } | MetricsRecord::Redaction { .. } => None,
        })
        .collect())
}

/// Mean loss of the first and of the last third of the logged steps.
pub fn loss_first_last_third(logs: &[TrainLog]) -> Option<(f64, f64)> {
    if logs.len() < 3 {
        return None;
    }
    let third = logs.len() / 3;
    let mean = |s: &[TrainLog]| s.iter().map(|l| l.loss).sum::<f64>() / s.len() as f64;
    Some((mean(&logs[..third]), mean(&logs[logs.len() - third..])))
}

/// Steps of the complete checkpoints under `checkpoints/` (dirs named `step-N`).
pub fn checkpoint_steps(out_dir: &Path) -> Vec<u64> {
    let mut steps: Vec<u64> = std::fs::read_dir(out_dir.join(output::CHECKPOINTS))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            e.file_name()
                .to_str()?
                .strip_prefix("step-")?
                .parse::<u64>()
                .ok()
        })
        .collect();
    steps.sort_unstable();
    steps
}

/// Contents of every file under `dir`, by relative path (for byte-for-byte comparisons).
pub fn files_under(dir: &Path) -> Result<std::collections::BTreeMap<String, Vec<u8>>> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).with_context(|| format!("listing {}", d.display()))? {
            let p = e?.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir)?.to_string_lossy().into_owned();
                out.insert(rel, std::fs::read(&p)?);
            }
        }
    }
    Ok(out)
}

/// Seconds since the Unix epoch of an RFC 3339 time (`2026-11-27T23:05:01.123Z` or `+00:00`).
pub fn rfc3339_seconds(s: &str) -> Option<f64> {
    finetune_spec::time::parse_rfc3339(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_parses_utc_times() {
        assert_eq!(rfc3339_seconds("1970-01-01T00:00:00Z"), Some(0.0));
        assert_eq!(
            rfc3339_seconds("2000-03-01T00:00:01+00:00"),
            Some(951_868_801.0)
        );
        let a = rfc3339_seconds("2026-11-27T23:05:01.5Z").unwrap();
        let b = rfc3339_seconds("2026-11-27T23:05:03Z").unwrap();
        assert!((b - a - 1.5).abs() < 1e-9);
        assert_eq!(rfc3339_seconds("yesterday"), None);
    }
}
