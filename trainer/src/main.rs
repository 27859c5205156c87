//! `finetune-trainer`: the command line over the trainer library. `train` (from a job file or
//! plain flags), `predict` and `eval`. Errors are one line on stderr; the exit code follows
//! `finetune_spec::contract::exit_code`.

use burn::tensor::backend::AutodiffBackend;
use clap::{Args, Parser, Subcommand};
use finetune_spec::{DataSpec, JobSpec};
use finetune_trainer::backend::{self, Chosen, WithBackend};
use finetune_trainer::error::{is_oom_message, RunError};
use finetune_trainer::inference::Classifier;
use finetune_trainer::training::{self, TrainOptions};
use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

#[derive(Parser)]
#[command(
    name = "finetune-trainer",
    version,
    about = "Fine-tunes BERT-family models for text classification"
)]
struct Cli {
    /// Worker threads (default: the CPUs this process may use, container quota included).
    #[arg(long, global = true, env = "FINETUNE_THREADS")]
    threads: Option<usize>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train (or resume) a job.
    Train(Box<TrainArgs>),
    /// Classify texts (arguments, or stdin lines) with an exported model; prints JSON lines.
    Predict {
        /// An exported `model/` directory.
        #[arg(long)]
        model: PathBuf,
        #[arg(long, default_value_t = 32)]
        batch_size: usize,
        #[arg(long, default_value_t = 512)]
        max_length: usize,
        /// auto (bf16 on CUDA, f32 on CPU), f32, bf16 or f16.
        #[arg(long, default_value = "auto")]
        precision: String,
        /// Texts to classify; read from stdin (one per line) when none are given.
        texts: Vec<String>,
    },
    /// Score a dataset file with an exported model; prints loss, accuracy and macro-F1 as JSON.
    Eval {
        #[arg(long)]
        model: PathBuf,
        /// A .jsonl or .csv file with text and label fields.
        #[arg(long)]
        data: PathBuf,
        #[arg(long, default_value = "text")]
        text_field: String,
        #[arg(long, default_value = "label")]
        label_field: String,
        #[arg(long, default_value_t = 32)]
        batch_size: usize,
        #[arg(long, default_value_t = 512)]
        max_length: usize,
        /// auto (bf16 on CUDA, f32 on CPU), f32, bf16 or f16.
        #[arg(long, default_value = "auto")]
        precision: String,
    },
}

#[derive(Args)]
struct TrainArgs {
    /// The resolved job spec (JSON), as the plugin writes it.
    #[arg(long, conflicts_with_all = ["model", "train"])]
    job: Option<PathBuf>,
    /// Resume from the newest checkpoint even if it was written for another config or dataset.
    #[arg(long)]
    force_resume: bool,
    /// Model directory (config.json, model.safetensors, tokenizer.json).
    #[arg(long, required_unless_present = "job")]
    model: Option<PathBuf>,
    /// Training file (.jsonl or .csv).
    #[arg(long, required_unless_present = "job")]
    train: Option<PathBuf>,
    #[arg(long, conflicts_with = "eval_split")]
    eval: Option<PathBuf>,
    #[arg(long)]
    eval_split: Option<f64>,
    #[arg(long, default_value = "text")]
    text_field: String,
    #[arg(long, default_value = "label")]
    label_field: String,
    #[arg(long)]
    limit: Option<usize>,
    #[arg(long, default_value = "output")]
    output: PathBuf,
    #[arg(long, default_value = "job")]
    name: String,
    #[arg(long)]
    epochs: Option<usize>,
    #[arg(long)]
    batch_size: Option<usize>,
    #[arg(long)]
    lr: Option<f64>,
    #[arg(long)]
    max_length: Option<usize>,
    #[arg(long)]
    seed: Option<u64>,
    #[arg(long)]
    max_steps: Option<u64>,
    #[arg(long)]
    warmup_ratio: Option<f64>,
    #[arg(long)]
    grad_accum: Option<usize>,
    /// linear, cosine or constant.
    #[arg(long)]
    schedule: Option<String>,
    #[arg(long)]
    eval_every_steps: Option<u64>,
    #[arg(long)]
    log_every_steps: Option<u64>,
    #[arg(long)]
    checkpoint_every: Option<u64>,
    #[arg(long)]
    keep_checkpoints: Option<usize>,
    /// Early stopping patience (evaluations without improvement of eval loss).
    #[arg(long)]
    patience: Option<usize>,
    /// LoRA rank; enables LoRA (default targets query, value).
    #[arg(long)]
    lora_r: Option<usize>,
    #[arg(long)]
    lora_alpha: Option<f64>,
    /// auto (bf16 on CUDA, f32 on CPU), f32, bf16 or f16.
    #[arg(long)]
    precision: Option<String>,
}

