//! `serve` over real HTTP: the binary on an ephemeral port with a tiny classifier (and MiniLM,
//! from the fixtures): predictions equal `predict`'s, health and info, JSON errors with the right
//! status for every kind of bad request, logs without the texts, `healthcheck`, and SIGTERM
//! letting an in-flight request finish before a clean exit.

use serde_json::json;

use crate::common;
use crate::serving_common::{
    assert_same_predictions, classifier_from, cli_predict, request, sigterm, tiny_classifier,
    Server, LABELS,
};

const TEXTS: [&str; 3] = ["I love this movie!", "terrible , boring film", "ok"];
/// Planted in requests: must never reach the server's log.
const SECRET: &str = "alice.secret@example.com";

fn texts() -> Vec<String> {
    TEXTS.map(String::from).to_vec()
}

#[test]
fn serve_answers_as_predict_does_with_health_info_and_healthcheck() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tiny_classifier(tmp.path());
    let server = Server::start(&model, &[]);

    let health = request(server.port, "GET", "/health", &[], b"");
    assert_eq!((health.status, health.json()), (200, json!({"status": "ok"})));
    let info = request(server.port, "GET", "/info", &[], b"").json();
    assert_eq!(info["labels"], json!(LABELS));
    assert_eq!(info["task"], "text-classification");
    assert_eq!(info["max_batch"], 64);
    assert!(info["quantization"].is_null(), "{info}");

    let cli = cli_predict(&model, &texts());
    let batch = server.predict(&json!({ "inputs": TEXTS }));
    assert_eq!(batch.status, 200, "{}", batch.body);
    assert_same_predictions(&batch.json(), &cli);
    // One string: one ranked list, not a list of lists.
    let one = server.predict(&json!({ "inputs": TEXTS[0] }));
    assert_eq!(one.status, 200, "{}", one.body);
    assert_same_predictions(&json!([one.json()]), &cli[..1]);

    let hc = |port: u16, path: &str| {
        common::trainer()
            .args(["healthcheck", "--port", &port.to_string(), "--path", path])
            .output()
            .unwrap()
    };
    assert!(hc(server.port, "/health").status.success());
    let missing = hc(server.port, "/nope");
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("answered 404"));
    drop(server);
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    assert_eq!(hc(closed, "/health").status.code(), Some(1));
}

#[test]
fn bad_requests_get_json_errors_with_their_status_and_no_texts_in_the_log() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tiny_classifier(tmp.path());
    let server = Server::start(&model, &["--max-body-bytes", "2048", "--max-batch", "2"]);
    let json_ct = [("Content-Type", "application/json")];
    let cases: Vec<(u16, &str, crate::serving_common::Response)> = vec![
        (400, "malformed_json", request(server.port, "POST", "/predict", &json_ct, format!("{{\"inputs\": \"{SECRET}").as_bytes())),
        (415, "unsupported_media_type", request(server.port, "POST", "/predict", &[], json!({"inputs": SECRET}).to_string().as_bytes())),
        (415, "unsupported_media_type", request(server.port, "POST", "/predict", &[("Content-Type", "text/plain")], json!({"inputs": SECRET}).to_string().as_bytes())),
        (413, "payload_too_large", server.predict(&json!({"inputs": SECRET.repeat(100)}))),
        (422, "validation", server.predict(&json!({"inputs": []}))),
        (422, "validation", server.predict(&json!({"inputs": ""}))),
        (422, "validation", server.predict(&json!({"inputs": [SECRET, SECRET, SECRET]}))),
        (422, "validation", server.predict(&json!({"inputs": [SECRET, 5]}))),
        (422, "validation", server.predict(&json!({"text": SECRET}))),
        (404, "not_found", request(server.port, "GET", "/v1/completions", &[], b"")),
        (405, "method_not_allowed", request(server.port, "GET", "/predict", &[], b"")),
    ];
    for (status, error_type, resp) in &cases {
        assert_eq!(resp.status, *status, "{}", resp.body);
        let body = resp.json();
        assert_eq!(body["error_type"], *error_type, "{body}");
        let msg = body["error"].as_str().unwrap();
        assert!(!msg.is_empty() && !msg.contains(SECRET), "{msg}");
    }
    // Good requests still work, with two texts (the limit).
    let ok = server.predict(&json!({"inputs": [SECRET, "good"]}));
    assert_eq!(ok.status, 200, "{}", ok.body);
    let log = server.log();
    for (status, _, _) in &cases {
        assert!(log.contains(&format!("-> {status}:")), "{status} not logged:\n{log}");
    }
    assert!(log.contains("POST /predict -> 413: request body over 2048 bytes"), "{log}");
    assert!(!log.contains(SECRET), "the log holds an input text:\n{log}");
}

#[test]
fn serve_refuses_a_causal_lm_with_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("lm");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("config.json"),
        json!({"architectures": ["LlamaForCausalLM"], "model_type": "llama"}).to_string(),
    )
    .unwrap();
    let o = common::trainer()
        .args(["serve", "--port", "0", "--model"])
        .arg(&dir)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("LlamaForCausalLM is a causal language model"), "{err}");
    assert!(err.contains("/v1/completions"), "{err}");
}

#[test]
fn minilm_serve_equals_predict_and_sigterm_finishes_the_request_in_flight() {
    let Some(minilm) = common::minilm_dir() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let model = classifier_from(&minilm, &tmp.path().join("model"));
    let server = Server::start(&model, &[]);

    let texts: Vec<String> = vec![
        "The flight was delayed three hours and nobody told us anything.".into(),
        "Great crew, smooth landing, thank you!".into(),
        "meh".into(),
    ];
    let served = server.predict(&json!({ "inputs": texts }));
    assert_eq!(served.status, 200, "{}", served.body);
    assert_same_predictions(&served.json(), &cli_predict(&model, &texts));

    // A batch long enough to be in flight when the signal comes (64 texts of ~500 tokens).
    let long: Vec<String> = (0..64)
        .map(|i| format!("row {i}: ") + &"the service was slow but the staff were kind . ".repeat(50))
        .collect();
    let port = server.port;
    let body = json!({ "inputs": long }).to_string();
    let client = std::thread::spawn(move || {
        request(port, "POST", "/predict", &[("Content-Type", "application/json")], body.as_bytes())
    });
    std::thread::sleep(std::time::Duration::from_millis(500));
    sigterm(&server.child);
    let resp = client.join().unwrap();
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert_eq!(resp.json().as_array().unwrap().len(), 64);
    let mut server = server;
    let status = server.child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{}", server.log());
    let log = server.log();
    assert!(log.contains("SIGTERM"), "{log}");
    // Stopped listening.
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
}
