//! Compose variable interpolation: `$V`, `${V}`, `${V:-default}`, `${V-default}`, `${V:?error}`,
//! `${V?error}`, `${V:+alt}`, `${V+alt}` and `$$` for a literal `$`.
//!
//! The `:` forms treat an empty variable like an unset one, as in the shell and Compose. Defaults
//! and alternatives are themselves interpolated, so `${A:-${B}}` works. A lone `$` not followed by
//! a name is kept literally (Compose is stricter; being lenient never rejects a valid file).

use crate::yaml::{Kind, Node};
use std::collections::BTreeMap;

/// Why a string could not be interpolated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InterpolateError {
    /// `${V:?message}` or `${V?message}` with the variable missing.
    #[error("required variable `{name}` is missing a value: {message}")]
    Required { name: String, message: String },
    /// An unterminated `${` or an empty name.
    #[error("invalid interpolation format in `{0}`: expected `${{NAME}}` (write `$$` for a literal `$`)")]
    Syntax(String),
}

/// Interpolate one string with `vars`.
pub fn interpolate(s: &str, vars: &BTreeMap<String, String>) -> Result<String, InterpolateError> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(r) = after.strip_prefix('$') {
            out.push('$');
            rest = r;
        } else if let Some(body) = after.strip_prefix('{') {
            let end = closing_brace(body).ok_or_else(|| InterpolateError::Syntax(s.to_string()))?;
            out.push_str(&braced(&body[..end], vars, s)?);
            rest = &body[end + 1..];
        } else {
            let n = name_len(after);
            if n == 0 {
                out.push('$');
                rest = after;
            } else {
                out.push_str(vars.get(&after[..n]).map(String::as_str).unwrap_or(""));
                rest = &after[n..];
            }
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn name_len(s: &str) -> usize {
    let mut n = 0;
    for (i, c) in s.char_indices() {
        let ok = c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit());
        if !ok {
            break;
        }
        n = i + c.len_utf8();
    }
    n
}

/// The index of the `}` closing a `${`, counting nested `${...}`.
fn closing_brace(body: &str) -> Option<usize> {
    let mut depth = 0usize;
    let bytes = body.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'$' if bytes.get(i + 1) == Some(&b'{') => {
                depth += 1;
                i += 1;
            }
            b'}' if depth == 0 => return Some(i),
            b'}' => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    None
}

fn braced(
    body: &str,
    vars: &BTreeMap<String, String>,
    whole: &str,
) -> Result<String, InterpolateError> {
    let n = name_len(body);
    if n == 0 {
        return Err(InterpolateError::Syntax(whole.to_string()));
    }
    let name = &body[..n];
    let op = &body[n..];
    let value = vars.get(name);
    let set = value.is_some();
    let non_empty = value.is_some_and(|v| !v.is_empty());
    let sub = |t: &str| interpolate(t, vars);
    let required = |msg: &str| {
        Err(InterpolateError::Required {
            name: name.to_string(),
            message: if msg.is_empty() {
                format!("set `{name}` in the environment or in `.env`")
            } else {
                msg.to_string()
            },
        })
    };
    let v = || value.cloned().unwrap_or_default();
    match op {
        "" => Ok(v()),
        _ if op.starts_with(":-") => {
            if non_empty {
                Ok(v())
            } else {
                sub(&op[2..])
            }
        }
        _ if op.starts_with(":?") => {
            if non_empty {
                Ok(v())
            } else {
                required(&sub(&op[2..])?)
            }
        }
        _ if op.starts_with(":+") => {
            if non_empty {
                sub(&op[2..])
            } else {
                Ok(String::new())
            }
        }
        _ if op.starts_with('-') => {
            if set {
                Ok(v())
            } else {
                sub(&op[1..])
            }
        }
        _ if op.starts_with('?') => {
            if set {
                Ok(v())
            } else {
                required(&sub(&op[1..])?)
            }
        }
        _ if op.starts_with('+') => {
            if set {
                sub(&op[1..])
            } else {
                Ok(String::new())
            }
        }
        _ => Err(InterpolateError::Syntax(whole.to_string())),
    }
}

/// Interpolate every scalar value (not the keys) of a tree, collecting every failure with its
/// node's position.
pub fn interpolate_tree(
    node: &mut Node,
    vars: &BTreeMap<String, String>,
    errors: &mut Vec<(crate::Position, InterpolateError)>,
) {
    match &mut node.kind {
        Kind::Scalar(s) => {
            if s.text.contains('$') {
                match interpolate(&s.text, vars) {
                    Ok(t) => s.text = t,
                    Err(e) => errors.push((node.pos.clone(), e)),
                }
            }
        }
        Kind::Seq(items) => items
            .iter_mut()
            .for_each(|n| interpolate_tree(n, vars, errors)),
        Kind::Map(entries) => entries
            .iter_mut()
            .for_each(|(_, v)| interpolate_tree(v, vars, errors)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> BTreeMap<String, String> {
        [("A", "a"), ("E", ""), ("B_2", "b")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn i(s: &str) -> String {
        interpolate(s, &vars()).unwrap()
    }

    #[test]
    fn every_form() {
        assert_eq!(i("x${A}y$B_2.z"), "xayb.z");
        assert_eq!(i("${E:-d} ${E-d} ${U-d} ${U:-d}"), "d  d d");
        assert_eq!(i("${A:+alt} ${E:+alt} ${E+alt} ${U+alt}"), "alt  alt ");
        assert_eq!(i("$$A costs $5 $"), "$A costs $5 $");
        assert_eq!(i("${U:-${A}-x}"), "a-x");
        assert_eq!(i("${A:?boom}"), "a");
        assert_eq!(i("${E?boom}"), "");
    }

    #[test]
    fn required_and_syntax_errors() {
        let e = interpolate("${U:?set U please}", &vars()).unwrap_err();
        assert_eq!(
            e,
            InterpolateError::Required {
                name: "U".into(),
                message: "set U please".into()
            }
        );
        assert!(interpolate("${E:?}", &vars()).is_err());
        assert!(matches!(
            interpolate("${A", &vars()),
            Err(InterpolateError::Syntax(_))
        ));
        assert!(matches!(
            interpolate("${}", &vars()),
            Err(InterpolateError::Syntax(_))
        ));
        assert!(matches!(
            interpolate("${A!x}", &vars()),
            Err(InterpolateError::Syntax(_))
        ));
    }
}