impl TrainArgs {
    fn job(&self) -> Result<JobSpec, RunError> {
        if let Some(path) = &self.job {
            let text = std::fs::read(path)
                .map_err(|e| RunError::BadInput(format!("{}: cannot read: {e}", path.display())))?;
            return serde_json::from_slice(&text).map_err(|e| {
                RunError::BadInput(format!("{}: invalid job spec: {e}", path.display()))
            });
        }
        let mut train = serde_json::Map::new();
        let mut put = |k: &str, v: serde_json::Value| {
            if !v.is_null() {
                train.insert(k.into(), v);
            }
        };
        use serde_json::json;
        put("epochs", json!(self.epochs));
        put("batch_size", json!(self.batch_size));
        put("learning_rate", json!(self.lr));
        put("max_length", json!(self.max_length));
        put("seed", json!(self.seed));
        put("max_steps", json!(self.max_steps));
        put("warmup_ratio", json!(self.warmup_ratio));
        put("grad_accum", json!(self.grad_accum));
        put("schedule", json!(self.schedule));
        put("eval_every_steps", json!(self.eval_every_steps));
        put("log_every_steps", json!(self.log_every_steps));
        put(
            "precision",
            json!(self.precision.as_deref().map(str::to_ascii_lowercase)),
        );
        put(
            "early_stopping",
            json!(self.patience.map(|p| json!({ "patience": p }))),
        );
        let method = match self.lora_r {
            Some(r) => {
                json!({"lora": {"r": r, "alpha": self.lora_alpha.unwrap_or(2.0 * r as f64)}})
            }
            None => json!("full"),
        };
        let mut checkpoint = serde_json::Map::new();
        if let Some(n) = self.checkpoint_every {
            checkpoint.insert("every_steps".into(), json!(n));
        }
        if let Some(k) = self.keep_checkpoints {
            checkpoint.insert("keep".into(), json!(k));
        }
        let spec = json!({
            "name": self.name,
            "model": self.model,
            "data": {
                "train": self.train, "eval": self.eval, "eval_split": self.eval_split,
                "text": self.text_field, "label": self.label_field, "limit": self.limit,
            },
            "method": method,
            "train": train,
            "checkpoint": checkpoint,
            "output": self.output,
        });
        let mut spec = spec;
        if let Some(d) = spec["data"].as_object_mut() {
            d.retain(|_, v| !v.is_null());
        }
        serde_json::from_value(spec).map_err(|e| RunError::BadInput(format!("invalid flags: {e}")))
    }
}

fn main() -> ExitCode {
    let start = Instant::now();
    let cli = Cli::parse();
    let threads = cli.threads.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    backend::tune_allocator();
    // Flex runs its kernels on rayon's global pool: size it to the CPU quota.
    let _ = rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .build_global();
    finetune_trainer::signal::install();

    // Allocation failures in backends surface as panics: map them to OUT_OF_MEMORY.
    let panic_msg = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let slot = panic_msg.clone();
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = backend::panic_message(info.payload()).unwrap_or_default();
        if let Ok(mut s) = slot.lock() {
            *s = msg;
        }
        default_hook(info);
    }));
    let result =
        std::panic::catch_unwind(|| run(cli.command, start, threads)).unwrap_or_else(|_| {
            let msg = panic_msg.lock().map(|s| s.clone()).unwrap_or_default();
            Err(if is_oom_message(&msg) {
                RunError::OutOfMemory(msg)
            } else {
                RunError::Failed(format!("internal error: {msg}"))
            })
        });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code() as u8)
        }
    }
}

