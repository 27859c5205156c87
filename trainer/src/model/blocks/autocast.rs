//! Mixed precision as `torch.autocast` does it: the parameters, their gradients and the optimizer
//! state stay f32 (the master weights), and only the matrix products run in half precision. Each
//! product casts its operands to the compute type and its result back to f32, so LayerNorm,
//! softmax, the loss and every reduction stay in f32, and the autodiff graph casts each gradient
//! back to the dtype its input had.
//!
//! A bf16 *backend* would instead store the weights in bf16: updates smaller than a weight's
//! bf16 spacing (2⁻⁸ of it) vanish, and a long run drifts from the f32 one. Autocast keeps the
//! update exact and still runs the GEMMs, where the time goes, in half precision.
//!
//! The compute type is per thread, set for the duration of a closure ([`with`]), like torch's
//! context manager: the trainer runs a model on the thread that called it, and tests running
//! several trainings in one process each keep their own setting.

use burn::tensor::backend::Backend;
use burn::tensor::module::linear;
use burn::tensor::{FloatDType, Tensor};
use std::cell::Cell;

/// The dtype of the matrix products.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compute {
    #[default]
    F32,
    Bf16,
    F16,
}

impl Compute {
    pub fn name(self) -> &'static str {
        match self {
            Compute::F32 => "f32",
            Compute::Bf16 => "bf16",
            Compute::F16 => "f16",
        }
    }

    fn half(self) -> Option<FloatDType> {
        match self {
            Compute::F32 => None,
            Compute::Bf16 => Some(FloatDType::BF16),
            Compute::F16 => Some(FloatDType::F16),
        }
    }
}

thread_local! {
    static COMPUTE: Cell<Compute> = const { Cell::new(Compute::F32) };
}

/// Runs `f` with matrix products in `compute`, restoring the previous setting afterwards (also
/// when `f` panics: the guard's drop restores it).
pub fn with<R>(compute: Compute, f: impl FnOnce() -> R) -> R {
    struct Restore(Compute);
    impl Drop for Restore {
        fn drop(&mut self) {
            COMPUTE.with(|c| c.set(self.0));
        }
    }
    let _restore = Restore(COMPUTE.with(|c| c.replace(compute)));
    f()
}

/// The compute type in effect on this thread.
pub fn current() -> Compute {
    COMPUTE.with(Cell::get)
}

/// `a · b` in the compute type, returned in `a`'s dtype.
pub fn matmul<B: Backend, const D: usize>(a: Tensor<B, D>, b: Tensor<B, D>) -> Tensor<B, D> {
    match current().half() {
        None => a.matmul(b),
        Some(half) => {
            let out = a.dtype();
            a.cast(half).matmul(b.cast(half)).cast(out)
        }
    }
}

/// `x · weight (+ bias)` for a 2-D `x` (`[rows, d_in]`, `weight` `[d_in, d_out]`): the product in
/// the compute type, the bias added in `x`'s dtype.
pub fn linear2<B: Backend>(
    x: Tensor<B, 2>,
    weight: Tensor<B, 2>,
    bias: Option<Tensor<B, 1>>,
) -> Tensor<B, 2> {
    match current().half() {
        None => super::fused::linear(x, weight, bias),
        Some(half) => {
            let out = x.dtype();
            let y = linear(x.cast(half), weight.cast(half), None).cast(out);
            match bias {
                Some(b) => y + b.unsqueeze::<2>(),
                None => y,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Cpu;
    use burn::tensor::DType;

    fn operands() -> (Tensor<Cpu, 2>, Tensor<Cpu, 2>) {
        let device = Default::default();
        // 1 + 2⁻¹⁰ is exact in f32 and f16 but rounds to 1 in bf16 (8 bits of mantissa).
        let a = Tensor::<Cpu, 2>::from_floats([[1.0 + 1.0 / 1024.0, 2.0], [3.0, -4.0]], &device);
        let b = Tensor::<Cpu, 2>::from_floats([[1.0, 0.0], [0.0, 1.0]], &device);
        (a, b)
    }

    #[test]
    fn products_run_in_the_compute_type_and_come_back_in_f32() {
        let (a, b) = operands();
        let f32_out = matmul(a.clone(), b.clone());
        let bf16_out = with(Compute::Bf16, || matmul(a.clone(), b.clone()));
        let f16_out = with(Compute::F16, || matmul(a, b));
        assert_eq!(bf16_out.dtype(), DType::F32);
        let first = |t: Tensor<Cpu, 2>| t.into_data().to_vec::<f32>().unwrap()[0];
        assert_eq!(first(f32_out), 1.0 + 1.0 / 1024.0);
        assert_eq!(first(bf16_out), 1.0, "bf16 rounds the operand");
        assert_eq!(first(f16_out), 1.0 + 1.0 / 1024.0, "f16 keeps 10 bits");
    }

    #[test]
    fn the_setting_is_scoped_and_restored() {
        assert_eq!(current(), Compute::F32);
        with(Compute::Bf16, || {
            assert_eq!(current(), Compute::Bf16);
            with(Compute::F16, || assert_eq!(current(), Compute::F16));
            assert_eq!(current(), Compute::Bf16);
        });
        assert_eq!(current(), Compute::F32);
        let _ = std::panic::catch_unwind(|| with(Compute::F16, || panic!("inside")));
        assert_eq!(current(), Compute::F32);
    }

    #[test]
    fn linear_adds_the_bias_in_f32() {
        let (x, w) = operands();
        let device = Default::default();
        let bias = Tensor::<Cpu, 1>::from_floats([0.5, -0.5], &device);
        let plain = linear2(x.clone(), w.clone(), Some(bias.clone()));
        let half = with(Compute::F16, || linear2(x, w, Some(bias)));
        assert_eq!(half.dtype(), DType::F32);
        half.into_data()
            .assert_approx_eq::<f32>(&plain.into_data(), Default::default());
    }
}
