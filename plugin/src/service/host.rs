//! The engine as a place to run jobs: what `docker info` says (GPU runtime, CPUs, memory), the
//! GPU inventory, and the checks that stop a start before anything exists: GPU jobs on a host
//! without a GPU runtime (exit 7), Compose v2 missing (exit 9).

use super::jobs;
use super::Report;
use crate::compose_cli::compose_version;
use crate::engine::{self, Engine, GpuSupport};
use crate::exit::{fail_hint, ExitCode};
use crate::scheduler::{Device, Inventory};
use bollard::models::SystemInfo;
use finetune_compose::Project;
use finetune_spec::Gpus;

/// How to make GPUs available to Docker; `doctor` prints it, the GPU preflight hints it.
pub const NVIDIA_FIX: &str = "install the NVIDIA driver and nvidia-container-toolkit, then \
`sudo nvidia-ctk runtime configure --runtime=docker && sudo systemctl restart docker` \
(or generate CDI specs with `nvidia-ctk cdi generate`)";

/// A connected engine and what it offers.
pub struct Host {
    pub engine: Engine,
    pub info: SystemInfo,
    pub gpu: GpuSupport,
    /// The engine runs on this machine (its paths are ours, `nvidia-smi` sees its GPUs).
    pub local: bool,
}

impl Host {
    pub async fn new(engine: Engine) -> anyhow::Result<Host> {
        let info = engine.info().await?;
        let local = engine::is_local(&engine.endpoint);
        let gpu = engine::gpu_support(&info, local);
        Ok(Host {
            engine,
            info,
            gpu,
            local,
        })
    }

    /// The GPUs found (`FINETUNE_GPUS`, else `nvidia-smi` on a local engine).
    pub fn gpu_devices(&self) -> Result<Vec<Device>, crate::exit::Failure> {
        engine::gpu_devices(&self.gpu, self.local)
    }

    /// The scheduler's view of the host. When the engine has a GPU runtime but no inventory was
    /// found (a remote engine, no `nvidia-smi`), GPUs `0..N-1` are assumed, N being what the
    /// jobs ask for, with a note.
    pub fn inventory(
        &self,
        project: &Project,
        names: &[String],
        report: &dyn Report,
    ) -> Result<Inventory, crate::exit::Failure> {
        let mut gpus = self.gpu_devices()?;
        if gpus.is_empty() && self.gpu.available() {
            let n = super::gpus::assumed_count(project, names, true);
            if n > 0 {
                gpus = (0..n).map(|i| Device::id(i.to_string())).collect();
                report.note(&format!(
                    "no GPU inventory from this engine: assuming GPUs 0..{} (set FINETUNE_GPUS to name them)",
                    n - 1
                ));
            }
        }
        Ok(engine::inventory(&self.info, gpus))
    }
}

/// Stop with exit 7 when jobs ask for GPUs on a host without a GPU runtime, instead of Docker's
/// `could not select device driver`; jobs on `gpus: auto` get a note that they run on CPU.
pub fn preflight_gpus(
    gpu: &GpuSupport,
    project: &Project,
    names: &[String],
    report: &dyn Report,
) -> anyhow::Result<()> {
    let reqs: Vec<(&str, &Gpus)> = names
        .iter()
        .filter_map(|n| project.job(n))
        .map(|j| (j.spec.name.as_str(), &j.spec.resources.gpus))
        .collect();
    check_gpus(gpu, &reqs)?;
    for (n, g) in &reqs {
        if matches!(g, Gpus::Auto) && !gpu.available() {
            report.note(&format!(
                "job `{n}`: `gpus: auto` and no NVIDIA runtime on this engine: running on CPU"
            ));
        }
    }
    Ok(())
}

/// The GPU preflight on plain requests: only `auto` (and none) may run without a GPU runtime.
pub fn check_gpus(gpu: &GpuSupport, jobs: &[(&str, &Gpus)]) -> anyhow::Result<()> {
    if gpu.available() {
        return Ok(());
    }
    let wanting: Vec<String> = jobs
        .iter()
        .filter(|(_, g)| jobs::needs_gpu_runtime(g))
        .map(|(n, g)| format!("`{n}` (gpus: {g})"))
        .collect();
    if wanting.is_empty() {
        return Ok(());
    }
    Err(fail_hint(
        ExitCode::NoGpuRuntime,
        format!(
            "job {} asks for GPUs, but this Docker engine has no NVIDIA runtime and no CDI devices",
            wanting.join(", ")
        ),
        format!("{NVIDIA_FIX}; or set `resources.gpus: auto` to run on CPU here, or `gpus: 0`"),
    ))
}

/// Stop with exit 9 unless `docker compose` is Compose v2.
pub async fn require_compose(docker: &str) -> anyhow::Result<()> {
    match compose_version(docker).await {
        Some(v) if v.0 >= 2 => Ok(()),
        _ => Err(fail_hint(
            ExitCode::ComposeFailed,
            "`docker compose` (Compose v2) is required and was not found",
            "install it: `scripts/install-compose.sh` or the docker-compose-plugin package",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gpu_jobs_fail_preflight_without_a_runtime() {
        let none = GpuSupport::default();
        let e = check_gpus(&none, &[("a", &Gpus::Count(1))]).unwrap_err();
        let f = e.downcast_ref::<crate::exit::Failure>().unwrap();
        assert_eq!(f.code, ExitCode::NoGpuRuntime);
        assert!(f.message.contains("`a` (gpus: 1)"));
        assert!(f
            .hint
            .as_deref()
            .unwrap()
            .contains("nvidia-container-toolkit"));
        assert!(f.hint.as_deref().unwrap().contains("gpus: auto"));
        assert!(check_gpus(&none, &[("b", &Gpus::All)]).is_err());
        assert!(check_gpus(&none, &[("c", &Gpus::Ids(vec!["0".into()]))]).is_err());
        // auto and 0 run on CPU.
        assert!(check_gpus(&none, &[("d", &Gpus::Auto), ("e", &Gpus::Count(0))]).is_ok());
        let rt = GpuSupport {
            nvidia_runtime: true,
            cdi: false,
        };
        assert!(check_gpus(&rt, &[("a", &Gpus::Count(1))]).is_ok());
    }
}
