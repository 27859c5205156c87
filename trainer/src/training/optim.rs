//! AdamW (PyTorch's formulation, decoupled weight decay) with global-norm gradient clipping, gradient
//! accumulation, and a state keyed by parameter path so it can be checkpointed and restored exactly.
//!
//! burn 0.21's `AdamW` keys its state by `ParamId` (random on every load) and clips per tensor; we
//! need the state to survive a process restart and the clip to be global like PyTorch's
//! `clip_grad_norm_`, so the step is written here as a `ModuleMapper`.

use super::params::PathStack;
use burn::module::{AutodiffModule, ModuleMapper, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{DType, ElementConversion, Tensor, TensorData};

use crate::backend::{cast, is, Cpu};
use std::collections::BTreeMap;

/// Adam's first and second moments of one parameter, flattened.
pub struct Moments<B: Backend> {
    pub m: Tensor<B, 1>,
    pub v: Tensor<B, 1>,
}

/// AdamW hyper-parameters and state.
pub struct AdamW<B: Backend> {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    /// Optimizer steps taken (Adam's `t`).
    pub steps: u64,
    pub state: BTreeMap<String, Moments<B>>,
}

impl<B: Backend> AdamW<B> {
    pub fn new(weight_decay: f64) -> Self {
        AdamW {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay,
            steps: 0,
            state: BTreeMap::new(),
        }
    }

    /// Applies one update with learning rate `lr` and gradients already scaled by `grad_scale`
    /// (the clipping factor). Biases and LayerNorm weights (1-D parameters) get no weight decay,
    /// as in Hugging Face's Trainer.
    pub fn step<AB, M>(&mut self, lr: f64, grad_scale: f64, module: M, grads: GradientsParams) -> M
    where
        AB: AutodiffBackend<InnerBackend = B>,
        M: AutodiffModule<AB>,
    {
        self.steps += 1;
        let mut mapper = StepMapper::<B> {
            opt: self,
            grads,
            lr,
            grad_scale,
            path: PathStack::default(),
        };
        module.map(&mut mapper)
    }

    /// [`Self::step`] on a module held by reference. A module cannot be moved out of a `&mut`,
    /// and stepping a clone would leave every parameter buffer shared with the original, so
    /// the update would copy each one first (a serial pass over all 22.7 M of MiniLM's
    /// weights). Instead a placeholder whose parameters are empty stands in while the step
    /// owns the real one.
    pub fn step_in_place<AB, M>(
        &mut self,
        lr: f64,
        grad_scale: f64,
        module: &mut M,
        grads: GradientsParams,
    ) where
        AB: AutodiffBackend<InnerBackend = B>,
        M: AutodiffModule<AB>,
    {
        let placeholder = module.clone().map(&mut Emptied);
        let owned = std::mem::replace(module, placeholder);
        *module = self.step(lr, grad_scale, owned, grads);
    }

    /// The moments as named f32 tensors (`m.PATH`, `v.PATH`) for a checkpoint.
    pub fn export_state(&self) -> BTreeMap<String, TensorData> {
        let mut out = BTreeMap::new();
        for (path, mo) in &self.state {
            out.insert(format!("m.{path}"), mo.m.to_data().convert::<f32>());
            out.insert(format!("v.{path}"), mo.v.to_data().convert::<f32>());
        }
        out
    }

    /// Restores moments written by [`AdamW::export_state`].
    pub fn import_state(
        &mut self,
        steps: u64,
        tensors: &BTreeMap<String, TensorData>,
        device: &B::Device,
    ) {
        self.steps = steps;
        self.state.clear();
        for (name, data) in tensors {
            if let Some(path) = name.strip_prefix("m.") {
                if let Some(v) = tensors.get(&format!("v.{path}")) {
                    self.state.insert(
                        path.to_string(),
                        Moments {
                            m: Tensor::from_data(data.clone(), device),
                            v: Tensor::from_data(v.clone(), device),
                        },
                    );
                }
            }
        }
    }
}

/// Replaces every float parameter by an empty tensor of the same rank (see
/// [`AdamW::step_in_place`]).
struct Emptied;

impl<B: Backend> ModuleMapper<B> for Emptied {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        let (id, tensor, mapper) = param.consume();
        let empty = Tensor::empty([0; D], &tensor.device());
        Param::from_mapped_value(id, empty, mapper)
    }
}

struct StepMapper<'a, B: Backend> {
    opt: &'a mut AdamW<B>,
    grads: GradientsParams,
    lr: f64,
    grad_scale: f64,
    path: PathStack,
}

impl<AB: AutodiffBackend> ModuleMapper<AB> for StepMapper<'_, AB::InnerBackend> {
    fn enter_module(&mut self, name: &str, _: &str) {
        self.path.enter(name);
    }
    fn exit_module(&mut self, _: &str, _: &str) {
        self.path.exit();
    }
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<AB, D>>) -> Param<Tensor<AB, D>> {
        let (id, tensor, mapper) = param.consume();
        let Some(grad) = self.grads.remove::<AB::InnerBackend, D>(id) else {
            return Param::from_mapped_value(id, tensor, mapper);
        };
        let opt = &mut *self.opt;
        let shape = tensor.shape();
        let n = shape.num_elements();
        let t = opt.steps as i32;
        let u = Update {
            lr: self.lr,
            grad_scale: self.grad_scale,
            beta1: opt.beta1,
            beta2: opt.beta2,
            eps: opt.eps,
            bc1: 1.0 - opt.beta1.powi(t),
            bc2: 1.0 - opt.beta2.powi(t),
            // Biases and LayerNorm weights (1-D) get no weight decay.
            decay: (D >= 2 && opt.weight_decay != 0.0).then_some(opt.weight_decay),
        };
        let path = self.path.path();
        let state = opt.state.remove(&path);
        let (p, g) = (tensor.inner().reshape([n]), grad.reshape([n]));
        let (p, moments) = if is::<AB::InnerBackend, Cpu>() && p.dtype() == DType::F32 {
            cast(super::optim_cpu::update(&u, cast(p), cast(g), cast(state)))
        } else {
            u.apply(p, g, state)
        };
        opt.state.insert(path, moments);
        let p = p.reshape(shape);
        let p = Tensor::<AB, D>::from_inner(p).require_grad();
        Param::from_mapped_value(id, p, mapper)
    }
}

