//! `validate --data` for `task: text-generation` jobs: the rows read as the trainer reads them
//! ([`finetune_spec::chat::scan_examples`]: shape, fields, roles, empty content, each bad row at
//! its file and line), each rendered as the model will see it (the chat template for
//! conversations, [`finetune_spec::chat::render`]) and tokenized with the model's
//! `tokenizer.json`, for the counts: rows, duplicates, tokens (total, mean, max), the tokens that
//! carry the loss, and how many rows `train.max_length` truncates (and how many of those lose
//! every trained token). One rendered example, with its trained part, is kept for the summary.
//!
//! The tokenizer and chat template come from the model ([`Assets`]): a Hugging Face directory,
//! or a `.gguf` file's metadata.

use crate::diagnostic::Diagnostic;
use crate::project::Job;
use crate::validate::{DataReport, MAX_ROW_ERRORS};
use crate::Position;
use finetune_spec::chat::{self, ChatError, ChatTemplate, ExampleScan, ModelAssets, Rendered};
use finetune_spec::DataShape;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One text-generation data file as `validate --data` read it.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerationFile {
    /// `train` or `eval`.
    pub role: &'static str,
    pub path: PathBuf,
    pub rows: usize,
    pub good_rows: usize,
    pub bad_rows: usize,
    pub shape: Option<DataShape>,
    /// Good rows equal to an earlier good row of the same file.
    pub duplicates: usize,
    /// With a tokenizer: the token counts of the rows that rendered.
    pub tokens: Option<TokenStats>,
    /// The first row that rendered, and its line.
    pub example: Option<(usize, Rendered)>,
    /// Hashes of the good rows, to find eval rows that repeat training rows.
    pub hashes: Vec<u64>,
}

/// Token counts of a file's rendered rows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TokenStats {
    pub rows: usize,
    pub total: usize,
    pub max: usize,
    /// Tokens that carry the loss, before truncation.
    pub trained: usize,
    /// Rows longer than `train.max_length`.
    pub truncated: usize,
    /// Of those, rows whose trained tokens all lie past `max_length`: they train nothing.
    pub truncated_untrained: usize,
}

impl TokenStats {
    pub fn mean(&self) -> f64 {
        self.total as f64 / self.rows.max(1) as f64
    }
}

/// What rendering and counting need from the model.
pub struct Assets {
    pub template: Option<ChatTemplate>,
    pub tokenizer: Option<tokenizers::Tokenizer>,
    pub eos: Option<String>,
}

impl Assets {
    /// The job's chat template (`data.chat_template`, else the model's) and tokenizer, from a
    /// Hugging Face directory or a GGUF file's metadata ([`ModelAssets`], as the trainer reads
    /// them). A broken `tokenizer_config.json`, GGUF header or template is an error; a missing
    /// tokenizer is `None` (the model check reports it).
    pub fn load(job: &Job) -> Result<Assets, ChatError> {
        let model = ModelAssets::load(&job.spec.model, job.spec.data.chat_template.as_deref())?;
        let tokenizer = match &model.tokenizer_json {
            Some(json) => {
                Some(
                    json.parse::<tokenizers::Tokenizer>()
                        .map_err(|e| ChatError::Config {
                            path: job.spec.model.clone(),
                            message: format!("the tokenizer does not load: {e}"),
                        })?,
                )
            }
            None => None,
        };
        Ok(Assets {
            template: model.template,
            tokenizer,
            eos: model.tokens.eos,
        })
    }
}

