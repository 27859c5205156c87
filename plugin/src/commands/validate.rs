//! `validate`: every problem in the fine-tune spec as `file:line:col: message`, with hints; with
//! `--data`, the datasets' rows too. Needs no engine, except `--data` for a job whose data are in
//! a dataset image (`data.image`): its files are copied out of the image into a temporary
//! directory (nothing runs, see [`fetch`]) and checked there, and the problems found name them
//! as `IMAGE:/data/PATH`. Exit 0 when valid, 1 when not.

use crate::cli::validate::ValidateArgs;
use crate::cli::TableFormat;
use crate::commands::Ctx;
use crate::engine::Engine;
use crate::exit::ExitCode;
use crate::service::data_image::{self, fetch, Lookup};
use finetune_compose::chat_data::Marks;
use finetune_compose::{Diagnostic, Job, Project, ValidateOptions};
use finetune_spec::contract::DATA_DIR;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

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

pub async fn run(ctx: &Ctx, opts: Options) -> anyhow::Result<ExitCode> {
    let (diags, jobs) = match finetune_compose::load_project(&ctx.project_options) {
        Ok(project) => {
            let images = if opts.data {
                copy_out_images(ctx, &project).await
            } else {
                BTreeMap::new()
            };
            let check = |job: &Job| match images.get(&job.spec.name) {
                Some(copied) => check_image_data(job, copied),
                None => check_data(job),
            };
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
    summarize(
        &job.spec.name,
        job.spec.train.max_length.get(),
        &report,
        &|p| p.to_string(),
    );
    report.diagnostics
}

/// A summary line per file on stderr, its path shown by `show`.
fn summarize(
    job: &str,
    max_length: usize,
    report: &finetune_compose::validate::DataReport,
    show: &dyn Fn(&str) -> String,
) {
    for f in &report.files {
        let labels: Vec<String> = f
            .scan
            .labels
            .iter()
            .map(|(l, n)| format!("{l} {n}"))
            .collect();
        eprintln!(
            "{job}: {} {}: {} rows ({} usable), labels: {}",
            f.role,
            show(&f.path.to_string_lossy()),
            f.scan.rows,
            f.scan.good_rows,
            labels.join(", ")
        );
        if let Some(counts) = &f.scan.redacted {
            eprintln!("{job}: {} would redact: {}", f.role, redact_summary(counts));
        }
    }
    let marks = if crate::ui::color() {
        Marks::COLOR
    } else {
        Marks::PLAIN
    };
    for f in &report.generation {
        eprintln!(
            "{job}: {} {}: {}",
            f.role,
            show(&f.path.to_string_lossy()),
            f.summary(max_length)
        );
        if f.role == "train" {
            if let Some(example) = f.example_lines(marks) {
                eprintln!("{job}: train {}", show(&example));
            }
        }
    }
}

/// `email 3, phone 0, ...` (counts only: `validate --data` never prints a value).
fn redact_summary(counts: &finetune_spec::redact::Counts) -> String {
    let parts: Vec<String> = counts
        .iter()
        .map(|(e, n)| format!("{} {n}", e.name()))
        .collect();
    format!("{} ({} in all)", parts.join(", "), counts.total())
}

/// A dataset image's files of one job, copied out: the directory holding them, and each file's
/// copy (or why there is none) by role. `Err`: the image cannot be read.
type ImageCopy = Result<(tempfile::TempDir, Vec<(&'static str, fetch::Copied)>), String>;

/// The data files of every job with `data.image`, copied out of the images, by job. The engine is
/// asked only when some job has one.
async fn copy_out_images(ctx: &Ctx, project: &Project) -> BTreeMap<String, ImageCopy> {
    let mut out = BTreeMap::new();
    let mut engine: Option<Result<Engine, String>> = None;
    for job in project.jobs.iter().filter(|j| j.spec.data.image.is_some()) {
        if engine.is_none() {
            engine = Some(ctx.engine().await.map_err(|e| format!("{e:#}")));
        }
        let copied = match engine.as_ref() {
            Some(Ok(engine)) => copy_job_files(engine, job).await,
            Some(Err(e)) => Err(format!(
                "the data files are in an image, and the engine cannot be asked for it: {e}"
            )),
            None => continue,
        };
        out.insert(job.spec.name.clone(), copied);
    }
    out
}

async fn copy_job_files(engine: &Engine, job: &Job) -> ImageCopy {
    let reference = job.spec.data.image.as_deref().unwrap_or_default();
    match data_image::lookup(engine, reference).await {
        Ok(Lookup::Found { .. }) => {}
        Ok(other) => {
            return Err(format!(
                "{:#}",
                data_image::unusable(&job.spec.name, reference, &other)
            ))
        }
        Err(e) => return Err(format!("cannot read dataset image `{reference}`: {e:#}")),
    }
    let mut roles = vec![("train", job.spec.data.train.clone())];
    roles.extend(job.spec.data.eval.clone().map(|e| ("eval", e)));
    let files: Vec<PathBuf> = roles.iter().map(|(_, p)| p.clone()).collect();
    let dir = tempfile::Builder::new()
        .prefix("finetune-validate-")
        .tempdir()
        .map_err(|e| e.to_string())?;
    let copied = fetch::copy_out(engine, reference, &files, dir.path())
        .await
        .map_err(|e| format!("{e:#}"))?;
    Ok((dir, roles.iter().map(|(r, _)| *r).zip(copied).collect()))
}

/// `--data` on the copies of an image job's files, with what it reports naming them in the
/// image.
fn check_image_data(job: &Job, copied: &ImageCopy) -> Vec<Diagnostic> {
    let reference = job.spec.data.image.as_deref().unwrap_or_default();
    let key = |rel: &str| format!("{}.{rel}", job.key_path);
    let (dir, files) = match copied {
        Ok(c) => c,
        Err(e) => {
            return vec![Diagnostic::error(job.position_of("data.image"), key("data.image"), e.clone())
                .with_hint(format!(
                    "`docker finetune data package DIR --tag {reference}` builds it; `docker images` lists the engine's images"
                ))]
        }
    };
    let mut out = Vec::new();
    let mut local = job.clone();
    local.spec.data.image = None;
    for (role, copy) in files {
        let rel = format!("data.{role}");
        match copy {
            Ok(path) if *role == "train" => local.spec.data.train = path.clone(),
            Ok(path) => local.spec.data.eval = Some(path.clone()),
            Err(e) => out.push(
                Diagnostic::error(job.position_of(&rel), key(&rel), e.clone()).with_hint(
                    "paths under `data.image` are relative to the image's /data (the directory `data package` was given)",
                ),
            ),
        }
    }
    if !out.is_empty() {
        return out;
    }
    let shown = |text: &str| in_image(text, dir.path(), reference);
    let report = finetune_compose::validate::check_data(&local);
    summarize(
        &job.spec.name,
        job.spec.train.max_length.get(),
        &report,
        &shown,
    );
    report
        .diagnostics
        .into_iter()
        .map(|mut d| {
            d.file = PathBuf::from(shown(&d.file.to_string_lossy()));
            d.message = shown(&d.message);
            d.hint = d.hint.as_deref().map(shown);
            d
        })
        .collect()
}

/// `text` with the copies' directory written as the image's (`acme/tweets:v1:/data`).
fn in_image(text: &str, copies: &Path, reference: &str) -> String {
    text.replace(
        &copies.to_string_lossy().into_owned(),
        &format!("{reference}:{DATA_DIR}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use finetune_compose::{JobSource, Position};

    fn job(image: &str) -> Job {
        let spec = serde_json::from_value(serde_json::json!({
            "name": "j", "model": "/m", "output": "/o",
            "data": {"image": image, "train": "train.jsonl", "eval": "eval.jsonl"}
        }))
        .unwrap();
        Job {
            spec,
            position: Position::none("compose.yaml"),
            source: JobSource::Section,
            key_path: "x-finetune.jobs.j".into(),
            positions: BTreeMap::new(),
            key_positions: BTreeMap::new(),
        }
    }

    #[test]
    fn problems_in_copied_files_name_them_in_the_image() {
        let dir = tempfile::tempdir().unwrap();
        let train = dir.path().join("train.jsonl");
        std::fs::write(
            &train,
            "{\"text\":\"a\",\"label\":\"x\"}\n{\"text\":\"b\"}\n",
        )
        .unwrap();
        let copied: ImageCopy = Ok((
            dir,
            vec![
                ("train", Ok(train)),
                (
                    "eval",
                    Err("/data/eval.jsonl is not in dataset image `d:1`".into()),
                ),
            ],
        ));
        let diags = check_image_data(&job("d:1"), &copied);
        assert_eq!(diags.len(), 1, "{diags:#?}");
        assert_eq!(diags[0].path, "x-finetune.jobs.j.data.eval");

        let Ok((dir, _)) = copied else { unreachable!() };
        let train = dir.path().join("train.jsonl");
        let both: ImageCopy = Ok((dir, vec![("train", Ok(train.clone()))]));
        let mut j = job("d:1");
        j.spec.data.eval = None;
        let diags = check_image_data(&j, &both);
        let text: Vec<String> = diags.iter().map(|d| d.to_string()).collect();
        let text = text.join("\n");
        assert!(text.contains("d:1:/data/train.jsonl:2:1"), "{text}");
        let Ok((dir, _)) = &both else { unreachable!() };
        assert!(!text.contains(&*dir.path().to_string_lossy()), "{text}");
    }

    #[test]
    fn an_unreadable_image_is_one_error_at_data_image() {
        let copied: ImageCopy = Err("job `j`: dataset image `d:1` is not on the engine".into());
        let diags = check_image_data(&job("d:1"), &copied);
        assert_eq!(diags.len(), 1);
        assert_eq!(diags[0].path, "x-finetune.jobs.j.data.image");
        assert!(diags[0].message.contains("`d:1` is not on the engine"));
    }
}
