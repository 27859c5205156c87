//! `.dockerignore` matching for build contexts (the from-source trainer build, dataset images),
//! with Docker's semantics on top of `globset`: every pattern is anchored at the context root;
//! `*` and `?` stay within one path component, `**` spans any number of them, `[...]` (and
//! `[^...]`) is a character class; a pattern that matches a directory excludes what is below it;
//! lines apply in order, so a later line wins and `!pattern` re-includes what an earlier one
//! excluded.

use globset::{GlobBuilder, GlobMatcher};
use std::path::Path;

/// Build outputs that never belong in a context, excluded before the file's own lines (which may
/// still re-include them).
const ALWAYS: &[&str] = &["target", "target-*", ".git", ".fixtures"];

/// The compiled patterns of a `.dockerignore`, in file order.
#[derive(Debug, Clone, Default)]
pub struct DockerIgnore {
    rules: Vec<Rule>,
}

#[derive(Debug, Clone)]
struct Rule {
    matcher: GlobMatcher,
    /// A `!` line: re-include.
    exception: bool,
}

impl DockerIgnore {
    /// The built-in exclusions plus `<source>/.dockerignore`, when there is one.
    pub fn for_context(source: &Path) -> anyhow::Result<DockerIgnore> {
        DockerIgnore::in_dir(source, ALWAYS)
    }

    /// `always` (patterns applied first), then `<dir>/.dockerignore` when there is one.
    pub fn in_dir(dir: &Path, always: &[&str]) -> anyhow::Result<DockerIgnore> {
        let file = dir.join(".dockerignore");
        let text = if file.is_file() {
            std::fs::read_to_string(&file)?
        } else {
            String::new()
        };
        let lines = always.iter().copied().chain(text.lines());
        DockerIgnore::parse(lines).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))
    }

    /// Compile `.dockerignore` lines (comments and blank lines are skipped).
    pub fn parse<'a>(lines: impl IntoIterator<Item = &'a str>) -> Result<Self, globset::Error> {
        let mut rules = Vec::new();
        for line in lines {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (exception, pattern) = match line.strip_prefix('!') {
                Some(p) => (true, p.trim()),
                None => (false, line),
            };
            let pattern = clean(pattern);
            if pattern.is_empty() {
                continue;
            }
            let matcher = GlobBuilder::new(&pattern)
                .literal_separator(true)
                .backslash_escape(true)
                .build()?
                .compile_matcher();
            rules.push(Rule { matcher, exception });
        }
        Ok(DockerIgnore { rules })
    }

    /// Whether a context-relative path (`a/b/c`, `/`-separated) is excluded: the last pattern
    /// that matches it or one of its parent directories decides.
    pub fn ignored(&self, rel: &str) -> bool {
        let prefixes: Vec<&str> = rel
            .match_indices('/')
            .map(|(i, _)| &rel[..i])
            .chain(std::iter::once(rel))
            .collect();
        let mut excluded = false;
        for rule in &self.rules {
            // Only a rule that could change the answer is worth evaluating.
            if rule.exception != excluded {
                continue;
            }
            if prefixes.iter().any(|p| rule.matcher.is_match(p)) {
                excluded = !rule.exception;
            }
        }
        excluded
    }

    /// Whether any `!` line exists: then an excluded directory must still be walked, since
    /// something below it may be re-included.
    pub fn has_exceptions(&self) -> bool {
        self.rules.iter().any(|r| r.exception)
    }
}

/// A pattern as Docker reads it: path-cleaned, relative to the root, with Go's `[^...]`
/// negation spelled as globset's `[!...]` and braces literal (Go's matcher has no
/// alternation).
fn clean(pattern: &str) -> String {
    let parts: Vec<&str> = pattern
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    parts
        .join("/")
        .replace("[^", "[!")
        .replace('{', "\\{")
        .replace('}', "\\}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(lines: &[&str]) -> DockerIgnore {
        DockerIgnore::parse(lines.iter().copied()).unwrap()
    }

    #[test]
    fn ignore_patterns_match_like_dockerignore() {
        let p = m(&["target", "target-*", "**/*.log", "docs/build"]);
        assert!(p.ignored("target"));
        assert!(p.ignored("target/debug/x"));
        assert!(p.ignored("target-plugin"));
        assert!(p.ignored("a/b/c.log"));
        assert!(p.ignored("docs/build/x.html"));
        assert!(!p.ignored("trainer/src/main.rs"));
        assert!(!p.ignored("docs/spec.md"));
    }

    #[test]
    fn later_lines_win_and_bang_re_includes() {
        let p = m(&[
            "*.md",
            "!README.md",
            "docs",
            "!docs/keep.md",
            "docs/keep.md",
        ]);
        assert!(p.ignored("CHANGES.md"));
        assert!(!p.ignored("README.md"));
        assert!(p.ignored("docs/x.txt"));
        // Re-included, then excluded again by the last line.
        assert!(p.ignored("docs/keep.md"));
        let q = m(&["docs", "!docs/keep.md"]);
        assert!(!q.ignored("docs/keep.md"));
        assert!(q.ignored("docs/other.md"));
        assert!(q.has_exceptions() && !m(&["docs"]).has_exceptions());
    }

    #[test]
    fn question_marks_and_classes_match_one_character_within_a_component() {
        let p = m(&["file?.txt", "data[0-9]", "v[^ab]", "./logs/"]);
        assert!(p.ignored("file1.txt"));
        assert!(!p.ignored("file10.txt"));
        assert!(
            !p.ignored("a/file1.txt"),
            "patterns are anchored at the root"
        );
        assert!(p.ignored("data7/x"));
        assert!(!p.ignored("datax"));
        assert!(p.ignored("vc"));
        assert!(!p.ignored("va"));
        assert!(p.ignored("logs/today"));
        let star = m(&["*/*.tmp"]);
        assert!(star.ignored("a/b.tmp"));
        assert!(!star.ignored("a/b/c.tmp"), "`*` does not cross `/`");
    }

    #[test]
    fn double_star_spans_any_depth_including_none() {
        let p = m(&["**/cache", "src/**/gen.rs", "**"]);
        assert!(p.ignored("anything"));
        let q = m(&["**/cache", "src/**/gen.rs"]);
        assert!(q.ignored("cache"));
        assert!(q.ignored("a/b/cache/f"));
        assert!(q.ignored("src/gen.rs"));
        assert!(q.ignored("src/a/b/gen.rs"));
        assert!(!q.ignored("lib/gen.rs"));
        let r = m(&["**", "!trainer/**", "!Cargo.toml"]);
        assert!(r.ignored("docs/a.md"));
        assert!(!r.ignored("trainer/src/main.rs"));
        assert!(!r.ignored("Cargo.toml"));
    }
}
