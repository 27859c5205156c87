//! `finetune-compose` knows Compose files and the `x-finetune` job spec, and nothing of Docker's
//! API or of burn.
//!
//! The pipeline is [`yaml`] (YAML with a position on every node, anchors, aliases and `<<:` merge
//! keys) → [`load`] (a Compose project: `-f` files, `COMPOSE_FILE`, default file names and
//! overrides, `.env`, interpolation, Compose's merge rules, profiles) → [`project`] (the typed
//! `finetune_spec::JobSpec` of every job, with positions, read by [`de`] straight from the
//! positioned nodes) → [`validate`](mod@validate) (every problem, as positioned [`Diagnostic`]s) →
//! [`render`](mod@render) (a Compose override with one service per job, written by [`emit`]) /
//! [`export`] (Kubernetes
//! and Volcano manifests). The job spec itself, its defaults, ranges and docs, and the files the
//! trainer writes back, are the `finetune-spec` crate's, which both sides use.
//!
//! # Public API (what the plugin codes against)
//!
//! ```text
//! // Loading: the flags Compose takes, as a plain struct. `env` is the process environment
//! // (it overrides `.env`); empty `files` means COMPOSE_FILE, then the default names.
//! pub struct ProjectOptions {
//!     pub files: Vec<PathBuf>,              // -f (repeatable)
//!     pub project_name: Option<String>,     // -p
//!     pub project_directory: Option<PathBuf>, // --project-directory
//!     pub env_files: Vec<PathBuf>,          // --env-file (default: <project dir>/.env if present)
//!     pub profiles: Vec<String>,            // --profile (COMPOSE_PROFILES when empty)
//!     pub env: BTreeMap<String, String>,    // the process environment
//!     pub working_dir: Option<PathBuf>,     // where relative -f paths start (default: cwd)
//! }
//! ProjectOptions::from_env() -> ProjectOptions               // env = std::env::vars()
//! load_project(&ProjectOptions) -> Result<Project, LoadError>
//!
//! pub struct Project {
//!     pub name: String,                     // normalised like Compose
//!     pub dir: PathBuf,                     // absolute project directory
//!     pub files: Vec<PathBuf>,              // the compose files read, in order
//!     pub services: BTreeMap<String, Service>, // user services (all, with `active` for profiles)
//!     pub jobs: Vec<Job>,                   // active jobs that parsed, in name order
//!     pub diagnostics: Vec<Diagnostic>,     // spec problems found while loading (never fatal)
//!     pub env: BTreeMap<String, String>,    // .env merged with the process env
//! }
//! pub struct Service { pub name, pub profiles: Vec<String>, pub depends_on: Vec<String>,
//!                      pub active: bool, pub position: Position, pub has_job: bool,
//!                      pub provider: Option<Provider { kind, options: BTreeMap<String, Vec<String>> }> }
//! pub struct Job { pub spec: JobSpec,       // absolute host paths
//!                  pub position: Position,  // where the job is declared
//!                  pub source: JobSource,   // Section | Service(NAME) | Provider(NAME)
//!                  pub key_path: String,    // x-finetune.jobs.NAME / services.NAME.x-finetune
//!                  pub positions: BTreeMap<String, Position> } // "data.train" -> position
//! Project::job(&self, name) -> Option<&Job>;  Project::has_errors(&self) -> bool
//! Job::position_of(&self, "data.train") -> &Position
//! LoadError::diagnostics(&self) -> Vec<Diagnostic>   // print load failures like validate does
//!
//! // Provider form: `provider: {type: finetune, options: {...}}`, options as Compose passes
//! // them (`--key=value`, a list option repeated). Keys: finetune_spec::options::OPTIONS or dotted paths.
//! project::job_from_provider_options(name: &str, options: &BTreeMap<String, Vec<String>>,
//!                                    project_dir: &Path) -> Result<JobSpec, Vec<Diagnostic>>
//!
//! // Validation: Project::diagnostics plus filesystem checks (model dir and its config.json,
//! // weights, tokenizer.json, each opened as the trainer would: model_check; data files and
//! // their format; output/cache not files) and, with
//! // `check_data`, the dataset rows (validate::check_data, via `dataset::scan`) unless
//! // `data_check` replaces it.
//! pub struct ValidateOptions<'a> { pub check_data: bool,
//!     pub data_check: Option<&'a dyn Fn(&Job) -> Vec<Diagnostic>> }   // Default: both off
//! validate(&Project, &ValidateOptions) -> Vec<Diagnostic>   // no `is_error()` one = valid
//! validate::check_data(&Job) -> DataReport { diagnostics, files: Vec<DataFile { role, path, scan }>,
//!     generation: Vec<chat_data::GenerationFile> }   // text-generation: rows, tokens, an example
//! pub struct Diagnostic { pub file: PathBuf, pub line: usize, pub col: usize,
//!     pub path: String /* x-finetune.jobs.a.train.batch_size */, pub message: String,
//!     pub hint: Option<String>, pub severity: Severity /* Error | Warning */ }  // Serialize
//! // Display: `file:line:col: message (at `path`)` then `\n  hint: ...`; warnings say `warning: `
//!
//! // Rendering: a Compose override with one service per job.
//! pub struct RenderOptions {                // Default + set what you need
//!     pub jobs: Vec<String>,                // empty = all jobs except provider-form ones
//!     pub build_context: Option<PathBuf>,   // None = no `build:` section
//!     pub build_target: Option<String>,     // default runtime / runtime-cuda (e.g. runtime-prebuilt)
//!     pub gpu_runtime: bool,                // host has the NVIDIA runtime (decides gpus: auto)
//!     pub allocations: BTreeMap<String, Vec<String>>, // job -> device ids (overrides count)
//!     pub trainer_image: Option<String>,    // default docker-finetune/trainer:<version>[-cuda]
//!     pub version: String,
//!     pub user: Option<String>,             // default "65532:65532"
//!     pub data_images: BTreeMap<String, String> } // data.image reference -> image id
//! render(&Project, &RenderOptions) -> Result<Rendered, RenderError>
//! Rendered::yaml() -> String;  Rendered::json() -> String;  Rendered::value() -> &serde_json::Value
//! Rendered::job_files: BTreeMap<job, JobFile { host_path, content }> // WRITE these before `up`
//!                                           // (host_path = <output>/job.json, mode 0644)
//! Rendered::services: BTreeMap<job, service name>;  Rendered::gpus: BTreeMap<job, bool>
//! Rendered::init_services: BTreeMap<job, service> // data.image jobs: start these with the job
//! Rendered::env_refs: BTreeMap<job, Vec<name>>   // env names Compose must find in its environment
//! render::job_json(&JobSpec) -> JobSpec      // the spec with container paths (/model, /data/...)
//! render::effective_gpus(&JobSpec, &RenderOptions) -> Option<Gpus>;  render::image(..) -> String
//! render::labels::{PROJECT, JOB, SPEC_HASH, VERSION, OUTPUT, DATA_FOR, DATA_FILES} // label keys
//! data_image::init_service(job) -> String    // a data.image job's init service (see data_image)
//!
//! // Export: one job as cluster manifests (multi-document YAML, ConfigMap first).
//! pub struct ExportOptions { pub namespace: Option<String>, pub queue: Option<String> /* default */,
//!     pub min_available: Option<u32>, pub image: String, pub secret_name: Option<String>,
//!     pub volumes: VolumeMode /* HostPath | Pvc { model, data, output, cache: Option } */ }
//! export::kubernetes(project_name: &str, &Job, &ExportOptions) -> Result<String, ExportError>
//! export::volcano(project_name: &str, &Job, &ExportOptions) -> Result<String, ExportError>
//! ```
//!
//! Every job renders as a Compose service named after the job. For the service form
//! (`services.NAME.x-finetune`) that is the user's service itself: the override completes it
//! (image, build, mounts...) and Compose merges the user's `profiles`, `depends_on`, `environment`
//! and `networks` into it, so other services can `depends_on` the job. A job in `x-finetune.jobs`
//! must therefore not share its name with a user service. See [`render`](mod@render) and `docs/spec.md`.

pub mod chat_data;
pub mod data_image;
pub mod de;
pub mod diagnostic;
pub mod emit;
pub mod env;
pub mod export;
pub mod interpolate;
pub mod load;
pub mod merge;
pub mod model_check;
pub mod paths;
pub mod project;
pub mod render;
pub mod validate;
pub mod yaml;

pub use diagnostic::{Diagnostic, Position, Severity};
pub use load::{load_project, LoadError, ProjectOptions};
pub use project::{Job, JobSource, Project, Service};
pub use render::{render, RenderError, RenderOptions, Rendered};
pub use validate::{validate, ValidateOptions};
