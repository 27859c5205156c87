//! The parsers on output in the format `nvidia-smi` prints (driver 550 on a 2-GPU host, an older
//! banner, `[N/A]` memory), and [`query`] on a fake `nvidia-smi` that prints it.

use super::*;

/// `nvidia-smi --query-gpu=index,name,uuid,driver_version,memory.total,memory.free
/// --format=csv,noheader,nounits` on a host with two H100s.
const QUERY_OUT: &str = "\
0, NVIDIA H100 80GB HBM3, GPU-5f2a3c1e-8b7d-4e2f-9a1b-3c4d5e6f7a8b, 550.54.15, 81559, 81008
1, NVIDIA H100 80GB HBM3, GPU-0c1d2e3f-4a5b-6c7d-8e9f-a0b1c2d3e4f5, 550.54.15, 81559, 40213
";

/// `nvidia-smi --version` on driver 550.
const VERSION_OUT: &str = "\
NVIDIA-SMI version  : 550.54.15
NVML version        : 550.54
DRIVER version      : 550.54.15
CUDA Version        : 12.4
";

/// The banner of plain `nvidia-smi` (drivers without `--version`).
const BANNER_OUT: &str = "\
Tue Jun 11 10:21:32 2024
+---------------------------------------------------------------------------------------+
| NVIDIA-SMI 535.104.05             Driver Version: 535.104.05   CUDA Version: 12.2     |
|-----------------------------------------+----------------------+----------------------+
";

#[test]
fn query_lines_become_gpus() {
    let gpus = parse_query(QUERY_OUT).unwrap();
    assert_eq!(gpus.len(), 2);
    assert_eq!(
        gpus[1],
        Gpu {
            index: "1".into(),
            name: "NVIDIA H100 80GB HBM3".into(),
            uuid: "GPU-0c1d2e3f-4a5b-6c7d-8e9f-a0b1c2d3e4f5".into(),
            driver_version: "550.54.15".into(),
            memory_total_mib: Some(81559),
            memory_free_mib: Some(40213),
        }
    );
    assert_eq!(
        gpus[0].device(),
        Device {
            id: "0".into(),
            memory: Some(81559 << 20)
        }
    );
}

#[test]
fn odd_lines_parse_or_say_why_not() {
    // Memory some devices do not report, and a name with a comma.
    let g = parse_query("3, Tesla K80, rev A, GPU-abc, 470.82.01, [N/A], [N/A]\n").unwrap();
    assert_eq!(g[0].name, "Tesla K80, rev A");
    assert_eq!((g[0].memory_total_mib, g[0].memory_free_mib), (None, None));
    assert_eq!(g[0].device().memory, None);
    assert!(parse_query("").unwrap().is_empty());
    let e = parse_query("0, NVIDIA A10\n").unwrap_err();
    assert!(e.contains("expected 6 fields, found 2"), "{e}");
}

#[test]
fn cuda_version_from_either_output() {
    assert_eq!(parse_cuda_version(VERSION_OUT).as_deref(), Some("12.4"));
    assert_eq!(parse_cuda_version(BANNER_OUT).as_deref(), Some("12.2"));
    assert_eq!(
        parse_cuda_version("NVIDIA-SMI version  : 550.54.15\n"),
        None
    );
}

/// A fake `nvidia-smi` (a shell script) that answers like the real one, or fails like it does
/// when the driver is not loaded.
#[cfg(unix)]
fn fake_smi(dir: &Path, name: &str, body: &str) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

#[cfg(unix)]
#[test]
fn query_runs_the_program_with_the_documented_flags() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("query.txt"), QUERY_OUT).unwrap();
    std::fs::write(d.path().join("version.txt"), VERSION_OUT).unwrap();
    let dir = d.path().display();
    let smi = fake_smi(
        d.path(),
        "nvidia-smi",
        &format!(
            "case \"$*\" in\n\
             '--query-gpu={QUERY_FIELDS} --format=csv,noheader,nounits') cat {dir}/query.txt ;;\n\
             --version) cat {dir}/version.txt ;;\n\
             *) echo \"unexpected: $*\" >&2; exit 9 ;;\n\
             esac"
        ),
    );
    let r = query(&smi).unwrap();
    assert_eq!(r.gpus.len(), 2);
    assert_eq!(r.cuda_version.as_deref(), Some("12.4"));

    let broken = fake_smi(
        d.path(),
        "nvidia-smi-no-driver",
        "echo \"NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. \
         Make sure that the latest NVIDIA driver is installed and running.\"; exit 9",
    );
    match query(&broken) {
        Err(SmiError::Failed(m)) => assert!(m.starts_with("NVIDIA-SMI has failed"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(query(&d.path().join("absent")), Err(SmiError::NotFound));
}
