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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::mlflow::{client::Client, state::State, target, test_server};
    use finetune_spec::contract::output;
    use finetune_spec::JobSpec;
    use std::io::Write;
    use std::path::Path;

    fn job(dir: &Path, uri: &str) -> JobSpec {
        serde_yaml::from_str(&format!(
            "name: live\nmodel: /m\ndata: {{train: /t}}\noutput: {}\n\
             tracking: {{mlflow: {{uri: '{uri}', experiment: live-{}}}}}\n",
            dir.display(),
            std::process::id()
        ))
        .unwrap()
    }

    fn start(dir: &Path, uri: &str) -> Live {
        let spec = job(dir, uri);
        let t = target(&spec, "p", |_| None).unwrap();
        Live::start(Syncer::new(t, &spec, "p").unwrap())
    }

    const STARTED: &str = "2026-12-06T10:00:00Z";

    fn write_status(dir: &Path) {
        let s = serde_json::json!({"state": "running", "job": "live", "pid": 1, "total_steps": 40,
            "steps_per_epoch": 40, "epochs": 1, "step": 0, "started_at": STARTED, "updated_at": STARTED});
        std::fs::write(dir.join(output::STATUS), s.to_string()).unwrap();
    }

    fn append(dir: &Path, steps: &[u64]) {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(output::METRICS))
            .unwrap();
        for s in steps {
            writeln!(
                f,
                r#"{{"step":{s},"epoch":0.1,"loss":0.5,"lr":1e-5,"samples_per_s":9.0}}"#
            )
            .unwrap();
        }
    }

    /// Ticks, as `up`'s loop does, until `done` or 10 s.
    fn tick_until(live: &Live, done: impl Fn() -> bool) -> bool {
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(10) {
            live.tick();
            if done() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        false
    }

    #[test]
    fn metrics_go_while_the_job_runs_and_its_end_closes_the_run() {
        let Some(uri) = test_server() else { return };
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        write_status(d);
        append(d, &[10, 20]);
        let live = start(d, &uri);
        let client = Client::new(&uri, None).unwrap();
        let run = || State::load(d, &uri).run_id;
        let loss_steps = || {
            let r = run();
            if r.is_empty() {
                return Vec::new();
            }
            let mut s: Vec<i64> = client
                .metric_history(&r, "loss")
                .unwrap()
                .iter()
                .map(|m| m.step)
                .collect();
            s.sort();
            s
        };
        assert!(
            tick_until(&live, || loss_steps() == [10, 20]),
            "{:?}",
            loss_steps()
        );
        // Written later, sent later: before the job ends.
        append(d, &[30]);
        assert!(
            tick_until(&live, || loss_steps() == [10, 20, 30]),
            "{:?}",
            loss_steps()
        );
        assert_eq!(client.get_run(&run()).unwrap().info.status, "RUNNING");
        // The container exits 1 without a run record: the run failed.
        live.ended(1).join().unwrap();
        assert_eq!(client.get_run(&run()).unwrap().info.status, "FAILED");
    }

    #[test]
    fn a_dead_server_never_holds_up_the_loop() {
        let dir = tempfile::tempdir().unwrap();
        write_status(dir.path());
        append(dir.path(), &[10]);
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let live = start(dir.path(), &format!("http://127.0.0.1:{port}"));
        let t0 = Instant::now();
        for _ in 0..100 {
            live.tick();
        }
        assert!(
            t0.elapsed() < Duration::from_millis(50),
            "{:?}",
            t0.elapsed()
        );
        let t0 = Instant::now();
        live.ended(0).join().unwrap();
        assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
        assert!(!State::load(dir.path(), &format!("http://127.0.0.1:{port}")).has_run());
    }
}
