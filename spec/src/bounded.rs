//! Numbers with a range: the value types of the job spec that cannot hold an invalid value.
//!
//! Each type checks its range in `TryFrom` (and so in `Deserialize`, through
//! `#[serde(try_from)]`), whatever the input is: a compose file, a provider option, a trainer flag
//! or `job.json`. The error text is the one `docker finetune validate` prints after the position
//! (`must be at least 1, found 0`), and [`KIND`](Count::KIND) is the type column of docs/spec.md.
//! `.get()` gives the plain number back.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A value outside its type's range (or not a number at all, for floats).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RangeError(pub String);

macro_rules! integer_at_least {
    ($(#[$doc:meta])* $name:ident, $int:ty, $min:expr, $kind:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "i64", into = "i64")]
        pub struct $name($int);

        impl $name {
            /// The smallest value.
            pub const MIN: $int = $min;
            /// The type as docs/spec.md writes it.
            pub const KIND: &'static str = $kind;

            /// `Some` when `n` is in range.
            pub const fn new(n: $int) -> Option<Self> {
                if n >= $min {
                    Some($name(n))
                } else {
                    None
                }
            }

            /// A value known in code (defaults); out of range fails to compile in a `const`.
            pub const fn of(n: $int) -> Self {
                assert!(n >= $min, "out of range");
                $name(n)
            }

            /// The number.
            pub const fn get(self) -> $int {
                self.0
            }
        }

        impl TryFrom<i64> for $name {
            type Error = RangeError;
            fn try_from(n: i64) -> Result<Self, RangeError> {
                if n < $min as i64 {
                    return Err(RangeError(format!("must be at least {}, found {n}", $min)));
                }
                <$int>::try_from(n)
                    .map($name)
                    .map_err(|_| RangeError(format!("{n} is too large")))
            }
        }

        impl From<$name> for i64 {
            fn from(v: $name) -> i64 {
                // Every value a spec holds (counts, steps, tokens) is far below i64::MAX.
                i64::try_from(v.0).unwrap_or(i64::MAX)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

integer_at_least!(
    /// A count of at least 1 (epochs, batch size, LoRA rank, patience, rows...).
    Count,
    usize,
    1,
    "integer ≥ 1"
);
integer_at_least!(
    /// A number of optimizer steps, at least 1.
    Steps,
    u64,
    1,
    "integer ≥ 1"
);
integer_at_least!(
    /// Tokens per example: at least 2, room for `[CLS]` and `[SEP]`.
    SeqLen,
    usize,
    2,
    "integer ≥ 2"
);

/// How a float range is bounded.
#[derive(Clone, Copy)]
enum Bound {
    /// `> 0`.
    Positive,
    /// `>= 0`.
    NonNegative,
    /// `[0, 1]`.
    Unit,
    /// `(0, 1)`.
    OpenUnit,
}

impl Bound {
    const fn contains(self, v: f64) -> bool {
        v.is_finite()
            && match self {
                Bound::Positive => v > 0.0,
                Bound::NonNegative => v >= 0.0,
                Bound::Unit => v >= 0.0 && v <= 1.0,
                Bound::OpenUnit => v > 0.0 && v < 1.0,
            }
    }

    fn describe(self) -> &'static str {
        match self {
            Bound::Positive => "greater than 0",
            Bound::NonNegative => "at least 0",
            Bound::Unit => "between 0 and 1",
            Bound::OpenUnit => "between 0 and 1, exclusive",
        }
    }
}

macro_rules! float_in {
    ($(#[$doc:meta])* $name:ident, $bound:expr, $kind:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize, Deserialize)]
        #[serde(try_from = "f64", into = "f64")]
        pub struct $name(f64);

        impl $name {
            /// The type as docs/spec.md writes it.
            pub const KIND: &'static str = $kind;

            /// `Some` when `v` is in range (and finite).
            pub fn new(v: f64) -> Option<Self> {
                $bound.contains(v).then_some($name(v))
            }

            /// A value known in code (defaults); out of range fails to compile in a `const`.
            pub const fn of(v: f64) -> Self {
                assert!($bound.contains(v), "out of range");
                $name(v)
            }

            /// The number.
            pub const fn get(self) -> f64 {
                self.0
            }
        }

        impl TryFrom<f64> for $name {
            type Error = RangeError;
            fn try_from(v: f64) -> Result<Self, RangeError> {
                $name::new(v)
                    .ok_or_else(|| RangeError(format!("must be {}, found {v}", $bound.describe())))
            }
        }

        impl From<$name> for f64 {
            fn from(v: $name) -> f64 {
                v.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

float_in!(
    /// A number greater than 0 (learning rate, LoRA alpha, gradient-norm clip, CPUs).
    Positive,
    Bound::Positive,
    "number > 0"
);
float_in!(
    /// A number of at least 0 (weight decay, early stopping's `min_delta`).
    NonNegative,
    Bound::NonNegative,
    "number ≥ 0"
);
float_in!(
    /// A fraction in `[0, 1]` (warmup ratio, dropout).
    Ratio,
    Bound::Unit,
    "number in [0, 1]"
);
float_in!(
    /// A fraction in `(0, 1)`: some rows, but not all (`eval_split`).
    Fraction,
    Bound::OpenUnit,
    "number in (0, 1)"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_refuse_values_below_their_minimum() {
        assert_eq!(
            Count::try_from(0).unwrap_err().0,
            "must be at least 1, found 0"
        );
        assert_eq!(
            Count::try_from(-1).unwrap_err().0,
            "must be at least 1, found -1"
        );
        assert_eq!(Count::try_from(3).unwrap().get(), 3);
        assert!(SeqLen::new(1).is_none());
        assert_eq!(SeqLen::new(2).map(SeqLen::get), Some(2));
        assert!(serde_json::from_str::<Steps>("0").is_err());
        assert_eq!(serde_json::to_string(&Steps::new(7).unwrap()).unwrap(), "7");
    }

    #[test]
    fn floats_refuse_values_outside_their_range() {
        let msg = |r: Result<Fraction, RangeError>| r.unwrap_err().0;
        assert_eq!(
            msg(Fraction::try_from(1.5)),
            "must be between 0 and 1, exclusive, found 1.5"
        );
        assert_eq!(
            Positive::try_from(0.0).unwrap_err().0,
            "must be greater than 0, found 0"
        );
        assert_eq!(
            Ratio::try_from(2.0).unwrap_err().0,
            "must be between 0 and 1, found 2"
        );
        assert!(NonNegative::new(f64::NAN).is_none());
        assert!(Ratio::new(1.0).is_some() && Fraction::new(1.0).is_none());
        assert!(serde_json::from_str::<Positive>("-1").is_err());
    }
}
