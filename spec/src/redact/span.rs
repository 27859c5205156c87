//! What the recognizers share: the [`Recognizer`] trait, the [`Span`] a hit covers, the cheap
//! [`Hints`] that let a row skip recognizers that cannot match it, the look-around helpers the
//! `regex` crate leaves to its callers, and the one rule for overlapping hits
//! ([`resolve_overlaps`]).

use super::entity::Entity;
use std::collections::BTreeMap;

/// A hit: the byte range `start..end` of the text holds a value of `entity`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub start: usize,
    pub end: usize,
    pub entity: Entity,
}

impl Span {
    fn len(&self) -> usize {
        self.end - self.start
    }
}

/// One entity's recognizer: regex candidates, then the checks that make a candidate a value.
pub(crate) trait Recognizer: Send + Sync {
    /// The entity it finds.
    fn entity(&self) -> Entity;
    /// Whether the row can hold a hit at all (the recognizer is skipped when not).
    fn may_match(&self, hints: &Hints) -> bool;
    /// Appends the validated hits in `text` to `out`.
    fn find(&self, text: &str, out: &mut Vec<Span>);
    /// The form `hash` mode signs, so that two spellings of one value give one token
    /// (`(212) 555-0134` and `+1 212 555 0134`). The default is the text as written.
    fn canonical(&self, value: &str) -> String {
        value.to_string()
    }
}

/// Which characters a row holds, from one pass over its bytes: most rows of a text dataset have
/// no `@` and no `:`, and many no digit.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Hints {
    pub digit: bool,
    pub at: bool,
    pub colon: bool,
}

impl Hints {
    pub fn of(text: &str) -> Self {
        let mut h = Hints::default();
        for b in text.bytes() {
            match b {
                b'0'..=b'9' => h.digit = true,
                b'@' => h.at = true,
                b':' => h.colon = true,
                _ => {}
            }
        }
        h
    }
}

/// The character just before byte `i` (`None` at the start).
pub(crate) fn char_before(text: &str, i: usize) -> Option<char> {
    text[..i].chars().next_back()
}

/// The character at byte `i` (`None` at the end).
pub(crate) fn char_at(text: &str, i: usize) -> Option<char> {
    text[i..].chars().next()
}

/// Whether `c` continues a word or an identifier, so a value cannot start or end next to it.
pub(crate) fn is_word(c: Option<char>) -> bool {
    c.is_some_and(|c| c.is_alphanumeric() || c == '_')
}

/// Whether the text at byte `i` is `sep` followed by a digit: `.5` after `1.2.3.4`, `-3` after a
/// number. Such a tail makes the candidate part of a longer numeric token.
pub(crate) fn continues_number(text: &str, i: usize, seps: &[char]) -> bool {
    let mut rest = text[i..].chars();
    matches!((rest.next(), rest.next()), (Some(s), Some(d)) if seps.contains(&s) && d.is_ascii_digit())
}

/// The space-separated tokens of `text[start..end]`, as byte ranges.
pub(crate) fn space_tokens(text: &str, start: usize, end: usize) -> Vec<(usize, usize)> {
    let mut tokens = Vec::new();
    let mut at = start;
    for piece in text[start..end].split(' ') {
        if !piece.is_empty() {
            tokens.push((at, at + piece.len()));
        }
        at += piece.len() + 1;
    }
    tokens
}

/// The hits in a run of space-separated numeric tokens: from each token on, the longest window
/// of at most `max` tokens that `valid` accepts, and the scan goes on after it. So a phone number
/// or card written next to other numbers (`call 212 736 5000 2 times`, two numbers in a row) is
/// still found, while a number is split from its neighbours only at a space, never inside
/// `1.212.736.5000` or `2024-01-02`.
pub(crate) fn valid_windows(
    text: &str,
    tokens: &[(usize, usize)],
    max: usize,
    mut valid: impl FnMut(&str) -> bool,
) -> Vec<(usize, usize)> {
    let mut hits = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let longest = (i..tokens.len().min(i + max))
            .rev()
            .find(|&j| valid(&text[tokens[i].0..tokens[j].1]));
        match longest {
            Some(j) => {
                hits.push((tokens[i].0, tokens[j].1));
                i = j + 1;
            }
            None => i += 1,
        }
    }
    hits
}

/// Keeps a set of non-overlapping hits: the longest span wins, then the entity that comes first
/// by [`Entity::priority`], then the earlier start. So an email is not also a URL (its domain)
/// and a URL holding an address is one URL. Returns them in text order.
pub(crate) fn resolve_overlaps(mut spans: Vec<Span>) -> Vec<Span> {
    spans.sort_by_key(|s| (std::cmp::Reverse(s.len()), s.entity.priority(), s.start));
    let mut kept: BTreeMap<usize, Span> = BTreeMap::new();
    for s in spans {
        let before = kept.range(..s.end).next_back().map(|(_, k)| *k);
        if before.is_some_and(|k| k.end > s.start) {
            continue;
        }
        kept.insert(s.start, s);
    }
    kept.into_values().collect()
}

/// The text of each hit `r` finds in `text` (for the recognizers' tests).
#[cfg(test)]
pub(crate) fn found(r: &dyn Recognizer, text: &str) -> Vec<String> {
    let mut out = Vec::new();
    r.find(text, &mut out);
    out.iter()
        .map(|s| text[s.start..s.end].to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(start: usize, end: usize, entity: Entity) -> Span {
        Span { start, end, entity }
    }

    #[test]
    fn longest_then_priority_wins_and_order_is_textual() {
        let spans = vec![
            span(10, 25, Entity::Url),
            span(0, 25, Entity::Email),
            span(30, 40, Entity::Phone),
            span(30, 40, Entity::Ip),
            span(45, 50, Entity::Phone),
        ];
        let kept = resolve_overlaps(spans);
        assert_eq!(
            kept,
            vec![
                span(0, 25, Entity::Email),
                span(30, 40, Entity::Ip),
                span(45, 50, Entity::Phone)
            ]
        );
    }

    #[test]
    fn windows_take_the_longest_valid_run_of_tokens() {
        let text = "a 1 22 333 4444 55555 1";
        let tokens = space_tokens(text, 2, text.len());
        assert_eq!(tokens.len(), 6);
        // "valid" here: exactly 9 digits.
        let nine = |w: &str| w.bytes().filter(u8::is_ascii_digit).count() == 9;
        let hits = valid_windows(text, &tokens, 8, nine);
        let shown: Vec<&str> = hits.iter().map(|&(s, e)| &text[s..e]).collect();
        assert_eq!(shown, ["22 333 4444"]);
        let (s, e) = valid_windows(text, &tokens, 2, nine)[0];
        assert_eq!(&text[s..e], "4444 55555", "at most two tokens a window");
    }

    #[test]
    fn look_around_helpers() {
        let t = "v1.2.3.4.5";
        assert_eq!(char_before(t, 1), Some('v'));
        assert_eq!(char_at(t, t.len()), None);
        assert!(is_word(Some('v')) && !is_word(Some('.')) && !is_word(None));
        assert!(continues_number(t, 8, &['.']));
        assert!(!continues_number("1.2.3.4. Next", 7, &['.']));
        let h = Hints::of("mail me: a@b.co");
        assert!(h.at && h.colon && !h.digit);
    }
}
