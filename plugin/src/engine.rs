//! The Docker engine: connecting (with API version negotiation, since the engine may be as old as
//! 20.10 / API 1.41), what `docker info` says about GPUs, and finding job containers by label.

use crate::endpoint::Endpoint;
use crate::exit::{ExitCode, Failure};
use crate::nvidia_smi;
use crate::scheduler::{Device, Inventory};
use bollard::models::{ContainerSummary, SystemInfo};
use bollard::query_parameters::ListContainersOptions;
use bollard::{Docker, API_DEFAULT_VERSION};
use std::collections::HashMap;
use std::path::Path;

/// Container labels the plugin relies on: Compose's own find a service's container, the
/// `com.docker.finetune.*` ones are rendered on every job service by the compose library (and
/// declared there, once).
pub mod labels {
    pub use finetune_compose::render::labels::*;
    pub const COMPOSE_PROJECT: &str = "com.docker.compose.project";
    pub const COMPOSE_SERVICE: &str = "com.docker.compose.service";
}

/// A connected, version-negotiated engine client.
pub struct Engine {
    pub docker: Docker,
    pub endpoint: Endpoint,
    pub api_version: String,
}

impl Engine {
    /// Connect and negotiate the API version. Every failure is [`ExitCode::DaemonUnreachable`]
    /// with the endpoint in the message.
    pub async fn connect(endpoint: &Endpoint) -> Result<Engine, Failure> {
        let unreachable = |e: &dyn std::fmt::Display| {
            Failure::new(
                ExitCode::DaemonUnreachable,
                format!(
                    "cannot reach the Docker engine at {}: {e}",
                    endpoint.host
                ),
            )
            .hint(format!(
                "start the engine (e.g. `sudo systemctl start docker`) or point `--context`, `-H` or \
                 DOCKER_HOST at a running one (endpoint from {})",
                endpoint.source
            ))
        };
        let host = endpoint.host.as_str();
        let docker = if let Some(path) = host.strip_prefix("unix://") {
            Docker::connect_with_unix(path, 600, API_DEFAULT_VERSION)
        } else if host.starts_with("tcp://") || host.starts_with("http://") {
            Docker::connect_with_http(host, 600, API_DEFAULT_VERSION)
        } else {
            return Err(Failure::new(
                ExitCode::DaemonUnreachable,
                format!("unsupported engine endpoint `{host}`"),
            )
            .hint("use a unix:// socket or tcp:// address; for ssh:// run `ssh -L` to forward the socket"));
        }
        .map_err(|e| unreachable(&e))?;
        let docker = docker
            .negotiate_version()
            .await
            .map_err(|e| unreachable(&e))?;
        let v = docker.client_version();
        Ok(Engine {
            docker,
            endpoint: endpoint.clone(),
            api_version: format!("{}.{}", v.major_version, v.minor_version),
        })
    }

    /// `docker info`.
    pub async fn info(&self) -> anyhow::Result<SystemInfo> {
        Ok(self.docker.info().await?)
    }

    /// Containers (running or not) carrying every `key=value` label given.
    pub async fn containers(
        &self,
        labels: &[(&str, &str)],
    ) -> anyhow::Result<Vec<ContainerSummary>> {
        let filters: HashMap<String, Vec<String>> = HashMap::from([(
            "label".to_string(),
            labels.iter().map(|(k, v)| format!("{k}={v}")).collect(),
        )]);
        let opts = ListContainersOptions {
            all: true,
            filters: Some(filters),
            ..Default::default()
        };
        Ok(self.docker.list_containers(Some(opts)).await?)
    }

    /// Whether an image exists locally.
    pub async fn image_exists(&self, reference: &str) -> bool {
        self.docker.inspect_image(reference).await.is_ok()
    }
}

/// What the host offers for GPU jobs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GpuSupport {
    /// `nvidia` is among `docker info`'s Runtimes.
    pub nvidia_runtime: bool,
    /// CDI spec files naming NVIDIA devices were found.
    pub cdi: bool,
}

impl GpuSupport {
    pub fn available(&self) -> bool {
        self.nvidia_runtime || self.cdi
    }
}

/// GPU support from `docker info` and, for a local engine, the CDI spec directories.
pub fn gpu_support(info: &SystemInfo, local: bool) -> GpuSupport {
    let nvidia_runtime = info
        .runtimes
        .as_ref()
        .is_some_and(|r| r.keys().any(|k| k.contains("nvidia")));
    // API 1.44+ reports CDI spec dirs; older engines (20.10) do not, so look at the usual dirs
    // when the engine is local.
    let mut dirs: Vec<String> = info.cdi_spec_dirs.clone().unwrap_or_default();
    if dirs.is_empty() {
        dirs = vec!["/etc/cdi".into(), "/var/run/cdi".into()];
    }
    let cdi = local && dirs.iter().any(|d| cdi_dir_has_nvidia(Path::new(d)));
    GpuSupport {
        nvidia_runtime,
        cdi,
    }
}

