//! The burn backends the trainer runs on: [`Cpu`] (the fastest CPU backend measured for a
//! MiniLM training step on this project's machines), [`Train`] (autodiff over a backend), and,
//! with the `cuda` feature, [`Gpu`] (burn-cuda). Every backend keeps its tensors in f32: half
//! precision is autocast ([`autocast`]), f32 master weights with bf16/f16 matrix products.
//!
//! [`run_with_backend`] is the one place that turns a requested [`Precision`] into a concrete
//! backend type: the training loop and inference stay generic, and the binary calls them through
//! a [`WithBackend`] value (a closure generic over the backend, which Rust closures cannot be).
//!
//! A CUDA build that finds no usable GPU either runs on the CPU with a note or stops with
//! [`NoGpu`] (exit `NO_GPU`), as [`OnNoGpu`] says: `train` stops unless the job asks for no GPU,
//! since the plugin only runs the CUDA image for jobs that get GPUs, and a job meant for a GPU
//! silently training on the CPU (a container started without the NVIDIA driver) is worse than
//! one clear error.

use crate::model::blocks::autocast::{self, Compute};
use burn::tensor::backend::AutodiffBackend;
use finetune_spec::Precision;

/// The default CPU backend.
pub type Cpu = burn::backend::Flex;

/// A backend with automatic differentiation, for training.
pub type Train<B> = burn::backend::Autodiff<B>;

/// The CUDA backend. f32 storage; bf16/f16 runs autocast their matrix products.
#[cfg(feature = "cuda")]
pub type Gpu = burn::backend::Cuda<f32, i32>;

/// The name of the CPU backend, for logs and `run.json`.
pub fn backend_name() -> &'static str {
    "flex"
}

/// The name of the CUDA backend, for logs and `run.json`.
pub const CUDA_NAME: &str = "cuda";

/// The backend and float precision a command actually runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chosen {
    /// `flex` or `cuda`.
    pub backend: &'static str,
    /// `f32`, `bf16` or `f16`.
    pub precision: &'static str,
}

/// Work to run on whichever backend [`run_with_backend`] picks: `run` is generic over the
/// training backend `B` (use `B::InnerBackend` for inference).
pub trait WithBackend {
    type Output;
    fn run<B: AutodiffBackend>(self, device: B::Device, chosen: Chosen) -> Self::Output;
}

/// The text of a panic payload (a `String` or a `&str`). Backends report failures by
/// panicking, allocation failures included: the binary's panic hook and the CUDA probe read
/// the message through this.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> Option<String> {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
}

/// Makes glibc's allocator keep freed memory for reuse instead of handing it back to the kernel.
///
/// A training step allocates and frees tensors of up to tens of MB (the word-embedding gradient
/// and its AdamW moments are 47 MB each for MiniLM). With glibc's defaults every buffer above the
/// mmap threshold is a fresh `mmap` and every free of it a `munmap`, so each step pays page
/// faults and zeroing for its whole working set again: 32 % of a short-batch MiniLM step was
/// kernel time. Raising the mmap and trim thresholds and using one arena keeps the working set
/// mapped (the process holds its peak heap); measured +40 % samples/s (docs/benchmarks.md).
/// Call it once at start-up, before other threads exist. Elsewhere than Linux/glibc, a no-op.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; called before other threads allocate.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 30);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
    }
}

/// Whether `B` is the backend `C`: lets generic code take a hand-written CPU path (the fused
/// kernels, the fused AdamW step) without a trait bound on every caller.
pub fn is<B: 'static, C: 'static>() -> bool {
    std::any::TypeId::of::<B>() == std::any::TypeId::of::<C>()
}

/// Moves a value between two spellings of one type, such as a generic `Tensor<B, D>` whose `B`
/// [`is`] `Train<Cpu>` and `Tensor<Train<Cpu>, D>`. Callers check [`is`] first.
pub fn cast<T: 'static, U: 'static>(value: T) -> U {
    match (Box::new(value) as Box<dyn std::any::Any>).downcast::<U>() {
        Ok(u) => *u,
        Err(_) => unreachable!("cast between different types: callers check `is` first"),
    }
}

