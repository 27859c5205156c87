//! The queue's policy on fake inventories: disjoint ids, priorities, head of line, CPU and
//! memory sharing, shared GPUs (admission by declared memory, release, never beside an exclusive
//! job), impossible requests.

use super::*;
use std::collections::BTreeSet;

fn host(gpus: usize) -> Inventory {
    Inventory {
        gpus: (0..gpus).map(|i| Device::id(i.to_string())).collect(),
        cpus: 8.0,
        memory: 32 << 30,
    }
}

fn job(name: &str, priority: i32, gpus: GpuNeed) -> Request {
    Request {
        name: name.into(),
        priority,
        gpus,
        cpus: Some(1.0),
        memory: None,
    }
}

fn names(v: &[(String, Allocation)]) -> Vec<&str> {
    v.iter().map(|(n, _)| n.as_str()).collect()
}

#[test]
fn concurrent_jobs_get_disjoint_device_ids() {
    let mut s = Scheduler::new(host(4));
    s.submit(job("a", 0, GpuNeed::Count(1))).unwrap();
    s.submit(job("b", 0, GpuNeed::Count(2))).unwrap();
    s.submit(job("c", 0, GpuNeed::Count(1))).unwrap();
    let started = s.start_ready();
    assert_eq!(names(&started), ["a", "b", "c"]);
    let all: Vec<&String> = started.iter().flat_map(|(_, a)| &a.gpus).collect();
    let set: BTreeSet<_> = all.iter().collect();
    assert_eq!(all.len(), 4);
    assert_eq!(set.len(), 4, "device ids overlap: {all:?}");
    assert_eq!(started[0].1.gpus, ["0"]);
    assert_eq!(started[1].1.gpus, ["1", "2"]);
    assert_eq!(started[2].1.gpus, ["3"]);
}

#[test]
fn jobs_that_do_not_fit_wait_and_start_when_gpus_free_up() {
    let mut s = Scheduler::new(host(2));
    s.submit(job("a", 0, GpuNeed::Count(2))).unwrap();
    s.submit(job("b", 0, GpuNeed::Count(1))).unwrap();
    assert_eq!(names(&s.start_ready()), ["a"]);
    assert_eq!(s.waiting(), ["b"]);
    assert!(s.start_ready().is_empty());
    s.finish("a");
    let next = s.start_ready();
    assert_eq!(names(&next), ["b"]);
    assert_eq!(next[0].1.gpus, ["0"]);
    s.finish("b");
    assert!(s.is_idle());
}

#[test]
fn higher_priority_first_then_fifo() {
    let mut s = Scheduler::new(host(1));
    s.submit(job("low", 0, GpuNeed::Count(1))).unwrap();
    s.submit(job("high1", 10, GpuNeed::Count(1))).unwrap();
    s.submit(job("high2", 10, GpuNeed::Count(1))).unwrap();
    s.submit(job("mid", 5, GpuNeed::Count(1))).unwrap();
    let mut order = Vec::new();
    loop {
        let started = s.start_ready();
        if started.is_empty() {
            break;
        }
        for (n, _) in started {
            s.finish(&n);
            order.push(n);
        }
    }
    assert_eq!(order, ["high1", "high2", "mid", "low"]);
}

#[test]
fn a_blocked_gpu_job_is_not_overtaken_by_smaller_gpu_jobs_but_cpu_jobs_run() {
    let mut s = Scheduler::new(host(2));
    s.submit(job("first", 0, GpuNeed::Count(1))).unwrap();
    assert_eq!(names(&s.start_ready()), ["first"]);
    s.submit(job("big", 5, GpuNeed::Count(2))).unwrap();
    s.submit(job("small", 0, GpuNeed::Count(1))).unwrap();
    s.submit(job("cpu", 0, GpuNeed::None)).unwrap();
    assert_eq!(names(&s.start_ready()), ["cpu"]);
    s.finish("first");
    assert_eq!(names(&s.start_ready()), ["big"]);
}

#[test]
fn explicit_ids_and_all() {
    let mut s = Scheduler::new(host(3));
    s.submit(job("ids", 0, GpuNeed::Ids(vec!["2".into()])))
        .unwrap();
    s.submit(job("all", 0, GpuNeed::All)).unwrap();
    s.submit(job("one", 0, GpuNeed::Count(1))).unwrap();
    let started = s.start_ready();
    // `all` needs every GPU, so it blocks `one` behind it (head of line).
    assert_eq!(names(&started), ["ids"]);
    assert_eq!(started[0].1.gpus, ["2"]);
    s.finish("ids");
    let started = s.start_ready();
    assert_eq!(names(&started), ["all"]);
    assert_eq!(started[0].1.gpus, ["0", "1", "2"]);
}

