//! `validate --data` for `task: text-generation`: conversation, prompt/completion and text rows
//! rendered with the model's chat template and tokenized with its byte-level BPE tokenizer (the
//! tiny Llama fixture, SmolLM2's template), bad rows at their file and line, the counts, the
//! example with its trained part, LoRA targets checked against the architecture, and the real
//! chatterbot-corpus conversations.

mod common;

use common::{options, project};
use finetune_compose::chat_data::{Marks, TokenStats};
use finetune_compose::validate::{check_data, DataReport};
use finetune_compose::{load_project, validate, Diagnostic, Project, ValidateOptions};
use finetune_fixtures::TinyLlama;
use std::path::{Path, PathBuf};

/// A project with one text-generation job on the tiny Llama (`m/`) and `files`; `job` is the
/// job's mapping minus `task` and `model`.
fn with_job(files: &[(&str, &str)], job: &str) -> (tempfile::TempDir, Project) {
    let compose = format!(
        "x-finetune:\n  jobs:\n    j: {{task: text-generation, model: m, output: o, {job}}}\n"
    );
    let mut all = files.to_vec();
    all.push(("compose.yaml", &compose));
    let dir = project(&all);
    TinyLlama::TINY.write(&dir.path().join("m"), 3).unwrap();
    let p = load_project(&options(dir.path())).unwrap();
    (dir, p)
}

fn texts(ds: &[Diagnostic]) -> Vec<String> {
    ds.iter().map(|d| d.to_string()).collect()
}

fn report(p: &Project) -> DataReport {
    check_data(&p.jobs[0])
}

const GOOD: &str = r#"{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]}"#;

#[test]
fn conversations_are_rendered_counted_and_the_trained_part_shown() {
    let train = [
        GOOD,
        r#"{"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}, {"role": "user", "content": "3+3?"}, {"role": "assistant", "content": "6"}]}"#,
        GOOD,
    ]
    .join("\n");
    let (_d, p) = with_job(&[("train.jsonl", &train)], "data: {train: train.jsonl}");
    let r = report(&p);
    assert!(r.diagnostics.is_empty(), "{:#?}", texts(&r.diagnostics));
    let f = &r.generation[0];
    assert_eq!((f.rows, f.good_rows, f.duplicates), (3, 3, 1));
    // Byte-level BPE without merges: one token per byte, one per special token.
    let tokens = |text: &str| {
        text.replace("<|im_start|>", "S")
            .replace("<|im_end|>", "E")
            .len()
    };
    let first = tokens(&f.example.as_ref().unwrap().1.text);
    let second = tokens(
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n2+2?<|im_end|>\n\
         <|im_start|>assistant\n4<|im_end|>\n<|im_start|>user\n3+3?<|im_end|>\n<|im_start|>assistant\n6<|im_end|>\n",
    );
    let t: &TokenStats = f.tokens.as_ref().unwrap();
    assert_eq!((t.rows, t.max, t.total), (3, first, 2 * first + second));
    // Each reply trains its text and its `<|im_end|>`: 6 + 1 per first row, 1 + 1 twice in the second.
    assert_eq!(t.trained, 7 + 4 + 7);
    assert_eq!(t.truncated, 0);
    let shown = f.example_lines(Marks::PLAIN).unwrap();
    assert!(
        shown.starts_with("example (line 1), the trained part in [[ ]]:\n"),
        "{shown}"
    );
    assert!(
        shown.contains("  | <|im_start|>assistant\n  | [[Hello!<|im_end|>]]"),
        "{shown}"
    );
    let summary = f.summary(128);
    assert!(
        summary.starts_with("3 rows (3 usable, messages), 1 duplicate; tokens: "),
        "{summary}"
    );
    assert!(
        summary.contains(", 18 trained; 0 rows longer than max_length 128"),
        "{summary}"
    );
}

