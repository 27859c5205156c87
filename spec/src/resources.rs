//! Host resources a job may use: GPUs, CPUs, memory and `/dev/shm`, in every form users write
//! them (`gpus: 2`, `gpus: all`, `gpus: [0, 3]`, `gpus: {count: 2}`,
//! `gpus: {device_ids: [0], shared: true}`, `memory: 8g`).
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
    /// Device memory the job declares it uses on each of its GPUs. Required with shared GPUs:
    /// shared jobs co-run on a device while their declared memory fits in it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gpu_memory: Option<ByteSize>,
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

/// GPU request: `0` (none), `N` (any N GPUs), `all`, explicit device ids, `auto` (every GPU
/// when the host has an NVIDIA runtime, else CPU with a note), or explicit device ids shared with
/// other shared jobs (`{device_ids: [0], shared: true}`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Gpus {
    #[default]
    Auto,
    All,
    Count(u32),
    Ids(Vec<String>),
    /// Devices the job may share with other shared jobs (never with exclusive ones). Always
    /// named (never a count): jobs meant to share a GPU must land on the same one, and a small
    /// job does not need the scheduler to choose among devices. Never empty.
    Shared(Vec<String>),
}

impl Gpus {
    /// Whether this request needs no GPU at all.
    pub fn is_none(&self) -> bool {
        matches!(self, Gpus::Count(0)) || matches!(self, Gpus::Ids(ids) if ids.is_empty())
    }

    /// Whether the job may share its devices with other shared jobs.
    pub fn is_shared(&self) -> bool {
        matches!(self, Gpus::Shared(_))
    }
}

impl fmt::Display for Gpus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Gpus::Auto => f.write_str("auto"),
            Gpus::All => f.write_str("all"),
            Gpus::Count(n) => write!(f, "{n}"),
            Gpus::Ids(ids) => write!(f, "[{}]", ids.join(",")),
            Gpus::Shared(ids) => write!(f, "{{device_ids: [{}], shared: true}}", ids.join(",")),
        }
    }
}

impl Serialize for Gpus {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            Gpus::Auto => s.serialize_str("auto"),
            Gpus::All => s.serialize_str("all"),
            Gpus::Count(n) => s.serialize_u32(*n),
            Gpus::Ids(ids) => ids.serialize(s),
            Gpus::Shared(ids) => {
                let mut m = s.serialize_map(Some(2))?;
                m.serialize_entry("device_ids", ids)?;
                m.serialize_entry("shared", &true)?;
                m.end()
            }
        }
    }
}

const GPUS_EXPECTED: &str =
    "a GPU count, `all`, `auto`, a list of device ids, or `{count: N}` / `{device_ids: [...]}` (with `shared: true` to share them)";
const GPU_KEYS: &[&str] = &["count", "device_ids", "shared"];
const SHARED_HINT: &str =
    "write `{device_ids: [0], shared: true}`: jobs that share a GPU name the device they share";

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
            /// The Compose-like forms `{count: N}` and `{device_ids: [...]}`, the latter with an
            /// optional `shared: true`.
            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Gpus, A::Error> {
                let mut seen = Seen::default();
                let mut gpus = Gpus::Auto;
                let mut ids = None;
                while let Some(field) = map.next_key_seed(GpuKey(&mut seen))? {
                    match field {
                        Field::Count => gpus = map.next_value::<GpuCount>()?.0,
                        Field::DeviceIds => ids = Some(map.next_value::<DeviceIds>()?.0),
                        Field::Shared => {
                            let shared = map.next_value::<bool>()?;
                            if shared && seen.count {
                                return Err(de::Error::custom(with_hint(
                                    "`shared` GPUs are named by `device_ids`, not `count`",
                                    SHARED_HINT,
                                )));
                            }
                            seen.shared = shared;
                        }
                    }
                }
                match (ids, seen.shared) {
                    (Some(ids), true) if !ids.is_empty() => Ok(Gpus::Shared(ids)),
                    (Some(ids), false) => Ok(Gpus::Ids(ids)),
                    (_, true) => Err(de::Error::custom(with_hint(
                        "`shared: true` needs the `device_ids` to share",
                        SHARED_HINT,
                    ))),
                    (None, false) => Ok(gpus),
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// The keys of the mapping form seen so far, and whether `shared: true` was among them.
#[derive(Default)]
struct Seen {
    count: bool,
    device_ids: bool,
    shared: bool,
}

/// A key of the mapping form.
enum Field {
    Count,
    DeviceIds,
    Shared,
}

/// Reads a key of the mapping form; refuses the second of `count` and `device_ids`, and `count`
/// after `shared: true`, at that key.
struct GpuKey<'a>(&'a mut Seen);

impl<'de> DeserializeSeed<'de> for GpuKey<'_> {
    type Value = Field;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Field, D::Error> {
        d.deserialize_identifier(self)
    }
}

impl<'de> Visitor<'de> for GpuKey<'_> {
    type Value = Field;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("`count`, `device_ids` or `shared`")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Field, E> {
        let field = match v {
            "count" => Field::Count,
            "device_ids" => Field::DeviceIds,
            "shared" => return Ok(Field::Shared),
            other => return Err(E::unknown_field(other, GPU_KEYS)),
        };
        let is_count = matches!(field, Field::Count);
        if (is_count && self.0.device_ids) || (!is_count && self.0.count) {
            return Err(E::custom(with_hint(
                "`count` and `device_ids` are mutually exclusive",
                "keep `device_ids` to pin GPUs, or `count` to take any N",
            )));
        }
        if is_count && self.0.shared {
            return Err(E::custom(with_hint(
                "`shared` GPUs are named by `device_ids`, not `count`",
                SHARED_HINT,
            )));
        }
        if is_count {
            self.0.count = true;
        } else {
            self.0.device_ids = true;
        }
        Ok(field)
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
        assert_eq!(
            p("{device_ids: [0, 1], shared: true}").unwrap(),
            Gpus::Shared(vec!["0".into(), "1".into()])
        );
        assert_eq!(
            p("{device_ids: [2], shared: false}").unwrap(),
            Gpus::Ids(vec!["2".into()])
        );
        assert!(p("-2").is_err());
        assert!(p("many").is_err());
        assert!(Gpus::Count(0).is_none());
    }

    #[test]
    fn shared_gpus_need_device_ids() {
        let err = |y: &str| serde_yaml::from_str::<Gpus>(y).unwrap_err().to_string();
        for (y, want) in [
            (
                "{shared: true}",
                "`shared: true` needs the `device_ids` to share",
            ),
            (
                "{device_ids: [], shared: true}",
                "`shared: true` needs the `device_ids`",
            ),
            (
                "{count: 1, shared: true}",
                "named by `device_ids`, not `count`",
            ),
            (
                "{shared: true, count: 1}",
                "named by `device_ids`, not `count`",
            ),
            ("{device_ids: [0], shared: yes}", "expected a boolean"),
            ("{ids: [0], shared: true}", "unknown field `ids`"),
        ] {
            assert!(err(y).contains(want), "{y}: {}", err(y));
        }
    }

    #[test]
    fn shared_gpus_round_trip_through_json() {
        let g = Gpus::Shared(vec!["0".into()]);
        let json = serde_json::to_value(&g).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"device_ids": ["0"], "shared": true})
        );
        assert_eq!(serde_json::from_value::<Gpus>(json).unwrap(), g);
        assert!(g.is_shared() && !g.is_none());
        assert_eq!(g.to_string(), "{device_ids: [0], shared: true}");
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
