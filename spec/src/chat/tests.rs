//! Rendering and loss spans with real templates (testdata/README.md says where each is from).

use super::*;

const SMOLLM2: &str = include_str!("testdata/smollm2-135m-instruct.jinja");
const LLAMA3: &str = include_str!("testdata/llama3-instruct.jinja");
const MISTRAL: &str = include_str!("testdata/mistral-instruct-v0.1.jinja");

fn template(source: &str, bos: &str, eos: &str) -> ChatTemplate {
    let tokens = SpecialTokens {
        bos: Some(bos.into()),
        eos: Some(eos.into()),
    };
    ChatTemplate::new(source, tokens).unwrap()
}

fn smollm2() -> ChatTemplate {
    template(SMOLLM2, "<|im_start|>", "<|im_end|>")
}

fn chat(turns: &[(Role, &str)]) -> Example {
    Example::Messages(turns.iter().map(|(r, c)| Message::new(*r, *c)).collect())
}

fn marked(t: &ChatTemplate, e: &Example) -> String {
    render(e, Some(t), None, LossOn::Completion)
        .unwrap()
        .marked("[[", "]]")
}

use Role::{Assistant, System, User};

#[test]
fn smollm2_adds_its_default_system_and_trains_the_reply_with_its_end_token() {
    let e = chat(&[(User, "Hi"), (Assistant, "Hello!")]);
    assert_eq!(
        marked(&smollm2(), &e),
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n\
         <|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n[[Hello!<|im_end|>]]\n"
    );
    let r = render(&e, Some(&smollm2()), None, LossOn::Completion).unwrap();
    assert!(
        !r.add_special_tokens,
        "the template writes its own special tokens"
    );
}

#[test]
fn smollm2_multi_turn_with_a_system_message_trains_each_reply() {
    let e = chat(&[
        (System, "Be brief."),
        (User, "2+2?"),
        (Assistant, "4"),
        (User, "And 3+3?"),
        (Assistant, "6"),
    ]);
    assert_eq!(
        marked(&smollm2(), &e),
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n2+2?<|im_end|>\n\
         <|im_start|>assistant\n[[4<|im_end|>]]\n<|im_start|>user\nAnd 3+3?<|im_end|>\n\
         <|im_start|>assistant\n[[6<|im_end|>]]\n"
    );
    let all = render(&e, Some(&smollm2()), None, LossOn::All).unwrap();
    assert_eq!(all.spans, [0..all.text.len()]);
}

#[test]
fn llama3_starts_with_bos_trims_content_and_trains_through_eot() {
    let t = template(LLAMA3, "<|begin_of_text|>", "<|eot_id|>");
    let e = chat(&[
        (System, "Be kind."),
        (User, " Hi "),
        (Assistant, "Hello!\n"),
    ]);
    assert_eq!(
        marked(&t, &e),
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe kind.<|eot_id|>\
         <|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>\
         <|start_header_id|>assistant<|end_header_id|>\n\n[[Hello!<|eot_id|>]]"
    );
}

#[test]
fn mistral_trains_replies_and_its_own_errors_are_reported() {
    let t = template(MISTRAL, "<s>", "</s>");
    let e = chat(&[
        (User, "a?"),
        (Assistant, "b"),
        (User, "c?"),
        (Assistant, "d"),
    ]);
    assert_eq!(
        marked(&t, &e),
        "<s>[INST] a? [/INST][[b</s>]][INST] c? [/INST][[d</s>]]"
    );
    let system = chat(&[(System, "s"), (User, "a?"), (Assistant, "b")]);
    let err = render(&system, Some(&t), None, LossOn::Completion).unwrap_err();
    assert_eq!(
        err,
        ChatError::Raised(
            "Conversation roles must alternate user/assistant/user/assistant/...".into()
        )
    );
    assert_eq!(
        err.to_string(),
        "the chat template raised an error: Conversation roles must alternate user/assistant/user/assistant/..."
    );
    let twice = chat(&[(User, "a?"), (User, "b?"), (Assistant, "c")]);
    assert!(matches!(
        render(&twice, Some(&t), None, LossOn::Completion),
        Err(ChatError::Raised(_))
    ));
}

#[test]
fn a_missing_template_says_what_to_set() {
    let e = chat(&[(User, "Hi"), (Assistant, "Hello")]);
    let err = render(&e, None, None, LossOn::Completion).unwrap_err();
    assert_eq!(err, ChatError::NoTemplate);
    let msg = err.to_string();
    assert!(msg.contains("`data.chat_template`"), "{msg}");
    assert!(msg.contains("tokenizer_config.json"), "{msg}");
}

