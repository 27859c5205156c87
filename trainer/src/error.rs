//! The trainer's failures, each with the exit code the plugin maps to a job state
//! (`finetune_spec::contract::exit_code`). Messages are one line and say what to do.

use finetune_spec::contract::exit_code;
use std::io;
use std::path::Path;

/// Why a `train`, `predict` or `eval` command stopped without finishing.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The job spec, the model directory or the data is invalid.
    #[error("{0}")]
    BadInput(String),
    /// The newest checkpoint belongs to another config (or dataset).
    #[error("{0}")]
    ResumeRefused(String),
    #[error(
        "out of memory: {0}; lower train.batch_size or train.max_length, or raise the memory limit"
    )]
    OutOfMemory(String),
    /// SIGTERM/SIGINT: a checkpoint was saved at `step`.
    #[error("interrupted: checkpoint saved at step {step}; run again to resume")]
    Interrupted { step: u64 },
    #[error("{0}")]
    OutputUnwritable(String),
    /// A CUDA build found no usable GPU for a job that asks for one.
    #[error("{0}")]
    NoGpu(String),
    #[error("{0}")]
    Failed(String),
}

impl RunError {
    pub fn exit_code(&self) -> i32 {
        match self {
            RunError::BadInput(_) => exit_code::BAD_INPUT,
            RunError::ResumeRefused(_) => exit_code::RESUME_REFUSED,
            RunError::OutOfMemory(_) => exit_code::OUT_OF_MEMORY,
            RunError::Interrupted { .. } => exit_code::INTERRUPTED,
            RunError::OutputUnwritable(_) => exit_code::OUTPUT_UNWRITABLE,
            RunError::NoGpu(_) => exit_code::NO_GPU,
            RunError::Failed(_) => exit_code::FAILED,
        }
    }

    /// A failure to write under the output directory: out of space, read-only or no permission
    /// are the output's fault; anything else is an internal failure.
    pub fn output(path: &Path, e: io::Error) -> RunError {
        let unwritable = matches!(
            e.kind(),
            io::ErrorKind::PermissionDenied
                | io::ErrorKind::StorageFull
                | io::ErrorKind::ReadOnlyFilesystem
                | io::ErrorKind::QuotaExceeded
                | io::ErrorKind::NotFound
        ) || e.raw_os_error() == Some(28);
        let msg = format!(
            "cannot write {}: {e}; free space or fix the output directory's permissions \
             (what was written so far is kept)",
            path.display()
        );
        if unwritable {
            RunError::OutputUnwritable(msg)
        } else {
            RunError::Failed(msg)
        }
    }
}

impl From<crate::model::ModelError> for RunError {
    fn from(e: crate::model::ModelError) -> Self {
        RunError::BadInput(e.to_string())
    }
}

impl From<crate::backend::NoGpu> for RunError {
    fn from(e: crate::backend::NoGpu) -> Self {
        RunError::NoGpu(e.0)
    }
}

impl From<crate::data::DataError> for RunError {
    fn from(e: crate::data::DataError) -> Self {
        RunError::BadInput(e.to_string())
    }
}

/// Whether a panic message reports an allocation failure (CUDA and host allocators).
pub fn is_oom_message(msg: &str) -> bool {
    let m = msg.to_ascii_lowercase();
    m.contains("out of memory") || m.contains("outofmemory") || m.contains("memory allocation of")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_full_is_output_unwritable() {
        let e = RunError::output(Path::new("/o/x"), io::Error::from_raw_os_error(28));
        assert_eq!(e.exit_code(), exit_code::OUTPUT_UNWRITABLE);
        assert!(e.to_string().starts_with("cannot write /o/x"));
        assert!(is_oom_message("CUDA error: out of memory"));
        assert!(!is_oom_message("shape mismatch"));
    }
}
