//! How fast the redaction engine is on one core, for `docs/redaction.md`: builds one
//! [`Redactor`] for every entity and redacts each row once per mode, timing both.
//!
//! `cargo run --release -p finetune-spec --example redact_throughput [FILE]`
//!
//! With FILE, each line is a row (the tweets fixture's 38k-row `tweets.csv`, say); without it,
//! 38,000 rows of the generated PII corpus, where every row holds planted values or near-misses.

#[path = "../tests/support/pii_corpus.rs"]
#[allow(dead_code)] // the planted spans are the corpus test's
mod pii_corpus;

use finetune_spec::redact::{Counts, Entity, HashKey, Mode, Redactor};
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rows: Vec<String> = match std::env::args().nth(1) {
        Some(path) => String::from_utf8_lossy(&std::fs::read(&path)?)
            .lines()
            .map(str::to_string)
            .collect(),
        None => pii_corpus::corpus(11, 38_000)
            .into_iter()
            .map(|r| r.text)
            .collect(),
    };
    let bytes: usize = rows.iter().map(String::len).sum();
    let key = HashKey::new(b"throughput-key-0123456789")?;
    let only: Vec<Entity> = match std::env::var("ONLY") {
        Ok(n) => vec![n.parse()?],
        Err(_) => Entity::ALL.to_vec(),
    };
    for (name, mode) in [("replace", Mode::Replace), ("hash", Mode::Hash(key))] {
        let built = Instant::now();
        let redactor = Redactor::new(&only, mode, "US")?;
        let build = built.elapsed();
        let started = Instant::now();
        let mut counts = Counts::zeroed(redactor.entities());
        for row in &rows {
            counts += &redactor.redact(row).counts;
        }
        let secs = started.elapsed().as_secs_f64();
        println!(
            "{name}: {} rows, {:.1} MB in {secs:.3} s ({:.0} rows/s, {:.1} MB/s; build {:.1} ms); counts {}",
            rows.len(),
            bytes as f64 / 1e6,
            rows.len() as f64 / secs,
            bytes as f64 / 1e6 / secs,
            build.as_secs_f64() * 1e3,
            serde_json::to_string(&counts)?,
        );
    }
    Ok(())
}