/// What a CUDA build does when it finds no usable CUDA device. (A CPU-only build always runs on
/// the CPU.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnNoGpu {
    /// Run on the CPU with a note: `predict`, `eval`, and jobs with `resources.gpus: 0`.
    UseCpu,
    /// Stop with [`NoGpu`]: `train` of a job that may use GPUs.
    Fail,
}

/// Why a CUDA build could not run on a GPU it was asked to use; one line that says what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NoGpu(pub String);

/// The message when the driver library is missing: what a container started without GPUs (or
/// on a host without the NVIDIA container toolkit) sees.
pub const NO_DRIVER: &str = "no NVIDIA driver found (libcuda.so.1): run the CUDA image with GPUs \
(`--gpus all`, or `resources.gpus` with the NVIDIA container toolkit installed), or use the CPU image";

fn log(msg: impl AsRef<str>) {
    eprintln!("[finetune] {}", msg.as_ref());
}

fn on_cpu<W: WithBackend>(work: W, compute: Compute) -> W::Output {
    let chosen = Chosen {
        backend: backend_name(),
        precision: compute.name(),
    };
    autocast::with(compute, || {
        work.run::<Train<Cpu>>(Default::default(), chosen)
    })
}

/// Runs `work` on the backend `precision` asks for.
///
/// Weights are f32 everywhere; the precision picks the matrix products' type ([`autocast`]).
/// CPU-only build: `auto`/`f32` → f32; `bf16`/`f16` as asked (flex computes them, more slowly
/// than f32: it is there to check a half-precision run on a machine without a GPU). `cuda`
/// build: `auto` → bf16 where the GPU computes it (else f32), `bf16`/`f16`/`f32` as asked; when
/// no CUDA device is usable (no driver, no GPU) it stops with [`NoGpu`] or, with
/// [`OnNoGpu::UseCpu`], logs why and falls back to flex/f32.
pub fn run_with_backend<W: WithBackend>(
    precision: Precision,
    on_no_gpu: OnNoGpu,
    work: W,
) -> Result<W::Output, NoGpu> {
    #[cfg(not(feature = "cuda"))]
    let _ = on_no_gpu;
    // A CUDA build that falls back to the CPU runs f32 there, whatever was asked.
    #[cfg(feature = "cuda")]
    let precision = match cuda::pick(precision) {
        Ok(compute) => {
            let device = burn::backend::cuda::CudaDevice::default();
            let chosen = Chosen {
                backend: CUDA_NAME,
                precision: compute.name(),
            };
            log(format!(
                "backend cuda:0, precision {} (f32 weights)",
                compute.name()
            ));
            return Ok(autocast::with(compute, || {
                work.run::<Train<Gpu>>(device, chosen)
            }));
        }
        Err(why) if on_no_gpu == OnNoGpu::Fail => return Err(why.into_no_gpu()),
        Err(why) => {
            log(format!(
                "{why}: falling back to the CPU backend ({}, f32)",
                backend_name()
            ));
            Precision::F32
        }
    };
    let compute = cpu_compute(precision);
    if compute != Compute::F32 {
        log(format!(
            "precision {}: f32 weights, {} matrix products on the CPU backend ({}); slower than \
             f32 here, half precision pays off on a GPU",
            precision_name(precision),
            compute.name(),
            backend_name(),
        ));
    }
    Ok(on_cpu(work, compute))
}

/// The CPU's compute type for a requested precision: `auto` is f32 (no CPU here gains from half
/// precision), an explicit `bf16`/`f16` is honoured.
fn cpu_compute(precision: Precision) -> Compute {
    match precision {
        Precision::Bf16 => Compute::Bf16,
        Precision::F16 => Compute::F16,
        Precision::Auto | Precision::F32 => Compute::F32,
    }
}

fn precision_name(p: Precision) -> &'static str {
    match p {
        Precision::Auto => "auto",
        Precision::F32 => "f32",
        Precision::Bf16 => "bf16",
        Precision::F16 => "f16",
    }
}

/// Parses a `--precision` flag value (`auto`, `f32`, `bf16`, `f16`).
pub fn parse_precision(s: &str) -> Result<Precision, String> {
    serde_json::from_value(serde_json::Value::String(s.to_ascii_lowercase()))
        .map_err(|_| format!("unknown precision {s:?}: use auto, f32, bf16 or f16"))
}

