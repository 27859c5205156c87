//! YAML text of a JSON value, readable the same way by YAML 1.1 and YAML 1.2 readers.
//!
//! Compose v2 reads YAML 1.2, but the files we write are also read by YAML 1.1 tools (Compose v1,
//! PyYAML, go-yaml v2 behind `kubectl`), where a plain `no`, `on`, `y`, `0755`, `1_000`, `12:30`
//! or `2024-01-01` is a boolean, a number or a date rather than the string we meant. A string is
//! therefore written plain only when it is made of ordinary characters *and* no schema of either
//! version resolves it to anything but a string; every other string is written double-quoted with
//! YAML escapes, which both versions read back exactly. The layout is block style as `serde_yaml`
//! writes it (two-space indent, sequences under a key not indented), so rendered files read as
//! they always did.

use regex::Regex;
use serde_json::{Map, Number, Value};
use std::sync::LazyLock;

/// The value as a YAML document (no `---` marker), ending with a newline.
pub fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(m) if !m.is_empty() => entries(m, 0, false, &mut out),
        Value::Array(a) if !a.is_empty() => items(a, 0, false, &mut out),
        v => {
            out.push_str(&scalar(v));
            out.push('\n');
        }
    }
    out
}

/// A string as a YAML scalar: plain when that reads back as the same string in YAML 1.1 and 1.2,
/// else double-quoted.
pub fn string(s: &str) -> String {
    if plain_is_a_string(s) {
        s.to_string()
    } else {
        double_quoted(s)
    }
}

/// A mapping's entries at `indent`; the first one continues the current line after `- ` when
/// `inline_first`.
fn entries(map: &Map<String, Value>, indent: usize, inline_first: bool, out: &mut String) {
    for (i, (key, value)) in map.iter().enumerate() {
        if i > 0 || !inline_first {
            out.push_str(&" ".repeat(indent));
        }
        out.push_str(&string(key));
        out.push(':');
        match value {
            Value::Object(m) if !m.is_empty() => {
                out.push('\n');
                entries(m, indent + 2, false, out);
            }
            // A sequence under a key starts at the key's own column.
            Value::Array(a) if !a.is_empty() => {
                out.push('\n');
                items(a, indent, false, out);
            }
            v => {
                out.push(' ');
                out.push_str(&scalar(v));
                out.push('\n');
            }
        }
    }
}

/// A sequence's items at `indent`, as `- item` lines.
fn items(list: &[Value], indent: usize, inline_first: bool, out: &mut String) {
    for (i, item) in list.iter().enumerate() {
        if i > 0 || !inline_first {
            out.push_str(&" ".repeat(indent));
        }
        out.push_str("- ");
        match item {
            Value::Object(m) if !m.is_empty() => entries(m, indent + 2, true, out),
            Value::Array(a) if !a.is_empty() => items(a, indent + 2, true, out),
            v => {
                out.push_str(&scalar(v));
                out.push('\n');
            }
        }
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => number(n),
        Value::String(s) => string(s),
        Value::Object(_) => "{}".into(),
        Value::Array(_) => "[]".into(),
    }
}

/// Integers as they are; floats with a `.` and a signed exponent, which YAML 1.1 requires
/// (`1e20` is a string there, `1.0e+20` a float).
fn number(n: &Number) -> String {
    let text = n.to_string();
    if n.is_f64() {
        if let Some((mantissa, exp)) = text.split_once(['e', 'E']) {
            let mantissa = if mantissa.contains('.') {
                mantissa.to_string()
            } else {
                format!("{mantissa}.0")
            };
            let exp = if exp.starts_with(['+', '-']) {
                exp.to_string()
            } else {
                format!("+{exp}")
            };
            return format!("{mantissa}e{exp}");
        }
    }
    text
}

/// Whether `s`, written plain, reads back as the string `s` in YAML 1.1 and 1.2.
fn plain_is_a_string(s: &str) -> bool {
    // Ordinary characters only, starting with one that is no indicator, sign or `.` (`.inf`,
    // `-1`, `+1`, `- x`), with single inner spaces, and no `: ` or final `:` (a mapping key).
    static PLAIN: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"^[A-Za-z0-9_/][A-Za-z0-9_./@:+=~%-]*( [A-Za-z0-9_./@:+=~%-]+)*$").unwrap()
    });
    // Numbers of either version: binary, octal (`0755`, `0o17`), hex, decimal with `_`,
    // sexagesimal (`12:30`, `65532:65532`), floats with or without exponent.
    static NUMBER: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(
            r"^(0[bB][01_]*|0[oO][0-7_]*|0[xX][0-9a-fA-F_]*|[0-9][0-9_]*(:[0-9_]+)*(\.[0-9_]*)?([eE][-+]?[0-9]+)?)$",
        )
        .unwrap()
    });
    // YAML 1.1 timestamps (`2024-01-01`, `2024-01-01T10:00:00Z`).
    static DATE: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}($|[Tt ])").unwrap());
    // Booleans and nulls of YAML 1.1 (`y`, `on`, ...) and 1.2, in any case.
    const WORDS: &[&str] = &["y", "n", "yes", "no", "on", "off", "true", "false", "null"];
    PLAIN.is_match(s)
        && !s.ends_with(':')
        && !s.contains(": ")
        && !WORDS.contains(&s.to_ascii_lowercase().as_str())
        && !NUMBER.is_match(s)
        && !DATE.is_match(s)
}

