//! What a hit is replaced by: the [`Mode`] (`replace` writes `<EMAIL>`, `hash` writes a keyed
//! token such as `<EMAIL_3f9a1c2b>`), and the key that `hash` needs.
//!
//! The token is the first 8 hex digits of HMAC-SHA256(key, entity name, 0x1f, canonical value),
//! so one value gives one token everywhere in a dataset (the model can still learn that two
//! mentions are the same person) and another key gives unrelated tokens. The key comes from the
//! caller (in a job, a Compose secret file), is kept only as the keyed HMAC state, and is never
//! printed: [`HashKey`]'s `Debug` shows no byte of it.

use super::entity::Entity;
use super::error::RedactError;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::fmt;
use std::str::FromStr;

/// The spec's `redact_mode`: the name only, without the key the `hash` mode needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RedactMode {
    #[default]
    Replace,
    Hash,
}

impl RedactMode {
    /// The [`Mode`] to redact with: `hash` takes the key, `replace` ignores it.
    pub fn with_key(self, key: Option<HashKey>) -> Result<Mode, RedactError> {
        match (self, key) {
            (RedactMode::Replace, _) => Ok(Mode::Replace),
            (RedactMode::Hash, Some(key)) => Ok(Mode::Hash(key)),
            (RedactMode::Hash, None) => Err(RedactError::MissingKey),
        }
    }
}

impl FromStr for RedactMode {
    type Err = RedactError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name {
            "replace" => Ok(RedactMode::Replace),
            "hash" => Ok(RedactMode::Hash),
            _ => Err(RedactError::UnknownMode {
                name: name.to_string(),
            }),
        }
    }
}

/// How each hit is written in the output text.
#[derive(Debug, Clone)]
pub enum Mode {
    /// `<EMAIL>`, `<PHONE>`, `<CREDIT_CARD>`, `<IBAN>`, `<IP>`, `<URL>`.
    Replace,
    /// `<EMAIL_3f9a1c2b>`: a keyed hash of the value's canonical form.
    Hash(HashKey),
}

/// The secret key of `hash` mode, ready to sign: the HMAC state keyed once, cloned per token.
#[derive(Clone)]
pub struct HashKey {
    mac: Hmac<Sha256>,
}

impl HashKey {
    /// The fewest key bytes accepted. Hashed phone numbers or card numbers are few enough to be
    /// enumerated, so the key is the whole protection and must not be guessable.
    pub const MIN_LEN: usize = 16;

    /// A key from the secret's bytes, used exactly as given (a reader of a secret file strips
    /// its trailing newline first).
    pub fn new(secret: &[u8]) -> Result<Self, RedactError> {
        if secret.len() < Self::MIN_LEN {
            return Err(RedactError::KeyTooShort {
                len: secret.len(),
                min: Self::MIN_LEN,
            });
        }
        // HMAC takes keys of any length; this cannot fail.
        let mac = Hmac::<Sha256>::new_from_slice(secret).map_err(|_| RedactError::KeyTooShort {
            len: secret.len(),
            min: Self::MIN_LEN,
        })?;
        Ok(HashKey { mac })
    }

    /// A key from a secret file's contents, as the trainer and `validate` read it: one trailing
    /// newline (`\n` or `\r\n`, as `echo` and editors leave) is not part of the key.
    pub fn from_file_bytes(contents: &[u8]) -> Result<Self, RedactError> {
        Self::new(trim_newline(contents))
    }

    /// The token for one hit: `<TAG_xxxxxxxx>`, 8 hex digits of the keyed hash.
    pub(crate) fn token(&self, entity: Entity, canonical: &str) -> String {
        let mut mac = self.mac.clone();
        mac.update(entity.name().as_bytes());
        mac.update(&[0x1f]);
        mac.update(canonical.as_bytes());
        let digest = mac.finalize().into_bytes();
        format!("<{}_{}>", entity.tag(), hex::encode(&digest[..4]))
    }
}

/// A secret file's contents without one trailing newline.
pub fn trim_newline(bytes: &[u8]) -> &[u8] {
    let b = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    b.strip_suffix(b"\r").unwrap_or(b)
}

impl fmt::Debug for HashKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HashKey(<secret>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_A: &[u8] = b"0123456789abcdef0123456789abcdef";
    const KEY_B: &[u8] = b"fedcba9876543210fedcba9876543210";

    #[test]
    fn a_key_file_loses_one_trailing_newline_only() {
        assert_eq!(trim_newline(b"abc\n"), b"abc");
        assert_eq!(trim_newline(b"abc\r\n"), b"abc");
        assert_eq!(trim_newline(b"abc\n\n"), b"abc\n");
        assert_eq!(trim_newline(b"abc"), b"abc");
        let from_file = HashKey::from_file_bytes(b"0123456789abcdef0123456789abcdef\n").unwrap();
        let direct = HashKey::new(KEY_A).unwrap();
        assert_eq!(
            from_file.token(Entity::Email, "a@b.io"),
            direct.token(Entity::Email, "a@b.io")
        );
        assert!(
            HashKey::from_file_bytes(b"0123456789abcde\n").is_err(),
            "15 bytes + newline"
        );
    }

    #[test]
    fn tokens_are_stable_typed_and_keyed() {
        let a = HashKey::new(KEY_A).unwrap();
        let b = HashKey::new(KEY_B).unwrap();
        let t = a.token(Entity::Email, "bob@example.com");
        assert_eq!(t, a.token(Entity::Email, "bob@example.com"));
        assert_eq!(t, a.clone().token(Entity::Email, "bob@example.com"));
        assert!(t.starts_with("<EMAIL_") && t.ends_with('>') && t.len() == "<EMAIL_>".len() + 8);
        assert_ne!(t, b.token(Entity::Email, "bob@example.com"));
        assert_ne!(t, a.token(Entity::Email, "alice@example.com"));
        assert_ne!(
            a.token(Entity::Url, "x"),
            a.token(Entity::Ip, "x").replace("IP", "URL")
        );
    }

    #[test]
    fn the_key_is_checked_and_never_printed() {
        let err = HashKey::new(b"short").unwrap_err();
        assert_eq!(err, RedactError::KeyTooShort { len: 5, min: 16 });
        let key = HashKey::new(KEY_A).unwrap();
        let shown = format!("{key:?} {:?}", Mode::Hash(key.clone()));
        assert!(!shown.contains("0123456789"), "{shown}");
    }

    #[test]
    fn mode_names_and_the_key_requirement() {
        assert_eq!("hash".parse::<RedactMode>().unwrap(), RedactMode::Hash);
        assert_eq!(RedactMode::default(), RedactMode::Replace);
        assert!(matches!(
            RedactMode::Replace.with_key(None),
            Ok(Mode::Replace)
        ));
        assert_eq!(
            RedactMode::Hash.with_key(None).unwrap_err(),
            RedactError::MissingKey
        );
        let err = "mask".parse::<RedactMode>().unwrap_err().to_string();
        assert!(err.contains("`mask`") && err.contains("replace"), "{err}");
        assert_eq!(
            serde_json::to_string(&RedactMode::Hash).unwrap(),
            "\"hash\""
        );
    }
}
