//! `finetune-trainer`: the command line over the trainer library. `train` (from a job file or
//! plain flags), `predict`, `eval`, `quantize`, `serve` and `healthcheck`. Errors are one line on stderr; the exit code follows
//! `finetune_spec::contract::exit_code`.

use burn::tensor::backend::AutodiffBackend;
use clap::{Arg, ArgAction, ArgMatches, Args, FromArgMatches, Parser, Subcommand};
use finetune_spec::options::{self, OPTIONS};
use finetune_spec::serving;
use finetune_spec::tree::Flat;
use finetune_spec::{DataSpec, JobSpec};
use finetune_trainer::backend::{self, Chosen, OnNoGpu, WithBackend};
use finetune_trainer::error::{is_oom_message, RunError};
use finetune_trainer::generate::{is_causal_model, GenerateArgs, GenerateWork};
use finetune_trainer::inference::Classifier;
use finetune_trainer::quantize::{QuantizeOptions, QuantizeWork};
use finetune_trainer::serve::{ServeOptions, ServeWork};
use finetune_trainer::training::{self, TrainOptions};
use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::LazyLock;
use std::time::Instant;

#[derive(Parser)]
#[command(
    name = "finetune-trainer",
    version,
    about = "Fine-tunes BERT-family classifiers and Llama/GPT-2 causal LMs"
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
    /// Classify texts (arguments, or stdin lines) with an exported classifier, or continue them
    /// with a causal LM (a `model/` directory or a `.gguf` file; each text is a user message in
    /// the model's chat template unless --raw); prints JSON lines.
    Predict {
        /// An exported `model/` directory, or a causal LM's directory or `.gguf` file.
        #[arg(long)]
        model: PathBuf,
        #[arg(long, default_value_t = 32)]
        batch_size: usize,
        #[arg(long, default_value_t = 512)]
        max_length: usize,
        /// auto (bf16 on CUDA, f32 on CPU), f32, bf16 or f16.
        #[arg(long, default_value = "auto")]
        precision: String,
        #[command(flatten)]
        generation: GenerateArgs,
        /// Texts to classify or continue; read from stdin (one per line) when none are given.
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
    /// Write an int8 copy of an exported model (per-channel linear weights, per-row embeddings),
    /// scored against the f32 one on --data when given.
    Quantize {
        #[arg(long)]
        model: PathBuf,
        /// The new model directory (must not exist).
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value = "int8")]
        scheme: String,
        /// An eval set (.jsonl or .csv) to score both models on.
        #[arg(long)]
        data: Option<PathBuf>,
        #[arg(long, default_value = "text")]
        text_field: String,
        #[arg(long, default_value = "label")]
        label_field: String,
        #[arg(long, default_value_t = 32)]
        batch_size: usize,
        #[arg(long, default_value_t = 512)]
        max_length: usize,
    },
    /// Serve an exported model over HTTP (POST /predict, GET /health, GET /info) until SIGTERM.
    Serve {
        #[arg(long, default_value = serving::SERVED_MODEL_DIR)]
        model: PathBuf,
        #[arg(long, default_value = "0.0.0.0")]
        host: String,
        #[arg(long, default_value_t = serving::SERVE_PORT)]
        port: u16,
        /// Larger request bodies get 413.
        #[arg(long, default_value_t = serving::DEFAULT_MAX_BODY_BYTES)]
        max_body_bytes: usize,
        /// The most texts one request may send (more get 422).
        #[arg(long, default_value_t = 64)]
        max_batch: usize,
        #[arg(long, default_value_t = 512)]
        max_length: usize,
        /// Requests whose inference runs at once; the others wait their turn.
        #[arg(long, default_value_t = 1)]
        workers: usize,
        /// auto (bf16 on CUDA, f32 on CPU), f32, bf16 or f16.
        #[arg(long, default_value = "auto")]
        precision: String,
    },
    /// Exit 0 if GET http://127.0.0.1:PORT/PATH answers 200, else 1 (for HEALTHCHECK).
    Healthcheck {
        #[arg(long, default_value_t = serving::SERVE_PORT)]
        port: u16,
        #[arg(long, default_value = serving::HEALTH_PATH)]
        path: String,
    },
}

/// `train`'s arguments: a job file, or the flags of `finetune_spec::options` (the same flat
/// options the Compose provider takes), read into the spec through the same types, so a flag has
/// the default and range of the key it sets.
struct TrainArgs {
    /// The resolved job spec (JSON), as the plugin writes it.
    job: Option<PathBuf>,
    /// Resume from the newest checkpoint even if it was written for another config or dataset.
    force_resume: bool,
    /// The job's name when built from flags.
    name: String,
    /// The spec flags given, by option name, in table order.
    options: Vec<(String, Vec<String>)>,
}

/// The option table's flag names (`batch-size`), kept for clap's `&'static str`s.
static FLAGS: LazyLock<Vec<String>> = LazyLock::new(|| OPTIONS.iter().map(|o| o.flag()).collect());