/// Reads, renders and counts a text-generation job's data files.
pub fn check(job: &Job) -> DataReport {
    let mut report = DataReport::default();
    let spec = &job.spec;
    let assets = match Assets::load(job) {
        Ok(a) => a,
        Err(e) => {
            report.diagnostics.push(template_error(job, &e));
            return report;
        }
    };
    let files = [
        ("train", Some(&spec.data.train)),
        ("eval", spec.data.eval.as_ref()),
    ];
    for (role, file) in files {
        let Some(file) = file.filter(|f| f.is_file()) else {
            continue; // a missing file is reported by `check_files`
        };
        let rel = format!("data.{role}");
        let key = format!("{}.{rel}", job.key_path);
        let scan = match chat::scan_examples(file, &spec.data, spec.train.loss_on, MAX_ROW_ERRORS) {
            Ok(scan) => scan,
            Err(e) => {
                let d = Diagnostic::error(job.position_of(&rel), &key, e.to_string());
                report.diagnostics.push(d);
                continue;
            }
        };
        for (line, place, msg) in &scan.errors {
            report
                .diagnostics
                .push(row_error(file, &key, *line, place, msg));
        }
        if scan.bad_rows > scan.errors.len() {
            report.diagnostics.push(Diagnostic::error(
                job.position_of(&rel),
                &key,
                format!(
                    "{} more bad rows in {}",
                    scan.bad_rows - scan.errors.len(),
                    file.display()
                ),
            ));
        }
        let counted = count(job, file, &rel, &scan, &assets, &mut report.diagnostics);
        report.generation.push(GenerationFile {
            role,
            path: file.clone(),
            rows: scan.rows,
            good_rows: scan.good.len(),
            bad_rows: scan.bad_rows,
            shape: scan.shape,
            duplicates: scan.duplicates,
            tokens: counted.tokens,
            example: counted.example,
            hashes: scan
                .good
                .iter()
                .map(|r| chat::examples::example_hash(&r.example))
                .collect(),
        });
    }
    report
        .diagnostics
        .extend(eval_overlap(job, &report.generation));
    report
}

/// What rendering and tokenizing a file gave.
struct Counted {
    tokens: Option<TokenStats>,
    example: Option<(usize, Rendered)>,
}

/// Renders every good row (a row the template refuses is an error at its line) and, with a
/// tokenizer, counts its tokens.
fn count(
    job: &Job,
    file: &Path,
    rel: &str,
    scan: &ExampleScan,
    assets: &Assets,
    diags: &mut Vec<Diagnostic>,
) -> Counted {
    let key = &format!("{}.{rel}", job.key_path);
    let max_length = job.spec.train.max_length.get();
    let mut out = Counted {
        tokens: assets.tokenizer.as_ref().map(|_| TokenStats::default()),
        example: None,
    };
    let mut failed = 0usize;
    for row in &scan.good {
        let rendered = match chat::render(
            &row.example,
            assets.template.as_ref(),
            assets.eos.as_deref(),
            job.spec.train.loss_on,
        ) {
            Ok(r) => r,
            Err(ChatError::NoTemplate) => {
                diags.push(template_error(job, &ChatError::NoTemplate));
                return out;
            }
            Err(e) => {
                failed += 1;
                if failed <= MAX_ROW_ERRORS {
                    let place = format!("{}:{}", file.display(), row.line);
                    let msg = format!("{place}: {e}");
                    diags.push(row_error(file, key, row.line, &place, &msg));
                }
                continue;
            }
        };
        if let (Some(tok), Some(stats)) = (&assets.tokenizer, &mut out.tokens) {
            match tok.encode(rendered.text.as_str(), rendered.add_special_tokens) {
                Ok(enc) => {
                    let labels =
                        chat::label_mask(enc.get_ids(), enc.get_offsets(), &rendered.spans);
                    let trained =
                        |ls: &[i64]| ls.iter().filter(|&&l| l != chat::IGNORE_INDEX).count();
                    let n = enc.get_ids().len();
                    stats.rows += 1;
                    stats.total += n;
                    stats.max = stats.max.max(n);
                    stats.trained += trained(&labels);
                    if n > max_length {
                        stats.truncated += 1;
                        if trained(&labels[..max_length]) == 0 {
                            stats.truncated_untrained += 1;
                        }
                    }
                }
                Err(e) => {
                    failed += 1;
                    let place = format!("{}:{}", file.display(), row.line);
                    let msg = format!("{place}: the tokenizer cannot encode the row: {e}");
                    diags.push(row_error(file, key, row.line, &place, &msg));
                }
            }
        }
        if out.example.is_none() {
            out.example = Some((row.line, rendered));
        }
    }
    if failed > MAX_ROW_ERRORS {
        diags.push(Diagnostic::error(
            job.position_of(rel),
            key,
            format!(
                "{} more rows the chat template refuses in {}",
                failed - MAX_ROW_ERRORS,
                file.display()
            ),
        ));
    }
    if let Some(stats) = out.tokens.as_ref().filter(|s| s.truncated_untrained > 0) {
        diags.push(
            Diagnostic::warning(
                job.position_of("train.max_length"),
                format!("{}.train.max_length", job.key_path),
                format!(
                    "{} rows of {} have every trained token past `max_length` ({max_length}): truncated, they train nothing",
                    stats.truncated_untrained,
                    file.display()
                ),
            )
            .with_hint(format!(
                "raise `train.max_length` (the longest row has {} tokens), or shorten those rows",
                stats.max
            )),
        );
    }
    out
}

