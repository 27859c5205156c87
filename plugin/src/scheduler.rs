//! The local job queue: which jobs may start now, and on which GPUs.
//!
//! Compose's `count: N` always means GPUs `0..N-1`, so two jobs asking for one GPU each would
//! both land on GPU 0. The plugin therefore allocates explicit device ids itself: every running
//! job holds a disjoint set. Jobs that do not fit wait; the queue is ordered by `priority`
//! (higher first) and, within a priority, by submission order (FIFO).
//!
//! Head-of-line rule: once a GPU job at the head cannot get its GPUs, no later GPU job may take
//! GPUs ahead of it (otherwise a stream of small jobs could starve a big one), but jobs that need
//! no GPU may still start. CPU-only jobs run concurrently as long as the CPUs and memory they
//! declare fit in the host's `NCPU` and `MemTotal` together; a job that declares no CPU limit
//! counts as one CPU, one with no memory limit counts as none.
//!
//! This module is pure: the inventory comes from `docker info` (or `FINETUNE_GPUS`) elsewhere,
//! so the policy is unit-tested with fake inventories.

use std::collections::{BTreeMap, BTreeSet};

/// What the host offers.
#[derive(Debug, Clone, PartialEq)]
pub struct Inventory {
    /// GPU device ids (`"0"`, `"1"`, … or UUIDs), in allocation order.
    pub gpus: Vec<String>,
    /// Host CPUs (`docker info` `NCPU`).
    pub cpus: f64,
    /// Host memory in bytes (`docker info` `MemTotal`).
    pub memory: u64,
}

/// The GPUs a job asks for, after `auto` has been resolved against the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GpuNeed {
    None,
    Count(u32),
    All,
    Ids(Vec<String>),
}

/// One job waiting to run.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub name: String,
    pub priority: i32,
    pub gpus: GpuNeed,
    pub cpus: Option<f64>,
    pub memory: Option<u64>,
}

impl Request {
    fn cpu_cost(&self) -> f64 {
        self.cpus.unwrap_or(1.0)
    }
    fn mem_cost(&self) -> u64 {
        self.memory.unwrap_or(0)
    }
}

/// What a started job holds.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Allocation {
    /// Device ids to render as `device_ids`; empty for a CPU job.
    pub gpus: Vec<String>,
}

/// Why a job can never run on this host.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Unschedulable {
    #[error("job `{job}` asks for {want} GPUs but the host has {have}")]
    TooManyGpus { job: String, want: u32, have: usize },
    #[error("job `{job}` asks for GPU `{id}`, which the host does not have (host GPUs: {have})")]
    UnknownGpu {
        job: String,
        id: String,
        have: String,
    },
    #[error("job `{job}` asks for {want} CPUs but the host has {have}")]
    TooManyCpus { job: String, want: f64, have: f64 },
    #[error("job `{job}` asks for {want} bytes of memory but the host has {have}")]
    TooMuchMemory { job: String, want: u64, have: u64 },
    #[error("job `{job}` is queued twice")]
    Duplicate { job: String },
}

/// The queue and the resources in use.
#[derive(Debug, Clone)]
pub struct Scheduler {
    inventory: Inventory,
    free_gpus: BTreeSet<usize>,
    used_cpus: f64,
    used_memory: u64,
    /// Waiting jobs with their submission sequence number.
    waiting: Vec<(u64, Request)>,
    running: BTreeMap<String, (Request, Vec<usize>)>,
    seq: u64,
}

impl Scheduler {
    pub fn new(inventory: Inventory) -> Scheduler {
        Scheduler {
            free_gpus: (0..inventory.gpus.len()).collect(),
            inventory,
            used_cpus: 0.0,
            used_memory: 0,
            waiting: Vec::new(),
            running: BTreeMap::new(),
            seq: 0,
        }
    }

    /// Queue a job. Fails at once if the job could never fit on this host, so `up` reports it
    /// before starting anything instead of waiting forever.
    pub fn submit(&mut self, req: Request) -> Result<(), Unschedulable> {
        let inv = &self.inventory;
        if self.running.contains_key(&req.name)
            || self.waiting.iter().any(|(_, r)| r.name == req.name)
        {
            return Err(Unschedulable::Duplicate { job: req.name });
        }
        match &req.gpus {
            GpuNeed::Count(n) if *n as usize > inv.gpus.len() => {
                return Err(Unschedulable::TooManyGpus {
                    job: req.name.clone(),
                    want: *n,
                    have: inv.gpus.len(),
                })
            }
            GpuNeed::All if inv.gpus.is_empty() => {
                return Err(Unschedulable::TooManyGpus {
                    job: req.name.clone(),
                    want: 1,
                    have: 0,
                })
            }
            GpuNeed::Ids(ids) => {
                if let Some(id) = ids.iter().find(|id| !inv.gpus.contains(id)) {
                    return Err(Unschedulable::UnknownGpu {
                        job: req.name.clone(),
                        id: id.clone(),
                        have: if inv.gpus.is_empty() {
                            "none".into()
                        } else {
                            inv.gpus.join(", ")
                        },
                    });
                }
            }
            _ => {}
        }
        if req.cpu_cost() > inv.cpus && inv.cpus > 0.0 {
            return Err(Unschedulable::TooManyCpus {
                job: req.name.clone(),
                want: req.cpu_cost(),
                have: inv.cpus,
            });
        }
        if req.mem_cost() > inv.memory && inv.memory > 0 {
            return Err(Unschedulable::TooMuchMemory {
                job: req.name.clone(),
                want: req.mem_cost(),
                have: inv.memory,
            });
        }
        self.seq += 1;
        self.waiting.push((self.seq, req));
        Ok(())
    }

