//! Tracking while `up` follows a job: a thread per job runs [`Syncer::poll`], so the follow loop
//! only sends it a message and never waits on the network.
//!
//! Ticks come every half second; the thread polls at most every [`EVERY`], and after a failure
//! waits [`BACKOFF`] before trying again (the warning is printed once, by [`super::warn_once`]).
//! When the job ends, [`Live::ended`] asks for one last poll with the exit code, whatever the
//! backoff, and hands back the thread so `up` can give it a bounded time to finish.

use super::sync::Syncer;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The shortest time between two polls while a job runs.
const EVERY: Duration = Duration::from_secs(2);
/// The wait after a failed poll before the next try.
const BACKOFF: Duration = Duration::from_secs(30);

enum Msg {
    Tick,
    Ended(i64),
}

/// One job's tracking thread.
pub struct Live {
    tx: Sender<Msg>,
    thread: JoinHandle<()>,
}

impl Live {
    pub fn start(syncer: Syncer) -> Live {
        let (tx, rx) = channel();
        let thread = std::thread::Builder::new()
            .name("mlflow".into())
            .spawn(move || run(syncer, rx))
            .expect("spawn the tracking thread");
        Live { tx, thread }
    }

    /// A tick of the follow loop: poll if it is time (never blocks).
    pub fn tick(&self) {
        let _ = self.tx.send(Msg::Tick);
    }

    /// The job's container exited with `code`: a last poll, then the thread ends.
    pub fn ended(self, code: i64) -> JoinHandle<()> {
        let _ = self.tx.send(Msg::Ended(code));
        self.thread
    }
}

fn run(mut syncer: Syncer, rx: Receiver<Msg>) {
    let mut last: Option<Instant> = None;
    let mut failed_at: Option<Instant> = None;
    while let Ok(msg) = rx.recv() {
        // Ticks queued while a poll ran are one tick; an end among them is the end.
        let mut end = match msg {
            Msg::Ended(c) => Some(c),
            Msg::Tick => None,
        };
        while let Ok(m) = rx.try_recv() {
            if let Msg::Ended(c) = m {
                end = Some(c);
            }
        }
        if end.is_none() {
            let due = last.is_none_or(|t| t.elapsed() >= EVERY)
                && failed_at.is_none_or(|t| t.elapsed() >= BACKOFF);
            if !due {
                continue;
            }
        }
        last = Some(Instant::now());
        match syncer.poll(end) {
            Ok(_) => failed_at = None,
            Err(e) => {
                super::warn_once(&e);
                failed_at = Some(Instant::now());
            }
        }
        if end.is_some() {
            return;
        }
    }
    // The sender is gone (`up` was interrupted): nothing more to do.
}
