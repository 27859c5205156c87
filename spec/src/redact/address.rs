//! The recognizers of network addresses: email addresses, URLs (`http://`, `https://`, `www.`)
//! and IP addresses (IPv4 and IPv6, each validated by `std::net` parsing). A dotted quad that is
//! really a version (`v1.2.3.4`, `1.2.3.4.5`, `version 10.0.0.1`) is left alone: see
//! [`IpRecognizer`].

use super::entity::Entity;
use super::span::{char_at, char_before, continues_number, is_word, Hints, Recognizer, Span};
use regex::Regex;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Email addresses: a local part, `@`, and a domain with a top-level label of letters.
pub(crate) struct EmailRecognizer {
    candidate: Regex,
}

impl EmailRecognizer {
    pub fn new() -> Self {
        let label = r"[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?";
        let re = format!(r"[A-Za-z0-9._%+\-]+@(?:{label}\.)+[A-Za-z]{{2,24}}");
        EmailRecognizer {
            candidate: Regex::new(&re).expect("static regex"),
        }
    }
}

impl Recognizer for EmailRecognizer {
    fn entity(&self) -> Entity {
        Entity::Email
    }

    fn may_match(&self, hints: &Hints) -> bool {
        hints.at
    }

    fn find(&self, text: &str, out: &mut Vec<Span>) {
        for m in self.candidate.find_iter(text) {
            // A local part cannot start with a dot (`...bob@x.org` is `bob@x.org`).
            let start = m.start() + (m.as_str().len() - m.as_str().trim_start_matches('.').len());
            let local = &text[start..m.as_str().find('@').map_or(start, |at| m.start() + at)];
            if local.is_empty() || local.ends_with('.') || local.contains("..") {
                continue;
            }
            if is_word(char_at(text, m.end())) || matches!(char_at(text, m.end()), Some('-' | '@'))
            {
                continue;
            }
            out.push(Span {
                start,
                end: m.end(),
                entity: Entity::Email,
            });
        }
    }

    fn canonical(&self, value: &str) -> String {
        value.to_lowercase()
    }
}

/// URLs that say they are URLs: `http://` or `https://` with a host, or `www.` and a domain.
/// Bare domains (`example.com`) are not taken, as file names and sentences look the same.
pub(crate) struct UrlRecognizer {
    candidate: Regex,
}

impl UrlRecognizer {
    pub fn new() -> Self {
        // `http://` is a URL even glued to a word (`call 555-0134http://t.co/x`); `www.` only alone.
        let re = r#"(?i)(?:https?://|(?-u:\b)www\.)[^\s<>"'`]+"#;
        UrlRecognizer {
            candidate: Regex::new(re).expect("static regex"),
        }
    }
}

/// `url` without the punctuation that ends the sentence around it: trailing `.,;:!?'"*`, and a
/// closing bracket that has no opening one inside (`(see https://x.org/a)`).
fn trim_url(url: &str) -> &str {
    let mut url = url;
    loop {
        let Some(last) = url.chars().next_back() else {
            return url;
        };
        let unbalanced = |open: char| url.matches(open).count() < url.matches(last).count();
        let strip = match last {
            '.' | ',' | ';' | ':' | '!' | '?' | '\'' | '"' | '*' => true,
            ')' => unbalanced('('),
            ']' => unbalanced('['),
            '}' => unbalanced('{'),
            _ => false,
        };
        if !strip {
            return url;
        }
        url = &url[..url.len() - last.len_utf8()];
    }
}

/// Whether the URL names a host: `localhost`, an IP address, or a domain of two or more labels
/// ending in a top-level label of letters (or an `xn--` label).
fn has_host(url: &str) -> bool {
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    let rest = ["https://", "http://"]
        .iter()
        .find(|s| lower.starts_with(**s))
        .map_or(url, |s| &url[s.len()..]);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit('@').next().unwrap_or("");
    if let Some(v6) = host_port.strip_prefix('[') {
        return v6
            .split(']')
            .next()
            .is_some_and(|h| h.parse::<Ipv6Addr>().is_ok());
    }
    let host = host_port.split(':').next().unwrap_or("");
    if host.eq_ignore_ascii_case("localhost") || host.parse::<Ipv4Addr>().is_ok() {
        return true;
    }
    let labels: Vec<&str> = host.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_alphanumeric() || c == '-')
    };
    let tld = labels.last().copied().unwrap_or("");
    labels.len() >= 2
        && labels.iter().all(label_ok)
        && ((tld.len() >= 2 && tld.chars().all(char::is_alphabetic)) || tld.starts_with("xn--"))
}

