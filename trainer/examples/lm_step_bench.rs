//! Causal-LM fine-tuning step benchmark on the CPU backend: the Rust half of `bench/lm.sh`, the
//! same step as `bench/torch_lm_step.py` (SmolLM2-135M-Instruct from its GGUF file, LoRA r 8 /
//! alpha 16 / dropout 0 on `q_proj` + `v_proj`, or full fine-tuning with `--full`; the
//! next-token loss over the assistant tokens; backward; global-norm clipping to 1.0; AdamW with
//! weight decay 0.01; f32).
//!
//! It runs the trainer's own code paths, as `finetune-trainer train --task text-generation`
//! does: the job's data through `causal_data::load` (the model's tokenizer and chat template,
//! loss on the assistant turns, rows cut to `--max-length`), the epoch order of
//! `data::epoch_batches` (seed 42), `collate` (right-padded to the longest row of each batch),
//! `load_causal` + `apply_lora`, `lm_loss_over` divided by the batch's trained positions, the
//! per-step dropout seed, `optim::accumulate`, `global_grad_norm`, `clip_factor` and
//! `optim::AdamW` (the sequence of `training/step.rs` for one micro-batch).
//!
//! Rows: the chatterbot-corpus English conversations (`.fixtures/chatterbot/english`) written as
//! `messages` JSONL by `finetune_fixtures::chatterbot::write_messages` (its train split), or any
//! `--data FILE.jsonl` of chat / prompt-completion / text rows.
//!
//! `--emit FILE` writes the batches this run trained on (warm-up then timed, as token ids, mask
//! and labels with -100 where no loss is taken) as one JSON object, so that the PyTorch side
//! trains on identical ids.
//!
//! ```text
//! target/x86_64-unknown-linux-gnu/release/examples/lm_step_bench \
//!     --threads 2 --batch-size 4 --max-length 96 --steps 3 --warmup 1 --emit /tmp/batches.json
//! ```
//!
//! Prints one JSON object, the shape `torch_lm_step.py` prints: steps, samples/s, tokens/s
//! (tokens = non-pad tokens of the timed batches), seconds per step, and the mean phase split.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use burn::optim::GradientsParams;
use burn::tensor::backend::Backend;
use finetune_spec::JobSpec;
use finetune_trainer::backend::{self, Cpu, Train};
use finetune_trainer::causal_data::{self, collate, LmBatch};
use finetune_trainer::data;
use finetune_trainer::model::causal::lm::{load_causal, CausalLm};
use finetune_trainer::model::init::SeededRng;
use finetune_trainer::model::{self, LoraConfig};
use finetune_trainer::training::lm_loss::{lm_loss_over, trained_positions};
use finetune_trainer::training::optim;

type B = Train<Cpu>;

struct Args {
    model: PathBuf,
    chatterbot: PathBuf,
    data: Option<PathBuf>,
    threads: usize,
    batch_size: usize,
    max_length: usize,
    steps: usize,
    warmup: usize,
    lr: f64,
    weight_decay: f64,
    seed: u64,
    full: bool,
    r: usize,
    alpha: f64,
    targets: Vec<String>,
    emit: Option<PathBuf>,
}

