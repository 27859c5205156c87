//! Phone numbers, validated by the `phonenumber` crate (Google's libphonenumber metadata): a
//! number with `+` and a country code is read in that country, one without in the default region.
//!
//! A loose regex finds runs of digit groups; inside a run, a window of space-separated tokens is a
//! phone number when libphonenumber says it is valid and its digit groups break only where the
//! number's own national or international format breaks (libphonenumber's "strict grouping", so
//! `3472 494608` in a longer number is not the valid `347-249-4608`, and `+49 30 8701638 2 times`
//! ends before the `2`). Coarser grouping is fine (`212 7365000`). A run with no such window may
//! still hold an international number (`+...`) grouped its writer's way (`+49 151 23456789`,
//! which libphonenumber formats `+49 1512 3456789`): the `+` says it is a phone number.

use super::entity::Entity;
use super::payment::run_tokens;
use super::span::{is_word, valid_windows, Hints, Recognizer, Span};
use phonenumber::{country, Mode, PhoneNumber};
use regex::Regex;
use std::collections::HashMap;

/// Phone numbers, national (for the default region) or international (`+CC ...`).
pub(crate) struct PhoneRecognizer {
    candidate: Regex,
    /// Shapes that are digits and separators but are never phone numbers: dates, dotted quads.
    not_phone: Regex,
    region: country::Id,
    /// How many digits a national number of the region is written with, its national prefix
    /// included or not: a cheap test before libphonenumber's validation, which costs tens of
    /// microseconds (its regex cache holds 100 of the metadata's thousands of patterns).
    national_lengths: Vec<usize>,
}

/// How many compiled metadata regexes libphonenumber may keep (see `widen_regex_cache`).
const REGEX_CACHE: usize = 4096;

/// How well a window reads as a phone number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Grade {
    Not,
    /// Valid, grouped its writer's way.
    Valid,
    /// Valid and grouped as its national or international format groups it.
    Grouped,
}

/// The most space-separated tokens one phone number is written in (`+33 1 42 68 53 00` has 6).
const MAX_TOKENS: usize = 8;

impl PhoneRecognizer {
    pub fn new(region: country::Id) -> Self {
        Self::widen_regex_cache();
        PhoneRecognizer {
            candidate: Regex::new(r"(?:\+\d{1,3}[ .\-]?)?(?:\(\d{1,5}\)[ .\-]?)?\d{1,12}(?:[ .\-]\d{1,12})*")
                .expect("static regex"),
            not_phone: Regex::new(
                r"^(?:\d{4}[-.]\d{1,2}[-.]\d{1,2}|\d{1,2}[-.]\d{1,2}[-.]\d{2,4}|\d{1,3}(?:\.\d{1,3}){3})$",
            )
            .expect("static regex"),
            region,
            national_lengths: national_lengths(region),
        }
    }

    /// Lets libphonenumber keep every metadata regex it compiles. Its cache holds 100, fewer than
    /// validating one NANP number walks through, so each validation recompiled dozens of them
    /// (5 s instead of 0.3 s on 38k rows dense with phone numbers). It only ever grows, and holds
    /// only the patterns used.
    fn widen_regex_cache() {
        if let Ok(mut cache) = phonenumber::metadata::DATABASE.cache().lock() {
            if cache.capacity() < REGEX_CACHE {
                cache.set_capacity(REGEX_CACHE);
            }
        }
    }

    /// The valid number `candidate` spells, if it looks like a phone number at all.
    fn parse(&self, candidate: &str) -> Option<PhoneNumber> {
        let digits = candidate.bytes().filter(u8::is_ascii_digit).count();
        // A bare run of digits is an identifier (an order or account number), not a phone.
        let written_as_phone = candidate.contains(['+', '(', ' ', '.', '-']);
        let international = candidate.starts_with('+');
        if !(7..=15).contains(&digits) || !written_as_phone || self.not_phone.is_match(candidate) {
            return None;
        }
        if !international && !self.national_lengths.contains(&digits) {
            return None;
        }
        // With `+`, the number names its country; the default region is for national numbers
        // only (phonenumber 0.3 would strip the region's national prefix from `+33 1 ...`).
        let region = if international {
            None
        } else {
            Some(self.region)
        };
        phonenumber::parse(region, candidate)
            .ok()
            .filter(phonenumber::is_valid)
    }

    fn grade(&self, candidate: &str) -> Grade {
        match self.parse(candidate) {
            None => Grade::Not,
            Some(n) if grouped_as_formatted(candidate, &n) => Grade::Grouped,
            Some(_) => Grade::Valid,
        }
    }
}

/// The digit counts national numbers of `region` have, with and without its national prefix.
fn national_lengths(region: country::Id) -> Vec<usize> {
    let Some(meta) = phonenumber::metadata::DATABASE.by_id(region.as_ref()) else {
        return (7..=15).collect();
    };
    let prefix = meta.national_prefix().map_or(0, str::len);
    let d = meta.descriptors();
    // The general descriptor lists no lengths; each number type lists its own.
    let types = [
        d.fixed_line(),
        d.mobile(),
        d.toll_free(),
        d.premium_rate(),
        d.shared_cost(),
        d.personal_number(),
        d.voip(),
        d.pager(),
        d.uan(),
        d.voicemail(),
    ];
    let mut lengths: Vec<usize> = types
        .into_iter()
        .flatten()
        .flat_map(|t| t.possible_length())
        .flat_map(|&l| [usize::from(l), usize::from(l) + prefix])
        .collect();
    lengths.sort_unstable();
    lengths.dedup();
    if lengths.is_empty() {
        return (7..=15).collect();
    }
    lengths
}

