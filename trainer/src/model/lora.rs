//! LoRA (low-rank adaptation) for burn 0.21, which has none built in: a linear layer whose
//! frozen base weight `W` gets a trainable update `scale · A·B` (`A`: `[in, r]`, seeded
//! kaiming-uniform like PEFT; `B`: `[r, out]`, zeros; `scale = alpha / r`).
//!
//! Targets follow PEFT's rule on the Hugging Face module names inside each encoder layer: a
//! target matches a module whose name equals it or ends with `.target`. The names are
//! `attention.self.query`, `attention.self.key`, `attention.self.value`,
//! `attention.output.dense`, `intermediate.dense` and `output.dense`; so `query`/`key`/`value`
//! pick the attention projections, `dense` picks all three dense layers of every encoder layer
//! (attention output, intermediate, output), and `intermediate.dense` or `attention.output.dense`
//! pick one of them. The pooler is never adapted: with LoRA it trains in full, with the
//! classifier head.

use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};

use finetune_spec::LoraSpec;

use super::blocks::{linear_tokens, Dropout};
use super::error::ModelError;
use super::init::SeededRng;

/// The Hugging Face names of the linear layers of one encoder layer, in the order they are
/// built. LoRA targets are matched against these.
pub const LAYER_LINEARS: [&str; 6] = [
    "attention.self.query",
    "attention.self.key",
    "attention.self.value",
    "attention.output.dense",
    "intermediate.dense",
    "output.dense",
];

/// LoRA settings, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct LoraConfig {
    pub r: usize,
    pub alpha: f64,
    pub dropout: f64,
    pub targets: Vec<String>,
}

impl LoraConfig {
    /// Checks a spec: `r > 0`, dropout in [0, 1), every target matching some layer.
    pub fn from_spec(spec: &LoraSpec) -> Result<Self, ModelError> {
        let cfg = LoraConfig {
            r: spec.r.get(),
            alpha: spec.alpha.get(),
            dropout: spec.dropout.get(),
            targets: spec.targets.clone(),
        };
        cfg.check()?;
        Ok(cfg)
    }

    /// Validates the settings against BERT's layers ([`LAYER_LINEARS`]).
    pub fn check(&self) -> Result<(), ModelError> {
        self.check_settings()?;
        for t in &self.targets {
            if !LAYER_LINEARS.iter().any(|name| target_matches(t, name)) {
                return Err(ModelError::Invalid(format!(
                    "lora target `{t}` matches no layer: expected one of query, key, value, \
                     dense, attention.output.dense, intermediate.dense, output.dense"
                )));
            }
        }
        Ok(())
    }

    /// Validates the settings against another architecture's layer-relative module names.
    pub fn check_modules(&self, modules: &[&str]) -> Result<(), ModelError> {
        self.check_settings()?;
        for t in &self.targets {
            if !modules.iter().any(|name| target_matches(t, name)) {
                return Err(ModelError::Invalid(format!(
                    "lora target `{t}` matches no layer: expected one of {}",
                    modules.join(", ")
                )));
            }
        }
        Ok(())
    }

    /// Rank, dropout and a non-empty target list, whatever the architecture.
    fn check_settings(&self) -> Result<(), ModelError> {
        if self.r == 0 {
            return Err(ModelError::Invalid("lora.r must be at least 1".into()));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(ModelError::Invalid(format!(
                "lora.dropout {} is not in [0, 1)",
                self.dropout
            )));
        }
        if self.targets.is_empty() {
            return Err(ModelError::Invalid(
                "lora.targets is empty: name at least one layer to adapt".into(),
            ));
        }
        Ok(())
    }

    /// `alpha / r`.
    pub fn scale(&self) -> f64 {
        self.alpha / self.r as f64
    }

    /// Whether the layer-relative HF module `name` is adapted.
    pub fn targets_module(&self, name: &str) -> bool {
        self.targets.iter().any(|t| target_matches(t, name))
    }
}

/// PEFT's suffix rule: `name == target` or `name` ends with `.target`.
pub fn target_matches(target: &str, name: &str) -> bool {
    name == target
        || (name.len() > target.len()
            && name.ends_with(target)
            && name.as_bytes()[name.len() - target.len() - 1] == b'.')
}

/// The low-rank update of one linear layer.
#[derive(Module, Debug)]
pub struct LoraAdapter<B: Backend> {
    /// `[d_input, r]` (PEFT's `lora_A.weight` transposed).
    pub a: Param<Tensor<B, 2>>,
    /// `[r, d_output]` (PEFT's `lora_B.weight` transposed).
    pub b: Param<Tensor<B, 2>>,
    pub scale: f64,
    pub dropout: Dropout,
}

impl<B: Backend> LoraAdapter<B> {
    /// A fresh adapter: `A` uniform in ±1/√d_input (PEFT's kaiming-uniform with a=√5), `B` zero.
    pub fn new(
        d_input: usize,
        d_output: usize,
        cfg: &LoraConfig,
        rng: &mut SeededRng,
        device: &B::Device,
    ) -> Self {
        let bound = 1.0 / (d_input as f64).sqrt();
        let a = TensorData::new(rng.uniform(d_input * cfg.r, bound), [d_input, cfg.r]);
        let a = Tensor::<B, 2>::from_data(a, device);
        let b = Tensor::<B, 2>::zeros([cfg.r, d_output], device);
        LoraAdapter {
            a: Param::from_tensor(a),
            b: Param::from_tensor(b),
            scale: cfg.scale(),
            dropout: Dropout::new(cfg.dropout),
        }
    }

