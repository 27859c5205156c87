//! Flat option names and where each goes in the spec: the one table behind the Compose provider's
//! `options:` and the trainer's `train` flags.
//!
//! Compose passes provider options as flat `--key=value` flags (a list is a repeated flag), and
//! the trainer takes flags: both are named here ([`OPTIONS`]), and [`nest`] turns them into a job
//! tree that deserializes into [`JobSpec`](crate::JobSpec) like any other, so a flag has the same
//! default and range as the key it sets (`--lora-r 4` and `method: {lora: {r: 4}}` are one job).
//! A dotted spec path (`train.weight_decay`) is an option too.

use crate::describe;
use crate::tree::{Shape, Tree, TreeBuild};

/// One flat option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Opt {
    /// The provider option, and (in kebab case) the trainer flag: `batch_size`, `--batch-size`.
    pub name: &'static str,
    /// The spec key it sets.
    pub path: &'static str,
    /// Older trainer flag spellings that keep working (`--lr`); not provider options.
    pub flag_aliases: &'static [&'static str],
    /// A repeated option collects a list.
    pub list: bool,
}

impl Opt {
    /// What it does: the doc of the key it sets.
    pub fn help(&self) -> &'static str {
        describe::key(self.path).map_or("", |k| k.doc)
    }

    /// The trainer flag's long name (`batch-size`).
    pub fn flag(&self) -> String {
        self.name.replace('_', "-")
    }
}

const fn o(name: &'static str, path: &'static str) -> Opt {
    Opt {
        name,
        path,
        flag_aliases: &[],
        list: false,
    }
}

const fn list(name: &'static str, path: &'static str) -> Opt {
    Opt {
        list: true,
        ..o(name, path)
    }
}

const fn aka(name: &'static str, path: &'static str, flag_aliases: &'static [&'static str]) -> Opt {
    Opt {
        flag_aliases,
        ..o(name, path)
    }
}

/// Every flat option.
pub const OPTIONS: &[Opt] = &[
    o("model", "model"),
    o("output", "output"),
    o("cache", "cache"),
    o("task", "task"),
    o("network", "network"),
    o("image", "image"),
    o("method", "method"),
    o("priority", "priority"),
    list("depends_on", "depends_on"),
    list("environment", "environment"),
    list("export", "export"),
    o("train", "data.train"),
    o("data", "data.train"),
    o("eval", "data.eval"),
    o("eval_split", "data.eval_split"),
    aka("text", "data.text", &["text-field"]),
    aka("label", "data.label", &["label-field"]),
    o("format", "data.format"),
    list("labels", "data.labels"),
    o("limit", "data.limit"),
    o("shape", "data.shape"),
    o("messages", "data.messages"),
    o("prompt", "data.prompt"),
    o("completion", "data.completion"),
    o("chat_template", "data.chat_template"),
    list("redact", "data.redact"),
    o("redact_mode", "data.redact_mode"),
    o("redact_key", "data.redact_key"),
    o("redact_region", "data.redact_region"),
    o("epochs", "train.epochs"),
    o("max_steps", "train.max_steps"),
    o("batch_size", "train.batch_size"),
    aka("learning_rate", "train.learning_rate", &["lr"]),
    o("weight_decay", "train.weight_decay"),
    o("max_length", "train.max_length"),
    o("seed", "train.seed"),
    o("warmup_ratio", "train.warmup_ratio"),
    o("schedule", "train.schedule"),
    o("grad_accum", "train.grad_accum"),
    o("max_grad_norm", "train.max_grad_norm"),
    o("precision", "train.precision"),
    o("eval_every_steps", "train.eval_every_steps"),
    o("log_every_steps", "train.log_every_steps"),
    o("packing", "train.packing"),
    o("loss_on", "train.loss_on"),
    o("patience", "train.early_stopping.patience"),
    aka(
        "checkpoint_every_steps",
        "checkpoint.every_steps",
        &["checkpoint-every"],
    ),
    aka("checkpoint_keep", "checkpoint.keep", &["keep-checkpoints"]),
    o("gpus", "resources.gpus"),
    o("cpus", "resources.cpus"),
    o("memory", "resources.memory"),
    o("shm_size", "resources.shm_size"),
    o("lora_r", "method.lora.r"),
    o("lora_alpha", "method.lora.alpha"),
    o("lora_dropout", "method.lora.dropout"),
    list("lora_targets", "method.lora.targets"),
];

/// The option of that name.
pub fn find(name: &str) -> Option<&'static Opt> {
    OPTIONS.iter().find(|o| o.name == name)
}

/// The spec key an option sets: a named option's, or a dotted path as written.
pub fn target(name: &str) -> Option<&str> {
    match find(name) {
        Some(o) => Some(o.path),
        None => name.contains('.').then_some(name),
    }
}

/// Whether the key at `path` takes a list.
fn is_list(path: &str) -> bool {
    OPTIONS.iter().any(|o| o.list && o.path == path)
}