/// One AdamW update's hyper-parameters, with the bias corrections of its step.
pub struct Update {
    pub lr: f64,
    /// The clipping factor the gradient is multiplied by first.
    pub grad_scale: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    /// `1 - beta1^t`, `1 - beta2^t`.
    pub bc1: f64,
    pub bc2: f64,
    /// Decoupled weight decay, `None` for parameters that get none.
    pub decay: Option<f64>,
}

impl Update {
    /// `(p, moments)` after the step, with tensor ops (any backend; see `optim_cpu` for the CPU
    /// backend's one-pass form).
    pub fn apply<B: Backend>(
        &self,
        p: Tensor<B, 1>,
        g: Tensor<B, 1>,
        state: Option<Moments<B>>,
    ) -> (Tensor<B, 1>, Moments<B>) {
        let g = match self.grad_scale {
            1.0 => g,
            s => g.mul_scalar(s),
        };
        let (m, v) = match state {
            Some(s) => (s.m, s.v),
            None => (g.zeros_like(), g.zeros_like()),
        };
        let m = m
            .mul_scalar(self.beta1)
            .add(g.clone().mul_scalar(1.0 - self.beta1));
        let v = v
            .mul_scalar(self.beta2)
            .add(g.clone().mul(g).mul_scalar(1.0 - self.beta2));
        // PyTorch: denom = sqrt(v) / sqrt(bc2) + eps; p -= lr / bc1 * m / denom.
        let denom = v
            .clone()
            .sqrt()
            .div_scalar(self.bc2.sqrt())
            .add_scalar(self.eps);
        let update = m.clone().div(denom).mul_scalar(self.lr / self.bc1);
        let p = match self.decay {
            Some(d) => p.mul_scalar(1.0 - self.lr * d),
            None => p,
        };
        (p.sub(update), Moments { m, v })
    }
}

/// The global L2 norm of all gradients of `module` (one host sync).
pub fn global_grad_norm<AB: AutodiffBackend, M: AutodiffModule<AB>>(
    module: &M,
    grads: &GradientsParams,
) -> f64 {
    struct Norm<'a, B: Backend> {
        grads: &'a GradientsParams,
        sum: Option<Tensor<B, 1>>,
    }
    impl<AB: AutodiffBackend> ModuleVisitor<AB> for Norm<'_, AB::InnerBackend> {
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<AB, D>>) {
            if let Some(g) = self.grads.get::<AB::InnerBackend, D>(p.id) {
                let s = g.powi_scalar(2).sum();
                self.sum = Some(match self.sum.take() {
                    Some(acc) => acc + s,
                    None => s,
                });
            }
        }
    }
    let mut n = Norm::<AB::InnerBackend> { grads, sum: None };
    module.visit(&mut n);
    n.sum
        .map(|s| s.into_scalar().elem::<f64>().sqrt())
        .unwrap_or(0.0)
}

/// The factor that brings the global norm down to `max_norm` (1 when already below), as
/// `torch.nn.utils.clip_grad_norm_` computes it.
pub fn clip_factor(norm: f64, max_norm: Option<f64>) -> f64 {
    match max_norm {
        Some(max) if max > 0.0 && norm.is_finite() => (max / (norm + 1e-6)).min(1.0),
        _ => 1.0,
    }
}

/// Adds `new` into `acc`, parameter by parameter (gradient accumulation over micro-batches).
pub fn accumulate<AB: AutodiffBackend, M: AutodiffModule<AB>>(
    module: &M,
    acc: &mut GradientsParams,
    mut new: GradientsParams,
) {
    struct Acc<'a> {
        acc: &'a mut GradientsParams,
        new: &'a mut GradientsParams,
    }
    impl<AB: AutodiffBackend> ModuleVisitor<AB> for Acc<'_> {
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<AB, D>>) {
            if let Some(g) = self.new.remove::<AB::InnerBackend, D>(p.id) {
                let sum = match self.acc.remove::<AB::InnerBackend, D>(p.id) {
                    Some(a) => a + g,
                    None => g,
                };
                self.acc.register::<AB::InnerBackend, D>(p.id, sum);
            }
        }
    }
    module.visit(&mut Acc { acc, new: &mut new });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_factor_matches_torch() {
        assert_eq!(clip_factor(0.5, Some(1.0)), 1.0);
        assert!((clip_factor(4.0, Some(1.0)) - 0.25).abs() < 1e-6);
        assert_eq!(clip_factor(4.0, None), 1.0);
        assert_eq!(clip_factor(f64::NAN, Some(1.0)), 1.0);
    }
}
