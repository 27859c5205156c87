//! Docker image references (`[host[:port]/]path[:tag][@digest]`), read by the grammar the engine
//! uses (distribution's `reference` package), so a bad `data.image` or `data package --tag` is
//! one clear message before any engine call.

use regex::Regex;
use std::sync::LazyLock;

/// A reference split into its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// The repository, with its registry host if any (`localhost:5000/acme/tweets`).
    pub name: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

static REFERENCE: LazyLock<Regex> = LazyLock::new(|| {
    let domain_part = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
    let domain = format!(r"{domain_part}(?:\.{domain_part})*(?::[0-9]+)?");
    let component = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*";
    let name = format!(r"(?:{domain}/)?{component}(?:/{component})*");
    let tag = r"[\w][\w.-]{0,127}";
    let digest = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}";
    Regex::new(&format!(r"^({name})(?::({tag}))?(?:@({digest}))?$")).expect("static regex")
});

/// The longest repository name the engine takes.
const MAX_NAME: usize = 255;

impl ImageRef {
    /// Parse `text`; the error says what is wrong with it.
    pub fn parse(text: &str) -> Result<ImageRef, String> {
        let bad = |why: &str| Err(format!("`{text}` is not a valid image reference: {why}"));
        if text.is_empty() {
            return bad("it is empty");
        }
        let Some(c) = REFERENCE.captures(text) else {
            let path = text.split(['@', ':']).next().unwrap_or(text);
            return if path.chars().any(|c| c.is_ascii_uppercase()) && !path.contains('/') {
                bad("repository names must be lowercase")
            } else {
                bad("write REPOSITORY[:TAG], e.g. `acme/tweets:v1` (lowercase letters, digits, `.`, `_`, `-`, `/`)")
            };
        };
        let name = c[1].to_string();
        if name.len() > MAX_NAME {
            return bad("the repository name is longer than 255 characters");
        }
        Ok(ImageRef {
            name,
            tag: c.get(2).map(|m| m.as_str().to_string()),
            digest: c.get(3).map(|m| m.as_str().to_string()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_parse_as_the_engine_reads_them() {
        let r = ImageRef::parse("acme/tweets:v1").unwrap();
        assert_eq!(
            (r.name.as_str(), r.tag.as_deref()),
            ("acme/tweets", Some("v1"))
        );
        let r = ImageRef::parse("localhost:5000/a/b").unwrap();
        assert_eq!((r.name.as_str(), r.tag), ("localhost:5000/a/b", None));
        let pinned = format!("tweets@sha256:{}", "ab".repeat(32));
        assert!(ImageRef::parse(&pinned).unwrap().digest.is_some());
        for bad in [
            "",
            "Tweets:v1",
            "acme//x",
            "a:b:c",
            "-x",
            "x:",
            "x:-v",
            "a b",
        ] {
            assert!(ImageRef::parse(bad).is_err(), "{bad} accepted");
        }
        let e = ImageRef::parse("Tweets").unwrap_err();
        assert!(e.contains("lowercase"), "{e}");
        assert!(ImageRef::parse(&"a".repeat(256)).is_err());
    }
}
