//! The shape of the `x-finetune` section, as data: every key, its type, default and meaning.
//!
//! [`check`] walks a positioned node against it and reports every problem (unknown keys with a
//! "did you mean", wrong types, out-of-range numbers, bad sizes, `count` with `device_ids`...).
//! The defaults printed here are the ones in [`finetune_spec`]; a test keeps `docs/spec.md` listing
//! every key.

use crate::diagnostic::{suggest, Diagnostic};
use crate::yaml::{Kind, Node};
use finetune_spec::ByteSize;

/// A value type in the section.
#[derive(Debug, Clone, Copy)]
pub enum Ty {
    Str,
    /// A path relative to the project directory (or absolute).
    Path,
    /// An integer at least `min`.
    Int {
        min: i64,
    },
    /// A number in `[min, max]`, or `(min, max)` when `open`.
    Num {
        min: f64,
        max: f64,
        open: bool,
    },
    /// A byte size (`512m`, `8g`, bytes).
    Size,
    /// One of the names.
    Enum(&'static [&'static str]),
    StrList,
    /// `environment`: a mapping of names to values (or null), or a list of `NAME=value`/`NAME`.
    Env,
    /// `gpus`: `0|N|all|auto|[ids]` or `{count: N}` / `{device_ids: [...]}`.
    Gpus,
    /// `method`: `full`, `lora`, or `{lora: {...}}`.
    Method,
    /// A number, or null to disable.
    OptNum {
        min: f64,
    },
    Map(&'static [Field]),
}

/// One key of a mapping.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub name: &'static str,
    pub ty: Ty,
    pub default: &'static str,
    pub doc: &'static str,
}

const fn f(name: &'static str, ty: Ty, default: &'static str, doc: &'static str) -> Field {
    Field {
        name,
        ty,
        default,
        doc,
    }
}

const POS: Ty = Ty::Int { min: 1 };
const NONNEG: Ty = Ty::Int { min: 0 };

pub const DATA: &[Field] = &[
    f(
        "train",
        Ty::Path,
        "required",
        "training file, `.jsonl`, `.csv` or `.parquet`",
    ),
    f(
        "eval",
        Ty::Path,
        "none",
        "evaluation file; exclusive with `eval_split`",
    ),
    f(
        "eval_split",
        Ty::Num {
            min: 0.0,
            max: 1.0,
            open: true,
        },
        "none",
        "fraction of training rows held out for evaluation when `eval` is absent",
    ),
    f(
        "text",
        Ty::Str,
        "text",
        "field (JSONL key, CSV or Parquet column) holding the text",
    ),
    f("label", Ty::Str, "label", "field holding the label"),
    f(
        "format",
        Ty::Enum(&["jsonl", "csv", "parquet"]),
        "from the extension",
        "file format",
    ),
    f(
        "labels",
        Ty::StrList,
        "sorted labels of the train file",
        "the label set, in id order",
    ),
    f(
        "limit",
        POS,
        "none",
        "use only the first N rows of each file",
    ),
];

pub const LORA: &[Field] = &[
    f("r", POS, "8", "adapter rank"),
    f(
        "alpha",
        Ty::Num {
            min: 0.0,
            max: f64::MAX,
            open: true,
        },
        "16",
        "scaling numerator (scale = alpha / r)",
    ),
    f(
        "dropout",
        Ty::Num {
            min: 0.0,
            max: 1.0,
            open: false,
        },
        "0",
        "dropout on the adapter input",
    ),
    f(
        "targets",
        Ty::StrList,
        "[query, value]",
        "linear layers to adapt (`query`, `key`, `value`, `dense`)",
    ),
];

pub const EARLY_STOPPING: &[Field] = &[
    f(
        "patience",
        POS,
        "2",
        "evaluations without improvement before stopping",
    ),
    f(
        "metric",
        Ty::Enum(&["eval_loss", "accuracy", "macro_f1"]),
        "eval_loss",
        "the watched metric",
    ),
    f(
        "min_delta",
        Ty::Num {
            min: 0.0,
            max: f64::MAX,
            open: false,
        },
        "0",
        "smallest change that counts as an improvement",
    ),
];

