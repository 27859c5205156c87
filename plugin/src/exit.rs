//! Exit codes of `docker-finetune`, and the error type that carries one.
//!
//! Scripts and the end-to-end tests branch on these codes, so each failure class has its own
//! number and they never change meaning. They are documented in `docs/cli.md`.

use finetune_spec::contract::exit_code as trainer;
use std::fmt;

/// What `docker-finetune` exits with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// Everything asked for succeeded.
    Success = 0,
    /// The compose files or the fine-tune spec (or, with `--data`, the datasets) are invalid.
    InvalidSpec = 1,
    /// Bad command line (clap's own code).
    Usage = 2,
    /// The Docker engine cannot be reached.
    DaemonUnreachable = 3,
    /// The trainer image build failed.
    BuildFailed = 4,
    /// A job failed (trainer error, bad data found at run time, refused resume).
    JobFailed = 5,
    /// A job was killed for running out of memory.
    OutOfMemory = 6,
    /// A job asks for GPUs and the host has no NVIDIA runtime or CDI devices (found before the
    /// start, or by the CUDA trainer finding no driver in its container).
    NoGpuRuntime = 7,
    /// The output disk is full or not writable.
    DiskFull = 8,
    /// `docker compose` is missing or failed.
    ComposeFailed = 9,
    /// Any other error.
    Other = 10,
    /// Interrupted by Ctrl-C; jobs were stopped and checkpointed, `up` again resumes.
    Interrupted = 130,
}

impl ExitCode {
    pub fn code(self) -> i32 {
        self as i32
    }

    /// The exit code for a job container that ended with `status` (`oom_killed` from
    /// `State.OOMKilled`). The kernel's OOM kill (137 with `OOMKilled`) and the trainer's own
    /// out-of-memory exit both map to [`ExitCode::OutOfMemory`].
    pub fn from_job(status: i64, oom_killed: bool) -> ExitCode {
        if oom_killed {
            return ExitCode::OutOfMemory;
        }
        match i32::try_from(status).unwrap_or(i32::MAX) {
            trainer::DONE => ExitCode::Success,
            trainer::OUT_OF_MEMORY => ExitCode::OutOfMemory,
            trainer::OUTPUT_UNWRITABLE => ExitCode::DiskFull,
            trainer::INTERRUPTED => ExitCode::Interrupted,
            trainer::NO_GPU => ExitCode::NoGpuRuntime,
            _ => ExitCode::JobFailed,
        }
    }

    /// The worst of two outcomes, so that a run of several jobs reports the most serious one.
    pub fn worst(self, other: ExitCode) -> ExitCode {
        fn rank(c: ExitCode) -> u8 {
            match c {
                ExitCode::Success => 0,
                ExitCode::JobFailed => 1,
                ExitCode::DiskFull => 2,
                ExitCode::OutOfMemory => 3,
                ExitCode::Interrupted => 4,
                _ => 5,
            }
        }
        if rank(other) > rank(self) {
            other
        } else {
            self
        }
    }
}

/// A trainer exit status in words, for tables and reports.
pub fn describe_job_exit(status: i64, oom_killed: bool) -> &'static str {
    if oom_killed {
        return "killed: out of memory";
    }
    match i32::try_from(status).unwrap_or(i32::MAX) {
        trainer::DONE => "done",
        trainer::FAILED => "failed",
        trainer::BAD_INPUT => "failed: invalid spec, model or data",
        trainer::RESUME_REFUSED => "failed: checkpoint belongs to a different config",
        trainer::OUT_OF_MEMORY => "failed: out of memory",
        trainer::INTERRUPTED => "interrupted (resumable)",
        trainer::OUTPUT_UNWRITABLE => "failed: output not writable (disk full?)",
        trainer::NO_GPU => "failed: no usable GPU in the container (NVIDIA driver missing?)",
        137 => "killed (SIGKILL)",
        143 => "terminated (SIGTERM)",
        _ => "failed",
    }
}

/// An error that decides the exit code and may carry a hint on how to fix it. Everything else
/// that reaches `main` exits with [`ExitCode::Other`].
#[derive(Debug)]
pub struct Failure {
    pub code: ExitCode,
    pub message: String,
    pub hint: Option<String>,
}

impl Failure {
    pub fn new(code: ExitCode, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
            hint: None,
        }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Failure {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

/// Shorthand: `Err(fail(code, msg))?`.
pub fn fail(code: ExitCode, message: impl Into<String>) -> anyhow::Error {
    Failure::new(code, message).into()
}

/// Shorthand with a hint.
pub fn fail_hint(
    code: ExitCode,
    message: impl Into<String>,
    hint: impl Into<String>,
) -> anyhow::Error {
    Failure::new(code, message).hint(hint).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_exit_statuses_map_to_distinct_codes() {
        assert_eq!(ExitCode::from_job(0, false), ExitCode::Success);
        assert_eq!(ExitCode::from_job(137, true), ExitCode::OutOfMemory);
        // OOMKilled wins even when the process exited 0 after a child was killed.
        assert_eq!(ExitCode::from_job(0, true), ExitCode::OutOfMemory);
        assert_eq!(ExitCode::from_job(4, false), ExitCode::OutOfMemory);
        assert_eq!(ExitCode::from_job(6, false), ExitCode::DiskFull);
        assert_eq!(ExitCode::from_job(5, false), ExitCode::Interrupted);
        assert_eq!(ExitCode::from_job(2, false), ExitCode::JobFailed);
        // A CUDA trainer without a driver in its container: the GPU-runtime code.
        assert_eq!(ExitCode::from_job(7, false), ExitCode::NoGpuRuntime);
        assert_eq!(ExitCode::from_job(137, false), ExitCode::JobFailed);
        assert_eq!(ExitCode::from_job(i64::MAX, false), ExitCode::JobFailed);
    }

    #[test]
    fn codes_are_distinct_and_stable() {
        let all = [
            ExitCode::Success,
            ExitCode::InvalidSpec,
            ExitCode::Usage,
            ExitCode::DaemonUnreachable,
            ExitCode::BuildFailed,
            ExitCode::JobFailed,
            ExitCode::OutOfMemory,
            ExitCode::NoGpuRuntime,
            ExitCode::DiskFull,
            ExitCode::ComposeFailed,
            ExitCode::Other,
            ExitCode::Interrupted,
        ];
        let codes: std::collections::BTreeSet<i32> = all.iter().map(|c| c.code()).collect();
        assert_eq!(codes.len(), all.len());
        assert_eq!(ExitCode::DaemonUnreachable.code(), 3);
        assert_eq!(ExitCode::NoGpuRuntime.code(), 7);
    }

    #[test]
    fn worst_outcome_wins() {
        assert_eq!(
            ExitCode::Success.worst(ExitCode::JobFailed),
            ExitCode::JobFailed
        );
        assert_eq!(
            ExitCode::OutOfMemory.worst(ExitCode::JobFailed),
            ExitCode::OutOfMemory
        );
        assert_eq!(
            ExitCode::Success.worst(ExitCode::Success),
            ExitCode::Success
        );
    }

    #[test]
    fn descriptions_name_oom_and_resume() {
        assert!(describe_job_exit(137, true).contains("out of memory"));
        assert!(describe_job_exit(5, false).contains("resumable"));
        assert!(describe_job_exit(7, false).contains("no usable GPU"));
        assert_eq!(describe_job_exit(0, false), "done");
    }
}
