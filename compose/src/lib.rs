//! `finetune-compose` knows Compose files and the `x-finetune` job spec, and nothing of Docker's
//! API or of burn.
//!
//! The pipeline is `raw` (YAML with positions, several `-f` files, interpolation, merge) →
//! `project` (validated, typed job specs) → `render` (Compose services) / `export` (Kubernetes,
//! Volcano). [`spec`] holds the job spec that the plugin hands to the trainer as `job.json`, and
//! [`contract`] the files the trainer writes back; both sides use these types, declared once here.

pub mod contract;
pub mod spec;