fn cdi_dir_has_nvidia(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|rd| {
        rd.flatten().any(|e| {
            let name = e.file_name().to_string_lossy().to_lowercase();
            name.contains("nvidia")
                || std::fs::read_to_string(e.path()).is_ok_and(|t| t.contains("nvidia.com/gpu"))
        })
    })
}

/// The host's GPUs: `FINETUNE_GPUS` (e.g. `0,1,2,3`, or `0:80g,1:80g` with their memory; for
/// tests and for hosts where discovery fails), else `nvidia-smi` on a local engine's host (ids and
/// memory), else none. A malformed `FINETUNE_GPUS` is an error.
pub fn gpu_devices(support: &GpuSupport, local: bool) -> Result<Vec<Device>, Failure> {
    if let Ok(v) = std::env::var("FINETUNE_GPUS") {
        return crate::scheduler::parse_gpu_override(&v).map_err(|e| {
            Failure::new(ExitCode::Other, format!("FINETUNE_GPUS: {e}"))
                .hint("write device ids, each optionally with its memory: `0,1` or `0:80g,1:24g`")
        });
    }
    if !support.available() || !local {
        return Ok(Vec::new());
    }
    Ok(nvidia_smi::query(Path::new("nvidia-smi"))
        .map(|r| r.gpus.iter().map(nvidia_smi::Gpu::device).collect())
        .unwrap_or_default())
}

/// The scheduler's view of the host.
pub fn inventory(info: &SystemInfo, gpus: Vec<Device>) -> Inventory {
    Inventory {
        gpus,
        cpus: info.ncpu.unwrap_or(1).max(1) as f64,
        memory: info.mem_total.unwrap_or(0).max(0) as u64,
    }
}

/// Whether the endpoint is this machine's engine (paths on it are our paths).
pub fn is_local(endpoint: &Endpoint) -> bool {
    endpoint.host.starts_with("unix://")
}

/// Seconds since the Unix epoch of an RFC 3339 timestamp as Docker writes them
/// (`2026-11-27T23:24:11.123456789Z`), fractions dropped; `None` for the zero time Docker uses for
/// "never".
pub fn parse_timestamp(s: &str) -> Option<i64> {
    finetune_spec::time::parse_rfc3339(s).map(|t| t.floor() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::Runtime;

    #[test]
    fn nvidia_runtime_is_detected_from_info() {
        let mut info = SystemInfo::default();
        assert!(!gpu_support(&info, false).available());
        info.runtimes = Some(HashMap::from([
            ("runc".to_string(), Runtime::default()),
            ("nvidia".to_string(), Runtime::default()),
        ]));
        assert!(gpu_support(&info, false).nvidia_runtime);
    }

    #[test]
    fn cdi_dirs_are_searched_for_nvidia_specs() {
        let dir = tempfile::tempdir().unwrap();
        let mut info = SystemInfo {
            cdi_spec_dirs: Some(vec![dir.path().display().to_string()]),
            ..Default::default()
        };
        assert!(!gpu_support(&info, true).cdi);
        std::fs::write(dir.path().join("vendor.yaml"), "kind: nvidia.com/gpu\n").unwrap();
        assert!(gpu_support(&info, true).cdi);
        // A remote engine's spec dirs are not on this machine.
        assert!(!gpu_support(&info, false).cdi);
        info.cdi_spec_dirs = None;
    }

    #[test]
    fn timestamps_parse_like_docker_writes_them() {
        assert_eq!(parse_timestamp("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_timestamp("2026-11-27T23:24:11.123456789Z"),
            Some(1_795_821_851)
        );
        assert_eq!(parse_timestamp("0001-01-01T00:00:00Z"), None);
        assert_eq!(parse_timestamp("garbage"), None);
    }

    #[test]
    fn inventory_takes_cpus_and_memory_from_info() {
        let info = SystemInfo {
            ncpu: Some(2),
            mem_total: Some(1 << 30),
            ..Default::default()
        };
        let inv = inventory(&info, vec![Device::id("0")]);
        assert_eq!((inv.cpus, inv.memory, inv.gpus.len()), (2.0, 1 << 30, 1));
    }
}
