//! Unit tests of the [`Redactor`] as a whole: overlaps between entities, the two modes, the
//! counts, and the errors of its settings. Each recognizer's own cases sit beside it; the
//! recall/precision corpus is `spec/tests/redact_corpus.rs`.

use super::*;
use std::borrow::Cow;

const KEY: &[u8] = b"test-key-0123456789abcdef";

fn all(mode: Mode) -> Redactor {
    Redactor::new(&Entity::ALL, mode, "US").unwrap()
}

#[test]
fn every_entity_gets_its_placeholder() {
    let r = all(Mode::Replace);
    let text = "a@b.org (212) 736-5000 4111 1111 1111 1111 DE89 3704 0044 0532 0130 00 10.0.0.1 https://x.org/p";
    let out = r.redact(text);
    assert_eq!(out.text, "<EMAIL> <PHONE> <CREDIT_CARD> <IBAN> <IP> <URL>");
    assert!(
        Entity::ALL.iter().all(|&e| out.counts.get(e) == 1),
        "{:?}",
        out.counts
    );
}

#[test]
fn containers_win_overlaps() {
    let r = all(Mode::Replace);
    assert_eq!(
        r.redact("mail bob@www.example.com now").text,
        "mail <EMAIL> now"
    );
    assert_eq!(
        r.redact("see http://192.168.0.1:8080/admin").text,
        "see <URL>"
    );
    assert_eq!(r.redact("https://x.org/?to=bob@example.com").text, "<URL>");
    let out = r.redact("https://x.org/?to=bob@example.com");
    assert_eq!(out.counts.total(), 1);
}

#[test]
fn only_selected_entities_are_redacted() {
    let r = Redactor::new(&[Entity::Email, Entity::Email], Mode::Replace, "us").unwrap();
    assert_eq!(r.entities(), [Entity::Email]);
    let out = r.redact("bob@example.com from 10.0.0.1");
    assert_eq!(out.text, "<EMAIL> from 10.0.0.1");
    // With URLs off, the email inside a URL is still personal data and still goes.
    assert_eq!(
        r.redact("https://x.org/?to=bob@example.com").text,
        "https://x.org/?to=<EMAIL>"
    );
}

#[test]
fn clean_text_is_borrowed_and_counts_nothing() {
    let r = all(Mode::Replace);
    let text = "I paid $12.50 on 2024-01-02 for order 88412, release v1.2.3.4.";
    let out = r.redact(text);
    assert!(matches!(out.text, Cow::Borrowed(_)));
    assert_eq!(out.text, text);
    assert!(out.counts.is_empty());
    assert_eq!(r.count(text), Counts::default());
}

#[test]
fn hash_tokens_follow_the_value_not_its_spelling() {
    let r = all(Mode::Hash(HashKey::new(KEY).unwrap()));
    let a = r.redact("call (212) 736-5000 or mail Bob@Example.com");
    let b = r.redact("ring +1 212 736 5000, bob@example.com");
    let tokens = |t: &str| {
        t.split_whitespace()
            .filter(|w| w.starts_with('<'))
            .map(|w| w.trim_end_matches(',').to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(tokens(&a.text), tokens(&b.text));
    assert!(tokens(&a.text)[0].starts_with("<PHONE_"), "{}", a.text);
    assert!(tokens(&a.text)[1].starts_with("<EMAIL_"), "{}", a.text);
    let other = all(Mode::Hash(HashKey::new(b"another-key-0123456789").unwrap()));
    assert_ne!(
        other.redact("bob@example.com").text,
        r.redact("bob@example.com").text
    );
    assert_ne!(
        r.redact("ann@example.com").text,
        r.redact("bob@example.com").text
    );
}

#[test]
fn settings_errors_name_what_was_wrong() {
    let err = Redactor::new(&Entity::ALL, Mode::Replace, "Atlantis").unwrap_err();
    assert_eq!(
        err,
        RedactError::UnknownRegion {
            region: "Atlantis".into()
        }
    );
    assert!(err.to_string().contains("`Atlantis`"));
    let r = Redactor::new(&[], Mode::Replace, "GB").unwrap();
    assert_eq!(r.redact("bob@example.com").text, "bob@example.com");
}

#[test]
fn the_redactor_is_shareable_and_its_debug_hides_the_key() {
    fn shareable<T: Send + Sync>(_: &T) {}
    let r = all(Mode::Hash(HashKey::new(KEY).unwrap()));
    shareable(&r);
    let shown = format!("{r:?}");
    assert!(!shown.contains("test-key"), "{shown}");
    assert!(shown.contains("Email"), "{shown}");
}

#[test]
fn the_region_reads_national_numbers() {
    let gb = Redactor::new(&[Entity::Phone], Mode::Replace, "GB").unwrap();
    assert_eq!(gb.redact("ring 020 7946 0958").text, "ring <PHONE>");
    let us = Redactor::new(&[Entity::Phone], Mode::Replace, "US").unwrap();
    assert_eq!(us.redact("ring +44 20 7946 0958").text, "ring <PHONE>");
}
