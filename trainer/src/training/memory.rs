//! Whether a causal-LM job fits its container's memory, said before the first step.
//!
//! A language model's training memory grows with the batch and the sequence length, and a job
//! that outgrows its `resources.memory` is killed by the kernel mid-step, with nothing in its log
//! to say why. So, once the weights are loaded and before any training, the trainer estimates
//! what the run needs and compares it with the container's cgroup limit; a job over it stops with
//! one line saying how much it needs and the out-of-memory exit code.
//!
//! The figure is an *estimate* of the peak, in f32 (the trainer keeps weights, gradients and
//! optimizer state in f32 whatever `precision` says):
//! - the weights: every parameter, 4 bytes;
//! - the training state: gradient and two AdamW moments per trainable parameter, 12 bytes;
//! - the activations the backward pass keeps: per token and layer, about [`HIDDEN_COPIES`]
//!   hidden-sized vectors (norms, q/k/v/o, residuals), [`MLP_COPIES`] MLP-sized ones (gate, up,
//!   activation, product) and [`SCORE_COPIES`] rows of attention scores per head, for
//!   `batch_size` rows as long as the longest training row; plus the logits, their log-softmax
//!   and gradient, [`LOGIT_COPIES`] vocabulary-sized vectors per token;
//! - or, when it is larger, what saving a checkpoint or the export holds at once: every weight
//!   read back and then written as bytes, [`SAVE_COPIES`] × the weights;
//! - [`RUNTIME_BYTES`] for the program, tokenizer and data.
//!
//! The constants were set from the peak resident memory of real runs, so that the estimate lies
//! a little above it: a refused job would really not fit, and one that fits is not refused for a
//! guess. SmolLM2-135M (GGUF), LoRA r 8 on q/v, rows of at most 64 tokens, on the CPU: batch 4
//! peaked at 2,120 MiB (saving the checkpoint; the steps themselves at under 1,000 MiB), the
//! estimate says 2,321 MiB; batch 16 peaked at 2,544 MiB (the steps at 2,270), the estimate
//! says 2,635 MiB.

use crate::error::RunError;
use serde_json::Value;
use std::path::Path;

/// Hidden-sized vectors kept per token and layer for the backward pass.
const HIDDEN_COPIES: u64 = 8;
/// MLP-sized (`intermediate_size`) vectors kept per token and layer.
const MLP_COPIES: u64 = 3;
/// Attention-score rows (as long as the sequence) kept per token, head and layer.
const SCORE_COPIES: u64 = 3;
/// Vocabulary-sized vectors per token at the head: logits, log-softmax, their gradient.
const LOGIT_COPIES: u64 = 3;
/// Copies of the weights held while a checkpoint or the export is written.
const SAVE_COPIES: u64 = 3;
/// The program, the tokenizer, the encoded data and the allocator's slack.
const RUNTIME_BYTES: u64 = 256 << 20;
/// A cgroup limit at or above this is "no limit" (cgroup v1 writes `9223372036854771712`).
const UNLIMITED: u64 = 1 << 60;

/// The dimensions of a causal LM that its training memory depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Shape {
    pub(super) hidden: u64,
    pub(super) layers: u64,
    pub(super) intermediate: u64,
    pub(super) heads: u64,
    pub(super) vocab: u64,
}

impl Shape {
    /// From a model's `config.json` as HF writes it, Llama (`hidden_size`, ...) or GPT-2
    /// (`n_embd`, ...); `None` when a dimension is missing.
    pub(super) fn from_config(c: &Value) -> Option<Shape> {
        let get = |keys: &[&str]| keys.iter().find_map(|k| c.get(*k).and_then(Value::as_u64));
        let hidden = get(&["hidden_size", "n_embd"])?;
        Some(Shape {
            hidden,
            layers: get(&["num_hidden_layers", "n_layer"])?,
            // GPT-2's `n_inner: null` means 4 × n_embd.
            intermediate: get(&["intermediate_size", "n_inner"]).unwrap_or(4 * hidden),
            heads: get(&["num_attention_heads", "n_head"])?,
            vocab: get(&["vocab_size"])?,
        })
    }
}