#[cfg(feature = "cuda")]
mod cuda {
    //! Is a CUDA device usable, and with which float type? burn-cuda 0.21 / cubecl-cuda 0.10
    //! have no fallible device API: the device is created lazily on first use, and a missing
    //! driver (`libcuda.so`) or GPU makes cudarc/cubecl panic (`init().unwrap()` in
    //! `CudaServer::init`, `panic!("Missing symbol …")` in cudarc's loader), possibly on cubecl's
    //! device thread. So the probe runs one tiny op in its own thread with a time limit and a
    //! silenced panic hook, and treats a panic, a dropped channel or a timeout as "unusable".

    use super::{Compute, Gpu, NoGpu, NO_DRIVER};
    use burn::tensor::{FloatDType, Tensor};
    use finetune_spec::Precision;
    use std::fmt;
    use std::sync::mpsc;
    use std::time::Duration;

    const PROBE_TIMEOUT: Duration = Duration::from_secs(60);

    /// Why CUDA cannot be used.
    #[derive(Debug)]
    pub enum Unusable {
        /// `libcuda` does not load (dlerror's text).
        NoDriver(String),
        /// The driver loads but the probe failed.
        Failed(String),
    }

    impl fmt::Display for Unusable {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self {
                Unusable::NoDriver(e) => write!(f, "no NVIDIA driver found ({e})"),
                Unusable::Failed(e) => write!(f, "no usable CUDA device ({e})"),
            }
        }
    }

    impl Unusable {
        pub fn into_no_gpu(self) -> NoGpu {
            NoGpu(match self {
                Unusable::NoDriver(_) => NO_DRIVER.to_string(),
                Unusable::Failed(e) => format!(
                    "CUDA is not usable ({e}): check that `nvidia-smi` works in the container, \
                     or use the CPU image"
                ),
            })
        }
    }

    /// Whether the driver library loads, under the names cudarc tries on Linux (`libcuda.so`,
    /// ..., `libcuda.so.1`; the driver installs `libcuda.so.1`, the development package adds
    /// `libcuda.so`). Checked first because cudarc panics when it finds none, possibly on a
    /// device thread (see the module comment).
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn load_driver() -> Result<(), String> {
        use std::ffi::{CStr, CString};
        let mut why = String::new();
        for name in ["libcuda.so.1", "libcuda.so"] {
            let c = CString::new(name).expect("no NUL in a library name");
            // SAFETY: dlopen/dlclose on a valid C string; the handle is closed again at once
            // (cudarc opens the library itself), and dlerror's text is copied before the next
            // dl call.
            unsafe {
                let handle = libc::dlopen(c.as_ptr(), libc::RTLD_LAZY | libc::RTLD_LOCAL);
                if !handle.is_null() {
                    libc::dlclose(handle);
                    return Ok(());
                }
                let err = libc::dlerror();
                if why.is_empty() && !err.is_null() {
                    why = CStr::from_ptr(err).to_string_lossy().into_owned();
                }
            }
        }
        Err(why)
    }

    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    fn load_driver() -> Result<(), String> {
        Ok(())
    }

    /// The compute type to run with on CUDA, or why CUDA cannot be used.
    pub fn pick(precision: Precision) -> Result<Compute, Unusable> {
        load_driver().map_err(Unusable::NoDriver)?;
        probe_precision(precision).map_err(Unusable::Failed)
    }

    fn probe_precision(precision: Precision) -> Result<Compute, String> {
        match precision {
            Precision::F32 => probe(None).map(|_| Compute::F32),
            Precision::Bf16 => probe(Some(FloatDType::BF16)).map(|_| Compute::Bf16),
            Precision::F16 => probe(Some(FloatDType::F16)).map(|_| Compute::F16),
            Precision::Auto => match probe(Some(FloatDType::BF16)) {
                Ok(()) => Ok(Compute::Bf16),
                Err(bf16) => probe(None).map(|_| {
                    eprintln!("[finetune] bf16 does not work on this GPU ({bf16}): using f32");
                    Compute::F32
                }),
            },
        }
    }

    /// One small product on the device, in `half` when given (cast from and back to f32, as
    /// autocast does).
    fn probe(half: Option<FloatDType>) -> Result<(), String> {
        // Silence panics while probing, but keep the first message: the real cause (e.g. no
        // libcuda.so) may be raised on cubecl's device thread, the probe only sees a RecvError.
        let first = std::sync::Arc::new(std::sync::Mutex::new(None::<String>));
        let slot = first.clone();
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let msg = super::panic_message(info.payload()).unwrap_or_default();
            if let Ok(mut s) = slot.lock() {
                s.get_or_insert(msg);
            }
        }));
        let (tx, rx) = mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("cuda-probe".into())
            .spawn(move || {
                let r = std::panic::catch_unwind(|| {
                    let device = Default::default();
                    let t = Tensor::<Gpu, 2>::from_floats([[1.0, 2.0]], &device);
                    let two = Tensor::<Gpu, 2>::from_floats([[2.0]], &device);
                    let t = match half {
                        Some(h) => two.cast(h).matmul(t.cast(h)).cast(FloatDType::F32),
                        None => two.matmul(t),
                    };
                    let v: Vec<f32> = t.into_data().convert::<f32>().to_vec().unwrap_or_default();
                    v
                });
                let _ = tx.send(r.map_err(|p| {
                    super::panic_message(&*p)
                        .unwrap_or_else(|| "CUDA initialisation panicked".into())
                }));
            });
        let result = match spawned {
            Err(e) => Err(format!("cannot start the probe thread: {e}")),
            Ok(_) => match rx.recv_timeout(PROBE_TIMEOUT) {
                Ok(Ok(v)) if v == [2.0, 4.0] => Ok(()),
                Ok(Ok(v)) => Err(format!("a test computation returned {v:?}")),
                Ok(Err(msg)) => Err(first_line(
                    &first.lock().ok().and_then(|f| f.clone()).unwrap_or(msg),
                )),
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    Err(format!("no answer within {}s", PROBE_TIMEOUT.as_secs()))
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => Err(first
                    .lock()
                    .ok()
                    .and_then(|f| f.clone())
                    .map(|m| first_line(&m))
                    .unwrap_or_else(|| "CUDA initialisation failed".into())),
            },
        };
        std::panic::set_hook(hook);
        result
    }

    fn first_line(s: &str) -> String {
        s.lines().next().unwrap_or("").chars().take(200).collect()
    }
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
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a run got: the choice, the float type of the backend it ran on (the weights') and
    /// the autocast compute type in effect inside the run.
    #[cfg(not(feature = "cuda"))]
    struct Report;
    #[cfg(not(feature = "cuda"))]
    impl WithBackend for Report {
        type Output = (Chosen, String, Compute);
        fn run<B: AutodiffBackend>(self, _device: B::Device, chosen: Chosen) -> Self::Output {
            let dtype = <B::FloatElem as burn::tensor::Element>::dtype();
            (chosen, format!("{dtype:?}"), autocast::current())
        }
    }

    #[test]
    fn precision_flags_parse_and_bad_ones_say_what_is_allowed() {
        assert_eq!(parse_precision("BF16"), Ok(Precision::Bf16));
        assert_eq!(parse_precision("auto"), Ok(Precision::Auto));
        let e = parse_precision("fp8").unwrap_err();
        assert!(e.contains("auto, f32, bf16 or f16"), "{e}");
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn cpu_build_keeps_f32_weights_and_autocasts_explicit_half_precision() {
        for (p, compute) in [
            (Precision::Auto, Compute::F32),
            (Precision::F32, Compute::F32),
            (Precision::Bf16, Compute::Bf16),
            (Precision::F16, Compute::F16),
        ] {
            let (chosen, dtype, inside) = run_with_backend(p, OnNoGpu::Fail, Report).unwrap();
            assert_eq!(
                chosen,
                Chosen {
                    backend: "flex",
                    precision: compute.name()
                }
            );
            assert_eq!(dtype, "F32", "master weights stay f32 for {p:?}");
            assert_eq!(inside, compute);
            assert_eq!(autocast::current(), Compute::F32, "restored after the run");
        }
    }
}
