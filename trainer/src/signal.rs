//! SIGTERM/SIGINT as a flag the training loop checks between steps, so it can save a checkpoint
//! and exit with `INTERRUPTED` instead of dying mid-write. `signal-hook` installs the handlers
//! (they only set the flag, which is async-signal-safe).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock};

static STOP: LazyLock<Arc<AtomicBool>> = LazyLock::new(|| Arc::new(AtomicBool::new(false)));

/// Installs the handlers for SIGTERM and SIGINT. Without them (registration failed, which
/// only happens for forbidden signals) the default action, ending the process, remains.
pub fn install() {
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        if let Err(e) = signal_hook::flag::register(sig, Arc::clone(&STOP)) {
            eprintln!("[finetune] warning: cannot handle signal {sig}: {e}");
        }
    }
}

/// Whether a stop was requested.
pub fn requested() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// Requests a stop (tests, and `--max-steps`-like internal stops).
pub fn request() {
    STOP.store(true, Ordering::SeqCst);
}
