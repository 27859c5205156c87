//! The training loop's log lines on stderr (`[finetune] …`), which `docker finetune logs` shows.

use finetune_spec::contract::EvalMetrics;

pub(super) fn log(msg: impl AsRef<str>) {
    eprintln!("[finetune] {}", msg.as_ref());
}

/// An evaluation as one log phrase.
pub(super) fn fmt_eval(m: &EvalMetrics) -> String {
    match (m.macro_f1, m.perplexity) {
        (Some(f1), _) => format!(
            "loss {:.4} accuracy {:.4} macro_f1 {:.4} ({} samples)",
            m.loss, m.accuracy, f1, m.samples
        ),
        (None, ppl) => format!(
            "loss {:.4} perplexity {:.3} token accuracy {:.4} ({} samples, {} tokens)",
            m.loss,
            ppl.unwrap_or(f64::NAN),
            m.accuracy,
            m.samples,
            m.tokens.unwrap_or(0)
        ),
    }
}

/// `train: email 3, phone 0; eval: ...`: a redaction record's counts, numbers only.
pub(super) fn redaction_counts(r: &finetune_spec::contract::Redaction) -> String {
    let files: Vec<String> = r
        .counts
        .iter()
        .map(|(role, c)| {
            let parts: Vec<String> = c.iter().map(|(e, n)| format!("{} {n}", e.name())).collect();
            format!("{role}: {}", parts.join(", "))
        })
        .collect();
    let mode = match r.mode {
        finetune_spec::redact::RedactMode::Replace => "replace",
        finetune_spec::redact::RedactMode::Hash => "hash",
    };
    format!("{} ({mode})", files.join("; "))
}

/// The first 12 characters of a hash, for messages.
pub(super) fn short(h: &str) -> &str {
    &h[..h.len().min(12)]
}
