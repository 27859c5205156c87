//! `doctor`'s GPU checks: the engine's NVIDIA runtime or CDI devices, then what `nvidia-smi`
//! says about this machine's GPUs (driver and CUDA versions, each device with its free memory).
//! A host without NVIDIA GPUs is not an error: jobs on `gpus: auto` run on the CPU there.

use super::{check, Check, Status};
use crate::engine::GpuSupport;
use crate::nvidia_smi::{Report, SmiError};
use crate::service::host::NVIDIA_FIX;
use crate::service::outputs::gib;

const INVENTORY_FIX: &str = "without a GPU list the queue assumes GPUs 0..N-1 of unknown memory: \
set FINETUNE_GPUS (e.g. `0:80g,1:80g`), or install the NVIDIA driver's utilities here";

/// The engine's GPU support, one line.
pub fn runtime_check(gpu: &GpuSupport) -> Check {
    if gpu.available() {
        let how = match (gpu.nvidia_runtime, gpu.cdi) {
            (true, true) => "nvidia runtime and CDI devices",
            (true, false) => "nvidia runtime",
            _ => "CDI devices",
        };
        check("gpu", Status::Ok, how, None)
    } else {
        check(
            "gpu",
            Status::Warn,
            "no NVIDIA runtime or CDI devices: GPU jobs cannot run here; `gpus: auto` runs on CPU",
            Some(NVIDIA_FIX),
        )
    }
}

/// The device checks from `nvidia-smi`'s answer; `None` when it was not asked (a remote engine,
/// whose GPUs this machine's `nvidia-smi` does not see).
pub fn device_checks(gpu: &GpuSupport, smi: Option<Result<Report, SmiError>>) -> Vec<Check> {
    let report = match smi {
        None if gpu.available() => {
            return vec![check(
                "gpu devices",
                Status::Warn,
                "not listed: the engine is remote, and nvidia-smi runs on this machine",
                Some(INVENTORY_FIX),
            )]
        }
        None => return Vec::new(),
        Some(Err(SmiError::NotFound)) if !gpu.available() => {
            return vec![check(
                "gpu devices",
                Status::Ok,
                "no NVIDIA GPU (nvidia-smi not found): jobs run on the CPU",
                None,
            )]
        }
        Some(Err(e)) => {
            return vec![check(
                "gpu devices",
                Status::Warn,
                e.to_string(),
                Some(match e {
                    SmiError::NotFound => INVENTORY_FIX,
                    _ => "check the NVIDIA driver: `nvidia-smi` must list the GPUs",
                }),
            )]
        }
        Some(Ok(r)) => r,
    };
    if report.gpus.is_empty() {
        return vec![check(
            "gpu devices",
            Status::Warn,
            "nvidia-smi lists no GPU",
            Some("check the NVIDIA driver: `nvidia-smi` must list the GPUs"),
        )];
    }
    let driver = &report.gpus[0].driver_version;
    let mut out = vec![check(
        "nvidia driver",
        Status::Ok,
        format!(
            "driver {driver}, CUDA {}, {} GPU{}",
            report.cuda_version.as_deref().unwrap_or("unknown"),
            report.gpus.len(),
            if report.gpus.len() == 1 { "" } else { "s" }
        ),
        None,
    )];
    let mib = |m: Option<u64>| m.map_or_else(|| "unknown".to_string(), |m| gib(m << 20));
    for g in &report.gpus {
        out.push(check(
            format!("gpu {}", g.index),
            Status::Ok,
            format!(
                "{} ({}), {} free of {}",
                g.name,
                g.uuid,
                mib(g.memory_free_mib),
                mib(g.memory_total_mib)
            ),
            None,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nvidia_smi::parse_query;

    const RUNTIME: GpuSupport = GpuSupport {
        nvidia_runtime: true,
        cdi: false,
    };

    fn report() -> Report {
        Report {
            gpus: parse_query(
                "0, NVIDIA H100 80GB HBM3, GPU-5f2a3c1e-8b7d-4e2f-9a1b-3c4d5e6f7a8b, 550.54.15, 81559, 40780\n\
                 1, NVIDIA H100 80GB HBM3, GPU-0c1d2e3f-4a5b-6c7d-8e9f-a0b1c2d3e4f5, 550.54.15, 81559, [N/A]\n",
            )
            .unwrap(),
            cuda_version: Some("12.4".into()),
        }
    }

    fn lines(checks: &[Check]) -> Vec<String> {
        checks
            .iter()
            .map(|c| format!("{:?} {}: {}", c.status, c.name, c.detail))
            .collect()
    }

    #[test]
    fn a_gpu_host_lists_driver_cuda_and_each_device_with_free_memory() {
        assert_eq!(
            lines(&device_checks(&RUNTIME, Some(Ok(report())))),
            [
                "Ok nvidia driver: driver 550.54.15, CUDA 12.4, 2 GPUs",
                "Ok gpu 0: NVIDIA H100 80GB HBM3 (GPU-5f2a3c1e-8b7d-4e2f-9a1b-3c4d5e6f7a8b), 39.8 GiB free of 79.6 GiB",
                "Ok gpu 1: NVIDIA H100 80GB HBM3 (GPU-0c1d2e3f-4a5b-6c7d-8e9f-a0b1c2d3e4f5), unknown free of 79.6 GiB",
            ]
        );
    }

    #[test]
    fn no_nvidia_gpu_is_not_an_error() {
        let none = GpuSupport::default();
        let c = device_checks(&none, Some(Err(SmiError::NotFound)));
        assert_eq!(
            lines(&c),
            ["Ok gpu devices: no NVIDIA GPU (nvidia-smi not found): jobs run on the CPU"]
        );
        assert_eq!(runtime_check(&none).status, Status::Warn);
        // A remote engine without GPUs: nothing to say.
        assert!(device_checks(&none, None).is_empty());
    }

    #[test]
    fn a_runtime_without_a_gpu_list_says_how_to_give_one() {
        let c = device_checks(&RUNTIME, Some(Err(SmiError::NotFound)));
        assert_eq!(c[0].status, Status::Warn);
        assert!(c[0].fix.as_deref().unwrap().contains("FINETUNE_GPUS"));
        let c = device_checks(&RUNTIME, None);
        assert!(c[0].detail.contains("remote"), "{}", c[0].detail);
        let failed = SmiError::Failed(
            "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver".into(),
        );
        let c = device_checks(&GpuSupport::default(), Some(Err(failed)));
        assert_eq!(c[0].status, Status::Warn);
        assert!(c[0]
            .detail
            .starts_with("nvidia-smi failed: NVIDIA-SMI has failed"));
        assert_eq!(runtime_check(&RUNTIME).detail, "nvidia runtime");
    }
}