/// A bad row at its file and line, the message without the `file:line: ` it starts with.
fn row_error(file: &Path, key: &str, line: usize, place: &str, msg: &str) -> Diagnostic {
    let pos = Position::new(Arc::from(file), line, 1);
    let short = msg
        .strip_prefix(place)
        .unwrap_or(msg)
        .trim_start_matches(": ");
    Diagnostic::error(&pos, key, short)
}

/// A problem with the chat template, at `data.chat_template` when the spec sets it, else (and
/// for a model file that does not read) at `model`.
fn template_error(job: &Job, e: &ChatError) -> Diagnostic {
    let own_template = job.spec.data.chat_template.is_some();
    let rel = match e {
        ChatError::Config { .. } => "model",
        _ if own_template => "data.chat_template",
        _ => "model",
    };
    Diagnostic::error(
        job.position_of(rel),
        format!("{}.{rel}", job.key_path),
        e.to_string(),
    )
}

/// A warning when eval rows repeat training rows.
fn eval_overlap(job: &Job, files: &[GenerationFile]) -> Option<Diagnostic> {
    let train = files.iter().find(|f| f.role == "train")?;
    let eval = files.iter().find(|f| f.role == "eval")?;
    let seen: HashSet<u64> = train.hashes.iter().copied().collect();
    let dups = eval.hashes.iter().filter(|h| seen.contains(h)).count();
    (dups > 0).then(|| {
        Diagnostic::warning(
            job.position_of("data.eval"),
            format!("{}.data.eval", job.key_path),
            format!(
                "{dups} of {} eval rows are also training rows",
                eval.good_rows
            ),
        )
        .with_hint("their eval loss overstates how the model does on new conversations; remove them from one file")
    })
}

/// How the trained part of the example is marked: brackets in plain output, colour on a
/// terminal.
#[derive(Debug, Clone, Copy)]
pub struct Marks {
    pub open: &'static str,
    pub close: &'static str,
}

impl Marks {
    /// `[[` and `]]`, for logs and pipes.
    pub const PLAIN: Marks = Marks {
        open: "[[",
        close: "]]",
    };
    /// Bold green on a terminal.
    pub const COLOR: Marks = Marks {
        open: "\x1b[1;32m",
        close: "\x1b[0m",
    };
}

/// The longest example shown, in bytes of rendered text.
const MAX_EXAMPLE: usize = 2000;

impl GenerationFile {
    /// The counts in one line: `1843 rows (1840 usable, messages), 12 duplicates; tokens: ...`.
    pub fn summary(&self, max_length: usize) -> String {
        let shape = self.shape.map_or("shape unknown", |s| s.name());
        let mut out = format!(
            "{} rows ({} usable, {shape}), {} duplicate{}",
            self.rows,
            self.good_rows,
            self.duplicates,
            if self.duplicates == 1 { "" } else { "s" }
        );
        match &self.tokens {
            Some(t) => out.push_str(&format!(
                "; tokens: {} total, mean {:.1}, max {}, {} trained; {} row{} longer than max_length {max_length} (truncated)",
                t.total,
                t.mean(),
                t.max,
                t.trained,
                t.truncated,
                if t.truncated == 1 { "" } else { "s" },
            )),
            None => out.push_str("; tokens not counted (the model has no tokenizer)"),
        }
        out
    }

    /// The example, its lines prefixed with `| `, the trained part between `marks`; `None`
    /// when no row rendered.
    pub fn example_lines(&self, marks: Marks) -> Option<String> {
        let (line, r) = self.example.as_ref()?;
        let mut text = r.marked(marks.open, marks.close);
        if text.len() > MAX_EXAMPLE {
            let mut cut = MAX_EXAMPLE;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
            if marks.open.starts_with('\x1b') {
                text.push_str(marks.close); // a cut inside the highlight must not colour the rest
            }
            text.push_str(" …");
        }
        let body: Vec<String> = text.lines().map(|l| format!("  | {l}")).collect();
        Some(format!(
            "example (line {line}), the trained part {}:\n{}",
            if marks.open == Marks::PLAIN.open {
                "in [[ ]]"
            } else {
                "highlighted"
            },
            body.join("\n")
        ))
    }
}
