//! `.env` files as Compose reads them.
//!
//! `KEY=value` lines, optional `export `, `#` comments (an unquoted value ends at ` #`), single
//! quotes literal, double quotes with `\n`, `\t`, `\"`, `\\` escapes. Unquoted and double-quoted
//! values are interpolated with the variables defined so far and the process environment, as
//! Compose does. [`is_secret`] says which names are passed by reference, never by value.

use crate::interpolate::interpolate;
use std::collections::BTreeMap;

/// Whether an environment name looks like a secret (never written into rendered files).
pub fn is_secret(name: &str) -> bool {
    let n = name.to_ascii_uppercase();
    ["TOKEN", "SECRET", "PASSWORD", "KEY"]
        .iter()
        .any(|s| n.contains(s))
}

/// A malformed `.env` line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct EnvError {
    pub line: usize,
    pub message: String,
}

/// Parse an env file's text. `outer` (the process environment) is visible to interpolation and
/// is not part of the result.
pub fn parse_env_file(
    text: &str,
    outer: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, EnvError> {
    let mut out = BTreeMap::new();
    for (n, raw) in text.lines().enumerate() {
        let line_no = n + 1;
        let line = raw.trim_start_matches('\u{feff}').trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line).trim_start();
        let (key, value) = match line.split_once('=') {
            Some((k, v)) => (k.trim(), v.trim_start()),
            // A bare name inherits from the process environment, like `docker run --env-file`.
            None => (line, ""),
        };
        if key.is_empty() || key.contains(char::is_whitespace) {
            return Err(EnvError {
                line: line_no,
                message: format!("invalid variable name `{key}`: expected `NAME=value`"),
            });
        }
        let mut scope = outer.clone();
        scope.extend(
            out.iter()
                .map(|(k, v): (&String, &String)| (k.clone(), v.clone())),
        );
        let value = if !line.contains('=') {
            match outer.get(key) {
                Some(v) => v.clone(),
                None => continue,
            }
        } else if let Some(body) = value.strip_prefix('\'') {
            body.rfind('\'')
                .map(|e| body[..e].to_string())
                .ok_or_else(|| EnvError {
                    line: line_no,
                    message: "unterminated single quote".into(),
                })?
        } else if let Some(body) = value.strip_prefix('"') {
            let end = closing_quote(body).ok_or_else(|| EnvError {
                line: line_no,
                message: "unterminated double quote".into(),
            })?;
            let unescaped = unescape(&body[..end]);
            interpolate(&unescaped, &scope).map_err(|e| EnvError {
                line: line_no,
                message: e.to_string(),
            })?
        } else {
            let v = match value.find(" #") {
                Some(i) => &value[..i],
                None => value,
            };
            interpolate(v.trim_end(), &scope).map_err(|e| EnvError {
                line: line_no,
                message: e.to_string(),
            })?
        };
        out.insert(key.to_string(), value);
    }
    Ok(out)
}

fn closing_quote(body: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in body.char_indices() {
        match c {
            '\\' if !escaped => escaped = true,
            '"' if !escaped => return Some(i),
            _ => escaped = false,
        }
    }
    None
}

fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some(o) => out.push(o),
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_file_forms() {
        let outer: BTreeMap<String, String> = [("HOME".to_string(), "/h".to_string())].into();
        let t = "# c\nA=1\nexport B = two words # note\nC='lit $A'\nD=\"q\\n$A ${HOME}\"\nE=\n\nF=${A}x\n";
        let m = parse_env_file(t, &outer).unwrap();
        assert_eq!(m["A"], "1");
        assert_eq!(m["B"], "two words");
        assert_eq!(m["C"], "lit $A");
        assert_eq!(m["D"], "q\n1 /h");
        assert_eq!(m["E"], "");
        assert_eq!(m["F"], "1x");
        assert!(!m.contains_key("HOME"));
        assert_eq!(parse_env_file("A='x\n", &outer).unwrap_err().line, 1);
        assert!(parse_env_file("bad key=1\n", &outer).is_err());
    }
}
