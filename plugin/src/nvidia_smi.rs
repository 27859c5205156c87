//! The host's NVIDIA GPUs as `nvidia-smi` reports them: the scheduler's inventory (ids and
//! memory) and `doctor`'s device list (names, UUIDs, driver and CUDA versions, free memory).
//!
//! Only the text is parsed here, so the parsers are unit-tested on recorded output; [`query`]
//! runs the program. `nvidia-smi` runs on the plugin's machine, so its answer describes the
//! engine's GPUs only when the engine is local.

use crate::scheduler::Device;
use std::path::Path;
use std::process::Command;

/// The fields asked of `nvidia-smi --query-gpu`, in the order [`parse_query`] reads them.
pub const QUERY_FIELDS: &str = "index,name,uuid,driver_version,memory.total,memory.free";

/// One GPU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gpu {
    /// The index `nvidia-smi` and `device_ids` use (`"0"`).
    pub index: String,
    pub name: String,
    pub uuid: String,
    pub driver_version: String,
    /// MiB; `None` when the device reports `[N/A]`.
    pub memory_total_mib: Option<u64>,
    pub memory_free_mib: Option<u64>,
}

impl Gpu {
    /// The scheduler's view of it.
    pub fn device(&self) -> Device {
        Device {
            id: self.index.clone(),
            memory: self.memory_total_mib.map(|m| m << 20),
        }
    }
}

/// What `nvidia-smi` said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub gpus: Vec<Gpu>,
    /// The highest CUDA version the driver supports (`12.4`), when it says.
    pub cuda_version: Option<String>,
}

/// Why there is no report.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SmiError {
    /// Not installed: no NVIDIA driver on this machine.
    #[error("nvidia-smi not found")]
    NotFound,
    /// It ran and failed (typically: the driver is not loaded), with its first line of output.
    #[error("nvidia-smi failed: {0}")]
    Failed(String),
    /// It answered something this parser does not read.
    #[error("cannot read nvidia-smi's output: {0}")]
    Unreadable(String),
}

/// Parse the output of `nvidia-smi --query-gpu=<QUERY_FIELDS> --format=csv,noheader,nounits`:
/// one line per GPU, fields separated by `, `. A name could hold a comma, so the fixed fields are
/// taken from both ends.
pub fn parse_query(text: &str) -> Result<Vec<Gpu>, String> {
    let mut gpus = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let n = fields.len();
        if n < 6 {
            return Err(format!("expected 6 fields, found {n} in `{line}`"));
        }
        let mib = |s: &str| s.parse::<u64>().ok();
        gpus.push(Gpu {
            index: fields[0].to_string(),
            name: fields[1..n - 4].join(", "),
            uuid: fields[n - 4].to_string(),
            driver_version: fields[n - 3].to_string(),
            memory_total_mib: mib(fields[n - 2]),
            memory_free_mib: mib(fields[n - 1]),
        });
    }
    Ok(gpus)
}

/// The CUDA version in `nvidia-smi --version` (`CUDA Version        : 12.4`) or in the banner of
/// plain `nvidia-smi` (`| ... Driver Version: 550.54.15      CUDA Version: 12.4     |`).
pub fn parse_cuda_version(text: &str) -> Option<String> {
    let rest = &text[text.find("CUDA Version")? + "CUDA Version".len()..];
    let rest = rest.trim_start_matches([' ', '\t', ':']);
    let version: String = rest
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    (!version.is_empty()).then_some(version)
}

/// Run `program` (normally `nvidia-smi`) for the GPU list and the CUDA version.
pub fn query(program: &Path) -> Result<Report, SmiError> {
    let query = format!("--query-gpu={QUERY_FIELDS}");
    let text = run(program, &[&query, "--format=csv,noheader,nounits"])?;
    let gpus = parse_query(&text).map_err(SmiError::Unreadable)?;
    // `--version` is the cheap way on current drivers; older ones only print it in the banner.
    let cuda_version = run(program, &["--version"])
        .ok()
        .and_then(|t| parse_cuda_version(&t))
        .or_else(|| run(program, &[]).ok().and_then(|t| parse_cuda_version(&t)));
    Ok(Report { gpus, cuda_version })
}

fn run(program: &Path, args: &[&str]) -> Result<String, SmiError> {
    let out = Command::new(program).args(args).output().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            SmiError::NotFound
        } else {
            SmiError::Failed(e.to_string())
        }
    })?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let first = text
            .lines()
            .chain(err.lines())
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or("no output")
            .to_string();
        return Err(SmiError::Failed(first));
    }
    Ok(text)
}

#[cfg(test)]
mod tests;