#[test]
fn impossible_requests_are_rejected_at_submit() {
    let mut s = Scheduler::new(host(2));
    assert!(matches!(
        s.submit(job("a", 0, GpuNeed::Count(3))),
        Err(Unschedulable::TooManyGpus {
            want: 3,
            have: 2,
            ..
        })
    ));
    assert!(matches!(
        s.submit(job("b", 0, GpuNeed::Ids(vec!["7".into()]))),
        Err(Unschedulable::UnknownGpu { .. })
    ));
    let mut big = job("c", 0, GpuNeed::None);
    big.cpus = Some(64.0);
    assert!(matches!(
        s.submit(big),
        Err(Unschedulable::TooManyCpus { .. })
    ));
    let mut fat = job("d", 0, GpuNeed::None);
    fat.memory = Some(1 << 40);
    assert!(matches!(
        s.submit(fat),
        Err(Unschedulable::TooMuchMemory { .. })
    ));
    s.submit(job("e", 0, GpuNeed::None)).unwrap();
    assert!(matches!(
        s.submit(job("e", 0, GpuNeed::None)),
        Err(Unschedulable::Duplicate { .. })
    ));
    let mut none = Scheduler::new(host(0));
    assert!(none.submit(job("g", 0, GpuNeed::All)).is_err());
}

#[test]
fn cpu_jobs_share_the_host_within_declared_limits() {
    let mut s = Scheduler::new(Inventory {
        gpus: vec![],
        cpus: 2.0,
        memory: 8 << 30,
    });
    let cpu = |n: &str, c: f64, m: u64| Request {
        name: n.into(),
        priority: 0,
        gpus: GpuNeed::None,
        cpus: Some(c),
        memory: Some(m),
    };
    s.submit(cpu("a", 1.0, 2 << 30)).unwrap();
    s.submit(cpu("b", 1.0, 2 << 30)).unwrap();
    s.submit(cpu("c", 1.0, 2 << 30)).unwrap();
    assert_eq!(names(&s.start_ready()), ["a", "b"]);
    s.finish("a");
    assert_eq!(names(&s.start_ready()), ["c"]);
    // Memory bounds too.
    let mut m = Scheduler::new(Inventory {
        gpus: vec![],
        cpus: 16.0,
        memory: 4 << 30,
    });
    m.submit(cpu("x", 1.0, 3 << 30)).unwrap();
    m.submit(cpu("y", 1.0, 3 << 30)).unwrap();
    assert_eq!(names(&m.start_ready()), ["x"]);
}

#[test]
fn gpu_override_parses() {
    let ids = |v: &str| -> Vec<String> {
        parse_gpu_override(v)
            .unwrap()
            .into_iter()
            .map(|d| d.id)
            .collect()
    };
    assert_eq!(ids("0, 1,2"), ["0", "1", "2"]);
    assert!(ids("").is_empty());
    assert_eq!(
        parse_gpu_override("0:24g, GPU-ab12").unwrap(),
        [
            Device {
                id: "0".into(),
                memory: Some(24 << 30)
            },
            Device::id("GPU-ab12")
        ]
    );
    let e = parse_gpu_override("0:lots").unwrap_err();
    assert!(e.starts_with("GPU `0`: invalid size `lots`"), "{e}");
}

/// A host of `n` GPUs with `gib` GiB each.
fn gpu_host(n: usize, gib: u64) -> Inventory {
    Inventory {
        gpus: (0..n)
            .map(|i| Device {
                id: i.to_string(),
                memory: Some(gib << 30),
            })
            .collect(),
        cpus: 8.0,
        memory: 32 << 30,
    }
}

fn shared(name: &str, ids: &[&str], gib: u64) -> Request {
    job(
        name,
        0,
        GpuNeed::Shared {
            ids: ids.iter().map(|s| s.to_string()).collect(),
            memory: Some(gib << 30),
        },
    )
}

#[test]
fn shared_jobs_co_run_while_their_declared_memory_fits() {
    let mut s = Scheduler::new(gpu_host(1, 24));
    s.submit(shared("a", &["0"], 8)).unwrap();
    s.submit(shared("b", &["0"], 8)).unwrap();
    s.submit(shared("c", &["0"], 10)).unwrap();
    let started = s.start_ready();
    // 8 + 8 fit in 24 GiB; 8 + 8 + 10 do not.
    assert_eq!(names(&started), ["a", "b"]);
    assert!(started.iter().all(|(_, a)| a.gpus == ["0"]));
    assert_eq!(s.waiting(), ["c"]);
    s.finish("a");
    // Released: 8 + 10 fit.
    let next = s.start_ready();
    assert_eq!(names(&next), ["c"]);
    assert_eq!(next[0].1.gpus, ["0"]);
    s.finish("b");
    s.finish("c");
    assert!(s.is_idle());
    // Every share was released: an exclusive job gets the device.
    s.submit(job("x", 0, GpuNeed::All)).unwrap();
    assert_eq!(names(&s.start_ready()), ["x"]);
}

