//! The user's services as the plugin needs them: profiles (and so whether each is active),
//! `depends_on`, and a provider service's `provider:` options as Compose passes them.

use super::{Provider, Service};
use crate::yaml::{Kind, Node};
use std::collections::BTreeMap;

/// Whether `n` is a valid Compose service name (and so job name).
pub(super) fn valid_service_name(n: &str) -> bool {
    let mut chars = n.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// Every user service, with whether it is active for `profiles`.
pub(super) fn services(model: &Node, profiles: &[String]) -> BTreeMap<String, Service> {
    let mut out = BTreeMap::new();
    for (k, v) in model
        .get("services")
        .and_then(Node::as_map)
        .into_iter()
        .flatten()
    {
        let name = k.key_text();
        let strings = |n: Option<&Node>| -> Vec<String> {
            match n.map(|n| &n.kind) {
                Some(Kind::Seq(items)) => items
                    .iter()
                    .filter_map(|i| i.as_str().map(str::to_string))
                    .collect(),
                Some(Kind::Map(entries)) => entries.iter().map(|(k, _)| k.key_text()).collect(),
                _ => Vec::new(),
            }
        };
        let own_profiles = strings(v.get("profiles"));
        let active = own_profiles.is_empty()
            || profiles
                .iter()
                .any(|p| p == "*" || own_profiles.contains(p));
        let provider = v.get("provider").map(|p| Provider {
            kind: p
                .get("type")
                .and_then(Node::as_str)
                .unwrap_or_default()
                .to_string(),
            options: p
                .get("options")
                .and_then(Node::as_map)
                .into_iter()
                .flatten()
                .map(|(k, v)| {
                    let vals = match &v.kind {
                        Kind::Seq(items) => items
                            .iter()
                            .filter_map(|i| i.as_str().map(str::to_string))
                            .collect(),
                        _ => v.as_str().map(|s| vec![s.to_string()]).unwrap_or_default(),
                    };
                    (k.key_text(), vals)
                })
                .collect(),
        });
        out.insert(
            name.clone(),
            Service {
                name,
                profiles: own_profiles,
                depends_on: strings(v.get("depends_on")),
                active,
                position: k.pos.clone(),
                provider,
                has_job: v.get("x-finetune").is_some(),
            },
        );
    }
    out
}
