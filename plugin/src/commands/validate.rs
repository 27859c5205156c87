//! `validate`: every problem in the fine-tune spec as `file:line:col: message`, with hints; with
//! `--data`, the datasets' rows too. Needs no engine. Exit 0 when valid, 1 when not.

use crate::cli::validate::ValidateArgs;
use crate::cli::TableFormat;
use crate::commands::Ctx;
use crate::exit::ExitCode;
use finetune_compose::{Diagnostic, Job, Position, ValidateOptions};
use finetune_spec::dataset;
use std::path::Path;
use std::sync::Arc;

/// How many bad rows of one file are reported.
const MAX_ROW_ERRORS: usize = 10;

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

/// `--data`: scan each of the job's dataset files the way the trainer reads them.
fn check_data(job: &Job) -> Vec<Diagnostic> {
    let spec = &job.spec;
    let mut out = Vec::new();
    let mut files = vec![("train", spec.data.train.clone())];
    if let Some(e) = &spec.data.eval {
        files.push(("eval", e.clone()));
    }
    for (role, path) in files {
        let key = format!("{}.data.{role}", job.key_path);
        match dataset::scan(&path, &spec.data, MAX_ROW_ERRORS) {
            Ok(scan) => {
                for (msg, line) in scan.errors.iter().zip(&scan.error_lines) {
                    out.push(
                        Diagnostic::error(
                            &row_position(&path, *line),
                            &key,
                            strip_prefix(msg, &path),
                        )
                        .with_hint(format!(
                            "fields are `data.text: {}` and `data.label: {}`",
                            spec.data.text, spec.data.label
                        )),
                    );
                }
                if scan.bad_rows > scan.errors.len() {
                    out.push(Diagnostic::error(
                        &row_position(&path, 0),
                        &key,
                        format!(
                            "{} more bad row(s) not shown",
                            scan.bad_rows - scan.errors.len()
                        ),
                    ));
                }
                if scan.labels.len() < 2 && role == "train" {
                    out.push(
                        Diagnostic::error(&job.position, &key, format!(
                            "the training data has {} distinct label(s); classification needs at least 2",
                            scan.labels.len()
                        ))
                        .with_hint(format!("check `data.label: {}`", spec.data.label)),
                    );
                }
                let labels: Vec<String> = scan
                    .labels
                    .iter()
                    .map(|(l, n)| format!("{l} {n}"))
                    .collect();
                eprintln!(
                    "{}: {role} {}: {} rows ({} usable), labels: {}",
                    spec.name,
                    path.display(),
                    scan.rows,
                    scan.good_rows,
                    labels.join(", ")
                );
            }
            Err(e) => {
                let pos = match e.line() {
                    Some(l) => row_position(&path, l),
                    None => job.position.clone(),
                };
                out.push(Diagnostic::error(&pos, &key, e.to_string()));
            }
        }
    }
    out
}

fn row_position(path: &Path, line: usize) -> Position {
    Position::new(Arc::from(path), line, 1)
}

/// Row messages start with `path:line: `; the diagnostic prints the position itself.
fn strip_prefix(msg: &str, path: &Path) -> String {
    let p = format!("{}:", path.display());
    match msg.strip_prefix(&p) {
        Some(rest) => rest
            .split_once(": ")
            .map(|(_, m)| m.to_string())
            .unwrap_or_else(|| rest.to_string()),
        None => msg.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_messages_lose_their_path_prefix() {
        assert_eq!(
            strip_prefix(
                "/d/t.jsonl:7: missing field `text`",
                Path::new("/d/t.jsonl")
            ),
            "missing field `text`"
        );
        assert_eq!(strip_prefix("other", Path::new("/d")), "other");
    }
}