#[test]
fn the_real_tokenizer_labels_exactly_the_reply_and_its_end_token() {
    let dir = tempfile::tempdir().unwrap();
    TinyLlama::TINY.write(dir.path(), 1).unwrap();
    let tok = tokenizers::Tokenizer::from_file(dir.path().join("tokenizer.json")).unwrap();
    let template = finetune_spec::chat::ChatTemplate::from_model_dir(dir.path())
        .unwrap()
        .unwrap();
    let example = finetune_spec::chat::Example::Messages(vec![
        finetune_spec::chat::Message::new(finetune_spec::chat::Role::User, "Hi"),
        finetune_spec::chat::Message::new(finetune_spec::chat::Role::Assistant, "Hello there"),
    ]);
    let r = finetune_spec::chat::render(
        &example,
        Some(&template),
        template.tokens().eos.as_deref(),
        finetune_spec::LossOn::Completion,
    )
    .unwrap();
    let enc = tok.encode(r.text.as_str(), r.add_special_tokens).unwrap();
    let labels = finetune_spec::chat::label_mask(enc.get_ids(), enc.get_offsets(), &r.spans);
    let trained: Vec<u32> = labels
        .iter()
        .filter(|&&l| l >= 0)
        .map(|&l| l as u32)
        .collect();
    assert_eq!(
        tok.decode(&trained, false).unwrap(),
        "Hello there<|im_end|>"
    );
    // The special tokens are single tokens (ids 1 and 2), not their characters.
    assert_eq!(enc.get_ids()[0], 1);
    assert_eq!(*trained.last().unwrap(), 2);
    // Everything before the reply, the final newline included, is ignored.
    assert_eq!(
        labels.iter().filter(|&&l| l < 0).count(),
        labels.len() - trained.len()
    );
    assert_eq!(*labels.last().unwrap(), finetune_spec::chat::IGNORE_INDEX);
}

#[test]
fn malformed_rows_are_errors_at_their_line() {
    let train = [
        GOOD,
        r#"{"messages": {"role": "user"}}"#,
        r#"{"messages": [{"role": "bot", "content": "x"}, {"role": "assistant", "content": "y"}]}"#,
        r#"{"messages": [{"role": "user", "content": ""}, {"role": "assistant", "content": "y"}]}"#,
        "not json",
    ]
    .join("\n");
    let (dir, p) = with_job(&[("train.jsonl", &train)], "data: {train: train.jsonl}");
    let ds = report(&p).diagnostics;
    let file = dir.path().join("train.jsonl");
    let got: Vec<(usize, &str)> = ds.iter().map(|d| (d.line, d.message.as_str())).collect();
    assert_eq!(
        got,
        [
            (2, "`messages` must be an array of {role, content} objects, found an object"),
            (3, "`messages[0]` has the unknown role `bot`; roles are system, user, assistant"),
            (4, "`messages[0]` (user) has empty content"),
            (5, "invalid JSON: expected ident at line 1 column 2; each line must be one JSON object"),
        ]
    );
    assert!(ds.iter().all(|d| d.file == file && d.is_error()));
    assert!(ds.iter().all(|d| d.path == "x-finetune.jobs.j.data.train"));
}

#[test]
fn prompt_completion_rows_need_their_completion() {
    let train =
        "{\"prompt\": \"Q: hi\", \"completion\": \" A: hello\"}\n{\"prompt\": \"Q: bye\"}\n";
    let (_d, p) = with_job(&[("train.jsonl", train)], "data: {train: train.jsonl}");
    let r = report(&p);
    assert_eq!(texts(&r.diagnostics).len(), 1);
    assert_eq!(r.diagnostics[0].line, 2);
    assert_eq!(
        r.diagnostics[0].message,
        "missing field `completion` (the completion; the file's rows are prompt_completion rows)"
    );
    let f = &r.generation[0];
    // " A: hello" and the EOS the trainer appends carry the loss.
    assert_eq!(f.tokens.as_ref().unwrap().trained, " A: hello".len() + 1);
    let shown = f.example_lines(Marks::PLAIN).unwrap();
    assert!(shown.ends_with("Q: hi[[ A: hello<|im_end|>]]"), "{shown}");
}