/// The estimated peak memory of a training run, in bytes, by part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Footprint {
    pub(super) weights: u64,
    pub(super) training_state: u64,
    /// What a step keeps for its backward pass.
    pub(super) activations: u64,
    /// What writing a checkpoint or the export holds; not at the same time as `activations`.
    pub(super) saving: u64,
    pub(super) runtime: u64,
}

impl Footprint {
    pub(super) fn total(&self) -> u64 {
        self.weights + self.training_state + self.activations.max(self.saving) + self.runtime
    }
}

/// The footprint of training a model of `shape` with `params` parameters, `trainable` of them
/// trained, on micro-batches of `batch` rows of up to `seq` tokens.
pub(super) fn estimate(
    shape: Shape,
    params: u64,
    trainable: u64,
    batch: u64,
    seq: u64,
) -> Footprint {
    const F32: u64 = 4;
    let tokens = batch * seq;
    let per_layer = HIDDEN_COPIES * shape.hidden
        + MLP_COPIES * shape.intermediate
        + SCORE_COPIES * shape.heads * seq;
    Footprint {
        weights: params * F32,
        training_state: trainable * 3 * F32,
        activations: tokens * (per_layer * shape.layers + LOGIT_COPIES * shape.vocab) * F32,
        saving: SAVE_COPIES * params * F32,
        runtime: RUNTIME_BYTES,
    }
}

/// The memory limit of the cgroup this process runs in (Docker's `--memory`, Compose's
/// `deploy.resources.limits.memory`), cgroup v2 or v1; `None` when there is none.
pub(super) fn cgroup_limit() -> Option<u64> {
    [
        "/sys/fs/cgroup/memory.max",
        "/sys/fs/cgroup/memory/memory.limit_in_bytes",
    ]
    .iter()
    .find_map(|p| parse_limit(&std::fs::read_to_string(Path::new(p)).ok()?))
}

/// A cgroup memory file's limit: a byte count, or `max` (v2) or a huge count (v1) for none.
fn parse_limit(text: &str) -> Option<u64> {
    text.trim()
        .parse::<u64>()
        .ok()
        .filter(|&n| n > 0 && n < UNLIMITED)
}

/// Refuses a run whose footprint is over `limit`, with one line saying what it needs.
pub(super) fn check(
    f: &Footprint,
    limit: Option<u64>,
    batch: u64,
    seq: u64,
) -> Result<(), RunError> {
    let Some(limit) = limit else { return Ok(()) };
    if f.total() <= limit {
        return Ok(());
    }
    Err(RunError::OutOfMemory(format!(
        "this job needs about {} (an estimate: weights {}, gradients and AdamW state {}, \
         activations at batch {batch} x {seq} tokens {}, saving a checkpoint {}, runtime {}) but \
         the container's memory limit is {}: it needs resources.memory of at least {}",
        gib(f.total()),
        gib(f.weights),
        gib(f.training_state),
        gib(f.activations),
        gib(f.saving),
        gib(f.runtime),
        gib(limit),
        compose_size(f.total()),
    )))
}

/// One line for the log: the estimate and the limit it was checked against.
pub(super) fn describe(f: &Footprint, limit: Option<u64>) -> String {
    format!(
        "memory: about {} needed (estimate: weights {}, training state {}, activations {}, \
         saving a checkpoint {}), limit {}",
        gib(f.total()),
        gib(f.weights),
        gib(f.training_state),
        gib(f.activations),
        gib(f.saving),
        limit.map_or_else(|| "none".to_string(), gib)
    )
}

fn gib(bytes: u64) -> String {
    format!("{:.2} GiB", bytes as f64 / f64::from(1u32 << 30))
}

/// A Compose size at least `bytes`, rounded up to the next 256 MiB (`1280m`).
fn compose_size(bytes: u64) -> String {
    let step = 256u64 << 20;
    format!("{}m", (bytes.div_ceil(step) * step) >> 20)
}

#[cfg(test)]
mod tests {
    use super::*;
    use finetune_spec::contract::exit_code;
    use serde_json::json;

