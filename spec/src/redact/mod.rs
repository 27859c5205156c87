//! PII redaction of dataset text (issue #11): the trainer runs it inside the job container on
//! each row's text field before tokenisation, and `validate --data` runs it on the host to report
//! what it would redact. Both build one [`Redactor`] and call it for every row.
//!
//! Recognizers are pattern-based, as presidio's predefined ones are: a regex finds candidates and
//! a check keeps the real ones (Luhn for cards, mod-97 for IBANs, libphonenumber metadata for
//! phones, `std::net` for IP addresses). Overlapping hits resolve to the longest span, then by
//! entity priority, so an email's domain is not also a URL and a URL holding an IP is one URL.
//! What each recognizer accepts and rejects, and the recall and precision measured on a generated
//! corpus, are in `docs/redaction.md`. One core redacts the 38k-row tweets fixture in about 0.07 s
//! and 38k rows dense with PII in about 0.5 s (release; `examples/redact_throughput.rs`).
//!
//! ```
//! use finetune_spec::redact::{Entity, Mode, Redactor};
//!
//! let r = Redactor::new(&Entity::ALL, Mode::Replace, "US").unwrap();
//! let out = r.redact("mail bob@example.com or call (212) 736-5000");
//! assert_eq!(out.text, "mail <EMAIL> or call <PHONE>");
//! assert_eq!(out.counts.get(Entity::Phone), 1);
//! ```
//!
//! Nothing here logs, stores or prints a value or the hash key: the output holds placeholders
//! and [`Counts`] holds numbers.

mod address;
mod checksum;
mod counts;
mod entity;
mod error;
mod hash;
mod payment;
mod phone;
mod span;

pub use checksum::{card_prefix_valid, iban_length, iban_mod97_valid, luhn_valid};
pub use counts::Counts;
pub use entity::{Entity, EntitySelection};
pub use error::RedactError;
pub use hash::{trim_newline, HashKey, Mode, RedactMode};
pub use span::Span;

use address::{EmailRecognizer, IpRecognizer, UrlRecognizer};
use payment::{CardRecognizer, IbanRecognizer};
use phone::PhoneRecognizer;
use span::{resolve_overlaps, Hints, Recognizer};
use std::borrow::Cow;
use std::fmt;

/// The recognizers of a set of entities and the mode to write hits in, built once (the regexes
/// compile here) and reused for every row. It is `Send + Sync`, so rows may be redacted in
/// parallel.
pub struct Redactor {
    entities: Vec<Entity>,
    mode: Mode,
    recognizers: Vec<Box<dyn Recognizer>>,
}

/// One row after redaction: the text (borrowed when nothing matched) and its hits per entity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redacted<'a> {
    pub text: Cow<'a, str>,
    pub counts: Counts,
}

/// Whether libphonenumber knows `region` (`US`, `gb`): the check [`Redactor::new`] makes.
pub fn region_known(region: &str) -> bool {
    parse_region(region).is_ok()
}

fn parse_region(region: &str) -> Result<phonenumber::country::Id, RedactError> {
    region
        .to_ascii_uppercase()
        .parse::<phonenumber::country::Id>()
        .map_err(|_| RedactError::UnknownRegion {
            region: region.to_string(),
        })
}

impl Redactor {
    /// A redactor for `entities` (repeats ignored) writing hits as `mode` says. `default_region`
    /// is the two-letter region (`US`, `GB`, `DE`, case-insensitive) that phone numbers written
    /// without a `+` country code are read in.
    pub fn new(entities: &[Entity], mode: Mode, default_region: &str) -> Result<Self, RedactError> {
        let region = parse_region(default_region)?;
        let mut entities = entities.to_vec();
        entities.sort();
        entities.dedup();
        let recognizers = entities
            .iter()
            .map(|e| -> Box<dyn Recognizer> {
                match e {
                    Entity::Email => Box::new(EmailRecognizer::new()),
                    Entity::Phone => Box::new(PhoneRecognizer::new(region)),
                    Entity::CreditCard => Box::new(CardRecognizer::new()),
                    Entity::Iban => Box::new(IbanRecognizer::new()),
                    Entity::Ip => Box::new(IpRecognizer::new()),
                    Entity::Url => Box::new(UrlRecognizer::new()),
                }
            })
            .collect();
        Ok(Redactor {
            entities,
            mode,
            recognizers,
        })
    }

    /// The entities it redacts, sorted; [`Counts::zeroed`] of these lists every one in a record.
    pub fn entities(&self) -> &[Entity] {
        &self.entities
    }

    /// The hits in `text`, in text order and not overlapping.
    pub fn find(&self, text: &str) -> Vec<Span> {
        let hints = Hints::of(text);
        let mut spans = Vec::new();
        for r in self.recognizers.iter().filter(|r| r.may_match(&hints)) {
            r.find(text, &mut spans);
        }
        if spans.len() > 1 {
            spans = resolve_overlaps(spans);
        }
        spans
    }

    /// The hits per entity in `text`, without building the redacted text (`validate --data`).
    pub fn count(&self, text: &str) -> Counts {
        let mut counts = Counts::default();
        for s in self.find(text) {
            counts.add_one(s.entity);
        }
        counts
    }

    /// `text` with every hit replaced by its placeholder or hash token.
    pub fn redact<'a>(&self, text: &'a str) -> Redacted<'a> {
        let spans = self.find(text);
        let mut counts = Counts::default();
        if spans.is_empty() {
            return Redacted {
                text: Cow::Borrowed(text),
                counts,
            };
        }
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for s in spans {
            out.push_str(&text[at..s.start]);
            self.write_hit(&mut out, s, &text[s.start..s.end]);
            counts.add_one(s.entity);
            at = s.end;
        }
        out.push_str(&text[at..]);
        Redacted {
            text: Cow::Owned(out),
            counts,
        }
    }

    fn write_hit(&self, out: &mut String, span: Span, value: &str) {
        match &self.mode {
            Mode::Replace => {
                out.push('<');
                out.push_str(span.entity.tag());
                out.push('>');
            }
            Mode::Hash(key) => {
                let canonical = self
                    .recognizer(span.entity)
                    .map_or_else(|| value.to_string(), |r| r.canonical(value));
                out.push_str(&key.token(span.entity, &canonical));
            }
        }
    }

    fn recognizer(&self, entity: Entity) -> Option<&dyn Recognizer> {
        self.recognizers
            .iter()
            .find(|r| r.entity() == entity)
            .map(|r| r.as_ref())
    }
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The mode's key prints as `HashKey(<secret>)`.
        f.debug_struct("Redactor")
            .field("entities", &self.entities)
            .field("mode", &self.mode)
            .finish()
    }
}

#[cfg(test)]
mod tests;