#[test]
fn max_length_truncation_is_counted_and_rows_left_untrained_are_a_warning() {
    let long = "x".repeat(300);
    let rows = [
        GOOD.to_string(),
        format!(r#"{{"messages": [{{"role": "user", "content": "{long}"}}, {{"role": "assistant", "content": "ok"}}]}}"#),
        format!(r#"{{"messages": [{{"role": "user", "content": "hi"}}, {{"role": "assistant", "content": "{long}"}}]}}"#),
    ]
    .join("\n");
    let (_d, p) = with_job(
        &[("train.jsonl", &rows)],
        "data: {train: train.jsonl}, train: {max_length: 200}",
    );
    let r = report(&p);
    let t = r.generation[0].tokens.clone().unwrap();
    assert_eq!((t.truncated, t.truncated_untrained), (2, 1), "{t:?}");
    assert_eq!(r.diagnostics.len(), 1, "{:#?}", texts(&r.diagnostics));
    let w = &r.diagnostics[0];
    assert!(!w.is_error());
    assert_eq!(w.path, "x-finetune.jobs.j.train.max_length");
    assert!(w.message.starts_with("1 rows of "), "{}", w.message);
}

#[test]
fn a_model_without_a_chat_template_says_what_to_set() {
    let (dir, p) = with_job(&[("train.jsonl", GOOD)], "data: {train: train.jsonl}");
    let config = finetune_fixtures::causal::tokenizer_config_json(None);
    std::fs::write(
        dir.path().join("m/tokenizer_config.json"),
        config.to_string(),
    )
    .unwrap();
    let ds = report(&p).diagnostics;
    assert_eq!(ds.len(), 1, "{:#?}", texts(&ds));
    assert_eq!(ds[0].path, "x-finetune.jobs.j.model");
    assert!(
        ds[0].message.contains("set `data.chat_template`"),
        "{}",
        ds[0].message
    );
    // `data.chat_template` renders them instead.
    let (_d, p) = with_job(
        &[("train.jsonl", GOOD)],
        r#"data: {train: train.jsonl, chat_template: "{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}"}"#,
    );
    let r = report(&p);
    assert!(r.diagnostics.is_empty(), "{:#?}", texts(&r.diagnostics));
    let shown = r.generation[0].example_lines(Marks::PLAIN).unwrap();
    // This template has no generation prompt, so the turn's header is trained too.
    assert!(
        shown.contains("  | user: Hi\n  | [[assistant: Hello!]]"),
        "{shown}"
    );
}

#[test]
fn a_template_error_is_reported_per_row() {
    let (_d, p) = with_job(
        &[("train.jsonl", &format!("{GOOD}\n{GOOD}\n"))],
        r#"data: {train: train.jsonl, chat_template: "{{ raise_exception('no chats here') }}"}"#,
    );
    let ds = report(&p).diagnostics;
    let got: Vec<(usize, &str)> = ds.iter().map(|d| (d.line, d.message.as_str())).collect();
    assert_eq!(
        got,
        [
            (1, "the chat template raised an error: no chats here"),
            (2, "the chat template raised an error: no chats here"),
        ]
    );
}

#[test]
fn eval_rows_repeating_training_rows_are_a_warning() {
    let (_d, p) = with_job(
        &[("t.jsonl", GOOD), ("e.jsonl", GOOD)],
        "data: {train: t.jsonl, eval: e.jsonl}",
    );
    let ds = report(&p).diagnostics;
    assert_eq!(ds.len(), 1, "{:#?}", texts(&ds));
    assert!(!ds[0].is_error());
    assert_eq!(ds[0].message, "1 of 1 eval rows are also training rows");
}

#[test]
fn lora_targets_are_the_architectures_module_names() {
    let (_d, p) = with_job(
        &[("t.jsonl", GOOD)],
        "data: {train: t.jsonl}, method: {lora: {targets: [q_proj, v_prj]}}",
    );
    let ds = validate(&p, &ValidateOptions::default());
    assert_eq!(ds.len(), 1, "{:#?}", texts(&ds));
    assert_eq!(ds[0].path, "x-finetune.jobs.j.method.lora.targets");
    assert_eq!(
        ds[0].message,
        "LoRA target(s) `v_prj` are not linear layers of this Llama model; it has: q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj"
    );
    assert_eq!(ds[0].hint.as_deref(), Some("did you mean `v_proj`?"));
    assert_eq!(ds[0].line, 3, "at the key's line");
    // The default targets mean q_proj and v_proj here.
    let (_d, p) = with_job(&[("t.jsonl", GOOD)], "data: {train: t.jsonl}, method: lora");
    assert!(validate(&p, &ValidateOptions::default()).is_empty());
}

#[test]
fn a_gguf_model_file_is_accepted_by_its_magic_and_read_for_the_data_check() {
    let (dir, _) = with_job(&[("t.jsonl", GOOD)], "data: {train: t.jsonl}");
    std::fs::write(dir.path().join("m.gguf"), b"GGUF\x03\0\0\0").unwrap();
    let compose = "x-finetune:\n  jobs:\n    j: {task: text-generation, model: m.gguf, output: o, data: {train: t.jsonl, chat_template: '{% for m in messages %}{{ m.content }}{% endfor %}'}}\n";
    std::fs::write(dir.path().join("compose.yaml"), compose).unwrap();
    let p = load_project(&options(dir.path())).unwrap();
    let ds = validate(&p, &ValidateOptions::default());
    assert!(ds.is_empty(), "{:#?}", texts(&ds));
    // The data check reads the tokenizer from the header, which this file lacks: one error at
    // `model` naming the file, not a panic and not the job's own template.
    let r = check_data(&p.jobs[0]);
    let t = texts(&r.diagnostics);
    assert_eq!(t.len(), 1, "{t:#?}");
    assert!(
        t[0].contains("m.gguf") && t[0].contains("j.model"),
        "{t:#?}"
    );
    assert!(r.generation.is_empty());
}

/// `$FINETUNE_FIXTURES`, else `<repo>/.fixtures`.
fn fixtures_dir() -> PathBuf {
    std::env::var_os("FINETUNE_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.fixtures"))
}

/// The chatterbot-corpus English YAML, or `None` with a message; under CI=true its absence
/// fails.
fn chatterbot() -> Option<PathBuf> {
    let dir = fixtures_dir().join("chatterbot/english");
    fixture(&dir, &dir.join("ai.yml"))
}

/// SmolLM2-135M-Instruct as llama.cpp quantises it (Q4_1), or `None` as [`chatterbot`].
fn smollm2_gguf() -> Option<PathBuf> {
    let path = fixtures_dir().join("smollm2/SmolLM2-135M-Instruct.Q4_1.gguf");
    fixture(&path, &path)
}

/// `found` when `probe` exists; else `None` with a message, or a failure under CI=true.
fn fixture(found: &Path, probe: &Path) -> Option<PathBuf> {
    if probe.is_file() {
        return Some(found.to_path_buf());
    }
    let msg = format!(
        "fixture not found at {}: run scripts/fetch-fixtures.sh",
        probe.display()
    );
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{msg} (CI=true: fixtures are required)");
    }
    eprintln!("SKIPPED: {msg}");
    None
}

