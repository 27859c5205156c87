//! Host resources a job may use: GPUs, CPUs, memory and `/dev/shm`, in every form users write
//! them (`gpus: 2`, `gpus: all`, `gpus: [0, 3]`, `gpus: {count: 2}`, `memory: 8g`).
//!
//! The Deserialize impls take the same shapes from YAML and JSON and say what is wrong in the
//! words `validate` prints, with a hint where the fix is known.

use crate::bounded::Positive;
use crate::de::with_hint;
use serde::de::{self, DeserializeSeed, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// Host resources a job may use.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Resources {
    pub gpus: Gpus,
    /// CPU limit (Compose `cpus`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpus: Option<Positive>,
    /// Memory limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<ByteSize>,
    /// Size of `/dev/shm` (Docker's 64 MB default is too small for data loading).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shm_size: Option<ByteSize>,
}

/// GPU request: `0` (none), `N` (any N GPUs), `all`, explicit device ids, or `auto` (every GPU
/// when the host has an NVIDIA runtime, else CPU with a note).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Gpus {
    #[default]
    Auto,
    All,
    Count(u32),
    Ids(Vec<String>),
}

impl Gpus {
    /// Whether this request needs no GPU at all.
    pub fn is_none(&self) -> bool {
        matches!(self, Gpus::Count(0)) || matches!(self, Gpus::Ids(ids) if ids.is_empty())
    }
}

impl fmt::Display for Gpus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Gpus::Auto => f.write_str("auto"),
            Gpus::All => f.write_str("all"),
            Gpus::Count(n) => write!(f, "{n}"),
            Gpus::Ids(ids) => write!(f, "[{}]", ids.join(",")),
        }
    }
}

impl Serialize for Gpus {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Gpus::Auto => s.serialize_str("auto"),
            Gpus::All => s.serialize_str("all"),
            Gpus::Count(n) => s.serialize_u32(*n),
            Gpus::Ids(ids) => ids.serialize(s),
        }
    }
}

const GPUS_EXPECTED: &str =
    "a GPU count, `all`, `auto`, a list of device ids, or `{count: N}` / `{device_ids: [...]}`";
const GPU_KEYS: &[&str] = &["count", "device_ids"];

fn gpu_count<E: de::Error>(n: i64) -> Result<Gpus, E> {
    if n < 0 {
        return Err(E::custom(with_hint(
            format!("GPU count cannot be negative, found {n}"),
            "use `0` for CPU, a count, `all` or `auto`",
        )));
    }
    u32::try_from(n)
        .map(Gpus::Count)
        .map_err(|_| E::custom("GPU count too large"))
}

fn gpu_word<E: de::Error>(v: &str) -> Result<Gpus, E> {
    match v.trim() {
        "auto" => Ok(Gpus::Auto),
        "all" | "-1" => Ok(Gpus::All),
        n => match n.parse::<i64>() {
            Ok(n) => gpu_count(n),
            Err(_) => Err(E::custom(format!(
                "invalid gpus `{v}`: expected {GPUS_EXPECTED}"
            ))),
        },
    }
}

impl<'de> Deserialize<'de> for Gpus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Gpus;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(GPUS_EXPECTED)
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Gpus, E> {
                gpu_count(i64::try_from(n).unwrap_or(i64::MAX))
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Gpus, E> {
                gpu_count(n)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Gpus, E> {
                gpu_word(v)
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Gpus, A::Error> {
                let mut ids = Vec::new();
                while let Some(id) = seq.next_element::<DeviceId>()? {
                    ids.push(id.0);
                }
                Ok(Gpus::Ids(ids))
            }
            /// The Compose-like forms `{count: N}` and `{device_ids: [...]}`.
            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Gpus, A::Error> {
                let mut seen = (false, false);
                let mut gpus = Gpus::Auto;
                while let Some(is_count) = map.next_key_seed(GpuKey(&mut seen))? {
                    gpus = if is_count {
                        map.next_value::<GpuCount>()?.0
                    } else {
                        Gpus::Ids(map.next_value::<DeviceIds>()?.0)
                    };
                }
                Ok(gpus)
            }
        }
        d.deserialize_any(V)
    }
}

/// A key of the mapping form; refuses the second of `count` and `device_ids` (`true`: count).
struct GpuKey<'a>(&'a mut (bool, bool));

impl<'de> DeserializeSeed<'de> for GpuKey<'_> {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_identifier(self)
    }
}

impl<'de> Visitor<'de> for GpuKey<'_> {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("`count` or `device_ids`")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<bool, E> {
        let is_count = match v {
            "count" => true,
            "device_ids" => false,
            other => return Err(E::unknown_field(other, GPU_KEYS)),
        };
        if (is_count && self.0 .1) || (!is_count && self.0 .0) {
            return Err(E::custom(with_hint(
                "`count` and `device_ids` are mutually exclusive",
                "keep `device_ids` to pin GPUs, or `count` to take any N",
            )));
        }
        if is_count {
            self.0 .0 = true;
        } else {
            self.0 .1 = true;
        }
        Ok(is_count)
    }
}

/// `count:` of the mapping form: a count, `all` or `auto`.
struct GpuCount(Gpus);