impl Recognizer for UrlRecognizer {
    fn entity(&self) -> Entity {
        Entity::Url
    }

    fn may_match(&self, _hints: &Hints) -> bool {
        // The regex starts with literals (`http`, `www.`), which it scans for by itself.
        true
    }

    fn find(&self, text: &str, out: &mut Vec<Span>) {
        for m in self.candidate.find_iter(text) {
            let url = trim_url(m.as_str());
            if has_host(url) {
                out.push(Span {
                    start: m.start(),
                    end: m.start() + url.len(),
                    entity: Entity::Url,
                });
            }
        }
    }
}

/// The words after which a dotted quad is a version, not an address (`version 10.0.0.1`).
const VERSION_WORDS: [&str; 6] = ["version", "ver", "v", "release", "build", "firmware"];

/// IPv4 and IPv6 addresses. A dotted quad is an address only when it stands alone: not glued to
/// a letter (`v1.2.3.4`), not part of a longer dotted run (`1.2.3.4.5`), and not after one of
/// [`VERSION_WORDS`]. Octets above 255 and leading zeros fail `std::net` parsing.
pub(crate) struct IpRecognizer {
    v4: Regex,
    v6: Regex,
}

impl IpRecognizer {
    pub fn new() -> Self {
        IpRecognizer {
            v4: Regex::new(r"(?-u:\b)\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}(?-u:\b)")
                .expect("static regex"),
            v6: Regex::new(r"(?i)[0-9a-f]{0,4}(?::[0-9a-f]{0,4}){2,7}(?:(?:\.\d{1,3}){3})?")
                .expect("static regex"),
        }
    }

    /// Dotted quads, except inside the IPv6 addresses found from `out[v6_from..]` on
    /// (`::ffff:192.0.2.1` is one address).
    fn find_v4(&self, text: &str, out: &mut Vec<Span>, v6_from: usize) {
        for m in self.v4.find_iter(text) {
            if out[v6_from..]
                .iter()
                .any(|s| s.start < m.end() && m.start() < s.end)
            {
                continue;
            }
            if matches!(char_before(text, m.start()), Some('.'))
                || continues_number(text, m.end(), &['.'])
            {
                continue;
            }
            if after_version_word(&text[..m.start()]) || m.as_str().parse::<Ipv4Addr>().is_err() {
                continue;
            }
            out.push(Span {
                start: m.start(),
                end: m.end(),
                entity: Entity::Ip,
            });
        }
    }

    fn find_v6(&self, text: &str, out: &mut Vec<Span>) {
        for m in self.v6.find_iter(text) {
            let mut cand = m.as_str();
            // `fe80::1:` at the end of a clause: the colon is punctuation.
            if cand.ends_with(':') && !cand.ends_with("::") {
                cand = &cand[..cand.len() - 1];
            }
            let end = m.start() + cand.len();
            let before = char_before(text, m.start());
            if is_word(before) || matches!(before, Some(':' | '.')) || is_word(char_at(text, end)) {
                continue;
            }
            if !cand.bytes().any(|b| b.is_ascii_hexdigit()) || cand.parse::<Ipv6Addr>().is_err() {
                continue;
            }
            out.push(Span {
                start: m.start(),
                end,
                entity: Entity::Ip,
            });
        }
    }
}

