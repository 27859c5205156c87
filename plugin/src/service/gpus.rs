//! The GPU device ids `config` renders, so that the override run with plain `docker compose up`
//! does not put every GPU job on GPUs `0..N-1` (what a bare `count: N` means).
//!
//! By default every GPU job gets disjoint `device_ids` in queue order (higher `priority` first,
//! then file order): from the GPU inventory when there is one (the queue's own allocation, wave
//! after wave, so a job that `up` would start later gets the GPUs it would get then), else GPUs
//! `0, 1, ...` assumed. Explicit ids are kept as written, and assumed ids skip them. `count` stays
//! when only one job asks for GPUs and there is no inventory, and when the user asks for it
//! (`config --gpu-count`). `all` (and `auto` on a GPU host) cannot be given ids without an
//! inventory and stays `count: all`. Shared GPUs keep their ids: every job sharing a device
//! renders the same `device_ids`.

use super::jobs;
use crate::scheduler::{Device, GpuNeed, Inventory, Scheduler};
use finetune_compose::Project;
use std::collections::{BTreeMap, BTreeSet};

/// Where the device ids came from; `None` of these when none were assigned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The host's GPUs (`FINETUNE_GPUS`, or the engine's `nvidia-smi`).
    Inventory(Vec<String>),
    /// No inventory: ids `0..n-1` assumed.
    Assumed(usize),
}

/// Device ids per job, and where they came from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DevicePlan {
    pub allocations: BTreeMap<String, Vec<String>>,
    pub source: Option<Source>,
}

impl DevicePlan {
    /// The YAML comment that says where the ids came from, or nothing when none were assigned.
    pub fn comment(&self) -> Option<String> {
        match self.source.as_ref()? {
            Source::Inventory(ids) => Some(format!(
                "# device ids from the engine's GPU inventory ({}), disjoint in queue order\n",
                ids.join(",")
            )),
            Source::Assumed(n) => Some(format!(
                "# no GPU inventory: device ids assumed 0..{}, disjoint in queue order\n",
                n.saturating_sub(1)
            )),
        }
    }
}

/// The GPU requests of `names` in queue order (priority, then the order given); CPU jobs are
/// left out.
fn queue(project: &Project, names: &[String], gpu_runtime: bool) -> Vec<(String, GpuNeed)> {
    let mut q: Vec<(i32, String, GpuNeed)> = names
        .iter()
        .filter_map(|n| project.job(n))
        .map(|j| {
            let need = jobs::gpu_need(&j.spec, gpu_runtime);
            (j.spec.priority, j.spec.name.clone(), need)
        })
        .filter(|(_, _, need)| *need != GpuNeed::None)
        .collect();
    // Stable: file order within a priority.
    q.sort_by_key(|(p, _, _)| std::cmp::Reverse(*p));
    q.into_iter().map(|(_, n, need)| (n, need)).collect()
}

/// The device ids for `config`. `inventory` is the host's GPUs, empty when unknown;
/// `keep_count` renders requests as written.
pub fn plan(
    project: &Project,
    names: &[String],
    gpu_runtime: bool,
    inventory: &[Device],
    keep_count: bool,
) -> DevicePlan {
    let q = queue(project, names, gpu_runtime);
    if keep_count || q.is_empty() {
        return DevicePlan::default();
    }
    if !inventory.is_empty() {
        return from_inventory(project, names, gpu_runtime, inventory);
    }
    if q.len() == 1 {
        return DevicePlan::default();
    }
    assumed(&q)
}

/// Every wave of the queue on the inventory: each job gets the ids it would start with.
fn from_inventory(
    project: &Project,
    names: &[String],
    gpu_runtime: bool,
    inventory: &[Device],
) -> DevicePlan {
    let mut sched = Scheduler::new(Inventory {
        gpus: inventory.to_vec(),
        cpus: f64::MAX,
        memory: 0,
    });
    for j in names.iter().filter_map(|n| project.job(n)) {
        // A job that can never fit keeps its request as written; `up` reports it.
        let _ = sched.submit(jobs::request(&j.spec, gpu_runtime));
    }
    let mut allocations = BTreeMap::new();
    loop {
        let started = sched.start_ready();
        if started.is_empty() {
            break;
        }
        for (name, alloc) in started {
            sched.finish(&name);
            if !alloc.gpus.is_empty() {
                allocations.insert(name, alloc.gpus);
            }
        }
    }
    let source = (!allocations.is_empty())
        .then(|| Source::Inventory(inventory.iter().map(|d| d.id.clone()).collect()));
    DevicePlan {
        allocations,
        source,
    }
}

/// Ids `0, 1, ...` handed out in queue order, skipping the ones jobs name explicitly.
fn assumed(q: &[(String, GpuNeed)]) -> DevicePlan {
    let taken: BTreeSet<String> = q
        .iter()
        .filter_map(|(_, need)| match need {
            GpuNeed::Ids(ids) | GpuNeed::Shared { ids, .. } => Some(ids.clone()),
            _ => None,
        })
        .flatten()
        .collect();
    let mut free = (0usize..)
        .map(|i| i.to_string())
        .filter(|id| !taken.contains(id));
    let mut allocations = BTreeMap::new();
    let mut highest = None;
    for (name, need) in q {
        if let GpuNeed::Count(n) = need {
            let ids: Vec<String> = free.by_ref().take(*n as usize).collect();
            highest = ids.last().and_then(|i| i.parse::<usize>().ok()).or(highest);
            allocations.insert(name.clone(), ids);
        }
    }
    let source = highest.map(|h| Source::Assumed(h + 1));
    DevicePlan {
        allocations,
        source,
    }
}

/// How many GPUs the jobs `names` ask for together, counting explicit ids by the highest one:
/// the size of the inventory to assume when there is none.
pub fn assumed_count(project: &Project, names: &[String], gpu_runtime: bool) -> usize {
    let q = queue(project, names, gpu_runtime);
    let counted: usize = q
        .iter()
        .map(|(_, need)| match need {
            GpuNeed::Count(n) => *n as usize,
            _ => 0,
        })
        .sum();
    let explicit: BTreeSet<&String> = q
        .iter()
        .filter_map(|(_, need)| match need {
            GpuNeed::Ids(ids) | GpuNeed::Shared { ids, .. } => Some(ids),
            _ => None,
        })
        .flatten()
        .collect();
    let highest = explicit
        .iter()
        .filter_map(|i| i.parse::<usize>().ok())
        .max()
        .map_or(0, |m| m + 1);
    (counted + explicit.len())
        .max(highest)
        .max(usize::from(!q.is_empty()))
}

#[cfg(test)]
mod tests;
