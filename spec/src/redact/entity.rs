//! The kinds of personal data the engine recognizes ([`Entity`]), their names as the spec spells
//! them (`email`, `phone`, `credit_card`, `iban`, `ip`, `url`), their placeholders, and the
//! spec's selection of them ([`EntitySelection`]: `redact: all` or `redact: [email, phone]`).

use super::error::RedactError;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::ser::{SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The valid names, in [`Entity::ALL`] order, as error messages list them.
pub(crate) const VALID_NAMES: &str = "email, phone, credit_card, iban, ip, url";

/// One kind of personal data. The declaration order is the order of [`Entity::ALL`], of the
/// counts in `run.json`, and of the tie-break when two kinds claim the same span (see
/// [`Entity::priority`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Entity {
    Email,
    Phone,
    CreditCard,
    Iban,
    /// IPv4 and IPv6 addresses.
    Ip,
    /// `http://`, `https://` and `www.` addresses.
    Url,
}

impl Entity {
    /// Every entity, which is what `redact: all` selects.
    pub const ALL: [Entity; 6] = [
        Entity::Email,
        Entity::Phone,
        Entity::CreditCard,
        Entity::Iban,
        Entity::Ip,
        Entity::Url,
    ];

    /// The name the spec, the counts and the docs use.
    pub fn name(self) -> &'static str {
        match self {
            Entity::Email => "email",
            Entity::Phone => "phone",
            Entity::CreditCard => "credit_card",
            Entity::Iban => "iban",
            Entity::Ip => "ip",
            Entity::Url => "url",
        }
    }

    /// The upper-case tag of the placeholder: `EMAIL` in `<EMAIL>` and `<EMAIL_3f9a1c2b>`.
    pub fn tag(self) -> &'static str {
        match self {
            Entity::Email => "EMAIL",
            Entity::Phone => "PHONE",
            Entity::CreditCard => "CREDIT_CARD",
            Entity::Iban => "IBAN",
            Entity::Ip => "IP",
            Entity::Url => "URL",
        }
    }

    /// Which kind keeps a span that two kinds match exactly (lower wins). Containers come first
    /// (a URL holds hosts and addresses, an email holds a domain), then the checksummed kinds,
    /// then phones, whose digit runs are the loosest shape.
    pub(crate) fn priority(self) -> u8 {
        match self {
            Entity::Url => 0,
            Entity::Email => 1,
            Entity::Iban => 2,
            Entity::CreditCard => 3,
            Entity::Ip => 4,
            Entity::Phone => 5,
        }
    }
}

impl fmt::Display for Entity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Entity {
    type Err = RedactError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Entity::ALL
            .into_iter()
            .find(|e| e.name() == name)
            .ok_or_else(|| RedactError::UnknownEntity {
                name: name.to_string(),
            })
    }
}

/// What the spec's `redact:` selects: `all`, or a list of entity names.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum EntitySelection {
    /// `redact: all`: every entity, including any a later version adds.
    All,
    /// `redact: [email, phone]`; an empty list (the default) redacts nothing.
    #[default]
    None,
    Only(Vec<Entity>),
}

impl EntitySelection {
    /// Parses the names the spec holds: `["all"]` alone, or entity names.
    pub fn from_names<S: AsRef<str>>(names: &[S]) -> Result<Self, RedactError> {
        match names {
            [one] if one.as_ref() == "all" => Ok(EntitySelection::All),
            [] => Ok(EntitySelection::None),
            _ => names
                .iter()
                .map(|n| n.as_ref().parse())
                .collect::<Result<Vec<_>, _>>()
                .map(EntitySelection::Only),
        }
    }

    /// The selected entities, sorted and without repeats.
    pub fn entities(&self) -> Vec<Entity> {
        match self {
            EntitySelection::All => Entity::ALL.to_vec(),
            EntitySelection::None => Vec::new(),
            EntitySelection::Only(list) => {
                let mut list = list.clone();
                list.sort();
                list.dedup();
                list
            }
        }
    }

    /// Whether nothing is selected (then the trainer skips the redaction pass altogether).
    pub fn is_empty(&self) -> bool {
        self.entities().is_empty()
    }
}

impl Serialize for EntitySelection {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            EntitySelection::All => serializer.serialize_str("all"),
            EntitySelection::None | EntitySelection::Only(_) => {
                let list = self.entities();
                let mut seq = serializer.serialize_seq(Some(list.len()))?;
                for e in list {
                    seq.serialize_element(&e)?;
                }
                seq.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for EntitySelection {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(SelectionVisitor)
    }
}

/// Accepts `"all"` or a list of names, with the error [`RedactError`] words for anything else
/// (serde's untagged enums would only say that no variant matched).
struct SelectionVisitor;

impl<'de> Visitor<'de> for SelectionVisitor {
    type Value = EntitySelection;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`all` or a list of {VALID_NAMES}")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        if v == "all" {
            Ok(EntitySelection::All)
        } else {
            // A lone name is the one-element list, as YAML users write `redact: email`.
            v.parse::<Entity>()
                .map(|e| EntitySelection::Only(vec![e]))
                .map_err(E::custom)
        }
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut names: Vec<String> = Vec::new();
        while let Some(name) = seq.next_element::<String>()? {
            names.push(name);
        }
        EntitySelection::from_names(&names).map_err(de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_serde_and_from_str() {
        let listed: Vec<&str> = VALID_NAMES.split(", ").collect();
        assert_eq!(listed, Entity::ALL.map(Entity::name));
        for e in Entity::ALL {
            assert_eq!(
                serde_json::to_string(&e).unwrap(),
                format!("\"{}\"", e.name())
            );
            assert_eq!(e.name().parse::<Entity>().unwrap(), e);
            assert_eq!(e.tag(), e.name().to_uppercase());
        }
    }

    #[test]
    fn an_unknown_name_lists_the_valid_ones() {
        let err = "mail".parse::<Entity>().unwrap_err().to_string();
        assert!(err.contains("`mail`"), "{err}");
        assert!(
            err.contains("email, phone, credit_card, iban, ip, url"),
            "{err}"
        );
        assert!(
            "Email".parse::<Entity>().is_err(),
            "names are case-sensitive like the spec"
        );
    }

    #[test]
    fn selection_reads_all_a_list_or_one_name() {
        let all: EntitySelection = serde_json::from_str("\"all\"").unwrap();
        assert_eq!(all.entities(), Entity::ALL.to_vec());
        let list: EntitySelection = serde_json::from_str(r#"["url","email","url"]"#).unwrap();
        assert_eq!(list.entities(), vec![Entity::Email, Entity::Url]);
        assert_eq!(serde_json::to_string(&list).unwrap(), r#"["email","url"]"#);
        let one: EntitySelection = serde_json::from_str("\"ip\"").unwrap();
        assert_eq!(one.entities(), vec![Entity::Ip]);
        let none: EntitySelection = serde_json::from_str("[]").unwrap();
        assert!(none.is_empty());
        let err = serde_json::from_str::<EntitySelection>(r#"["email","ssn"]"#).unwrap_err();
        assert!(
            err.to_string().contains("unknown redaction entity `ssn`"),
            "{err}"
        );
        assert!(serde_json::from_str::<EntitySelection>("3").is_err());
        assert!(EntitySelection::from_names(&["all", "email"]).is_err());
    }
}
