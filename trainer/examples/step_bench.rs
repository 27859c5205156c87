//! Fine-tuning step benchmark of the trainer's model on the CPU backend: the Rust half of
//! `bench/train.sh`, the same step as `bench/torch_step.py` (BERT classifier, random full-length
//! token ids, cross-entropy, backward, global-norm clipping to 1.0, AdamW with weight decay 0.01).
//! It uses the trainer's own pieces (`load_classifier`, `optim::AdamW`, `global_grad_norm`,
//! `clip_factor`, `eval::cross_entropy`) so that it measures what `finetune-trainer train` runs.
//!
//! ```text
//! cargo run --release --example step_bench -p finetune-trainer -- \
//!     --model .fixtures/minilm --threads 2 --batch-size 16 --seq 128 --steps 5 --warmup 1
//! ```
//!
//! Prints one JSON object, the shape `torch_step.py` prints.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use burn::optim::GradientsParams;
use burn::tensor::{Int, Tensor, TensorData};
use finetune_spec::Method;
use finetune_trainer::backend::{self, Cpu, Train};
use finetune_trainer::model::{self, init::SeededRng};
use finetune_trainer::training::{eval, optim};

type B = Train<Cpu>;

struct Args {
    model: PathBuf,
    threads: usize,
    batch_size: usize,
    seq: usize,
    steps: usize,
    warmup: usize,
    num_labels: usize,
    lr: f64,
}

fn parse_args() -> Result<Args> {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let fixtures = std::env::var_os("FINETUNE_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo.join(".fixtures"));
    let mut a = Args {
        model: fixtures.join("minilm"),
        threads: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        batch_size: 16,
        seq: 128,
        steps: 10,
        warmup: 2,
        num_labels: 2,
        lr: 5e-5,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--model" => a.model = PathBuf::from(value()?),
            "--threads" => a.threads = value()?.parse()?,
            "--batch-size" => a.batch_size = value()?.parse()?,
            "--seq" => a.seq = value()?.parse()?,
            "--steps" => a.steps = value()?.parse()?,
            "--warmup" => a.warmup = value()?.parse()?,
            "--num-labels" => a.num_labels = value()?.parse()?,
            "--lr" => a.lr = value()?.parse()?,
            "-h" | "--help" => {
                println!(
                    "step_bench [--model DIR] [--threads N] [--batch-size N] [--seq N] \
                     [--steps N] [--warmup N] [--num-labels N] [--lr F]"
                );
                std::process::exit(0);
            }
            other => bail!("unknown flag {other} (see --help)"),
        }
    }
    if a.steps == 0 || a.batch_size == 0 || a.seq < 2 {
        bail!("--steps, --batch-size must be > 0 and --seq >= 2");
    }
    Ok(a)
}

fn main() -> Result<()> {
    let args = parse_args()?;
    // The trainer's binary sizes rayon's global pool (flex's kernels run on it) the same way.
    rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads.max(1))
        .build_global()
        .context("rayon pool")?;
    let device = Default::default();
    let labels: Vec<String> = (0..args.num_labels).map(|i| format!("l{i}")).collect();

    let t_load = Instant::now();
    let loaded = model::load_classifier::<B>(&args.model, &labels, &Method::Full, 42, &device)
        .with_context(|| format!("loading {}", args.model.display()))?;
    let load_s = t_load.elapsed().as_secs_f64();
    let vocab = loaded.config.vocab_size;
    let mut net = loaded.model;
    let mut opt = optim::AdamW::<Cpu>::new(0.01);
    let mut rng = SeededRng::new(0, 0);

    // Random ids in [1000, vocab), [CLS] ... [SEP], every row full length: no padding.
    let batch = |rng: &mut SeededRng| {
        let (b, s) = (args.batch_size, args.seq);
        let mut ids = Vec::with_capacity(b * s);
        for _ in 0..b {
            for j in 0..s {
                let id = match j {
                    0 => 101,
                    j if j == s - 1 => 102,
                    _ => 1000 + (rng.next_u64() % (vocab as u64 - 1000)) as i64,
                };
                ids.push(id);
            }
        }
        let gold: Vec<usize> = (0..b)
            .map(|_| (rng.next_u64() % args.num_labels as u64) as usize)
            .collect();
        let ids = Tensor::<B, 2, Int>::from_data(TensorData::new(ids, [b, s]), &device);
        let mask = Tensor::<B, 2, Int>::ones([b, s], &device);
        let tt = Tensor::<B, 2, Int>::zeros([b, s], &device);
        (ids, mask, tt, gold)
    };

    // Per-phase wall times (ms) of the last step: forward+loss, backward, clip, AdamW. Reading
    // the loss back after the forward makes the phases separate on any backend.
    let mut step = |net: &mut model::BertClassifier<B>, rng: &mut SeededRng| -> (f64, [f64; 4]) {
        let (ids, mask, tt, gold) = batch(rng);
        let t = Instant::now();
        let logits = net.forward(ids, mask, tt);
        let loss = eval::cross_entropy(logits, &gold).mean();
        let value = loss
            .clone()
            .into_data()
            .convert::<f32>()
            .to_vec::<f32>()
            .ok()
            .and_then(|v| v.first().copied())
            .unwrap_or(f32::NAN) as f64;
        let t_fwd = t.elapsed();
        let grads = GradientsParams::from_grads(loss.backward(), net);
        let t_bwd = t.elapsed();
        let norm = optim::global_grad_norm(net, &grads);
        let factor = optim::clip_factor(norm, Some(1.0));
        let t_clip = t.elapsed();
        *net = opt.step(args.lr, factor, net.clone(), grads);
        let t_opt = t.elapsed();
        let phases = [
            t_fwd.as_secs_f64(),
            (t_bwd - t_fwd).as_secs_f64(),
            (t_clip - t_bwd).as_secs_f64(),
            (t_opt - t_clip).as_secs_f64(),
        ]
        .map(|s| s * 1000.0);
        (value, phases)
    };

    for _ in 0..args.warmup {
        step(&mut net, &mut rng);
    }
    let t0 = Instant::now();
    let mut loss = 0.0;
    let mut per_step = Vec::with_capacity(args.steps);
    let mut phase_sum = [0.0f64; 4];
    for _ in 0..args.steps {
        let s = Instant::now();
        let (l, phases) = step(&mut net, &mut rng);
        loss = l;
        per_step.push(s.elapsed().as_secs_f64() * 1000.0);
        for (sum, p) in phase_sum.iter_mut().zip(phases) {
            *sum += p / args.steps as f64;
        }
    }
    let elapsed = t0.elapsed().as_secs_f64();
    let result = serde_json::json!({
        "framework": "burn",
        "backend": backend::backend_name(),
        "device": "cpu",
        "dtype": "f32",
        "threads": args.threads,
        "batch_size": args.batch_size,
        "seq": args.seq,
        "steps": args.steps,
        "step_ms": 1000.0 * elapsed / args.steps as f64,
        "step_ms_each": per_step,
        "phase_ms": {
            "forward": phase_sum[0],
            "backward": phase_sum[1],
            "clip": phase_sum[2],
            "adamw": phase_sum[3],
        },
        "samples_per_s": (args.steps * args.batch_size) as f64 / elapsed,
        "load_s": load_s,
        "last_loss": loss,
        "machine": std::env::consts::ARCH,
    });
    println!("{result}");
    Ok(())
}
