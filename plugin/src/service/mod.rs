//! The service layer under the commands: everything two commands (or a command and the Compose
//! provider) need is here, once, so that `commands/*` are leaves that import no other command.
//!
//! - [`image`]: which trainer image a job needs, whether it exists, building it (with
//!   [`context`] and [`dockerignore`] for the build context);
//! - [`host`]: what the engine offers (GPU runtime, inventory) and the preflight checks;
//! - [`jobs`]: render options, smoke variants, "already finished", scheduler requests;
//! - [`gpus`]: the device ids `config` renders when no queue runs;
//! - [`outputs`]: output and cache directories the trainer's user can write, free disk;
//! - [`launch`]: the start sequence shared by `up` and the provider;
//! - [`data_image`]: dataset images: building them, their ids, copying files out of them;
//! - [`containers`]: finding, waiting for and removing job containers;
//! - [`progress`]: a job's progress from its `metrics.jsonl`;
//! - [`mlflow`]: experiment tracking on an MLflow server, from the output directory;
//! - [`built`]: the tag check and the end of an engine build that dataset and model images share;
//! - [`model_image`]: model images of finished runs (`package`, `bundle`): build, push, save.

pub mod built;
pub mod containers;
pub mod context;
pub mod data_image;
pub mod dockerignore;
pub mod gpus;
pub mod host;
pub mod image;
pub mod jobs;
pub mod launch;
pub mod mlflow;
pub mod model_image;
pub mod outputs;
pub mod progress;

/// Where the service layer's messages go: the terminal for the commands, JSON lines for the
/// Compose provider (whose stdout Compose reads and whose stderr it discards).
pub trait Report {
    /// A `[+] ...` status line.
    fn status(&self, msg: &str);
    fn note(&self, msg: &str);
    fn warn(&self, msg: &str);
    /// Subprocess output that was captured rather than passed through.
    fn debug(&self, msg: &str);
}

/// [`Report`] on stderr, through `ui`.
pub struct Terminal;

impl Report for Terminal {
    fn status(&self, msg: &str) {
        crate::ui::status(msg);
    }
    fn note(&self, msg: &str) {
        crate::ui::note(msg);
    }
    fn warn(&self, msg: &str) {
        crate::ui::warn(msg);
    }
    fn debug(&self, msg: &str) {
        eprintln!("{msg}");
    }
}