    /// Start every waiting job that fits now, in queue order, and return them with their GPUs.
    pub fn start_ready(&mut self) -> Vec<(String, Allocation)> {
        // Priority first (higher first), then submission order.
        self.waiting
            .sort_by(|(sa, a), (sb, b)| b.priority.cmp(&a.priority).then(sa.cmp(sb)));
        let mut started = Vec::new();
        let mut gpu_blocked = false;
        let mut i = 0;
        while i < self.waiting.len() {
            let req = &self.waiting[i].1;
            let wants_gpu = req.gpus != GpuNeed::None;
            if wants_gpu && gpu_blocked {
                i += 1;
                continue;
            }
            let idle = self.running.is_empty();
            // An idle host always takes the head job: its size was checked against the host
            // at submit time, and rounding must not leave it waiting forever.
            let cpu_ok = idle || self.used_cpus + req.cpu_cost() <= self.inventory.cpus + 1e-9;
            let mem_ok = idle
                || self.inventory.memory == 0
                || self.used_memory + req.mem_cost() <= self.inventory.memory;
            let gpus = self.pick_gpus(&req.gpus);
            match (cpu_ok && mem_ok, gpus) {
                (true, Some(gpus)) => {
                    let (_, req) = self.waiting.remove(i);
                    for g in &gpus {
                        self.free_gpus.remove(g);
                    }
                    self.used_cpus += req.cpu_cost();
                    self.used_memory += req.mem_cost();
                    let alloc = Allocation {
                        gpus: gpus
                            .iter()
                            .map(|g| self.inventory.gpus[*g].clone())
                            .collect(),
                    };
                    started.push((req.name.clone(), alloc));
                    self.running.insert(req.name.clone(), (req, gpus));
                }
                (_, gpus) => {
                    if wants_gpu && gpus.is_none() {
                        gpu_blocked = true;
                    }
                    i += 1;
                }
            }
        }
        started
    }

    /// Release a finished job's resources.
    pub fn finish(&mut self, name: &str) {
        if let Some((req, gpus)) = self.running.remove(name) {
            self.free_gpus.extend(gpus);
            self.used_cpus = (self.used_cpus - req.cpu_cost()).max(0.0);
            self.used_memory = self.used_memory.saturating_sub(req.mem_cost());
        }
    }

    /// Names of jobs still waiting, in queue order.
    pub fn waiting(&self) -> Vec<&str> {
        let mut w: Vec<_> = self.waiting.iter().collect();
        w.sort_by(|(sa, a), (sb, b)| b.priority.cmp(&a.priority).then(sa.cmp(sb)));
        w.into_iter().map(|(_, r)| r.name.as_str()).collect()
    }

    /// Whether nothing is running and nothing waits.
    pub fn is_idle(&self) -> bool {
        self.running.is_empty() && self.waiting.is_empty()
    }

    /// The GPU indices that would satisfy `need` now, lowest first, or `None` if it must wait.
    fn pick_gpus(&self, need: &GpuNeed) -> Option<Vec<usize>> {
        match need {
            GpuNeed::None => Some(Vec::new()),
            GpuNeed::Count(n) => {
                let n = *n as usize;
                (self.free_gpus.len() >= n)
                    .then(|| self.free_gpus.iter().take(n).copied().collect())
            }
            GpuNeed::All => (self.free_gpus.len() == self.inventory.gpus.len()
                && !self.free_gpus.is_empty())
            .then(|| self.free_gpus.iter().copied().collect()),
            GpuNeed::Ids(ids) => {
                let idx: Option<Vec<usize>> = ids
                    .iter()
                    .map(|id| self.inventory.gpus.iter().position(|g| g == id))
                    .collect();
                idx.filter(|idx| idx.iter().all(|i| self.free_gpus.contains(i)))
            }
        }
    }
}

/// Parse `FINETUNE_GPUS` (`0,1,2,3`, or empty for none) into device ids.
pub fn parse_gpu_override(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

#[cfg(test)]
mod tests;
