//! The training loop's log lines on stderr (`[finetune] …`), which `docker finetune logs` shows.

use finetune_spec::contract::EvalMetrics;

pub(super) fn log(msg: impl AsRef<str>) {
    eprintln!("[finetune] {}", msg.as_ref());
}

/// An evaluation as one log phrase.
pub(super) fn fmt_eval(m: &EvalMetrics) -> String {
    format!(
        "loss {:.4} accuracy {:.4} macro_f1 {:.4} ({} samples)",
        m.loss, m.accuracy, m.macro_f1, m.samples
    )
}

/// The first 12 characters of a hash, for messages.
pub(super) fn short(h: &str) -> &str {
    &h[..h.len().min(12)]
}