pub const TRAIN: &[Field] = &[
    f("epochs", POS, "3", "passes over the training data"),
    f(
        "max_steps",
        POS,
        "none",
        "stop after this many optimizer steps",
    ),
    f("batch_size", POS, "16", "examples per micro-batch"),
    f(
        "learning_rate",
        Ty::Num {
            min: 0.0,
            max: f64::MAX,
            open: true,
        },
        "5e-5",
        "peak learning rate",
    ),
    f(
        "weight_decay",
        Ty::Num {
            min: 0.0,
            max: f64::MAX,
            open: false,
        },
        "0.01",
        "AdamW weight decay",
    ),
    f(
        "max_length",
        POS,
        "128",
        "tokens per example (longer ones are truncated)",
    ),
    f(
        "seed",
        NONNEG,
        "42",
        "seed of shuffling, splits and initialisation",
    ),
    f(
        "warmup_ratio",
        Ty::Num {
            min: 0.0,
            max: 1.0,
            open: false,
        },
        "0.06",
        "fraction of steps warming the learning rate up",
    ),
    f(
        "schedule",
        Ty::Enum(&["linear", "cosine", "constant"]),
        "linear",
        "decay after warmup",
    ),
    f("grad_accum", POS, "1", "micro-batches per optimizer step"),
    f(
        "max_grad_norm",
        Ty::OptNum { min: 0.0 },
        "1.0",
        "gradient-norm clipping; null disables",
    ),
    f(
        "precision",
        Ty::Enum(&["auto", "f32", "bf16", "f16"]),
        "auto",
        "numeric precision (`auto`: f32 on CPU, bf16 on capable GPUs)",
    ),
    f(
        "early_stopping",
        Ty::Map(EARLY_STOPPING),
        "none",
        "stop when the metric stops improving",
    ),
    f(
        "eval_every_steps",
        POS,
        "end of each epoch",
        "evaluate every N optimizer steps",
    ),
    f(
        "log_every_steps",
        POS,
        "10",
        "write a metrics line every N optimizer steps",
    ),
];

pub const CHECKPOINT: &[Field] = &[
    f(
        "every_steps",
        NONNEG,
        "200",
        "save every N optimizer steps (0: only at epoch ends and on SIGTERM)",
    ),
    f("keep", POS, "2", "newest complete checkpoints kept"),
];

pub const RESOURCES: &[Field] = &[
    f("gpus", Ty::Gpus, "auto", "`0`, a count, `all`, `auto` (GPUs when the host has a GPU runtime, else CPU), a list of device ids, or `{count: N}` / `{device_ids: [...]}`"),
    f("cpus", Ty::Num { min: 0.0, max: f64::MAX, open: true }, "no limit", "CPU limit"),
    f("memory", Ty::Size, "no limit", "memory limit (`8g`)"),
    f("shm_size", Ty::Size, "1g", "size of `/dev/shm`"),
];

pub const JOB: &[Field] = &[
    f("task", Ty::Enum(&["text-classification"]), "text-classification", "what the model is trained for"),
    f("model", Ty::Path, "required", "Hugging Face-format model directory (`config.json`, `model.safetensors`, `tokenizer.json`)"),
    f("data", Ty::Map(DATA), "required", "the dataset"),
    f("method", Ty::Method, "full", "`full`, `lora`, or `{lora: {r, alpha, dropout, targets}}`"),
    f("train", Ty::Map(TRAIN), "see keys", "optimisation settings"),
    f("checkpoint", Ty::Map(CHECKPOINT), "see keys", "checkpointing"),
    f("output", Ty::Path, "required", "output directory (metrics, checkpoints, model, run.json)"),
    f("cache", Ty::Path, "none", "cache directory, mounted read-write at /cache"),
    f("resources", Ty::Map(RESOURCES), "see keys", "host resources"),
    f("depends_on", Ty::StrList, "[]", "user services the job needs running"),
    f("priority", Ty::Int { min: i64::MIN }, "0", "queue priority when GPUs are busy (higher first)"),
    f("environment", Ty::Env, "{}", "trainer environment; a name without a value is passed from the caller's environment and never written to rendered files"),
    f("network", Ty::Str, "none (`network_mode: none`)", "a Compose network to attach the job to"),
    f("image", Ty::Str, "docker-finetune/trainer:<version>", "trainer image"),
];

pub const SECTION: &[Field] = &[
    f(
        "defaults",
        Ty::Map(JOB),
        "{}",
        "keys deep-merged under every job",
    ),
    // `jobs` is a mapping of job names to JOB mappings, checked by `project`.
    f("jobs", Ty::Str, "{}", "the jobs, by name"),
];

