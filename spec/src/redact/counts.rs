//! How many values of each kind were redacted: per row from [`Redactor::redact`], added up over a
//! dataset for `run.json`, `metrics.jsonl` and `validate --data`. It holds numbers only, never a
//! value, so it is safe to write anywhere.
//!
//! [`Redactor::redact`]: super::Redactor::redact

use super::entity::Entity;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::ops::AddAssign;

/// Hits per entity; serialises as `{"email": 3, "phone": 0}` in [`Entity::ALL`] order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Counts(BTreeMap<Entity, u64>);

impl Counts {
    /// Zero for each of `entities`, so a record lists every selected kind, found or not.
    pub fn zeroed(entities: &[Entity]) -> Self {
        Counts(entities.iter().map(|&e| (e, 0)).collect())
    }

    /// One more hit of `entity`.
    pub fn add_one(&mut self, entity: Entity) {
        *self.0.entry(entity).or_insert(0) += 1;
    }

    /// The hits of `entity` (0 when none).
    pub fn get(&self, entity: Entity) -> u64 {
        self.0.get(&entity).copied().unwrap_or(0)
    }

    /// All hits together.
    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }

    /// Whether nothing was found (zeroed entries count as nothing).
    pub fn is_empty(&self) -> bool {
        self.total() == 0
    }

    /// The entries, in [`Entity::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = (Entity, u64)> + '_ {
        self.0.iter().map(|(&e, &n)| (e, n))
    }
}

impl AddAssign<&Counts> for Counts {
    fn add_assign(&mut self, other: &Counts) {
        for (e, n) in other.iter() {
            *self.0.entry(e).or_insert(0) += n;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_add_up_and_serialise_by_name() {
        let mut total = Counts::zeroed(&[Entity::Email, Entity::Url]);
        let mut row = Counts::default();
        row.add_one(Entity::Email);
        row.add_one(Entity::Email);
        row.add_one(Entity::Phone);
        total += &row;
        total += &row;
        assert_eq!(total.get(Entity::Email), 4);
        assert_eq!(total.get(Entity::Phone), 2);
        assert_eq!(total.get(Entity::Iban), 0);
        assert_eq!(total.total(), 6);
        let json = serde_json::to_string(&total).unwrap();
        assert_eq!(json, r#"{"email":4,"phone":2,"url":0}"#);
        assert_eq!(serde_json::from_str::<Counts>(&json).unwrap(), total);
        assert!(Counts::zeroed(&Entity::ALL).is_empty());
    }
}