/// `validate --data` on the chatterbot conversations with the tokenizer and template of
/// `model` (a Hugging Face directory or a GGUF file): no errors, and the counts of the rows.
pub fn validate_chatterbot(model: &Path) -> Option<(DataReport, usize, usize)> {
    let src = chatterbot()?;
    let dir = tempfile::tempdir().unwrap();
    let split =
        finetune_fixtures::chatterbot::write_messages(&src, &dir.path().join("chat"), 10).unwrap();
    let compose = format!(
        "x-finetune:\n  jobs:\n    j: {{task: text-generation, model: {}, output: o, train: {{max_length: 512}}, data: {{train: chat/train.jsonl, eval: chat/eval.jsonl}}}}\n",
        model.display()
    );
    std::fs::write(dir.path().join("compose.yaml"), compose).unwrap();
    let p = load_project(&options(dir.path())).unwrap();
    let r = check_data(&p.jobs[0]);
    Some((r, split.train, split.eval))
}

#[test]
fn chatterbot_conversations_validate_and_count() {
    let model = tempfile::tempdir().unwrap();
    TinyLlama::TINY.write(model.path(), 5).unwrap();
    let Some((r, train, eval)) = validate_chatterbot(model.path()) else {
        return;
    };
    // The byte tokenizer makes long rows: warnings about truncation, no errors.
    assert!(
        !r.diagnostics.iter().any(Diagnostic::is_error),
        "{:#?}",
        texts(&r.diagnostics)
    );
    // About 2,300 pairs in the corpus, 898 once repeats are dropped (1.3.3).
    assert!(train > 700 && eval > 50, "{train} train, {eval} eval");
    let (t, e) = (&r.generation[0], &r.generation[1]);
    assert_eq!((t.good_rows, t.duplicates), (train, 0), "de-duplicated");
    assert_eq!(e.good_rows, eval);
    let tokens = t.tokens.as_ref().unwrap();
    assert_eq!(tokens.rows, train);
    assert!(tokens.trained > 0 && tokens.trained < tokens.total);
    eprintln!("chatterbot train: {}", t.summary(128));
    eprintln!("chatterbot eval: {}", e.summary(128));
}

#[test]
fn a_gguf_models_own_tokenizer_and_template_count_the_chatterbot_rows() {
    let Some(gguf) = smollm2_gguf() else {
        return;
    };
    let Some((r, train, _)) = validate_chatterbot(&gguf) else {
        return;
    };
    assert!(
        !r.diagnostics.iter().any(Diagnostic::is_error),
        "{:#?}",
        texts(&r.diagnostics)
    );
    let t = &r.generation[0];
    let tokens = t
        .tokens
        .as_ref()
        .expect("the GGUF's tokenizer counts tokens");
    assert_eq!(tokens.rows, train);
    // Real BPE: a few tokens per word, far fewer than the byte tokenizer's one per byte.
    assert!(tokens.trained > 0 && tokens.trained < tokens.total);
    assert!(
        tokens.max < 512,
        "no chatterbot pair is that long: {}",
        tokens.max
    );
    // SmolLM2's template, read from the metadata, adds its default system turn.
    let (_, example) = t.example.as_ref().unwrap();
    assert!(
        example
            .text
            .starts_with("<|im_start|>system\nYou are a helpful AI assistant named SmolLM"),
        "{}",
        example.text
    );
    eprintln!("chatterbot with the SmolLM2 GGUF: {}", t.summary(512));
}