    /// SmolLM2-135M's `config.json` dimensions.
    fn smollm2() -> Shape {
        Shape::from_config(&json!({
            "model_type": "llama", "hidden_size": 576, "num_hidden_layers": 30,
            "intermediate_size": 1536, "num_attention_heads": 9, "num_key_value_heads": 3,
            "vocab_size": 49152
        }))
        .unwrap()
    }

    #[test]
    fn shapes_are_read_from_llama_and_gpt2_configs() {
        assert_eq!(
            smollm2(),
            Shape {
                hidden: 576,
                layers: 30,
                intermediate: 1536,
                heads: 9,
                vocab: 49152
            }
        );
        let gpt2 = json!({"model_type": "gpt2", "n_embd": 768, "n_layer": 12, "n_head": 12,
                          "n_inner": null, "vocab_size": 50257});
        let s = Shape::from_config(&gpt2).unwrap();
        assert_eq!((s.hidden, s.intermediate, s.layers), (768, 3072, 12));
        assert_eq!(Shape::from_config(&json!({"hidden_size": 8})), None);
    }

    #[test]
    fn the_estimate_adds_weights_state_and_activations() {
        let f = estimate(smollm2(), 134_515_008, 460_800, 4, 64);
        assert_eq!(f.weights, 134_515_008 * 4);
        assert_eq!(f.training_state, 460_800 * 12);
        let per_token_layer = 8 * 576 + 3 * 1536 + 3 * 9 * 64;
        assert_eq!(
            f.activations,
            4 * 64 * (per_token_layer * 30 + 3 * 49152) * 4
        );
        // At batch 4 saving a checkpoint is the peak; at batch 16 the steps are.
        assert_eq!(f.saving, 3 * f.weights);
        assert_eq!(
            f.total(),
            f.weights + f.training_state + f.saving + f.runtime
        );
        let big = estimate(smollm2(), 134_515_008, 460_800, 16, 64);
        assert!(big.activations > big.saving);
        assert_eq!(
            big.total(),
            big.weights + big.training_state + big.activations + big.runtime
        );
        // Full fine-tuning holds three more copies of every weight; longer rows, more memory.
        let full = estimate(smollm2(), 134_515_008, 134_515_008, 4, 64);
        assert_eq!(full.training_state, 3 * full.weights);
        assert!(estimate(smollm2(), 134_515_008, 460_800, 16, 128).total() > big.total());
    }

    #[test]
    fn a_job_over_its_limit_is_refused_with_what_it_needs() {
        let f = estimate(smollm2(), 134_515_008, 460_800, 4, 64);
        assert!(check(&f, None, 4, 64).is_ok(), "no limit");
        assert!(
            check(&f, Some(f.total()), 4, 64).is_ok(),
            "exactly at the limit"
        );
        let e = check(&f, Some(512 << 20), 4, 64).unwrap_err();
        assert_eq!(e.exit_code(), exit_code::OUT_OF_MEMORY);
        let msg = e.to_string();
        assert!(
            msg.starts_with("out of memory: this job needs about "),
            "{msg}"
        );
        assert!(msg.contains("memory limit is 0.50 GiB"), "{msg}");
        assert!(msg.contains("batch 4 x 64 tokens"), "{msg}");
        assert!(
            msg.contains(&format!(
                "resources.memory of at least {}",
                compose_size(f.total())
            )),
            "{msg}"
        );
        assert!(!msg.contains('\n'), "one line: {msg}");
    }

    #[test]
    fn cgroup_limits_are_read_in_both_versions() {
        assert_eq!(parse_limit("max\n"), None, "v2 without a limit");
        assert_eq!(
            parse_limit("9223372036854771712\n"),
            None,
            "v1 without a limit"
        );
        assert_eq!(parse_limit("1073741824\n"), Some(1 << 30));
        assert_eq!(parse_limit("0"), None);
        assert_eq!(parse_limit("garbage"), None);
        assert_eq!(compose_size(1), "256m");
        assert_eq!(compose_size(1280 << 20), "1280m");
        assert_eq!(compose_size((1280 << 20) + 1), "1536m");
    }
}