/// Check `node` against `ty`, pushing every problem found. `path` is the node's key path.
pub fn check(node: &Node, ty: Ty, path: &str, out: &mut Vec<Diagnostic>) {
    let here = |msg: String| Diagnostic::error(&node.pos, path, msg);
    let wrong = |expected: &str| here(format!("expected {expected}, found {}", node.type_name()));
    match ty {
        Ty::Str => {
            if node.as_str().is_none() || node.as_map().is_some() {
                out.push(wrong("a string"));
            }
        }
        Ty::Path => match node.as_str() {
            Some(s) if !s.trim().is_empty() => {}
            Some(_) => out.push(
                here("empty path".into())
                    .with_hint("write a path relative to the project directory"),
            ),
            None => out.push(wrong("a path")),
        },
        Ty::Int { min } => match node.as_i64() {
            Some(v) if v < min => out.push(if min == 1 {
                here(format!("must be at least 1, found {v}"))
            } else {
                here(format!("must be at least {min}, found {v}"))
            }),
            Some(_) => {}
            None => out.push(wrong("an integer")),
        },
        Ty::Num { min, max, open } => match node.as_f64() {
            Some(v) => {
                let ok = if open {
                    v > min && v < max
                } else {
                    v >= min && v <= max
                };
                if !ok {
                    let range = match (open, max == f64::MAX) {
                        (true, true) => format!("greater than {min}"),
                        (false, true) => format!("at least {min}"),
                        (true, false) => format!("between {min} and {max}, exclusive"),
                        (false, false) => format!("between {min} and {max}"),
                    };
                    out.push(here(format!("must be {range}, found {v}")));
                }
            }
            None => out.push(wrong("a number")),
        },
        Ty::OptNum { min } => {
            if !node.is_null() {
                check(
                    node,
                    Ty::Num {
                        min,
                        max: f64::MAX,
                        open: true,
                    },
                    path,
                    out,
                )
            }
        }
        Ty::Size => match (&node.kind, node.as_str()) {
            (Kind::Scalar(_), Some(s)) => {
                if let Err(e) = s.parse::<ByteSize>() {
                    out.push(here(e.to_string()).with_hint("write a size such as `512m` or `8g`"));
                }
            }
            _ => out.push(wrong("a size such as `8g`")),
        },
        Ty::Enum(names) => match node.as_str() {
            Some(s) if names.contains(&s) => {}
            Some(s) => {
                let d = here(format!(
                    "unknown value `{s}`: expected one of {}",
                    quoted(names)
                ));
                out.push(match suggest(s, names.iter().copied()) {
                    Some(m) => d.with_hint(format!("did you mean `{m}`?")),
                    None => d,
                });
            }
            None => out.push(wrong(&format!("one of {}", quoted(names)))),
        },
        Ty::StrList => match &node.kind {
            Kind::Seq(items) => {
                for (i, item) in items.iter().enumerate() {
                    if item.as_str().is_none() || !matches!(item.kind, Kind::Scalar(_)) {
                        out.push(Diagnostic::error(
                            &item.pos,
                            format!("{path}[{i}]"),
                            format!("expected a string, found {}", item.type_name()),
                        ));
                    }
                }
            }
            _ => out.push(wrong("a list of strings")),
        },
        Ty::Env => match &node.kind {
            Kind::Map(entries) => {
                for (k, v) in entries {
                    if !matches!(v.kind, Kind::Scalar(_)) {
                        out.push(Diagnostic::error(
                            &v.pos,
                            format!("{path}.{}", k.key_text()),
                            format!("expected a string or nothing, found {}", v.type_name()),
                        ));
                    }
                }
            }
            Kind::Seq(items) => {
                for (i, item) in items.iter().enumerate() {
                    match item.as_str() {
                        Some(s) if !s.is_empty() && !s.starts_with('=') => {}
                        _ => out.push(Diagnostic::error(
                            &item.pos,
                            format!("{path}[{i}]"),
                            "expected `NAME=value` or `NAME`",
                        )),
                    }
                }
            }
            _ => out.push(wrong("a mapping of names to values")),
        },
        Ty::Gpus => check_gpus(node, path, out),
        Ty::Method => check_method(node, path, out),
        Ty::Map(fields) => check_map(node, fields, path, out),
    }
}