/// A double-quoted scalar: `"` and `\` escaped, and every character YAML does not allow raw
/// (control characters, DEL, C1 controls, the byte-order mark, the Unicode line separators that
/// YAML 1.1 folds) as an escape.
fn double_quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            ' '..='~' | '\u{a0}'..='\u{2027}' | '\u{202a}'..='\u{d7ff}' => out.push(c),
            '\u{e000}'..='\u{fffd}' if c != '\u{feff}' => out.push(c),
            c if u32::from(c) > 0xffff => out.push(c),
            c => out.push_str(&format!("\\u{:04X}", u32::from(c))),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strings_yaml11_would_misread_are_quoted() {
        for s in [
            "on",
            "off",
            "yes",
            "no",
            "y",
            "n",
            "Y",
            "NO",
            "On",
            "true",
            "False",
            "null",
            "~",
            "",
            "0755",
            "0o17",
            "0x1F",
            "0b101",
            "1e3",
            "1E3",
            "1_000",
            "12:30",
            "65532:65532",
            "2",
            "3.5",
            ".5",
            ".inf",
            "-1",
            "+1",
            "2024-01-01",
            "- x",
            "a: b",
            "key:",
            "#c",
            "a #c",
            "*ref",
            "&a",
            "!tag",
            "<<",
            "=",
            "[x]",
            "{x}",
            "a,b",
            "'q'",
            "\"q\"",
            " lead",
            "trail ",
            "two  spaces",
            "line\nbreak",
            "tab\there",
            "café",
        ] {
            assert!(!plain_is_a_string(s), "{s:?} is quoted");
        }
        for s in [
            "nope",
            "runtime",
            "ALL",
            "8g",
            "0.1.0",
            "no-new-privileges:true",
            "/tmp",
            "docker-finetune/trainer:0.1.0",
            "com.docker.finetune.job",
            "HF_TOKEN",
            "a b c",
            "d23929bcc18e",
            "1a",
            "v1.2",
            "nan",
            "inf",
            "user@host",
            "a=b",
        ] {
            assert!(plain_is_a_string(s), "{s:?} may stay plain");
        }
    }

    #[test]
    fn yaml11_ambiguous_scalars_are_quoted() {
        // Moved from the line-based pass this module replaces, with the same expectations.
        let value =
            json!({ "restart": "no", "user": "65532:65532", "x": "nope", "l": ["on"], "ok": true });
        assert_eq!(
            to_yaml(&value),
            "l:\n- \"on\"\nok: true\nrestart: \"no\"\nuser: \"65532:65532\"\nx: nope\n"
        );
    }

    #[test]
    fn quoted_strings_read_back_exactly() {
        let tricky = [
            "on",
            "0755",
            "1_000",
            "12:30",
            "say \"hi\"",
            "back\\slash",
            "a\nb\tc\r",
            "\u{7f}\u{85}",
            "\u{2028}\u{feff}",
            "\u{1}",
            "ünï 😀",
        ];
        let value = json!({ "env": tricky, "labels": { "0755": "on", "x": "1e3" } });
        let text = to_yaml(&value);
        let back: Value = serde_yaml::from_str(&text).unwrap();
        assert_eq!(back, value, "{text}");
        assert!(text.contains("\"0755\": \"on\"\n"), "{text}");
        assert!(text.contains("- \"\\u007F\\u0085\"\n"), "{text}");
    }

    #[test]
    fn layout_is_block_style_with_sequences_under_their_key() {
        let value = json!({
            "a": { "list": ["x", 1, null, true], "empty": {}, "none": [] },
            "b": [{ "k": "v", "n": 2.5 }, ["p", "q"]],
            "f": 1e20,
        });
        assert_eq!(
            to_yaml(&value),
            "a:\n  empty: {}\n  list:\n  - x\n  - 1\n  - null\n  - true\n  none: []\nb:\n- k: v\n  \"n\": 2.5\n- - p\n  - q\nf: 1.0e+20\n"
        );
        assert_eq!(to_yaml(&json!("no")), "\"no\"\n");
    }
}
