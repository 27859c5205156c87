//! The recognizers of payment identifiers: card numbers (issuer prefix and Luhn) and IBANs
//! (country length and mod-97). Each takes a loose regex candidate and keeps it only when the
//! check passes, so invalid numbers, order numbers and serials stay.

use super::checksum::{card_prefix_valid, iban_length, iban_mod97_valid, luhn_valid};
use super::entity::Entity;
use super::span::{
    char_at, char_before, continues_number, is_word, space_tokens, valid_windows, Hints,
    Recognizer, Span,
};
use regex::Regex;
use std::sync::LazyLock;

/// The start of an IBAN written in groups (`DE12 `, `NL97 ABNA `), ending with its space.
static IBAN_HEAD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?-u:\b)[A-Z]{2}\d{2}(?: [A-Z0-9]{4})* $").expect("static regex")
});

/// The space-separated tokens of the numeric run `start..end` that may hold a card or phone
/// number: none after an IBAN head; without the first token when the character before it is
/// `glued` to it, nor the last when a word follows or it runs on into a number (one of `tail`
/// and a digit).
pub(crate) fn run_tokens(
    text: &str,
    start: usize,
    end: usize,
    glued: impl Fn(Option<char>) -> bool,
    tail: &[char],
) -> Vec<(usize, usize)> {
    if after_iban_head(text, start) {
        return Vec::new();
    }
    let mut tokens = space_tokens(text, start, end);
    if glued(char_before(text, start)) {
        tokens.drain(..tokens.len().min(1));
    }
    if is_word(char_at(text, end)) || continues_number(text, end, tail) {
        tokens.pop();
    }
    tokens
}

/// Whether the digits at `start` continue an IBAN-shaped token (`PL37 4042 3129 ...`): then they
/// are the rest of an account number, valid or not, and hold no card or phone number.
pub(crate) fn after_iban_head(text: &str, start: usize) -> bool {
    if !text[..start].ends_with(' ') {
        return false;
    }
    let from = (start.saturating_sub(48)..start)
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(start);
    IBAN_HEAD.is_match(&text[from..start])
}

/// Payment card numbers: 13-19 digits, spaces or dashes allowed between them.
pub(crate) struct CardRecognizer {
    candidate: Regex,
}

impl CardRecognizer {
    pub fn new() -> Self {
        CardRecognizer {
            candidate: Regex::new(r"(?-u:\b)\d(?:[ \-]?\d){12,}(?-u:\b)").expect("static regex"),
        }
    }
}

fn is_card(candidate: &str) -> bool {
    let digits: String = candidate.chars().filter(char::is_ascii_digit).collect();
    (13..=19).contains(&digits.len()) && card_prefix_valid(&digits) && luhn_valid(&digits)
}

impl Recognizer for CardRecognizer {
    fn entity(&self) -> Entity {
        Entity::CreditCard
    }

    fn may_match(&self, hints: &Hints) -> bool {
        hints.digit
    }

    fn find(&self, text: &str, out: &mut Vec<Span>) {
        for m in self.candidate.find_iter(text) {
            // The regex keeps word characters off both ends; a decimal or signed number is not.
            let glued = |c: Option<char>| matches!(c, Some('.' | ',' | '-' | '+'));
            let tokens = run_tokens(text, m.start(), m.end(), glued, &['.', ',', '-']);
            for (start, end) in valid_windows(text, &tokens, 19, is_card) {
                out.push(Span {
                    start,
                    end,
                    entity: Entity::CreditCard,
                });
            }
        }
    }

    fn canonical(&self, value: &str) -> String {
        value.chars().filter(char::is_ascii_digit).collect()
    }
}

/// IBANs, compact (`DE89370400440532013000`) or in groups (`DE89 3704 0044 0532 0130 00`).
pub(crate) struct IbanRecognizer {
    candidate: Regex,
}

impl IbanRecognizer {
    pub fn new() -> Self {
        IbanRecognizer {
            candidate: Regex::new(r"(?-u:\b)[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}")
                .expect("static regex"),
        }
    }
}

/// The end of the IBAN that starts at `start`: the byte after its `len`-th letter or digit (the
/// candidate regex may run on into a following word such as `EUR`), or `None` when the text
/// holds fewer.
fn iban_end(text: &str, start: usize, len: usize) -> Option<usize> {
    let mut seen = 0;
    for (i, c) in text[start..].char_indices() {
        if c.is_ascii_alphanumeric() {
            seen += 1;
            if seen == len {
                return Some(start + i + 1);
            }
        } else if c != ' ' {
            return None;
        }
    }
    None
}

impl Recognizer for IbanRecognizer {
    fn entity(&self) -> Entity {
        Entity::Iban
    }

    fn may_match(&self, hints: &Hints) -> bool {
        hints.digit
    }

    fn find(&self, text: &str, out: &mut Vec<Span>) {
        for m in self.candidate.find_iter(text) {
            let Some(len) = iban_length(&text[m.start()..m.start() + 2]) else {
                continue;
            };
            let Some(end) = iban_end(text, m.start(), len) else {
                continue;
            };
            if end > m.end() || char_at(text, end).is_some_and(|c| c.is_ascii_alphanumeric()) {
                continue;
            }
            if iban_mod97_valid(&self.canonical(&text[m.start()..end])) {
                out.push(Span {
                    start: m.start(),
                    end,
                    entity: Entity::Iban,
                });
            }
        }
    }

    fn canonical(&self, value: &str) -> String {
        value.chars().filter(|c| *c != ' ').collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redact::span::found;

    #[test]
    fn cards_need_prefix_and_luhn() {
        let r = CardRecognizer::new();
        assert_eq!(
            found(&r, "card 4111 1111 1111 1111 2 times"),
            ["4111 1111 1111 1111"]
        );
        assert_eq!(found(&r, "amex 3782-822463-10005."), ["3782-822463-10005"]);
        assert_eq!(found(&r, "5500005555555559"), ["5500005555555559"]);
        for text in [
            "4111 1111 1111 1112",
            "9111111111111111",
            "1.4111111111111111",
            "41111111111111111111",
            "PL37 4111 1111 1111 1111 7271 6368",
        ] {
            assert!(found(&r, text).is_empty(), "{text}");
        }
        assert_eq!(r.canonical("4111-1111 1111-1111"), "4111111111111111");
    }

    #[test]
    fn ibans_with_and_without_spaces() {
        let r = IbanRecognizer::new();
        assert_eq!(
            found(&r, "IBAN DE89 3704 0044 0532 0130 00 EUR"),
            ["DE89 3704 0044 0532 0130 00"]
        );
        assert_eq!(
            found(&r, "to GB82WEST12345698765432."),
            ["GB82WEST12345698765432"]
        );
        for text in [
            "DE89 3704 0044 0532 0130 01",
            "DE89370400440532013000X",
            "ZZ89370400440532013000",
        ] {
            assert!(found(&r, text).is_empty(), "{text}");
        }
        assert_eq!(
            r.canonical("DE89 3704 0044 0532 0130 00"),
            "DE89370400440532013000"
        );
    }
}