    /// `scale · dropout(x)·A·B`.
    pub fn forward<const D: usize>(&self, x: Tensor<B, D>) -> Tensor<B, D> {
        let x = self.dropout.forward(x);
        let xa = linear_tokens(x, self.a.val(), None);
        linear_tokens(xa, self.b.val(), None).mul_scalar(self.scale)
    }

    /// The pair under PEFT's names and layout for the module at `prefix`
    /// (`<prefix>.lora_A.weight` `[r, in]`, `.lora_B.weight` `[out, r]`; ours are stored
    /// transposed).
    pub fn peft_tensors(&self, prefix: &str) -> [crate::model::causal::NamedTensor; 2] {
        use crate::model::causal::named_tensor;
        [
            named_tensor(&format!("{prefix}.lora_A.weight"), self.a.val().transpose()),
            named_tensor(&format!("{prefix}.lora_B.weight"), self.b.val().transpose()),
        ]
    }

    /// The dense update `scale · A·B`, `[d_input, d_output]`.
    pub fn delta(&self) -> Tensor<B, 2> {
        self.a.val().matmul(self.b.val()).mul_scalar(self.scale)
    }
}

/// A linear layer with an optional LoRA adapter.
#[derive(Module, Debug)]
pub struct AdaptedLinear<B: Backend> {
    pub base: Linear<B>,
    pub lora: Option<LoraAdapter<B>>,
}

impl<B: Backend> AdaptedLinear<B> {
    /// A plain linear layer.
    pub fn plain(base: Linear<B>) -> Self {
        AdaptedLinear { base, lora: None }
    }

    /// `x·W + b (+ scale · x·A·B)`, every token in one product ([`linear_tokens`]).
    pub fn forward<const D: usize>(&self, x: Tensor<B, D>) -> Tensor<B, D> {
        let base = |x| {
            let bias = self.base.bias.as_ref().map(|b| b.val());
            linear_tokens(x, self.base.weight.val(), bias)
        };
        match &self.lora {
            None => base(x),
            Some(lora) => base(x.clone()) + lora.forward(x),
        }
    }

    /// Freezes the base weight and bias and attaches a fresh adapter.
    pub fn adapt(self, cfg: &LoraConfig, rng: &mut SeededRng) -> Self {
        let [d_in, d_out] = self.base.weight.shape().dims();
        let device = self.base.weight.device();
        let base = self.base.no_grad();
        AdaptedLinear {
            base,
            lora: Some(LoraAdapter::new(d_in, d_out, cfg, rng, &device)),
        }
    }

    /// [`Self::adapt`] when `cfg` targets `module`, else unchanged. The `A` matrix is drawn
    /// from the stream of (`layer`, `index`: the module's place in the architecture's list)
    /// under `seed`, so adding a target never shifts the others' initialisation: the rule of
    /// every causal architecture.
    pub fn adapt_targeted(
        self,
        cfg: &LoraConfig,
        module: &str,
        seed: u64,
        layer: usize,
        index: usize,
    ) -> Self {
        if !cfg.targets_module(module) {
            return self;
        }
        let mut rng = SeededRng::new(seed, 1000 + (layer as u64) * 16 + index as u64);
        self.adapt(cfg, &mut rng)
    }

    /// The effective weight `W + scale·A·B`, `[d_input, d_output]`, without autodiff history.
    pub fn merged_weight(&self) -> Tensor<B, 2> {
        let w = self.base.weight.val();
        match &self.lora {
            None => w,
            Some(lora) => w + lora.delta(),
        }
        .detach()
    }

    /// Folds the adapter into the base weight: the plain linear layer an export writes.
    pub fn merge(self) -> Self {
        if self.lora.is_none() {
            return self;
        }
        let weight = self.merged_weight();
        let base = Linear {
            weight: Param::from_tensor(weight),
            bias: self.base.bias,
        };
        AdaptedLinear { base, lora: None }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffix_rule_matches_peft() {
        assert!(target_matches("query", "attention.self.query"));
        assert!(target_matches("dense", "attention.output.dense"));
        assert!(target_matches("dense", "intermediate.dense"));
        assert!(target_matches("output.dense", "output.dense"));
        assert!(target_matches("output.dense", "attention.output.dense"));
        assert!(!target_matches("intermediate.dense", "output.dense"));
        assert!(!target_matches("ery", "attention.self.query"));
    }

    #[test]
    fn rejects_bad_settings() {
        let ok = LoraConfig {
            r: 4,
            alpha: 8.0,
            dropout: 0.0,
            targets: vec!["query".into(), "value".into()],
        };
        ok.check().unwrap();
        assert_eq!(ok.scale(), 2.0);
        let bad = LoraConfig { r: 0, ..ok.clone() };
        assert!(bad.check().is_err());
        let bad = LoraConfig {
            targets: vec!["qkv".into()],
            ..ok.clone()
        };
        let e = bad.check().unwrap_err().to_string();
        assert!(e.contains("`qkv`"), "{e}");
    }
}
