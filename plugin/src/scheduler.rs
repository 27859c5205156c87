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
//! Shared GPUs (`gpus: {device_ids: [...], shared: true}`): shared jobs may run together on a
//! device while the GPU memory they declare (`resources.gpu_memory`) fits in the device's memory
//! from the inventory; a device whose memory is unknown takes one shared job at a time. A device
//! is either free, held by one exclusive job, or held by shared jobs: shared and exclusive jobs
//! never run on the same device.
//!
//! This module is pure: the inventory comes from `docker info` (or `FINETUNE_GPUS`) elsewhere,
//! so the policy is unit-tested with fake inventories.

use std::collections::BTreeMap;

/// One GPU of the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// The device id (`"0"`, `"1"`, … or a UUID).
    pub id: String,
    /// Total device memory in bytes, when known (`nvidia-smi`, `FINETUNE_GPUS=0:80g`).
    pub memory: Option<u64>,
}

impl Device {
    /// A device of unknown memory.
    pub fn id(id: impl Into<String>) -> Device {
        Device {
            id: id.into(),
            memory: None,
        }
    }
}

/// What the host offers.
#[derive(Debug, Clone, PartialEq)]
pub struct Inventory {
    /// GPUs, in allocation order.
    pub gpus: Vec<Device>,
    /// Host CPUs (`docker info` `NCPU`).
    pub cpus: f64,
    /// Host memory in bytes (`docker info` `MemTotal`).
    pub memory: u64,
}

impl Inventory {
    /// The GPU ids, in allocation order.
    pub fn gpu_ids(&self) -> Vec<String> {
        self.gpus.iter().map(|d| d.id.clone()).collect()
    }
}

/// The GPUs a job asks for, after `auto` has been resolved against the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GpuNeed {
    None,
    Count(u32),
    All,
    Ids(Vec<String>),
    /// Devices shared with other shared jobs; `memory` is what the job declares it uses on each
    /// (`None`: undeclared, counted as the whole device).
    Shared {
        ids: Vec<String>,
        memory: Option<u64>,
    },
}

/// What one device is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Free,
    Exclusive,
    /// `jobs` shared jobs declaring `memory` bytes together.
    Shared {
        jobs: u32,
        memory: u64,
    },
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
    #[error("job `{job}` declares {want} bytes of GPU memory but GPU `{id}` has {have}")]
    TooMuchGpuMemory {
        job: String,
        id: String,
        want: u64,
        have: u64,
    },
    #[error("job `{job}` is queued twice")]
    Duplicate { job: String },
}

/// The queue and the resources in use.
#[derive(Debug, Clone)]
pub struct Scheduler {
    inventory: Inventory,
    /// Per device of the inventory, in its order.
    slots: Vec<Slot>,
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
            slots: vec![Slot::Free; inventory.gpus.len()],
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
            GpuNeed::Ids(ids) | GpuNeed::Shared { ids, .. } => {
                for id in ids {
                    let Some(dev) = inv.gpus.iter().find(|d| d.id == *id) else {
                        return Err(Unschedulable::UnknownGpu {
                            job: req.name.clone(),
                            id: id.clone(),
                            have: if inv.gpus.is_empty() {
                                "none".into()
                            } else {
                                inv.gpu_ids().join(", ")
                            },
                        });
                    };
                    if let (
                        GpuNeed::Shared {
                            memory: Some(want), ..
                        },
                        Some(have),
                    ) = (&req.gpus, dev.memory)
                    {
                        if *want > have {
                            return Err(Unschedulable::TooMuchGpuMemory {
                                job: req.name.clone(),
                                id: id.clone(),
                                want: *want,
                                have,
                            });
                        }
                    }
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
                    for &g in &gpus {
                        self.slots[g] = match (&req.gpus, self.slots[g]) {
                            (
                                GpuNeed::Shared { memory, .. },
                                Slot::Shared { jobs, memory: used },
                            ) => Slot::Shared {
                                jobs: jobs + 1,
                                memory: used.saturating_add(shared_cost(*memory)),
                            },
                            (GpuNeed::Shared { memory, .. }, _) => Slot::Shared {
                                jobs: 1,
                                memory: shared_cost(*memory),
                            },
                            _ => Slot::Exclusive,
                        };
                    }
                    self.used_cpus += req.cpu_cost();
                    self.used_memory += req.mem_cost();
                    let alloc = Allocation {
                        gpus: gpus
                            .iter()
                            .map(|g| self.inventory.gpus[*g].id.clone())
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
            for g in gpus {
                self.slots[g] = match (self.slots[g], &req.gpus) {
                    (Slot::Shared { jobs, memory }, GpuNeed::Shared { memory: m, .. })
                        if jobs > 1 =>
                    {
                        Slot::Shared {
                            jobs: jobs - 1,
                            memory: memory.saturating_sub(shared_cost(*m)),
                        }
                    }
                    _ => Slot::Free,
                };
            }
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
        let free: Vec<usize> = (0..self.slots.len())
            .filter(|&i| self.slots[i] == Slot::Free)
            .collect();
        let indices = |ids: &[String]| -> Option<Vec<usize>> {
            ids.iter()
                .map(|id| self.inventory.gpus.iter().position(|g| g.id == *id))
                .collect()
        };
        match need {
            GpuNeed::None => Some(Vec::new()),
            GpuNeed::Count(n) => {
                let n = *n as usize;
                (free.len() >= n).then(|| free[..n].to_vec())
            }
            GpuNeed::All => (free.len() == self.slots.len() && !free.is_empty()).then_some(free),
            GpuNeed::Ids(ids) => {
                indices(ids).filter(|idx| idx.iter().all(|&i| self.slots[i] == Slot::Free))
            }
            GpuNeed::Shared { ids, memory } => indices(ids).filter(|idx| {
                idx.iter()
                    .all(|&i| self.shared_fits(i, shared_cost(*memory)))
            }),
        }
    }

    /// Whether a shared job declaring `cost` bytes may join device `i` now.
    fn shared_fits(&self, i: usize, cost: u64) -> bool {
        match self.slots[i] {
            Slot::Free => true,
            Slot::Exclusive => false,
            Slot::Shared { memory, .. } => self.inventory.gpus[i]
                .memory
                .and_then(|total| memory.checked_add(cost).map(|sum| sum <= total))
                .unwrap_or(false),
        }
    }
}

/// What a shared job counts against a device: its declared memory, or all of it when undeclared.
fn shared_cost(memory: Option<u64>) -> u64 {
    memory.unwrap_or(u64::MAX)
}

/// Parse `FINETUNE_GPUS`: device ids separated by commas, each optionally with its memory
/// (`0,1`, `0:80g,1:24g`, or empty for none).
pub fn parse_gpu_override(value: &str) -> Result<Vec<Device>, String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|entry| match entry.split_once(':') {
            None => Ok(Device::id(entry)),
            Some((id, size)) => size
                .parse::<finetune_spec::ByteSize>()
                .map(|m| Device {
                    id: id.trim().to_string(),
                    memory: Some(m.0),
                })
                .map_err(|e| format!("GPU `{id}`: {e}")),
        })
        .collect()
}

#[cfg(test)]
mod tests;
