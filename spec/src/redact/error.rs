//! The one error type of the redaction engine. Every variant names what the user wrote (an entity
//! name, a region, a mode) and never a key byte or a redacted value, so it is safe to print.

use super::entity::VALID_NAMES;

/// Why a [`Redactor`](super::Redactor) or one of its settings could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RedactError {
    /// An entity name outside [`Entity::ALL`](super::Entity::ALL).
    #[error("unknown redaction entity `{name}`: expected `all` or a list of {VALID_NAMES}")]
    UnknownEntity { name: String },
    /// A `redact_mode` other than `replace` or `hash`.
    #[error("unknown redaction mode `{name}`: expected `replace` or `hash`")]
    UnknownMode { name: String },
    /// A phone region that is not a CLDR two-letter region code.
    #[error(
        "unknown phone region `{region}`: expected a two-letter region code such as US, GB or DE"
    )]
    UnknownRegion { region: String },
    /// `hash` mode without a key.
    #[error("redact_mode `hash` needs a key (a Compose secret), and none was given")]
    MissingKey,
    /// A key too short to keep hashed values from being guessed by enumeration.
    #[error("the redaction hash key has {len} bytes; it needs at least {min} (e.g. `openssl rand -hex 32`)")]
    KeyTooShort { len: usize, min: usize },
}