/// Whether the text before a dotted quad ends with a version word, maybe with `:`, `=`, `#` or
/// `.` between (`version: 1.2.3.4`, `ver. 1.2.3.4`).
fn after_version_word(head: &str) -> bool {
    let head =
        head.trim_end_matches(|c: char| c.is_whitespace() || matches!(c, ':' | '=' | '#' | '.'));
    let word_start = head
        .char_indices()
        .rev()
        .take_while(|(_, c)| c.is_alphabetic())
        .last()
        .map(|(i, _)| i);
    word_start.is_some_and(|i| {
        VERSION_WORDS
            .iter()
            .any(|w| head[i..].eq_ignore_ascii_case(w))
    })
}

impl Recognizer for IpRecognizer {
    fn entity(&self) -> Entity {
        Entity::Ip
    }

    fn may_match(&self, hints: &Hints) -> bool {
        hints.digit || hints.colon
    }

    fn find(&self, text: &str, out: &mut Vec<Span>) {
        let first = out.len();
        if text.contains(':') {
            self.find_v6(text, out);
        }
        self.find_v4(text, out, first);
    }

    fn canonical(&self, value: &str) -> String {
        value
            .parse::<IpAddr>()
            .map_or_else(|_| value.to_string(), |ip| ip.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redact::span::found;

    #[test]
    fn emails_with_plus_and_subdomains() {
        let r = EmailRecognizer::new();
        assert_eq!(
            found(&r, "to bob.smith+news@mail.example.co.uk."),
            ["bob.smith+news@mail.example.co.uk"]
        );
        assert_eq!(
            found(&r, "...ann@x.org, @handle, a@b, x@y.c"),
            ["ann@x.org"]
        );
        assert_eq!(r.canonical("Bob@Example.COM"), "bob@example.com");
    }

    #[test]
    fn urls_trim_sentence_punctuation() {
        let r = UrlRecognizer::new();
        let text = "see https://example.com/a?b=1&c=2#x, (www.example.org/path) and [x](http://10.0.0.1:8080/).";
        assert_eq!(
            found(&r, text),
            [
                "https://example.com/a?b=1&c=2#x",
                "www.example.org/path",
                "http://10.0.0.1:8080/"
            ]
        );
        assert_eq!(
            found(&r, "https://en.wikipedia.org/wiki/Foo_(bar))"),
            ["https://en.wikipedia.org/wiki/Foo_(bar)"]
        );
        assert_eq!(
            found(&r, "http://[2001:db8::1]:80/x"),
            ["http://[2001:db8::1]:80/x"]
        );
        assert_eq!(found(&r, "call me!http://t.co/x1"), ["http://t.co/x1"]);
        for text in [
            "http://",
            "www.",
            "https://nohost/",
            "wwwxample.com",
            "awww.example.com",
            "http://a..b/",
        ] {
            assert!(found(&r, text).is_empty(), "{text}");
        }
    }

    #[test]
    fn ipv4_standalone_but_not_versions() {
        let r = IpRecognizer::new();
        assert_eq!(
            found(&r, "from 192.168.1.20. Then 8.8.8.8:53"),
            ["192.168.1.20", "8.8.8.8"]
        );
        for text in [
            "v1.2.3.4",
            "1.2.3.4.5",
            "version 10.0.0.1",
            "Build: 4.3.2.1",
            "999.1.1.1",
            "01.02.03.04",
            "ver. 1.2.3.4",
        ] {
            assert!(found(&r, text).is_empty(), "{text}");
        }
        assert_eq!(
            r.canonical("2001:0db8:0000:0000:0000:0000:0000:0001"),
            "2001:db8::1"
        );
    }

    #[test]
    fn ipv6_forms_but_not_times_or_paths() {
        let r = IpRecognizer::new();
        assert_eq!(
            found(
                &r,
                "2001:db8:85a3::8a2e:370:7334, ::1 and ::ffff:192.0.2.1; fe80::1: link"
            ),
            [
                "2001:db8:85a3::8a2e:370:7334",
                "::1",
                "::ffff:192.0.2.1",
                "fe80::1"
            ]
        );
        for text in [
            "at 10:30:00",
            "std::net::Ipv6Addr",
            "00:1a:2b:3c:4d:5e",
            "a :: b",
        ] {
            assert!(found(&r, text).is_empty(), "{text}");
        }
    }
}
