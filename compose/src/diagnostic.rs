//! Positioned problems: what `docker finetune validate` prints, one per line.
//!
//! A [`Diagnostic`] carries the file, line and column of the node at fault, the key path from the
//! document root (`x-finetune.jobs.sentiment.train.batch_size`), the message and, where the fix is
//! known, a hint. Loading and validation collect them all instead of stopping at the first.

use serde::Serialize;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where a node is: file, 1-based line and column.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Position {
    pub file: Arc<Path>,
    pub line: usize,
    pub col: usize,
}

impl Position {
    pub fn new(file: Arc<Path>, line: usize, col: usize) -> Position {
        Position { file, line, col }
    }

    /// A position for something that has no place in a file (command-line options).
    pub fn none(what: &str) -> Position {
        Position::new(Arc::from(Path::new(what)), 0, 0)
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.col)
    }
}

/// How bad a problem is: errors fail `validate`, warnings are printed only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One problem in the user's files.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diagnostic {
    pub file: PathBuf,
    pub line: usize,
    pub col: usize,
    /// Key path from the document root, dot-separated (`x-finetune.jobs.a.train.epochs`).
    pub path: String,
    pub message: String,
    pub hint: Option<String>,
    pub severity: Severity,
}

impl Diagnostic {
    pub fn error(pos: &Position, path: impl Into<String>, message: impl Into<String>) -> Self {
        Diagnostic {
            file: pos.file.to_path_buf(),
            line: pos.line,
            col: pos.col,
            path: path.into(),
            message: message.into(),
            hint: None,
            severity: Severity::Error,
        }
    }

    pub fn warning(pos: &Position, path: impl Into<String>, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(pos, path, message)
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    /// `file:line:col: message (at `path`)`, then `  hint: ...` on its own line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.severity {
            Severity::Error => "",
            Severity::Warning => "warning: ",
        };
        // Problems with no place in a file (a missing `-f` file, an unreadable env file) have
        // line 0 and print as `file: message`.
        if self.line == 0 {
            write!(f, "{}: {level}{}", self.file.display(), self.message)?;
        } else {
            write!(
                f,
                "{}:{}:{}: {level}{}",
                self.file.display(),
                self.line,
                self.col,
                self.message
            )?;
        }
        if !self.path.is_empty() {
            write!(f, " (at `{}`)", self.path)?;
        }
        if let Some(h) = &self.hint {
            write!(f, "\n  hint: {h}")?;
        }
        Ok(())
    }
}

/// The closest of `candidates` to `word` by Levenshtein distance, if close enough to be a
/// plausible typo.
pub fn suggest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(2);
    candidates
        .into_iter()
        .map(|c| (strsim::levenshtein(&word.to_ascii_lowercase(), c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_has_position_path_and_hint() {
        let pos = Position::new(Arc::from(Path::new("compose.yaml")), 3, 7);
        let d = Diagnostic::error(&pos, "x-finetune.jobs.a.trian", "unknown key `trian`")
            .with_hint("did you mean `train`?");
        assert_eq!(
            d.to_string(),
            "compose.yaml:3:7: unknown key `trian` (at `x-finetune.jobs.a.trian`)\n  hint: did you mean `train`?"
        );
    }

    #[test]
    fn suggestions_pick_the_nearest_plausible_key() {
        assert_eq!(strsim::levenshtein("kitten", "sitting"), 3);
        assert_eq!(suggest("trian", ["train", "task", "data"]), Some("train"));
        assert_eq!(
            suggest("batchsize", ["batch_size", "seed"]),
            Some("batch_size")
        );
        assert_eq!(suggest("zzzzzz", ["train", "task"]), None);
    }
}
