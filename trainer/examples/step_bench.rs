//! Fine-tuning step benchmark of the trainer's model on the CPU backend: the Rust half of
//! `bench/train.sh`, the same step as `bench/torch_step.py` (BERT classifier, cross-entropy,
//! backward, global-norm clipping to 1.0, AdamW with weight decay 0.01, dropout on). It uses the
//! trainer's own pieces (`load_classifier`, `TextTokenizer`, `optim::AdamW`, `global_grad_norm`,
//! `clip_factor`, `eval::cross_entropy`) so that it measures what `finetune-trainer train` runs.
//!
//! Two workloads:
//! - full-length (default): random token ids, every row exactly `--seq` tokens, no padding;
//! - real (`--data FILE.jsonl`): the file's rows in order, `--batch-size` at a time (wrapping
//!   around), tokenised with the model's `tokenizer.json`, truncated to `--max-length` and padded
//!   to the longest row of each batch, the labels being the sorted set of the file's labels.
//!
//! ```text
//! cargo run --release --example step_bench -p finetune-trainer -- \
//!     --model .fixtures/minilm --threads 2 --batch-size 16 --seq 128 --steps 5 --warmup 1
//! cargo run --release --example step_bench -p finetune-trainer -- \
//!     --data .fixtures/tweets/train.jsonl --max-length 64 --steps 10 --warmup 2
//! ```
//!
//! Prints one JSON object, the shape `torch_step.py` prints, plus the mean phase split of a step
//! and the model FLOPs of the timed steps (`gflop`, counted as `torch_step.py` counts them).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use burn::optim::GradientsParams;
use burn::tensor::{Int, Tensor, TensorData};
use finetune_spec::Method;
use finetune_trainer::backend::{self, Cpu, Train};
use finetune_trainer::model::{self, init::SeededRng, BertConfig};
use finetune_trainer::tokenize::TextTokenizer;
use finetune_trainer::training::{eval, optim};

type B = Train<Cpu>;

struct Args {
    model: PathBuf,
    threads: usize,
    batch_size: usize,
    seq: usize,
    data: Option<PathBuf>,
    max_length: usize,
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
        data: None,
        max_length: 128,
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
            "--data" => a.data = Some(PathBuf::from(value()?)),
            "--max-length" => a.max_length = value()?.parse()?,
            "--steps" => a.steps = value()?.parse()?,
            "--warmup" => a.warmup = value()?.parse()?,
            "--num-labels" => a.num_labels = value()?.parse()?,
            "--lr" => a.lr = value()?.parse()?,
            "-h" | "--help" => {
                println!(
                    "step_bench [--model DIR] [--threads N] [--batch-size N] [--seq N] \
                     [--data FILE.jsonl --max-length N] [--steps N] [--warmup N] \
                     [--num-labels N] [--lr F]"
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

/// One batch on the host: row-major `[batch, seq]` ids and mask, and the gold labels.
struct HostBatch {
    batch: usize,
    seq: usize,
    ids: Vec<i64>,
    mask: Vec<i64>,
    gold: Vec<usize>,
}

/// Where batches come from: random full-length rows, or a file's rows in order.
enum Source {
    Random {
        rng: SeededRng,
        vocab: usize,
    },
    Rows {
        tok: Box<TextTokenizer>,
        rows: Vec<(String, usize)>,
        next: usize,
    },
}

impl Source {
    fn next(&mut self, a: &Args) -> Result<HostBatch> {
        match self {
            // Random ids in [1000, vocab), [CLS] ... [SEP], every row full length: no padding.
            Source::Random { rng, vocab } => {
                let (b, s) = (a.batch_size, a.seq);
                let mut ids = Vec::with_capacity(b * s);
                for _ in 0..b {
                    for j in 0..s {
                        ids.push(match j {
                            0 => 101,
                            j if j == s - 1 => 102,
                            _ => 1000 + (rng.next_u64() % (*vocab as u64 - 1000)) as i64,
                        });
                    }
                }
                let gold = (0..b)
                    .map(|_| (rng.next_u64() % a.num_labels as u64) as usize)
                    .collect();
                Ok(HostBatch {
                    batch: b,
                    seq: s,
                    ids,
                    mask: vec![1; b * s],
                    gold,
                })
            }
            Source::Rows { tok, rows, next } => {
                let picked: Vec<&(String, usize)> = (0..a.batch_size)
                    .map(|k| &rows[(*next + k) % rows.len()])
                    .collect();
                *next = (*next + a.batch_size) % rows.len();
                let texts: Vec<&str> = picked.iter().map(|(t, _)| t.as_str()).collect();
                let enc = tok.encode_batch(&texts)?;
                Ok(HostBatch {
                    batch: enc.batch,
                    seq: enc.seq,
                    ids: enc.input_ids,
                    mask: enc.attention_mask,
                    gold: picked.iter().map(|(_, l)| *l).collect(),
                })
            }
        }
    }
}

/// The rows of a JSON-lines file (`text`, `label`), labels as indices into their sorted set.
fn read_rows(path: &Path) -> Result<(Vec<(String, usize)>, usize)> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
    let mut raw = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line)?;
        let label = match &v["label"] {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        raw.push((v["text"].as_str().unwrap_or_default().to_string(), label));
    }
    let labels: std::collections::BTreeSet<&str> = raw.iter().map(|(_, l)| l.as_str()).collect();
    let labels: Vec<&str> = labels.into_iter().collect();
    let rows = raw
        .iter()
        .map(|(t, l)| (t.clone(), labels.iter().position(|x| x == l).unwrap_or(0)))
        .collect();
    if raw.is_empty() {
        bail!("{} has no rows", path.display());
    }
    Ok((rows, labels.len().max(2)))
}

/// Multiply-adds ×2 of one training step (forward ×3: backward costs twice the forward) for a
/// `[batch, seq]` batch: the encoder's linear layers and attention matmuls, pooler and head.
/// Element-wise work is not counted. `torch_step.py` counts the same way.
fn step_flops(cfg: &BertConfig, batch: usize, seq: usize, labels: usize) -> f64 {
    let (b, s, h, i) = (
        batch as f64,
        seq as f64,
        cfg.hidden_size as f64,
        cfg.intermediate_size as f64,
    );
    let per_layer = 2.0 * b * s * (4.0 * h * h + 2.0 * h * i) + 2.0 * 2.0 * b * s * s * h;
    let forward = cfg.num_hidden_layers as f64 * per_layer + 2.0 * b * (h * h + h * labels as f64);
    3.0 * forward
}

fn main() -> Result<()> {
    let mut args = parse_args()?;
    backend::tune_allocator();
    // The trainer's binary sizes rayon's global pool (flex's kernels run on it) the same way.
    rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads.max(1))
        .build_global()
        .context("rayon pool")?;
    let device = Default::default();
    let mut source = match &args.data {
        Some(path) => {
            let (rows, n) = read_rows(path)?;
            args.num_labels = n;
            let tok = Box::new(TextTokenizer::from_dir(&args.model, args.max_length)?);
            Source::Rows { tok, rows, next: 0 }
        }
        None => Source::Random {
            rng: SeededRng::new(0, 0),
            vocab: 0,
        },
    };
    let labels: Vec<String> = (0..args.num_labels).map(|i| format!("l{i}")).collect();

