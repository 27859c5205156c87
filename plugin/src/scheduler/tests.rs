//! The queue's policy on fake inventories: disjoint ids, priorities, head of line, CPU and
//! memory sharing, impossible requests.

use super::*;

fn host(gpus: usize) -> Inventory {
    Inventory {
        gpus: (0..gpus).map(|i| i.to_string()).collect(),
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
    assert_eq!(parse_gpu_override("0, 1,2"), ["0", "1", "2"]);
    assert!(parse_gpu_override("").is_empty());
}