/// Where the digit groups of `s` end, counted in digits from the end of the number (the end is
/// where the written and the formatted forms agree; prefixes differ).
fn group_ends_from_end(s: &str) -> Vec<usize> {
    let total = s.bytes().filter(u8::is_ascii_digit).count();
    let mut seen = 0;
    let mut ends = Vec::new();
    let mut in_group = false;
    for b in s.bytes() {
        if b.is_ascii_digit() {
            seen += 1;
            in_group = true;
        } else if in_group {
            ends.push(total - seen);
            in_group = false;
        }
    }
    ends
}

/// Whether every group break in `written` that falls inside the national number is also a
/// break of the number's national or international format.
fn grouped_as_formatted(written: &str, number: &PhoneNumber) -> bool {
    let e164 = number.format().mode(Mode::E164).to_string();
    let national_len = e164.len() - 1 - number.code().value().to_string().len();
    let breaks: Vec<usize> = group_ends_from_end(written)
        .into_iter()
        .filter(|&b| b > 0 && b < national_len)
        .collect();
    [Mode::National, Mode::International]
        .into_iter()
        .any(|mode| {
            let formatted = group_ends_from_end(&number.format().mode(mode).to_string());
            breaks.iter().all(|b| formatted.contains(b))
        })
}

impl Recognizer for PhoneRecognizer {
    fn entity(&self) -> Entity {
        Entity::Phone
    }

    fn may_match(&self, hints: &Hints) -> bool {
        hints.digit
    }

    fn find(&self, text: &str, out: &mut Vec<Span>) {
        for m in self.candidate.find_iter(text) {
            // Glued to a word, a decimal point, a sign, a currency or a path: part of something
            // else.
            let glued = |c: Option<char>| {
                is_word(c) || matches!(c, Some('.' | '-' | '+' | '/' | '$' | '€' | '£'))
            };
            let tokens = run_tokens(text, m.start(), m.end(), glued, &['.', '-', '/', ',']);
            // Both passes look at the same windows: grade each once.
            let mut grades: HashMap<(usize, usize), Grade> = HashMap::new();
            let mut grade = |w: &str| {
                *grades
                    .entry((w.as_ptr() as usize, w.len()))
                    .or_insert_with(|| self.grade(w))
            };
            let mut hits = valid_windows(text, &tokens, MAX_TOKENS, |w| grade(w) == Grade::Grouped);
            if hits.is_empty() {
                hits = valid_windows(text, &tokens, MAX_TOKENS, |w| {
                    w.starts_with('+') && grade(w) != Grade::Not
                });
            }
            out.extend(hits.into_iter().map(|(start, end)| Span {
                start,
                end,
                entity: Entity::Phone,
            }));
        }
    }

    fn canonical(&self, value: &str) -> String {
        match self.parse(value) {
            Some(n) => n.format().mode(Mode::E164).to_string(),
            None => value.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redact::span::found;

    #[test]
    fn phones_national_and_international() {
        let r = PhoneRecognizer::new(country::Id::US);
        assert_eq!(
            found(&r, "call (212) 736-5000 or +1 415-555-2671."),
            ["(212) 736-5000", "+1 415-555-2671"]
        );
        assert_eq!(
            found(&r, "+44 20 7946 0958, +49 30 901820"),
            ["+44 20 7946 0958", "+49 30 901820"]
        );
        assert_eq!(
            found(&r, "Paris +33 1 42 68 53 00, Berlin +49 151 23456789"),
            ["+33 1 42 68 53 00", "+49 151 23456789"]
        );
        assert_eq!(r.canonical("(212) 736-5000"), "+12127365000");
        assert_eq!(r.canonical("+1 212 736 5000"), "+12127365000");
        assert_eq!(r.canonical("+33 1 42 68 53 00"), "+33142685300");
    }

    #[test]
    fn a_phone_is_cut_from_neighbouring_numbers_by_its_grouping() {
        let r = PhoneRecognizer::new(country::Id::US);
        assert_eq!(found(&r, "ring 212.736.5000 2 times"), ["212.736.5000"]);
        assert_eq!(found(&r, "ring +49 30 8701638 2 times"), ["+49 30 8701638"]);
        assert!(found(&r, "Ref 3472 494608 84311 (not a card)").is_empty());
    }

    #[test]
    fn phones_reject_dates_ids_and_addresses() {
        let r = PhoneRecognizer::new(country::Id::US);
        for text in [
            "on 2024-01-02",
            "order 2127365000",
            "at 212.73.65.100",
            "v2.12.736.5000",
            "$212 736 5000",
            "ok 12-34",
            "NL97 ABNA 6629 0419 79",
        ] {
            assert!(found(&r, text).is_empty(), "{text}");
        }
    }

    #[test]
    fn group_ends_count_from_the_end() {
        assert_eq!(group_ends_from_end("(212) 736-5000"), [7, 4]);
        assert_eq!(group_ends_from_end("+1 212-736-5000"), [10, 7, 4]);
        assert_eq!(group_ends_from_end("2127365000"), Vec::<usize>::new());
    }
}