fn run(cmd: Command, start: Instant, threads: usize) -> Result<(), RunError> {
    match cmd {
        Command::Train(args) => {
            let job = args.job()?;
            eprintln!(
                "[finetune] {} {} on {threads} threads",
                finetune_trainer::artifact::trainer_version(),
                job.name
            );
            let opts = TrainOptions {
                force_resume: args.force_resume,
                process_start: Some(start),
            };
            let precision = job.train.precision;
            backend::run_with_backend(precision, TrainWork { job, opts })
        }
        Command::Predict {
            model,
            batch_size,
            max_length,
            precision,
            texts,
        } => {
            let precision = backend::parse_precision(&precision).map_err(RunError::BadInput)?;
            let texts = if texts.is_empty() {
                std::io::stdin()
                    .lock()
                    .lines()
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| RunError::BadInput(format!("stdin: {e}")))?
                    .into_iter()
                    .filter(|l| !l.trim().is_empty())
                    .collect()
            } else {
                texts
            };
            backend::run_with_backend(
                precision,
                PredictWork {
                    model,
                    batch_size,
                    max_length,
                    texts,
                },
            )
        }
        Command::Eval {
            model,
            data,
            text_field,
            label_field,
            batch_size,
            max_length,
            precision,
        } => {
            let precision = backend::parse_precision(&precision).map_err(RunError::BadInput)?;
            let spec: DataSpec = serde_json::from_value(serde_json::json!({
                "train": data, "text": text_field, "label": label_field
            }))
            .map_err(|e| RunError::BadInput(e.to_string()))?;
            backend::run_with_backend(
                precision,
                EvalWork {
                    model,
                    spec,
                    batch_size,
                    max_length,
                },
            )
        }
    }
}

/// `train` on the chosen backend.
struct TrainWork {
    job: JobSpec,
    opts: TrainOptions,
}

impl WithBackend for TrainWork {
    type Output = Result<(), RunError>;
    fn run<B: AutodiffBackend>(self, device: B::Device, chosen: Chosen) -> Self::Output {
        training::train::<B>(&self.job, &self.opts, &device, chosen.backend)?;
        Ok(())
    }
}

/// `predict` on the chosen backend (inference: the backend under autodiff).
struct PredictWork {
    model: PathBuf,
    batch_size: usize,
    max_length: usize,
    texts: Vec<String>,
}

impl WithBackend for PredictWork {
    type Output = Result<(), RunError>;
    fn run<B: AutodiffBackend>(self, device: B::Device, _: Chosen) -> Self::Output {
        let clf = Classifier::<B::InnerBackend>::load(&self.model, self.max_length, device)?;
        for p in clf.predict(&self.texts, self.batch_size)? {
            println!("{}", serde_json::to_string(&p).unwrap_or_default());
        }
        Ok(())
    }
}

/// `eval` on the chosen backend.
struct EvalWork {
    model: PathBuf,
    spec: DataSpec,
    batch_size: usize,
    max_length: usize,
}

impl WithBackend for EvalWork {
    type Output = Result<(), RunError>;
    fn run<B: AutodiffBackend>(self, device: B::Device, _: Chosen) -> Self::Output {
        let clf = Classifier::<B::InnerBackend>::load(&self.model, self.max_length, device)?;
        let m = clf.evaluate(&self.spec, self.batch_size)?;
        println!("{}", serde_json::to_string(&m).unwrap_or_default());
        Ok(())
    }
}
