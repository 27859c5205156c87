//! `validate`: every problem in the fine-tune spec as `file:line:col: message`, with hints; with
//! `--data`, the datasets' rows too. Needs no engine. Exit 0 when valid, 1 when not.

use crate::cli::validate::ValidateArgs;
use crate::cli::TableFormat;
use crate::commands::Ctx;
use crate::exit::ExitCode;
use finetune_compose::{Diagnostic, Job, ValidateOptions};

pub struct Options {
    pub data: bool,
    pub format: TableFormat,
}

impl From<ValidateArgs> for Options {
    fn from(a: ValidateArgs) -> Options {
        Options {
            data: a.data,
            format: a.format,
        }
    }
}

pub fn run(ctx: &Ctx, opts: Options) -> anyhow::Result<ExitCode> {
    let (diags, jobs) = match finetune_compose::load_project(&ctx.project_options) {
        Ok(project) => {
            let check = |job: &Job| check_data(job);
            let vopts = ValidateOptions {
                check_data: opts.data,
                data_check: if opts.data { Some(&check) } else { None },
            };
            let jobs = project.jobs.len();
            (finetune_compose::validate(&project, &vopts), jobs)
        }
        Err(e) => (e.diagnostics(), 0),
    };
    let errors = diags.iter().filter(|d| d.is_error()).count();
    let warnings = diags.len() - errors;
    match opts.format {
        TableFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "valid": errors == 0,
                "jobs": jobs,
                "diagnostics": diags,
            }))?
        ),
        TableFormat::Table => {
            for d in &diags {
                println!("{d}");
            }
        }
    }
    if errors > 0 {
        eprintln!("{errors} error(s), {warnings} warning(s)");
        Ok(ExitCode::InvalidSpec)
    } else {
        eprintln!(
            "valid: {jobs} job(s){}",
            if warnings > 0 {
                format!(", {warnings} warning(s)")
            } else {
                String::new()
            }
        );
        Ok(ExitCode::Success)
    }
}

/// `--data`: the job's dataset files scanned the way the trainer reads them
/// ([`finetune_compose::validate::check_data`]), with a summary line per file on stderr.
fn check_data(job: &Job) -> Vec<Diagnostic> {
    let report = finetune_compose::validate::check_data(job);
    for f in &report.files {
        let labels: Vec<String> = f
            .scan
            .labels
            .iter()
            .map(|(l, n)| format!("{l} {n}"))
            .collect();
        eprintln!(
            "{}: {} {}: {} rows ({} usable), labels: {}",
            job.spec.name,
            f.role,
            f.path.display(),
            f.scan.rows,
            f.scan.good_rows,
            labels.join(", ")
        );
    }
    report.diagnostics
}