fn quoted(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Check a mapping's keys against `fields`; null counts as an empty mapping.
pub fn check_map(node: &Node, fields: &[Field], path: &str, out: &mut Vec<Diagnostic>) {
    if node.is_null() {
        return;
    }
    let Some(entries) = node.as_map() else {
        out.push(Diagnostic::error(
            &node.pos,
            path,
            format!("expected a mapping, found {}", node.type_name()),
        ));
        return;
    };
    for (k, v) in entries {
        let key = k.key_text();
        let sub = join(path, &key);
        match fields.iter().find(|f| f.name == key) {
            Some(field) => check(v, field.ty, &sub, out),
            None if key.starts_with("x-") => {}
            None => {
                let d = Diagnostic::error(&k.pos, &sub, format!("unknown key `{key}`"));
                out.push(match suggest(&key, fields.iter().map(|f| f.name)) {
                    Some(m) => d.with_hint(format!("did you mean `{m}`?")),
                    None => d.with_hint(format!(
                        "known keys: {}",
                        fields.iter().map(|f| f.name).collect::<Vec<_>>().join(", ")
                    )),
                });
            }
        }
    }
}

/// `a.b` (or `b` when `a` is empty).
pub fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn check_gpus(node: &Node, path: &str, out: &mut Vec<Diagnostic>) {
    let expected =
        "a GPU count, `all`, `auto`, a list of device ids, or `{count: N}` / `{device_ids: [...]}`";
    match &node.kind {
        Kind::Scalar(_) => match node.as_str() {
            Some("all") | Some("auto") => {}
            Some(s) => match s.trim().parse::<i64>() {
                Ok(n) if n < 0 => out.push(
                    Diagnostic::error(
                        &node.pos,
                        path,
                        format!("GPU count cannot be negative, found {n}"),
                    )
                    .with_hint("use `0` for CPU, a count, `all` or `auto`"),
                ),
                Ok(n) if n > u32::MAX as i64 => {
                    out.push(Diagnostic::error(&node.pos, path, "GPU count too large"))
                }
                Ok(_) => {}
                Err(_) => out.push(Diagnostic::error(
                    &node.pos,
                    path,
                    format!("invalid gpus `{s}`: expected {expected}"),
                )),
            },
            None => out.push(Diagnostic::error(
                &node.pos,
                path,
                format!("expected {expected}, found null"),
            )),
        },
        Kind::Seq(_) => {
            for (i, item) in node.as_seq().into_iter().flatten().enumerate() {
                if item.as_str().is_none_or(|s| s.trim().is_empty())
                    || !matches!(item.kind, Kind::Scalar(_))
                {
                    out.push(Diagnostic::error(
                        &item.pos,
                        format!("{path}[{i}]"),
                        format!("expected a device id, found {}", item.type_name()),
                    ));
                }
            }
        }
        Kind::Map(_) => {
            const FIELDS: &[Field] = &[
                f("count", Ty::Str, "", ""),
                f("device_ids", Ty::StrList, "", ""),
            ];
            check_map(node, FIELDS, path, out);
            if let Some(c) = node.get("count") {
                check_gpus(c, &join(path, "count"), out);
                if matches!(c.kind, Kind::Seq(_)) {
                    out.push(Diagnostic::error(
                        &c.pos,
                        join(path, "count"),
                        "expected a GPU count or `all`, found a list",
                    ));
                }
            }
            if node.get("count").is_some() && node.get("device_ids").is_some() {
                let k = node.key("device_ids").unwrap_or(node);
                out.push(
                    Diagnostic::error(
                        &k.pos,
                        join(path, "device_ids"),
                        "`count` and `device_ids` are mutually exclusive",
                    )
                    .with_hint("keep `device_ids` to pin GPUs, or `count` to take any N"),
                );
            }
        }
    }
}

fn check_method(node: &Node, path: &str, out: &mut Vec<Diagnostic>) {
    match &node.kind {
        Kind::Scalar(_) => check(node, Ty::Enum(&["full", "lora"]), path, out),
        Kind::Map(entries) => {
            if entries.len() != 1 {
                out.push(Diagnostic::error(
                    &node.pos,
                    path,
                    "method takes one key: `full` or `lora`",
                ));
            }
            for (k, v) in entries {
                let key = k.key_text();
                match key.as_str() {
                    "lora" => check_map(v, LORA, &join(path, "lora"), out),
                    "full" if v.is_null() || v.as_map().is_some_and(|m| m.is_empty()) => {}
                    "full" => out.push(Diagnostic::error(
                        &v.pos,
                        join(path, "full"),
                        "`full` takes no settings",
                    )),
                    other => {
                        let d = Diagnostic::error(
                            &k.pos,
                            join(path, other),
                            format!("unknown method `{other}`: expected `full` or `lora`"),
                        );
                        out.push(match suggest(other, ["full", "lora"]) {
                            Some(m) => d.with_hint(format!("did you mean `{m}`?")),
                            None => d,
                        });
                    }
                }
            }
        }
        Kind::Seq(_) => out.push(Diagnostic::error(
            &node.pos,
            path,
            format!(
                "expected `full`, `lora` or a mapping, found {}",
                node.type_name()
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::parse;
    use std::path::Path;

    fn diags(y: &str) -> Vec<String> {
        let n = parse(y, Path::new("f.yaml")).unwrap();
        let mut out = Vec::new();
        check_map(&n, JOB, "job", &mut out);
        out.iter().map(|d| d.to_string()).collect()
    }

    #[test]
    fn reports_every_problem_with_positions() {
        let d = diags("trian: {}\ntrain:\n  batch_size: 0\n  epochs: x\nresources: {memory: 8q, gpus: {count: 1, device_ids: [0]}}\nmethod: {lora: {r: 0}}\n");
        assert_eq!(d.len(), 6, "{d:#?}");
        assert!(
            d[0].starts_with("f.yaml:1:1: unknown key `trian`")
                && d[0].contains("did you mean `train`")
        );
        assert!(d[1].starts_with("f.yaml:3:15: must be at least 1, found 0"));
        assert!(d[2].starts_with("f.yaml:4:11: expected an integer, found a string"));
        assert!(d[3].contains("invalid size `8q`"));
        assert!(d[4].contains("mutually exclusive"));
        assert!(d[5].contains("job.method.lora.r"));
    }

    /// The defaults printed here (and so in docs/spec.md) are the ones `spec.rs` applies, and
    /// docs/spec.md lists every key.
    #[test]
    fn defaults_match_spec_rs_and_docs_list_every_key() {
        use finetune_spec::{CheckpointSpec, EarlyStopping, LoraSpec, TrainSpec};
        let tables: [(&[Field], serde_json::Value); 4] = [
            (TRAIN, serde_json::to_value(TrainSpec::default()).unwrap()),
            (
                CHECKPOINT,
                serde_json::to_value(CheckpointSpec::default()).unwrap(),
            ),
            (LORA, serde_json::to_value(LoraSpec::default()).unwrap()),
            (
                EARLY_STOPPING,
                serde_json::to_value(EarlyStopping::default()).unwrap(),
            ),
        ];
        let mut checked = 0;
        for (fields, defaults) in tables {
            for f in fields {
                let actual = &defaults[f.name];
                if let (Ok(n), Some(a)) = (f.default.parse::<f64>(), actual.as_f64()) {
                    assert!(
                        (n - a).abs() < 1e-12,
                        "{}: schema says {}, spec.rs {a}",
                        f.name,
                        f.default
                    );
                    checked += 1;
                } else if let Some(a) = actual.as_str() {
                    assert_eq!(f.default, a, "{}", f.name);
                    checked += 1;
                }
            }
        }
        assert!(checked >= 15, "only {checked} defaults compared");
        let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/spec.md"))
            .unwrap();
        for table in [
            JOB,
            DATA,
            LORA,
            TRAIN,
            EARLY_STOPPING,
            CHECKPOINT,
            RESOURCES,
        ] {
            for f in table {
                let row = format!("| `{}` | ", f.name);
                assert!(
                    docs.lines()
                        .any(|l| l.starts_with(&row) && l.contains(f.default)),
                    "docs/spec.md lacks a row for `{}` with default `{}`",
                    f.name,
                    f.default
                );
            }
        }
    }

    #[test]
    fn accepts_a_valid_job() {
        assert!(diags("model: ./m\ndata: {train: t.jsonl, eval_split: 0.1}\nmethod: lora\ntrain: {learning_rate: 5e-5, max_grad_norm: null}\nresources: {gpus: [0, 1], shm_size: 1g}\nenvironment: [HF_TOKEN, A=1]\n").is_empty());
    }
}