impl<'de> Deserialize<'de> for GpuCount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = GpuCount;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a GPU count or `all`")
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<GpuCount, E> {
                gpu_count(i64::try_from(n).unwrap_or(i64::MAX)).map(GpuCount)
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<GpuCount, E> {
                gpu_count(n).map(GpuCount)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<GpuCount, E> {
                gpu_word(v).map(GpuCount)
            }
        }
        d.deserialize_any(V)
    }
}

/// `device_ids:` of the mapping form.
struct DeviceIds(Vec<String>);

impl<'de> Deserialize<'de> for DeviceIds {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = DeviceIds;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of device ids")
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<DeviceIds, A::Error> {
                let mut ids = Vec::new();
                while let Some(id) = seq.next_element::<DeviceId>()? {
                    ids.push(id.0);
                }
                Ok(DeviceIds(ids))
            }
        }
        d.deserialize_seq(V)
    }
}

/// A device id written as a string or a bare integer.
struct DeviceId(String);

impl<'de> Deserialize<'de> for DeviceId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = DeviceId;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a device id")
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<DeviceId, E> {
                Ok(DeviceId(n.to_string()))
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<DeviceId, E> {
                Ok(DeviceId(n.to_string()))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<DeviceId, E> {
                if v.trim().is_empty() {
                    return Err(E::custom("expected a device id, found an empty string"));
                }
                Ok(DeviceId(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// A byte size written the way Compose writes them: `512m`, `8g`, `1gb`, `1.5GiB`, or bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ByteSize(pub u64);

/// Why a byte size did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid size `{0}`: expected a positive number with an optional unit (b, k, m, g, t), e.g. `512m` or `8g`")]
pub struct ByteSizeError(pub String);

impl FromStr for ByteSize {
    type Err = ByteSizeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ByteSizeError(s.to_string());
        let t = s.trim().to_ascii_lowercase();
        let split = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let num: f64 = num.parse().map_err(|_| err())?;
        let mult: u64 = match unit.trim() {
            "" | "b" => 1,
            "k" | "kb" | "kib" => 1 << 10,
            "m" | "mb" | "mib" => 1 << 20,
            "g" | "gb" | "gib" => 1 << 30,
            "t" | "tb" | "tib" => 1 << 40,
            _ => return Err(err()),
        };
        let bytes = num * mult as f64;
        if !bytes.is_finite() || bytes < 1.0 || bytes > u64::MAX as f64 {
            return Err(err());
        }
        Ok(ByteSize(bytes as u64))
    }
}

impl fmt::Display for ByteSize {
    /// The largest unit that divides the size exactly, in Compose's lower-case form (`8g`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (unit, mult) in [
            ("t", 1u64 << 40),
            ("g", 1 << 30),
            ("m", 1 << 20),
            ("k", 1 << 10),
        ] {
            if self.0 >= mult && self.0.is_multiple_of(mult) {
                return write!(f, "{}{unit}", self.0 / mult);
            }
        }
        write!(f, "{}b", self.0)
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        fn parse<E: de::Error>(text: &str) -> Result<ByteSize, E> {
            text.parse()
                .map_err(|e| E::custom(with_hint(e, "write a size such as `512m` or `8g`")))
        }
        impl Visitor<'_> for V {
            type Value = ByteSize;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a size such as `8g`")
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<ByteSize, E> {
                parse(&n.to_string())
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<ByteSize, E> {
                parse(&n.to_string())
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<ByteSize, E> {
                parse(&v.to_string())
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ByteSize, E> {
                parse(v)
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gpus_accept_every_form() {
        let p = |y: &str| serde_yaml::from_str::<Gpus>(y);
        assert_eq!(p("0").unwrap(), Gpus::Count(0));
        assert_eq!(p("2").unwrap(), Gpus::Count(2));
        assert_eq!(p("all").unwrap(), Gpus::All);
        assert_eq!(p("auto").unwrap(), Gpus::Auto);
        assert_eq!(
            p("[0, \"3\"]").unwrap(),
            Gpus::Ids(vec!["0".into(), "3".into()])
        );
        assert_eq!(p("{count: 2}").unwrap(), Gpus::Count(2));
        assert_eq!(p("{device_ids: [1]}").unwrap(), Gpus::Ids(vec!["1".into()]));
        assert!(p("{count: 1, device_ids: [0]}").is_err());
        assert!(p("-2").is_err());
        assert!(p("many").is_err());
        assert!(Gpus::Count(0).is_none());
    }

    #[test]
    fn byte_sizes_parse_and_print_like_compose() {
        assert_eq!("8g".parse::<ByteSize>().unwrap(), ByteSize(8 << 30));
        assert_eq!("512MB".parse::<ByteSize>().unwrap(), ByteSize(512 << 20));
        assert_eq!("1.5g".parse::<ByteSize>().unwrap(), ByteSize(3 << 29));
        assert_eq!(ByteSize(1 << 30).to_string(), "1g");
        assert_eq!(ByteSize(1000).to_string(), "1000b");
        for bad in ["", "g", "-1g", "0", "12x", "1e999g"] {
            assert!(bad.parse::<ByteSize>().is_err(), "{bad} parsed");
        }
        assert_eq!(
            serde_json::from_str::<ByteSize>("1024").unwrap(),
            ByteSize(1024)
        );
        assert!(serde_json::from_str::<ByteSize>("0").is_err());
    }
}