fn parse_args() -> Result<Args> {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let fixtures = std::env::var_os("FINETUNE_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo.join(".fixtures"));
    let mut a = Args {
        model: fixtures.join("smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),
        chatterbot: fixtures.join("chatterbot/english"),
        data: None,
        threads: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        batch_size: 4,
        max_length: 96,
        steps: 3,
        warmup: 1,
        lr: 1e-4,
        weight_decay: 0.01,
        seed: 42,
        full: false,
        r: 8,
        alpha: 16.0,
        targets: vec!["q_proj".into(), "v_proj".into()],
        emit: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--model" => a.model = PathBuf::from(value()?),
            "--chatterbot" => a.chatterbot = PathBuf::from(value()?),
            "--data" => a.data = Some(PathBuf::from(value()?)),
            "--threads" => a.threads = value()?.parse()?,
            "--batch-size" => a.batch_size = value()?.parse()?,
            "--max-length" => a.max_length = value()?.parse()?,
            "--steps" => a.steps = value()?.parse()?,
            "--warmup" => a.warmup = value()?.parse()?,
            "--lr" => a.lr = value()?.parse()?,
            "--weight-decay" => a.weight_decay = value()?.parse()?,
            "--seed" => a.seed = value()?.parse()?,
            "--full" => a.full = true,
            "--r" => a.r = value()?.parse()?,
            "--alpha" => a.alpha = value()?.parse()?,
            "--targets" => a.targets = value()?.split(',').map(str::to_string).collect(),
            "--emit" => a.emit = Some(PathBuf::from(value()?)),
            "-h" | "--help" => {
                println!(
                    "lm_step_bench [--model FILE.gguf|DIR] [--chatterbot DIR | --data FILE.jsonl] \
                     [--threads N] [--batch-size N] [--max-length N] [--steps N] [--warmup N] \
                     [--lr F] [--weight-decay F] [--seed N] [--full | --r N --alpha F \
                     --targets q_proj,v_proj] [--emit BATCHES.json]"
                );
                std::process::exit(0);
            }
            other => bail!("unknown flag {other} (see --help)"),
        }
    }
    if a.steps == 0 || a.batch_size == 0 || a.max_length < 2 {
        bail!("--steps and --batch-size must be > 0, --max-length >= 2");
    }
    Ok(a)
}

/// The job `finetune-trainer train --task text-generation` would run with these settings.
fn job(a: &Args, train: &std::path::Path, output: &std::path::Path) -> Result<JobSpec> {
    let method = if a.full {
        serde_json::json!("full")
    } else {
        serde_json::json!({"lora": {"r": a.r, "alpha": a.alpha, "dropout": 0.0, "targets": a.targets}})
    };
    let j = serde_json::json!({
        "name": "lm-step-bench",
        "task": "text-generation",
        "model": a.model,
        "output": output,
        "data": {"train": train},
        "method": method,
        "train": {
            "batch_size": a.batch_size,
            "max_length": a.max_length,
            "learning_rate": a.lr,
            "weight_decay": a.weight_decay,
            "seed": a.seed,
            "max_grad_norm": 1.0,
            "precision": "f32",
        },
    });
    serde_json::from_value(j).context("job spec")
}

fn rows_2d(v: &[i64], b: usize, s: usize) -> Vec<&[i64]> {
    (0..b).map(|r| &v[r * s..(r + 1) * s]).collect()
}

fn main() -> Result<()> {
    let args = parse_args()?;
    backend::tune_allocator();
    // The trainer's binary sizes rayon's global pool (flex's kernels run on it) the same way.
    rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads.max(1))
        .build_global()
        .context("rayon pool")?;
    let device = Default::default();
    let tmp = tempfile::tempdir()?;
    let train = match &args.data {
        Some(p) => p.clone(),
        None => {
            let out = tmp.path().join("chat");
            finetune_fixtures::chatterbot::write_messages(&args.chatterbot, &out, 10)
                .with_context(|| format!("chatterbot corpus {}", args.chatterbot.display()))?;
            out.join("train.jsonl")
        }
    };
    let job = job(&args, &train, &tmp.path().join("out"))?;

    // Data, as CausalTask::load reads it: encoded once, before the first step.
    let t_load = Instant::now();
    let ds = causal_data::load(&job).context("encoding the rows")?;
    let pad = ds.encoder.pad_id();
    // The loop's batches: the epoch order of (seed, epoch), epoch after epoch as needed.
    let need = args.warmup + args.steps;
    let mut batches: Vec<LmBatch> = Vec::with_capacity(need);
    let mut epoch = 0;
    while batches.len() < need {
        for idx in data::epoch_batches(ds.train.len(), args.batch_size, args.seed, epoch) {
            if batches.len() == need {
                break;
            }
            let picked: Vec<_> = idx.iter().map(|&i| ds.train[i].clone()).collect();
            batches.push(collate(&picked, pad));
        }
        epoch += 1;
    }

    // Model, as CausalTask::load builds it.
    let (net, source) = load_causal::<B>(&job.model, &device)
        .with_context(|| format!("loading {}", job.model.display()))?;
    let lora = match &job.method {
        finetune_spec::Method::Full => None,
        finetune_spec::Method::Lora(spec) => Some(LoraConfig {
            r: spec.r.get(),
            alpha: spec.alpha.get(),
            dropout: spec.dropout.get(),
            targets: source.architecture.lora_targets(spec),
        }),
    };
    let mut net: CausalLm<B> = match &lora {
        None => net,
        Some(cfg) => net.apply_lora(cfg, job.train.seed)?,
    };
    let (trainable, total) = model::param_counts(&net);
    let load_s = t_load.elapsed().as_secs_f64();

    if let Some(path) = &args.emit {
        let out: Vec<_> = batches
            .iter()
            .map(|b| {
                serde_json::json!({
                    "input_ids": rows_2d(&b.input_ids, b.batch, b.seq),
                    "attention_mask": rows_2d(&b.attention_mask, b.batch, b.seq),
                    "labels": rows_2d(&b.labels, b.batch, b.seq),
                })
            })
            .collect();
        let doc = serde_json::json!({
            "model": job.model,
            "pad_id": pad,
            "warmup": args.warmup,
            "steps": args.steps,
            "batch_size": args.batch_size,
            "max_length": args.max_length,
            "lr": args.lr,
            "weight_decay": args.weight_decay,
            "full": args.full,
            "lora": lora.as_ref().map(|c| serde_json::json!({
                "r": c.r, "alpha": c.alpha, "dropout": c.dropout, "targets": c.targets,
            })),
            "batches": out,
        });
        std::fs::write(path, doc.to_string())
            .with_context(|| format!("writing {}", path.display()))?;
    }

    let mut opt = optim::AdamW::<Cpu>::new(job.train.weight_decay.get());
    let max_grad_norm = job.train.max_grad_norm.map(|m| m.get());
    let lr = job.train.learning_rate.get();

    // One optimizer step of training/step.rs with one micro-batch (share 1, no loss scale).
    // Per-phase wall times (ms): forward + loss (read back, so phases separate), backward,
    // clip, AdamW.
    let mut step = |net: &mut CausalLm<B>, b: &LmBatch, n: u64| -> (f64, [f64; 4]) {
        let t = Instant::now();
        let mut rng = SeededRng::new(job.train.seed ^ 0xD809_0000_0000_0000, n);
        B::seed(&device, rng.next_u64());
        let tokens = trained_positions(&b.labels, b.batch, b.seq);
        let x = b.tensors::<B>(&device);
        let logits = net.forward(x.input_ids, x.attention_mask);
        let loss = lm_loss_over(logits, x.labels, tokens);
        let value = loss
            .clone()
            .into_data()
            .convert::<f32>()
            .to_vec::<f32>()
            .ok()
            .and_then(|v| v.first().copied())
            .unwrap_or(f32::NAN) as f64;
        let t_fwd = t.elapsed();
        let mut acc = GradientsParams::new();
        let grads = GradientsParams::from_grads(loss.mul_scalar(1.0).backward(), net);
        optim::accumulate(net, &mut acc, grads);
        let t_bwd = t.elapsed();
        let norm = optim::global_grad_norm(net, &acc);
        let factor = optim::clip_factor(norm, max_grad_norm);
        let t_clip = t.elapsed();
        opt.step_in_place(lr, factor, net, acc);
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
    for (n, b) in batches[..args.warmup].iter().enumerate() {
        step(&mut net, b, n as u64);
    }
    let warmup_s = t_first.elapsed().as_secs_f64();
    let timed = &batches[args.warmup..];
    let t0 = Instant::now();
    let (mut loss, mut losses) = (0.0, Vec::with_capacity(args.steps));
    let mut per_step = Vec::with_capacity(args.steps);
    let mut phase_sum = [0.0f64; 4];
    for (k, b) in timed.iter().enumerate() {
        let s = Instant::now();
        let (l, phases) = step(&mut net, b, (args.warmup + k) as u64);
        loss = l;
        losses.push(l);
        per_step.push(s.elapsed().as_secs_f64() * 1000.0);
        for (sum, p) in phase_sum.iter_mut().zip(phases) {
            *sum += p / args.steps as f64;
        }
    }
    let elapsed = t0.elapsed().as_secs_f64();
    let tokens: usize = timed
        .iter()
        .map(|b| b.attention_mask.iter().filter(|&&m| m != 0).count())
        .sum();
    let padded: usize = timed.iter().map(|b| b.batch * b.seq).sum();
    let trained: usize = timed
        .iter()
        .map(|b| trained_positions(&b.labels, b.batch, b.seq))
        .sum();
    let samples: usize = timed.iter().map(|b| b.batch).sum();
    let result = serde_json::json!({
        "framework": "burn",
        "backend": backend::backend_name(),
        "device": "cpu",
        "dtype": "f32",
        "threads": args.threads,
        "method": if args.full { "full" } else { "lora" },
        "trainable_params": trainable,
        "total_params": total,
        "batch_size": args.batch_size,
        "max_length": args.max_length,
        "batch_seqs": timed.iter().map(|b| b.seq).collect::<Vec<_>>(),
        "tokens": tokens,
        "padded_tokens": padded,
        "trained_tokens": trained,
        "steps": args.steps,
        "s_per_step": elapsed / args.steps as f64,
        "step_ms_each": per_step,
        "phase_ms": {
            "forward": phase_sum[0],
            "backward": phase_sum[1],
            "clip": phase_sum[2],
            "adamw": phase_sum[3],
        },
        "samples_per_s": samples as f64 / elapsed,
        "tokens_per_s": tokens as f64 / elapsed,
        "load_s": load_s,
        "warmup_s": warmup_s,
        "losses": losses,
        "last_loss": loss,
        "machine": std::env::consts::ARCH,
    });
    println!("{result}");
    Ok(())
}