    let t_load = Instant::now();
    let loaded = model::load_classifier::<B>(&args.model, &labels, &Method::Full, 42, &device)
        .with_context(|| format!("loading {}", args.model.display()))?;
    let load_s = t_load.elapsed().as_secs_f64();
    let config = loaded.config.clone();
    if let Source::Random { vocab, .. } = &mut source {
        *vocab = config.vocab_size;
    }
    let mut net = loaded.model;
    let mut opt = optim::AdamW::<Cpu>::new(0.01);

    // Per-phase wall times (ms) of one step: forward+loss, backward, clip, AdamW. Reading the
    // loss back after the forward makes the phases separate on any backend.
    let mut step = |net: &mut model::BertClassifier<B>, hb: HostBatch| -> (f64, [f64; 4]) {
        let (b, s) = (hb.batch, hb.seq);
        let t = Instant::now();
        let ids = Tensor::<B, 2, Int>::from_data(TensorData::new(hb.ids, [b, s]), &device);
        let mask = Tensor::<B, 2, Int>::from_data(TensorData::new(hb.mask, [b, s]), &device);
        let tt = Tensor::<B, 2, Int>::zeros([b, s], &device);
        let logits = net.forward(ids, mask, tt);
        let loss = eval::cross_entropy(logits, &hb.gold).mean();
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
        opt.step_in_place(args.lr, factor, net, grads);
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

    let t_first = Instant::now();
    for _ in 0..args.warmup {
        let hb = source.next(&args)?;
        step(&mut net, hb);
    }
    let warmup_s = t_first.elapsed().as_secs_f64();
    // Batches are built (tokenised) inside the timed loop, as PyTorch's side does too.
    let t0 = Instant::now();
    let mut loss = 0.0;
    let mut per_step = Vec::with_capacity(args.steps);
    let mut phase_sum = [0.0f64; 4];
    let (mut flops, mut tokens, mut seqs) = (0.0, 0, Vec::with_capacity(args.steps));
    for _ in 0..args.steps {
        let s = Instant::now();
        let hb = source.next(&args)?;
        flops += step_flops(&config, hb.batch, hb.seq, args.num_labels);
        tokens += hb.batch * hb.seq;
        seqs.push(hb.seq);
        let (l, phases) = step(&mut net, hb);
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
        "workload": if args.data.is_some() { "real" } else { "full-length" },
        "seq": if args.data.is_some() { args.max_length } else { args.seq },
        "batch_seqs": seqs,
        "padded_tokens": tokens,
        "steps": args.steps,
        "step_ms": 1000.0 * elapsed / args.steps as f64,
        "step_ms_each": per_step,
        "phase_ms": {
            "forward": phase_sum[0],
            "backward": phase_sum[1],
            "clip": phase_sum[2],
            "adamw": phase_sum[3],
        },
        "gflop": flops / 1e9,
        "gflop_per_s": flops / 1e9 / elapsed,
        "samples_per_s": (args.steps * args.batch_size) as f64 / elapsed,
        "load_s": load_s,
        "warmup_s": warmup_s,
        "last_loss": loss,
        "machine": std::env::consts::ARCH,
    });
    println!("{result}");
    Ok(())
}