impl Args for TrainArgs {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        let mut cmd = cmd
            .arg(
                Arg::new("job")
                    .long("job")
                    .value_parser(clap::value_parser!(PathBuf))
                    .conflicts_with_all(["model", "train"])
                    .help("The resolved job spec (JSON), as the plugin writes it"),
            )
            .arg(
                Arg::new("force_resume")
                    .long("force-resume")
                    .action(ArgAction::SetTrue)
                    .help("Resume from the newest checkpoint even if it was written for another config or dataset"),
            )
            .arg(
                Arg::new("name")
                    .long("name")
                    .default_value("job")
                    .help("The job's name"),
            );
        for (o, flag) in OPTIONS.iter().zip(FLAGS.iter()) {
            let mut arg = Arg::new(o.name)
                .long(flag.as_str())
                .help(o.help())
                .action(if o.list {
                    ArgAction::Append
                } else {
                    ArgAction::Set
                });
            for alias in o.flag_aliases {
                arg = arg.visible_alias(*alias);
            }
            if matches!(o.name, "model" | "train") {
                arg = arg.required_unless_present("job");
            }
            cmd = cmd.arg(arg);
        }
        cmd
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
    }
}

impl FromArgMatches for TrainArgs {
    fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        let options = OPTIONS
            .iter()
            .filter_map(|o| {
                let values = m.get_many::<String>(o.name)?;
                Some((o.name.to_string(), values.cloned().collect()))
            })
            .collect();
        Ok(TrainArgs {
            job: m.get_one::<PathBuf>("job").cloned(),
            force_resume: m.get_flag("force_resume"),
            name: m.get_one::<String>("name").cloned().unwrap_or_default(),
            options,
        })
    }

    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }
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
        let scalar = |s: &str| Flat::Scalar(s.to_string());
        let mut given: Vec<(Flat, Flat)> = self
            .options
            .iter()
            .map(|(k, vals)| {
                let v = match vals.as_slice() {
                    [one] => scalar(one),
                    many => Flat::Seq(many.iter().map(|s| scalar(s)).collect()),
                };
                (scalar(k), v)
            })
            .collect();
        if !self.options.iter().any(|(k, _)| k == "output") {
            given.push((scalar("output"), scalar("output")));
        }
        let (mut tree, _) = options::nest(&Flat::Map(Vec::new()), &given);
        if let Flat::Map(entries) = &mut tree {
            entries.push((scalar("name"), scalar(&self.name)));
        }
        finetune_spec::de::from_tree(&tree)
            .map_err(|e| RunError::BadInput(format!("invalid flags: {}", e.describe(&tree))))
    }
}

fn main() -> ExitCode {
    let start = Instant::now();
    let cli = Cli::parse();
    // Docker runs it every few seconds: no thread pools, no signal handlers, just the request.
    if let Command::Healthcheck { port, path } = &cli.command {
        return ExitCode::from(finetune_trainer::healthcheck::run(*port, path));
    }
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
            // A job that asks for no GPU may run anywhere; any other needs the GPU it was
            // started for (in the CUDA image: see `OnNoGpu`).
            let on_no_gpu = if job.resources.gpus.is_none() {
                OnNoGpu::UseCpu
            } else {
                OnNoGpu::Fail
            };
            backend::run_with_backend(precision, on_no_gpu, TrainWork { job, opts })?
        }
        Command::Predict {
            model,
            batch_size,
            max_length,
            precision,
            generation,
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
            if is_causal_model(&model) {
                let work = GenerateWork {
                    model,
                    args: generation,
                    texts,
                };
                return backend::run_with_backend(precision, OnNoGpu::UseCpu, work)?;
            }
            backend::run_with_backend(
                precision,
                OnNoGpu::UseCpu,
                PredictWork {
                    model,
                    batch_size,
                    max_length,
                    texts,
                },
            )?
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
            let spec = data_spec(data, &text_field, &label_field)?;
            backend::run_with_backend(
                precision,
                OnNoGpu::UseCpu,
                EvalWork {
                    model,
                    spec,
                    batch_size,
                    max_length,
                },
            )?
        }
        Command::Quantize {
            model,
            out,
            scheme,
            data,
            text_field,
            label_field,
            batch_size,
            max_length,
        } => {
            let eval = data
                .map(|data| data_spec(data, &text_field, &label_field))
                .transpose()?;
            let opts = QuantizeOptions {
                model,
                out,
                scheme,
                eval,
                batch_size,
                max_length,
            };
            let out = opts.out.clone();
            let report = backend::run_with_backend(
                finetune_spec::Precision::F32,
                OnNoGpu::UseCpu,
                QuantizeWork(opts),
            )??;
            println!("{}", finetune_trainer::quantize::summary(&report, &out));
            Ok(())
        }
        Command::Serve {
            model,
            host,
            port,
            max_body_bytes,
            max_batch,
            max_length,
            workers,
            precision,
        } => {
            let precision = backend::parse_precision(&precision).map_err(RunError::BadInput)?;
            let opts = ServeOptions {
                model,
                host,
                port,
                max_body_bytes,
                max_batch: max_batch.max(1),
                max_length,
                workers: workers.max(1),
                batch_size: 32,
            };
            backend::run_with_backend(precision, OnNoGpu::UseCpu, ServeWork(opts))?
        }
        Command::Healthcheck { .. } => unreachable!("answered before the backend starts"),
    }
}

/// A data set file with its text and label fields, as `eval` and `quantize --data` read it.
fn data_spec(data: PathBuf, text_field: &str, label_field: &str) -> Result<DataSpec, RunError> {
    serde_json::from_value(serde_json::json!({
        "train": data, "text": text_field, "label": label_field
    }))
    .map_err(|e| RunError::BadInput(e.to_string()))
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
