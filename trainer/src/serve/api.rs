//! `serve`'s HTTP API: routes, request checks and JSON errors.
//!
//! `POST /predict` takes `{"inputs": "text"}` or `{"inputs": ["a", "b"]}` and answers as Hugging
//! Face's text-embeddings-inference does: per text, every label with its probability, highest
//! first (one list for a string, a list of lists for a batch). Every error is JSON,
//! `{"error": ..., "error_type": ...}`, axum's plain-text rejections included; each failed request
//! is logged as one line with its status and reason, never with the texts (they may be personal
//! data), which is also why request bodies are parsed here and not by a typed deserializer whose
//! messages quote the values.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use finetune_spec::serving::{HEALTH_PATH, INFO_PATH, PREDICT_PATH};
use serde::Serialize;
use serde_json::{json, Value};
use tokio::sync::Semaphore;

use super::served::{Classify, Info};
use crate::inference::Prediction;

/// What the handlers share.
pub struct AppState {
    pub classifier: Arc<dyn Classify>,
    pub info: Info,
    /// One permit per inference that may run at once (see `--workers`).
    pub permits: Semaphore,
}

/// The classifier's routes, with JSON errors for everything else.
pub fn classifier_router(state: Arc<AppState>) -> Router {
    let limit = state.info.max_body_bytes;
    Router::new()
        .route(HEALTH_PATH, get(health))
        .route(INFO_PATH, get(info))
        .route(PREDICT_PATH, post(predict))
        // Causal LMs (issue #9) get their own router with `/v1/completions` and
        // `/v1/chat/completions` beside health and info; see `serve::run`.
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(limit))
        .layer(middleware::from_fn(log_failures))
        .with_state(state)
}

async fn health() -> Response {
    json_response(StatusCode::OK, &json!({"status": "ok"}))
}

async fn info(State(state): State<Arc<AppState>>) -> Response {
    json_response(StatusCode::OK, &state.info)
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "method not allowed on this endpoint",
    )
}

/// One label and its probability.
#[derive(Debug, Serialize)]
struct LabelScore<'a> {
    label: &'a str,
    score: f64,
}

/// A prediction as text-embeddings-inference lists it: every label, highest score first.
fn ranked(p: &Prediction) -> Vec<LabelScore<'_>> {
    let mut out: Vec<LabelScore> = p
        .probabilities
        .iter()
        .map(|(label, &score)| LabelScore { label, score })
        .collect();
    out.sort_by(|a, b| b.score.total_cmp(&a.score));
    out
}

async fn predict(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    check_json_content_type(&headers)?;
    let body = body.map_err(|r| {
        let status = r.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                status,
                "payload_too_large",
                format!("request body over {} bytes", state.info.max_body_bytes),
            )
        } else {
            ApiError::new(status, "bad_request", "cannot read the request body")
        }
    })?;
    let (texts, single) = parse_inputs(&body, state.info.max_batch)?;

    let _permit = state
        .permits
        .acquire()
        .await
        .map_err(|_| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unhealthy", "shutting down"))?;
    let classifier = Arc::clone(&state.classifier);
    let predictions = tokio::task::spawn_blocking(move || classifier.classify(&texts))
        .await
        .map_err(|_| ApiError::backend("inference failed (see the server log)"))?
        .map_err(|e| ApiError::backend(e.to_string()))?;

    let ranked: Vec<Vec<LabelScore>> = predictions.iter().map(ranked).collect();
    Ok(if single {
        json_response(StatusCode::OK, &ranked[0])
    } else {
        json_response(StatusCode::OK, &ranked)
    })
}

/// 415 unless the body is declared JSON (`application/json` or `application/*+json`).
fn check_json_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let declared = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = declared.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json")) {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        if declared.is_empty() {
            "missing Content-Type: send `Content-Type: application/json`".to_string()
        } else {
            format!("Content-Type `{mime}` is not JSON: send `Content-Type: application/json`")
        },
    ))
}