#[test]
fn a_template_that_does_not_compile_or_fails_is_an_error_not_a_panic() {
    let bad = ChatTemplate::new("{% for m in messages %}", SpecialTokens::default()).unwrap_err();
    assert!(matches!(bad, ChatError::Syntax(_)), "{bad:?}");
    let t = ChatTemplate::new("{{ messages[0].content + 1 }}", SpecialTokens::default()).unwrap();
    let e = chat(&[(User, "x"), (Assistant, "y")]);
    let err = render(&e, Some(&t), None, LossOn::Completion).unwrap_err();
    assert!(matches!(err, ChatError::Render(_)), "{err:?}");
}

#[test]
fn a_template_that_rewrites_earlier_turns_is_refused_not_guessed() {
    // The last message is rendered differently from the same message followed by more.
    let t = ChatTemplate::new(
        "{% for m in messages %}{% if loop.last %}LAST:{% endif %}{{ m.content }};{% endfor %}",
        SpecialTokens::default(),
    )
    .unwrap();
    let e = chat(&[(User, "a"), (Assistant, "b"), (User, "c"), (Assistant, "d")]);
    let err = render(&e, Some(&t), None, LossOn::Completion).unwrap_err();
    assert_eq!(err, ChatError::NotPrefix { index: 1 });
    assert!(err.to_string().contains("train.loss_on: all"));
}

#[test]
fn python_string_methods_and_hf_tojson_work() {
    let t = ChatTemplate::new(
        "{% for m in messages %}{{ m['content'].strip().upper() }}{% if m.content.startswith(' ') %}!{% endif %}{% endfor %}|{{ {'a': 1, 'b': [1, 'é']} | tojson }}",
        SpecialTokens::default(),
    )
    .unwrap();
    let out = t.render(&[Message::new(User, " hi ")], false).unwrap();
    assert_eq!(out, "HI!|{\"a\": 1, \"b\": [1, \"é\"]}");
}

#[test]
fn prompt_completion_and_text_train_the_completion_and_everything() {
    let pc = Example::PromptCompletion {
        prompt: "Q: 2+2? A:".into(),
        completion: " 4".into(),
    };
    let r = render(&pc, None, Some("</s>"), LossOn::Completion).unwrap();
    assert_eq!(r.marked("[[", "]]"), "Q: 2+2? A:[[ 4</s>]]");
    assert!(r.add_special_tokens);
    let all = render(&pc, None, Some("</s>"), LossOn::All).unwrap();
    assert_eq!(all.marked("[[", "]]"), "[[Q: 2+2? A: 4</s>]]");
    let text = render(
        &Example::Text("once upon".into()),
        None,
        None,
        LossOn::Completion,
    )
    .unwrap();
    assert_eq!(text.marked("[[", "]]"), "[[once upon]]");
    assert_eq!(text.trained_bytes(), 9);
}

#[test]
fn a_model_dir_gives_its_template_and_special_tokens() {
    let dir = tempfile::tempdir().unwrap();
    assert!(ChatTemplate::from_model_dir(dir.path()).unwrap().is_none());
    let config = serde_json::json!({
        "chat_template": SMOLLM2,
        "bos_token": "<|im_start|>",
        "eos_token": {"content": "<|im_end|>", "special": true},
    });
    std::fs::write(dir.path().join("tokenizer_config.json"), config.to_string()).unwrap();
    let t = ChatTemplate::from_model_dir(dir.path()).unwrap().unwrap();
    assert_eq!(t.tokens().eos.as_deref(), Some("<|im_end|>"));
    let e = chat(&[(User, "Hi"), (Assistant, "Hey")]);
    assert!(marked(&t, &e).ends_with("[[Hey<|im_end|>]]\n"));
    // Named templates: `default` is used.
    let named = serde_json::json!({
        "chat_template": [{"name": "tool_use", "template": "T"}, {"name": "default", "template": "D"}],
    });
    std::fs::write(dir.path().join("tokenizer_config.json"), named.to_string()).unwrap();
    let t = ChatTemplate::from_model_dir(dir.path()).unwrap().unwrap();
    assert_eq!(t.render(&[], false).unwrap(), "D");
    // chat_template.jinja wins, as in transformers.
    std::fs::write(dir.path().join("chat_template.jinja"), "J").unwrap();
    let t = ChatTemplate::from_model_dir(dir.path()).unwrap().unwrap();
    assert_eq!(t.render(&[], false).unwrap(), "J");
    std::fs::write(dir.path().join("tokenizer_config.json"), "{not json").unwrap();
    assert!(matches!(
        ChatTemplate::from_model_dir(dir.path()),
        Err(ChatError::Config { .. })
    ));
}

mod rows {
    use super::*;
    use crate::{DataShape, DataSpec};
    use std::path::Path;

    fn data(path: &Path, extra: serde_json::Value) -> DataSpec {
        let mut spec = serde_json::json!({"train": path});
        spec.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        serde_json::from_value(spec).unwrap()
    }