/// Nest flat options (`(key, value)` nodes, in order; a list value is a repeated option) into
/// a job mapping positioned like `at`. Returns the job and the indices of unknown options.
///
/// A repeated option that is not a list keeps its last value, except `gpus`, where several
/// values are device ids. `method: lora` does not undo the LoRA settings of `lora_r` & co.
pub fn nest<T: TreeBuild>(at: &T, options: &[(T, T)]) -> (T, Vec<usize>) {
    let mut job = T::new_map(Vec::new(), at);
    let mut unknown = Vec::new();
    for (i, (k, v)) in options.iter().enumerate() {
        let key = k.key_text();
        let Some(path) = target(&key) else {
            unknown.push(i);
            continue;
        };
        let many = matches!(v.shape(), Shape::Seq(items) if items.len() > 1);
        let list = is_list(path) || (path == "resources.gpus" && many);
        let value = match (v.shape(), list) {
            (Shape::Seq(_), true) => v.clone(),
            (_, true) => T::new_seq(vec![v.clone()], v),
            (Shape::Seq(items), false) => items.last().cloned().unwrap_or_else(|| v.clone()),
            (_, false) => v.clone(),
        };
        let plain_lora = matches!(value.shape(), Shape::Scalar { text: "lora", .. });
        if path == "method" && plain_lora && get(&job, "method").is_some() {
            continue;
        }
        insert(&mut job, path, value);
    }
    (job, unknown)
}

fn get<'a, T: Tree>(node: &'a T, key: &str) -> Option<&'a T> {
    match node.shape() {
        Shape::Map(entries) => entries
            .iter()
            .rev()
            .find(|(k, _)| k.key_text() == key)
            .map(|(_, v)| v),
        _ => None,
    }
}

/// Set `path` (dotted) under `node` to `value`, creating mappings on the way.
fn insert<T: TreeBuild>(node: &mut T, path: &str, value: T) {
    let (head, rest) = match path.split_once('.') {
        Some((h, r)) => (h, Some(r)),
        None => (path, None),
    };
    let Some(entries) = node.entries_mut() else {
        return;
    };
    let idx = match entries.iter().position(|(k, _)| k.key_text() == head) {
        Some(i) => i,
        None => {
            entries.push((T::new_string(head, &value), T::new_map(Vec::new(), &value)));
            entries.len() - 1
        }
    };
    let Some((_, slot)) = entries.get_mut(idx) else {
        return;
    };
    match rest {
        None => *slot = value,
        Some(r) => {
            if !matches!(slot.shape(), Shape::Map(_)) {
                *slot = T::new_map(Vec::new(), &value);
            }
            insert(slot, r, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::Flat;
    use crate::JobSpec;

    fn s(t: &str) -> Flat {
        Flat::Scalar(t.into())
    }

    fn job(opts: &[(&str, &[&str])]) -> Result<JobSpec, String> {
        let entries: Vec<(Flat, Flat)> = opts
            .iter()
            .map(|(k, vs)| {
                let v = match vs {
                    [one] => s(one),
                    many => Flat::Seq(many.iter().map(|x| s(x)).collect()),
                };
                (s(k), v)
            })
            .collect();
        let (mut tree, unknown) = nest(&Flat::Map(vec![]), &entries);
        assert!(unknown.is_empty(), "{unknown:?}");
        insert(&mut tree, "name", s("j"));
        crate::de::from_tree(&tree).map_err(|e| e.describe(&tree))
    }

    #[test]
    fn every_option_sets_a_documented_key() {
        for o in OPTIONS {
            assert!(describe::key(o.path).is_some(), "{} -> {}", o.name, o.path);
            assert!(!o.help().is_empty());
        }
    }

    #[test]
    fn flat_lora_rank_has_the_spec_default_alpha() {
        let base: &[(&str, &[&str])] =
            &[("model", &["/m"]), ("train", &["/t"]), ("output", &["/o"])];
        let mut with = base.to_vec();
        with.push(("lora_r", &["4"]));
        let j = job(&with).unwrap();
        let crate::Method::Lora(l) = &j.method else {
            panic!("{:?}", j.method)
        };
        assert_eq!((l.r.get(), l.alpha.get()), (4, 16.0));
        with.push(("method", &["lora"]));
        with.push(("gpus", &["0", "1"]));
        with.push(("labels", &["a"]));
        let j = job(&with).unwrap();
        assert!(matches!(&j.method, crate::Method::Lora(l) if l.r.get() == 4));
        assert_eq!(
            j.resources.gpus,
            crate::Gpus::Ids(vec!["0".into(), "1".into()])
        );
        assert_eq!(j.data.labels, Some(vec!["a".to_string()]));
        with.push(("batch_size", &["0"]));
        assert_eq!(
            job(&with).unwrap_err(),
            "train.batch_size: must be at least 1, found 0"
        );
    }
}
