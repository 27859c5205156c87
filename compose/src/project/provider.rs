//! The provider form's options: flat keys (`epochs`, `lora_r`, or dotted paths such as
//! `train.batch_size`), named by [`finetune_spec::options`], nested into a job node that is read
//! like any other job.

use super::jobs::{self, Context};
use crate::de::join;
use crate::diagnostic::{suggest, Diagnostic, Position};
use crate::yaml::{Kind, Node, Scalar};
use finetune_spec::options::{nest, OPTIONS};
use finetune_spec::JobSpec;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Turn a provider's `options:` node (flat keys; a list value is a repeated option) into a job
/// node, reporting unknown keys.
pub(super) fn options_to_node(opts: &Node, path: &str, diags: &mut Vec<Diagnostic>) -> Node {
    let Some(entries) = opts.as_map() else {
        diags.push(Diagnostic::error(
            &opts.pos,
            path,
            format!("expected a mapping of options, found {}", opts.type_name()),
        ));
        return Node::empty_map(opts.pos.clone());
    };
    let (job, unknown) = nest(opts, entries);
    for i in unknown {
        let Some((k, _)) = entries.get(i) else {
            continue;
        };
        let key = k.key_text();
        let d = Diagnostic::error(
            &k.pos,
            join(path, &key),
            format!("unknown provider option `{key}`"),
        );
        diags.push(match suggest(&key, OPTIONS.iter().map(|o| o.name)) {
            Some(m) => d.with_hint(format!("did you mean `{m}`?")),
            None => d.with_hint("options are the flat keys listed in docs/spec.md, or dotted paths like `train.epochs`"),
        });
    }
    job
}

/// Build a job from provider options as Compose passes them to the provider
/// (`--key=value`, a list option repeated): `model`, `train` (the training file), `eval`,
/// `output`, `epochs`, `gpus`... (see [`finetune_spec::options::OPTIONS`]) or dotted paths
/// (`train.batch_size`). Values are typed like YAML plain scalars; paths resolve against
/// `project_dir`.
pub fn job_from_provider_options(
    name: &str,
    options: &BTreeMap<String, Vec<String>>,
    project_dir: &Path,
) -> Result<JobSpec, Vec<Diagnostic>> {
    let pos = Position::none("<provider options>");
    let scalar = |s: &str| {
        Node::new(
            Kind::Scalar(Scalar {
                text: s.to_string(),
                plain: true,
            }),
            pos.clone(),
        )
    };
    let entries = options
        .iter()
        .map(|(k, vals)| {
            let v = match vals.as_slice() {
                [one] => scalar(one),
                many => Node::new(
                    Kind::Seq(many.iter().map(|s| scalar(s)).collect()),
                    pos.clone(),
                ),
            };
            (Node::string(k.clone(), pos.clone()), v)
        })
        .collect();
    let opts = Node::new(Kind::Map(entries), pos.clone());
    let mut diags = Vec::new();
    let node = options_to_node(&opts, "options", &mut diags);
    let services = BTreeMap::new();
    let names: BTreeSet<String> = node
        .get("depends_on")
        .and_then(Node::as_seq)
        .into_iter()
        .flatten()
        .filter_map(|n| n.as_str().map(str::to_string))
        .collect();
    let ctx = Context {
        dir: project_dir,
        services: &services,
        job_names: &names,
    };
    let declared = jobs::provider_declared(name, pos, "options");
    match jobs::job_from_node(&declared, &node, &ctx, &mut diags) {
        Some(j) if diags.iter().all(|d| !d.is_error()) => Ok(j.spec),
        _ => Err(diags),
    }
}
