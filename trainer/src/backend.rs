//! The burn backends the trainer runs on: [`Cpu`] (the fastest CPU backend measured for a
//! MiniLM training step on this project's machines), [`Train`] (autodiff over a backend), and,
//! with the `cuda` feature, [`Gpu`] (burn-cuda, f32) and [`GpuBf16`] (burn-cuda, bf16).

/// The default CPU backend.
pub type Cpu = burn::backend::Flex;

/// A backend with automatic differentiation, for training.
pub type Train<B> = burn::backend::Autodiff<B>;

/// The CUDA backend, f32.
#[cfg(feature = "cuda")]
pub type Gpu = burn::backend::Cuda<f32, i32>;

/// The CUDA backend, bf16 floats (Ampere and newer).
#[cfg(feature = "cuda")]
pub type GpuBf16 = burn::backend::Cuda<half::bf16, i32>;

/// The CUDA backend, f16 floats.
#[cfg(feature = "cuda")]
pub type GpuF16 = burn::backend::Cuda<half::f16, i32>;

/// The name of the CPU backend, for logs and `run.json`.
pub fn backend_name() -> &'static str {
    "flex"
}

/// Compile-time check that the CUDA aliases are real backends that can train the model
/// (type aliases alone are not checked against trait bounds).
#[cfg(feature = "cuda")]
#[allow(dead_code)]
fn cuda_backends_are_usable() {
    fn trains<B: burn::tensor::backend::AutodiffBackend>() {
        let _ = core::mem::size_of::<Option<crate::model::BertClassifier<B>>>();
    }
    trains::<Train<Gpu>>();
    trains::<Train<GpuBf16>>();
    trains::<Train<GpuF16>>();
}
