//! `predict` on causal LMs: the generator against transformers on SmolLM2 (the chat prompt's
//! ids from the GGUF's own template and tokenizer, then greedy decoding through the KV cache,
//! as `scripts/causal_reference.py` recorded them), and the command line on the fixtures' tiny
//! GPT-2 and TinyLlama (JSON lines, seeded sampling, `max_new_tokens`, bad flags).

use crate::common;
use finetune_fixtures::{TinyGpt2, TinyLlama};
use finetune_spec::chat::{Message, ModelAssets, Role};
use finetune_spec::contract::exit_code;
use finetune_trainer::backend::Cpu;
use finetune_trainer::generate::{
    is_causal_model, Decoding, GenerateOptions, Prompt, TextGenerator,
};
use serde_json::Value;
use std::path::Path;

fn reference() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/llama_reference.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

fn greedy(max_new_tokens: usize) -> GenerateOptions {
    GenerateOptions {
        max_new_tokens,
        stop: Vec::new(),
        decoding: Decoding::Greedy,
        seed: 0,
    }
}

#[test]
fn smollm2_chat_reply_matches_transformers_generate() {
    let Some(dir) = common::smollm2_dir() else {
        return;
    };
    let gguf = dir.join("SmolLM2-135M-Instruct.Q4_1.gguf");
    let r = &reference()["smollm2"];
    let chat = &r["chat"][0];
    assert_eq!(chat["role"], "user");
    let question = chat["content"].as_str().unwrap();

    assert!(is_causal_model(&gguf));
    let generator = TextGenerator::<Cpu>::load(&gguf, Default::default()).unwrap();
    let prompt = generator.user_prompt(question);
    assert!(
        matches!(prompt, Prompt::Chat(_)),
        "the GGUF has a chat template"
    );
    assert_eq!(
        generator.prompt_ids(&prompt).unwrap(),
        ids(&r["prompt_ids"]),
        "the chat prompt differs from apply_chat_template's"
    );
    let want = ids(&r["generated_ids"]);
    let eos = r["eos_token_id"].as_u64().unwrap() as u32;
    assert!(generator.stop_ids().contains(&eos));
    let done = generator.complete(&prompt, &greedy(want.len())).unwrap();
    assert_eq!(
        done.ids, want,
        "greedy ids differ from transformers' generate"
    );
    assert_eq!(done.finish_reason, "length");
    assert_eq!(done.completion_tokens, want.len());

    // The command line prints the same reply as one JSON line.
    let out = common::trainer()
        .args(["predict", "--model"])
        .arg(&gguf)
        .args(["--max-new-tokens", &want.len().to_string(), question])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line: Value = serde_json::from_slice(&out.stdout).unwrap();
    let tokenizer: tokenizers::Tokenizer = ModelAssets::load(&gguf, None)
        .unwrap()
        .tokenizer_json
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(line["completion"], tokenizer.decode(&want, true).unwrap());
    assert_eq!(line["prompt"], question);
    assert_eq!(line["prompt_tokens"], ids(&r["prompt_ids"]).len());
    assert_eq!(line["finish_reason"], "length");
}

/// `finetune-trainer predict --model DIR ARGS...`: (exit code, stdout JSON lines, stderr).
fn predict(model: &Path, args: &[&str]) -> (i32, Vec<Value>, String) {
    let out = common::trainer()
        .args(["predict", "--model"])
        .arg(model)
        .args(args)
        .output()
        .unwrap();
    let lines = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (
        out.status.code().unwrap_or(-1),
        lines,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn predict_generates_on_gpt2_with_seeded_sampling_and_a_token_budget() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tmp.path().join("gpt2");
    TinyGpt2::TINY.write(&model, 3).unwrap();
    // --raw: the chat template's default system prompt alone is longer than the tiny model's
    // 64 positions (which the next test checks is refused clearly).
    let sample = [
        "--raw",
        "--max-new-tokens",
        "6",
        "--temperature",
        "1.0",
        "--top-p",
        "0.9",
    ];
    let run = |seed: &str| {
        let args: Vec<&str> = sample
            .iter()
            .copied()
            .chain(["--seed", seed, "hello", "bye"])
            .collect();
        let (code, lines, err) = predict(&model, &args);
        assert_eq!(code, 0, "{err}");
        lines
    };
    let a = run("1");
    assert_eq!(a.len(), 2, "one line per prompt: {a:?}");
    for line in &a {
        let n = line["completion_tokens"].as_u64().unwrap();
        assert!((1..=6).contains(&n), "{line}");
        if n < 6 {
            assert_eq!(line["finish_reason"], "stop", "{line}");
        }
    }
    assert_eq!(run("1"), a, "the same seed gives the same text");
    assert!(
        ["2", "3", "4", "5"].iter().any(|s| run(s) != a),
        "the seed changes nothing"
    );
    let (code, _, err) = predict(&model, &["hello"]);
    assert_eq!(code, exit_code::BAD_INPUT, "{err}");
    assert!(err.contains("64 positions"), "{err}");
}

#[test]
fn predict_on_tinyllama_uses_the_chat_template_unless_raw() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tmp.path().join("llama");
    TinyLlama::TINY.write(&model, 7).unwrap();
    let generator = TextGenerator::<Cpu>::load(&model, Default::default()).unwrap();
    let chat = generator
        .prompt_ids(&Prompt::Chat(vec![Message::new(Role::User, "hi")]))
        .unwrap();
    let raw = generator.prompt_ids(&Prompt::Text("hi".into())).unwrap();
    assert!(chat.len() > raw.len() + 4, "chat {chat:?} raw {raw:?}");

    let (code, lines, err) = predict(&model, &["--max-new-tokens", "4", "hi"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(lines[0]["prompt_tokens"], chat.len());
    let (code, lines, err) = predict(&model, &["--raw", "--max-new-tokens", "4", "hi"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(lines[0]["prompt_tokens"], raw.len());
    // Greedy is deterministic and the library gives the CLI's reply.
    let lib = generator
        .complete(&Prompt::Text("hi".into()), &greedy(4))
        .unwrap();
    assert_eq!(lines[0]["completion"], lib.completion);
}

#[test]
fn bad_generation_flags_are_one_line_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tmp.path().join("llama");
    TinyLlama::TINY.write(&model, 7).unwrap();
    for (args, says) in [
        (&["--max-new-tokens", "0", "x"][..], "--max-new-tokens"),
        (&["--temperature=-1", "x"][..], "--temperature"),
        (
            &["--top-p", "1.5", "--temperature", "1", "x"][..],
            "--top-p",
        ),
    ] {
        let (code, lines, err) = predict(&model, args);
        assert_eq!(code, exit_code::BAD_INPUT, "{args:?}: {err}");
        assert!(lines.is_empty());
        assert!(
            err.contains(says) && err.trim().lines().count() == 1,
            "{err}"
        );
    }
    let broken = tmp.path().join("broken.gguf");
    std::fs::write(&broken, b"GGUF\x03\x00").unwrap();
    let (code, _, err) = predict(&broken, &["x"]);
    assert_eq!(code, exit_code::BAD_INPUT, "{err}");
    assert!(
        err.contains("broken.gguf") && err.trim().lines().count() == 1,
        "{err}"
    );
}
