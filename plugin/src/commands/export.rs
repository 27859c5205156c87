//! `export --to k8s|volcano JOB`: cluster manifests for one job, on stdout.

use crate::cli::export::{ExportArgs, ExportTarget};
use crate::commands::{require_valid, select_jobs, Ctx};
use crate::exit::{fail_hint, ExitCode};
use finetune_compose::export::{self, ExportOptions, VolumeMode};

pub struct Options {
    pub target: ExportTarget,
    pub job: String,
    pub export: ExportOptions,
}

impl TryFrom<ExportArgs> for Options {
    type Error = anyhow::Error;
    fn try_from(a: ExportArgs) -> anyhow::Result<Options> {
        let volumes = if a.pvc.is_empty() {
            VolumeMode::HostPath
        } else {
            pvc_mode(&a.pvc)?
        };
        Ok(Options {
            target: a.to,
            job: a.job,
            export: ExportOptions {
                namespace: a.namespace,
                queue: a.queue,
                min_available: a.min_available,
                secret_name: a.secret_name,
                image: a
                    .image
                    .unwrap_or_else(|| crate::service::image::trainer_image(false)),
                volumes,
            },
        })
    }
}

/// `--pvc model=NAME --pvc data=NAME --pvc output=NAME [--pvc cache=NAME]`.
fn pvc_mode(pairs: &[String]) -> anyhow::Result<VolumeMode> {
    let (mut model, mut data, mut output, mut cache) = (None, None, None, None);
    for p in pairs {
        let usage = || {
            fail_hint(
                ExitCode::Usage,
                format!("invalid --pvc `{p}`"),
                "use ROLE=CLAIM with ROLE one of model, data, output, cache",
            )
        };
        let (role, claim) = p.split_once('=').ok_or_else(usage)?;
        let slot = match role {
            "model" => &mut model,
            "data" => &mut data,
            "output" => &mut output,
            "cache" => &mut cache,
            _ => return Err(usage()),
        };
        *slot = Some(claim.to_string());
    }
    let need = |v: Option<String>, role: &str| {
        v.ok_or_else(|| {
            fail_hint(
                ExitCode::Usage,
                format!("--pvc needs a claim for `{role}`"),
                "give --pvc model=CLAIM --pvc data=CLAIM --pvc output=CLAIM",
            )
        })
    };
    Ok(VolumeMode::Pvc {
        model: need(model, "model")?,
        data: need(data, "data")?,
        output: need(output, "output")?,
        cache,
    })
}

pub fn run(ctx: &Ctx, opts: Options) -> anyhow::Result<ExitCode> {
    let project = ctx.load()?;
    require_valid(&project, false)?;
    let job = select_jobs(&project, std::slice::from_ref(&opts.job))?[0];
    let text = match opts.target {
        ExportTarget::K8s => export::kubernetes(&project.name, job, &opts.export)?,
        ExportTarget::Volcano => export::volcano(&project.name, job, &opts.export)?,
    };
    print!("{text}");
    Ok(ExitCode::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pvc_flags_map_to_claims() {
        let v: Vec<String> = ["model=m", "data=d", "output=o"].map(String::from).to_vec();
        match pvc_mode(&v).unwrap() {
            VolumeMode::Pvc {
                model,
                data,
                output,
                cache,
            } => {
                assert_eq!(
                    (model.as_str(), data.as_str(), output.as_str(), cache),
                    ("m", "d", "o", None)
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(pvc_mode(&["model=m".to_string()]).is_err());
        assert!(pvc_mode(&["gpu=x".to_string()]).is_err());
        assert!(pvc_mode(&["nonsense".to_string()]).is_err());
    }
}
