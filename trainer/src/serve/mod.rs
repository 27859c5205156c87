//! `serve`: a model directory behind a small HTTP server (axum on tokio).
//!
//! - [`served`]: what the directory holds (a classifier today; causal LMs later) and the loaded
//!   classifier behind a backend-free interface.
//! - [`api`]: the routes (`finetune_spec::serving`'s paths), request checks, JSON errors.
//!
//! Inference is synchronous burn code: each request runs it on tokio's blocking pool, at most
//! `workers` at once (a semaphore), so the async threads keep accepting and answering health
//! checks. SIGTERM and SIGINT stop accepting, let in-flight requests finish, and return; the
//! handlers are installed here (the process is PID 1 in a model image, where the kernel gives
//! signals without a handler no default action).

pub mod api;
pub mod served;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::Semaphore;

use crate::error::RunError;
use api::AppState;
use served::{Classify, Info, ModelKind};

/// `serve`'s settings.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub model: PathBuf,
    pub host: String,
    pub port: u16,
    pub max_body_bytes: usize,
    pub max_batch: usize,
    pub max_length: usize,
    /// Inferences running at once.
    pub workers: usize,
    /// Texts per forward pass within one request (as `predict --batch-size`).
    pub batch_size: usize,
}

/// Fails with one line when the directory holds a model `serve` cannot answer for yet.
pub fn check_servable(dir: &Path) -> Result<(), RunError> {
    match served::detect(dir)? {
        ModelKind::Classifier => Ok(()),
        ModelKind::CausalLm { architecture } => Err(RunError::BadInput(format!(
            "{}: {architecture} is a causal language model; serve answers classifiers \
             (POST /predict) only, /v1/completions comes with causal-LM support (issue #9)",
            dir.display()
        ))),
    }
}

/// Serves a loaded classifier until SIGTERM or SIGINT, then returns once in-flight requests are
/// answered.
pub fn run_classifier(
    opts: &ServeOptions,
    classifier: Arc<dyn Classify>,
    info: Info,
) -> Result<(), RunError> {
    let state = Arc::new(AppState {
        classifier,
        info,
        permits: Semaphore::new(opts.workers.max(1)),
    });
    let router = api::classifier_router(state);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        // Two async threads are plenty: they only parse, queue and write; burn has rayon's pool.
        .worker_threads(2)
        .enable_io()
        .build()
        .map_err(|e| RunError::Failed(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(async move {
        // Handlers first, so a signal that arrives once we listen is never lost.
        let mut term = signal(SignalKind::terminate())
            .map_err(|e| RunError::Failed(format!("cannot handle SIGTERM: {e}")))?;
        let mut int = signal(SignalKind::interrupt())
            .map_err(|e| RunError::Failed(format!("cannot handle SIGINT: {e}")))?;
        let addr = format!("{}:{}", opts.host, opts.port);
        let listener = tokio::net::TcpListener::bind(&addr)
            .await
            .map_err(|e| RunError::BadInput(format!("cannot listen on {addr}: {e}")))?;
        let bound: SocketAddr = listener
            .local_addr()
            .map_err(|e| RunError::Failed(format!("cannot listen on {addr}: {e}")))?;
        eprintln!("[serve] serving {} on {bound}", opts.model.display());
        let shutdown = async move {
            let name = tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            };
            eprintln!("[serve] {name}: no new connections; finishing in-flight requests");
        };
        axum::serve(listener, router)
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(|e| RunError::Failed(format!("server failed: {e}")))?;
        eprintln!("[serve] stopped");
        Ok(())
    })
}

/// `serve` on the chosen backend (inference: the backend under autodiff).
pub struct ServeWork(pub ServeOptions);

impl crate::backend::WithBackend for ServeWork {
    type Output = Result<(), RunError>;
    fn run<B: burn::tensor::backend::AutodiffBackend>(
        self,
        device: B::Device,
        _: crate::backend::Chosen,
    ) -> Self::Output {
        let opts = self.0;
        check_servable(&opts.model)?;
        let clf = crate::inference::Classifier::<B::InnerBackend>::load(
            &opts.model,
            opts.max_length,
            device,
        )?;
        let info = Info::classifier(
            &opts.model,
            clf.labels.clone(),
            clf.tok.max_length(),
            (opts.max_batch, opts.max_body_bytes),
        )?;
        let pool = served::ClassifierPool::new(clf, opts.workers, opts.batch_size);
        run_classifier(&opts, Arc::new(pool), info)
    }
}