#[test]
fn shared_and_exclusive_jobs_never_share_a_device() {
    let mut s = Scheduler::new(gpu_host(2, 80));
    s.submit(job("excl", 0, GpuNeed::Ids(vec!["0".into()])))
        .unwrap();
    assert_eq!(names(&s.start_ready()), ["excl"]);
    // GPU 0 is held exclusively: a small shared job waits for it.
    s.submit(shared("small", &["0"], 1)).unwrap();
    assert!(s.start_ready().is_empty());
    s.finish("excl");
    assert_eq!(names(&s.start_ready()), ["small"]);
    // Now GPU 0 is shared: an exclusive job for any one GPU takes GPU 1, not 0 ...
    s.submit(job("one", 0, GpuNeed::Count(1))).unwrap();
    let started = s.start_ready();
    assert_eq!(started[0].1.gpus, ["1"]);
    // ... and one naming GPU 0, or wanting every GPU, waits until the shared job is done.
    s.submit(job("pinned", 0, GpuNeed::Ids(vec!["0".into()])))
        .unwrap();
    assert!(s.start_ready().is_empty());
    s.finish("small");
    assert_eq!(names(&s.start_ready()), ["pinned"]);
}

#[test]
fn a_waiting_exclusive_job_is_not_overtaken_by_shared_ones() {
    let mut s = Scheduler::new(gpu_host(1, 80));
    s.submit(shared("s1", &["0"], 4)).unwrap();
    assert_eq!(names(&s.start_ready()), ["s1"]);
    s.submit(job("big", 5, GpuNeed::Count(1))).unwrap();
    s.submit(shared("s2", &["0"], 4)).unwrap();
    s.submit(job("cpu", 0, GpuNeed::None)).unwrap();
    // `s2` would fit beside `s1`, but `big` is ahead of it and waits for GPU 0.
    assert_eq!(names(&s.start_ready()), ["cpu"]);
    s.finish("s1");
    assert_eq!(names(&s.start_ready()), ["big"]);
    s.finish("big");
    assert_eq!(names(&s.start_ready()), ["s2"]);
}

#[test]
fn shared_jobs_on_several_devices_need_room_on_each() {
    let mut s = Scheduler::new(gpu_host(2, 16));
    s.submit(shared("both", &["0", "1"], 8)).unwrap();
    s.submit(shared("one", &["1"], 10)).unwrap();
    s.submit(shared("other", &["0"], 8)).unwrap();
    let started = s.start_ready();
    // `one` does not fit on GPU 1 (8 + 10 > 16); the head-of-line rule then holds `other` too.
    assert_eq!(names(&started), ["both"]);
    assert_eq!(started[0].1.gpus, ["0", "1"]);
    s.finish("both");
    assert_eq!(names(&s.start_ready()), ["one", "other"]);
}

#[test]
fn devices_of_unknown_memory_take_one_shared_job_at_a_time() {
    let mut s = Scheduler::new(host(1));
    s.submit(shared("a", &["0"], 1)).unwrap();
    s.submit(shared("b", &["0"], 1)).unwrap();
    assert_eq!(names(&s.start_ready()), ["a"]);
    s.finish("a");
    assert_eq!(names(&s.start_ready()), ["b"]);
    // Undeclared memory counts as the whole device, even where its size is known.
    let mut k = Scheduler::new(gpu_host(1, 80));
    let undeclared = |n: &str| {
        job(
            n,
            0,
            GpuNeed::Shared {
                ids: vec!["0".into()],
                memory: None,
            },
        )
    };
    k.submit(undeclared("u1")).unwrap();
    k.submit(undeclared("u2")).unwrap();
    assert_eq!(names(&k.start_ready()), ["u1"]);
}

#[test]
fn shared_jobs_larger_than_their_device_are_rejected_at_submit() {
    let mut s = Scheduler::new(gpu_host(1, 16));
    assert_eq!(
        s.submit(shared("huge", &["0"], 24)),
        Err(Unschedulable::TooMuchGpuMemory {
            job: "huge".into(),
            id: "0".into(),
            want: 24 << 30,
            have: 16 << 30,
        })
    );
    assert!(matches!(
        s.submit(shared("lost", &["3"], 1)),
        Err(Unschedulable::UnknownGpu { .. })
    ));
}