/// The texts of a `/predict` body, and whether `inputs` was one string (not a list).
fn parse_inputs(body: &[u8], max_batch: usize) -> Result<(Vec<String>, bool), ApiError> {
    // serde_json's syntax errors name a line and column, never the input.
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::new(StatusCode::BAD_REQUEST, "malformed_json", format!("malformed JSON: {e}"))
    })?;
    let invalid = |m: String| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "validation", m);
    let Value::Object(mut obj) = value else {
        return Err(invalid("expected a JSON object with `inputs`".into()));
    };
    if obj.get("raw_scores").and_then(Value::as_bool) == Some(true) {
        return Err(invalid("`raw_scores` is not supported: scores are probabilities".into()));
    }
    let (texts, single) = match obj.remove("inputs") {
        None => return Err(invalid("missing `inputs`: a string or a list of strings".into())),
        Some(Value::String(s)) => (vec![s], true),
        Some(Value::Array(items)) => {
            let texts = items
                .into_iter()
                .enumerate()
                .map(|(i, v)| match v {
                    Value::String(s) => Ok(s),
                    _ => Err(invalid(format!(
                        "inputs[{i}] is not a string (text pairs are not supported)"
                    ))),
                })
                .collect::<Result<Vec<_>, _>>()?;
            (texts, false)
        }
        Some(_) => return Err(invalid("`inputs` must be a string or a list of strings".into())),
    };
    if texts.is_empty() {
        return Err(invalid("`inputs` is empty".into()));
    }
    if texts.len() > max_batch {
        return Err(invalid(format!(
            "{} inputs exceed the batch limit of {max_batch} (--max-batch)",
            texts.len()
        )));
    }
    if let Some(i) = texts.iter().position(|t| t.is_empty()) {
        return Err(invalid(format!("inputs[{i}] is an empty string")));
    }
    Ok((texts, single))
}

fn json_response<T: Serialize + ?Sized>(status: StatusCode, body: &T) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    (status, [(header::CONTENT_TYPE, "application/json")], Body::from(bytes)).into_response()
}

/// A failed request: its status, a machine-readable type and a message free of request data.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    error_type: &'static str,
    message: String,
}

/// The reason of a failed response, for [`log_failures`].
#[derive(Clone)]
struct FailureReason(String);

impl ApiError {
    fn new(status: StatusCode, error_type: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, error_type, message: message.into() }
    }

    fn backend(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "backend", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = json_response(
            self.status,
            &json!({"error": self.message, "error_type": self.error_type}),
        );
        resp.extensions_mut().insert(FailureReason(self.message));
        resp
    }
}

/// Logs every response of 400 and up: method, path (no query string), status and reason.
async fn log_failures(req: Request, next: Next) -> Response {
    let (method, path): (Method, String) = (req.method().clone(), req.uri().path().to_string());
    let resp = next.run(req).await;
    if resp.status().is_client_error() || resp.status().is_server_error() {
        let reason = resp
            .extensions()
            .get::<FailureReason>()
            .map(|r| r.0.as_str())
            .unwrap_or("");
        // Paths are ours or a client's typo; cut them short so a log line stays a line.
        let path: String = path.chars().take(100).collect();
        eprintln!("[serve] {method} {path} -> {}: {reason}", resp.status().as_u16());
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_are_checked_without_echoing_them() {
        let (t, single) = parse_inputs(br#"{"inputs": "hi"}"#, 4).unwrap();
        assert_eq!((t, single), (vec!["hi".to_string()], true));
        let (t, single) = parse_inputs(br#"{"inputs": ["a", "b"]}"#, 4).unwrap();
        assert_eq!((t.len(), single), (2, false));
        let e = parse_inputs(br#"{"inputs": ["secret", 5]}"#, 4).unwrap_err();
        assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(!e.message.contains("secret"), "{}", e.message);
        let e = parse_inputs(br#"{"inputs": "secret"#, 4).unwrap_err();
        assert_eq!((e.status, e.error_type), (StatusCode::BAD_REQUEST, "malformed_json"));
        assert!(!e.message.contains("secret"), "{}", e.message);
        for bad in [&br#"{"inputs": []}"#[..], br#"{"inputs": ["a","b","c","d","e"]}"#, br#"{}"#, br#"[1]"#, br#"{"inputs": ""}"#] {
            let e = parse_inputs(bad, 4).unwrap_err();
            assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", e.message);
        }
    }

    #[test]
    fn only_json_content_types_pass() {
        let mut h = HeaderMap::new();
        assert!(check_json_content_type(&h).is_err());
        h.insert(header::CONTENT_TYPE, "text/plain".parse().unwrap());
        assert_eq!(check_json_content_type(&h).unwrap_err().status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        h.insert(header::CONTENT_TYPE, "application/json; charset=utf-8".parse().unwrap());
        assert!(check_json_content_type(&h).is_ok());
    }
}