    fn file(lines: &[&str]) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("chat.jsonl");
        std::fs::write(&p, lines.join("\n")).unwrap();
        (dir, p)
    }

    #[test]
    fn the_shape_is_found_from_the_first_row() {
        for (row, shape) in [
            (
                r#"{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}"#,
                DataShape::Messages,
            ),
            (
                r#"{"prompt": "a", "completion": "b"}"#,
                DataShape::PromptCompletion,
            ),
            (r#"{"text": "a"}"#, DataShape::Text),
        ] {
            let (_d, p) = file(&[row]);
            let (rows, found) =
                read_examples(&p, &data(&p, serde_json::json!({})), LossOn::Completion).unwrap();
            assert_eq!((rows.len(), found), (1, shape), "{row}");
        }
        // Configured field names.
        let (_d, p) = file(&[r#"{"conversation": [{"role": "assistant", "content": "b"}]}"#]);
        let spec = data(&p, serde_json::json!({"messages": "conversation"}));
        let (rows, _) = read_examples(&p, &spec, LossOn::Completion).unwrap();
        assert_eq!(
            rows[0].example,
            Example::Messages(vec![Message::new(Assistant, "b")])
        );
    }

    #[test]
    fn malformed_rows_are_named_by_line_and_what_is_wrong() {
        let (_d, p) = file(&[
            r#"{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}"#,
            r#"{"messages": "hi"}"#,
            r#"{"messages": [{"role": "bot", "content": "x"}]}"#,
            r#"{"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "  "}]}"#,
            r#"{"messages": [{"role": "user", "content": "only a question"}]}"#,
            r#"{"prompt": "x"}"#,
            r#"[1, 2]"#,
            r#"{"messages": []}"#,
            r#"{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}"#,
            r#"{"messages": [{"role": "user", "content": 5}]}"#,
        ]);
        let spec = data(&p, serde_json::json!({}));
        let scan = scan_examples(&p, &spec, LossOn::Completion, 20).unwrap();
        assert_eq!((scan.rows, scan.good.len(), scan.bad_rows), (10, 2, 8));
        assert_eq!(scan.duplicates, 1);
        assert_eq!(scan.shape, Some(DataShape::Messages));
        let shown: Vec<String> = scan
            .errors
            .iter()
            .map(|(line, place, msg)| {
                assert!(place.ends_with(&format!(":{line}")), "{place}");
                format!("{line}: {}", &msg[place.len() + 2..])
            })
            .collect();
        assert_eq!(
            shown,
            [
                "2: `messages` must be an array of {role, content} objects, found a string",
                "3: `messages[0]` has the unknown role `bot`; roles are system, user, assistant",
                "4: `messages[1]` (assistant) has empty content",
                "5: `messages` has no assistant message, so nothing in it is trained on; add the assistant's reply, or set `train.loss_on: all`",
                "6: missing field `messages` (the conversation; the file's rows are messages rows)",
                "7: expected a JSON object, found an array; each line must be one object",
                "8: `messages` is empty",
                "10: `messages[0]`: `content` must be a string, found a number",
            ]
        );
        // With the loss on everything, a conversation without a reply trains too.
        let all = scan_examples(&p, &spec, LossOn::All, 20).unwrap();
        assert_eq!(all.good.len(), 3);
        // The trainer stops at the first bad row.
        let err = read_examples(&p, &spec, LossOn::Completion).unwrap_err();
        assert_eq!(err.line(), Some(2));
    }

    #[test]
    fn a_missing_completion_and_an_unknown_shape_are_explained() {
        let (_d, p) = file(&[r#"{"prompt": "a"}"#]);
        let e = read_examples(&p, &data(&p, serde_json::json!({})), LossOn::Completion)
            .unwrap_err()
            .to_string();
        assert!(e.ends_with(":1: missing field `completion` (the completion; the file's rows are prompt_completion rows)"), "{e}");
        let (_d, p) = file(&[r#"{"question": "a", "answer": "b"}"#]);
        let e = read_examples(&p, &data(&p, serde_json::json!({})), LossOn::Completion)
            .unwrap_err()
            .to_string();
        assert!(e.contains("the row has: answer, question"), "{e}");
        assert!(
            e.contains("set `data.messages`, `data.prompt`/`data.completion` or `data.text`"),
            "{e}"
        );
        // Named shape and fields read such a file.
        let spec = data(
            &p,
            serde_json::json!({"shape": "prompt_completion", "prompt": "question", "completion": "answer"}),
        );
        let (rows, _) = read_examples(&p, &spec, LossOn::Completion).unwrap();
        assert_eq!(
            rows[0].example,
            Example::PromptCompletion {
                prompt: "a".into(),
                completion: "b".into()
            }
        );
    }

    #[test]
    fn text_generation_reads_jsonl_only() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.csv");
        std::fs::write(&p, "text\na\n").unwrap();
        let e =
            read_examples(&p, &data(&p, serde_json::json!({})), LossOn::Completion).unwrap_err();
        assert!(
            matches!(e, crate::dataset::DatasetError::NotJsonl { .. }),
            "{e}"
        );
    }
}
