//! The data path on rows written here with the tiny Llama's byte tokenizer (one token per byte,
//! so every count is known), and on real material: the chatterbot conversations with SmolLM2's
//! own tokenizer and template, read from its GGUF file (skipped with a reason when `.fixtures`
//! is absent, failing under CI=true).

use super::*;
use finetune_fixtures::TinyLlama;
use finetune_spec::chat::{Example, Role, IGNORE_INDEX};
use std::path::{Path, PathBuf};

/// A text-generation job on `model` with `rows` as its training file and `extra` merged into
/// the job (`{"train": {"max_length": 10}}`).
fn job(dir: &Path, model: &Path, rows: &[serde_json::Value], extra: serde_json::Value) -> JobSpec {
    let path = dir.join("train.jsonl");
    let text: Vec<String> = rows.iter().map(|r| r.to_string()).collect();
    std::fs::write(&path, text.join("\n")).unwrap();
    let mut j = serde_json::json!({
        "name": "j", "task": "text-generation", "model": model, "output": dir.join("o"),
        "data": {"train": path},
    });
    merge(&mut j, extra);
    serde_json::from_value(j).unwrap()
}

fn merge(into: &mut serde_json::Value, from: serde_json::Value) {
    match (into, from) {
        (serde_json::Value::Object(a), serde_json::Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k).or_insert(serde_json::Value::Null), v);
            }
        }
        (slot, v) => *slot = v,
    }
}

fn tiny_model(dir: &Path) -> PathBuf {
    let m = dir.join("m");
    TinyLlama::TINY.write(&m, 1).unwrap();
    m
}

/// The byte tokenizer's id of each byte of `s` (ids 0..3 are the special tokens).
fn bytes(s: &str, encoder: &LmEncoder) -> Vec<u32> {
    encoder
        .tokenizer()
        .encode(s, false)
        .unwrap()
        .get_ids()
        .to_vec()
}

#[test]
fn prompt_completion_rows_train_the_completion_and_the_eos() {
    let dir = tempfile::tempdir().unwrap();
    let m = tiny_model(dir.path());
    let rows = [serde_json::json!({"prompt": "Q: 2+2?", "completion": " 4"})];
    let ds = load(&job(dir.path(), &m, &rows, serde_json::json!({}))).unwrap();
    let eos = ds.encoder.eos_id().unwrap();
    assert_eq!(ds.shape, DataShape::PromptCompletion);
    let ex = &ds.train[0];
    let prompt = bytes("Q: 2+2?", &ds.encoder);
    let completion = bytes(" 4", &ds.encoder);
    assert_eq!(prompt.len(), 7, "one token per byte");
    let want_ids: Vec<u32> = prompt
        .iter()
        .chain(&completion)
        .copied()
        .chain([eos])
        .collect();
    assert_eq!(ex.input_ids, want_ids);
    let mut want_labels = vec![IGNORE_INDEX; 7];
    want_labels.extend(completion.iter().chain([&eos]).map(|&i| i64::from(i)));
    assert_eq!(ex.labels, want_labels);
    let s = &ds.train_stats;
    assert_eq!(
        (s.rows, s.examples, s.tokens, s.trained_tokens),
        (1, 1, 10, 3)
    );
    // The pad id is the model's pad token (`<|im_end|>` here, which is also its EOS).
    assert_eq!(ds.encoder.pad_id(), eos);
}

#[test]
fn text_rows_train_everything_and_loss_on_all_trains_prompts() {
    let dir = tempfile::tempdir().unwrap();
    let m = tiny_model(dir.path());
    let rows = [serde_json::json!({"text": "abc"})];
    let ds = load(&job(dir.path(), &m, &rows, serde_json::json!({}))).unwrap();
    assert_eq!(ds.shape, DataShape::Text);
    assert_eq!(ds.train[0].trained_tokens(), 4, "3 bytes and the EOS");
    let rows = [serde_json::json!({"prompt": "ab", "completion": "c"})];
    let all = serde_json::json!({"train": {"loss_on": "all"}});
    let ds = load(&job(dir.path(), &m, &rows, all)).unwrap();
    assert_eq!(ds.train[0].trained_tokens(), 4);
}

#[test]
fn long_rows_are_cut_and_rows_left_untrained_are_dropped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let m = tiny_model(dir.path());
    let rows = [
        serde_json::json!({"prompt": "short", "completion": "ok"}),
        serde_json::json!({"prompt": "a prompt far longer than ten", "completion": "x"}),
        serde_json::json!({"prompt": "0123456", "completion": "abcdef"}),
    ];
    let ds = load(&job(
        dir.path(),
        &m,
        &rows,
        serde_json::json!({"train": {"max_length": 10}}),
    ))
    .unwrap();
    let s = &ds.train_stats;
    assert_eq!((s.rows, s.examples, s.truncated, s.untrained), (3, 2, 2, 1));
    assert!(ds.train.iter().all(|e| e.input_ids.len() <= 10));
    assert_eq!(ds.train[1].trained_tokens(), 3, "abc of abcdef fit");
    assert_eq!(ds.train.iter().map(|e| e.line).collect::<Vec<_>>(), [1, 3]);
    let w = warnings(&ds, 10);
    assert_eq!(w.len(), 2, "{w:?}");
    assert!(
        w[1].starts_with("1 of 3 train rows have no trained token"),
        "{w:?}"
    );
    // Nothing left at all is an error naming the file.
    let e = load(&job(
        dir.path(),
        &m,
        &rows[1..2],
        serde_json::json!({"train": {"max_length": 10}}),
    ))
    .unwrap_err();
    assert!(matches!(e, LmDataError::NothingTrained { .. }), "{e}");
}

#[test]
fn eval_split_is_seeded_and_disjoint() {
    let dir = tempfile::tempdir().unwrap();
    let m = tiny_model(dir.path());
    let rows: Vec<_> = (0..20)
        .map(|i| serde_json::json!({"text": format!("row {i}")}))
        .collect();
    let opts =
        |seed: u64| serde_json::json!({"data": {"eval_split": 0.25}, "train": {"seed": seed}});
    let a = load(&job(dir.path(), &m, &rows, opts(1))).unwrap();
    let b = load(&job(dir.path(), &m, &rows, opts(1))).unwrap();
    let c = load(&job(dir.path(), &m, &rows, opts(2))).unwrap();
    let lines = |v: &[LmExample]| v.iter().map(|e| e.line).collect::<Vec<_>>();
    assert_eq!((a.train.len(), a.eval.len()), (15, 5));
    assert_eq!(lines(&a.eval), lines(&b.eval));
    assert_ne!(lines(&a.eval), lines(&c.eval));
    assert!(lines(&a.eval).iter().all(|l| !lines(&a.train).contains(l)));
    assert_eq!(a.eval_stats.rows, 5);
}

#[test]
fn a_model_without_tokenizer_or_a_bad_row_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let m = tiny_model(dir.path());
    let rows = [
        serde_json::json!({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}),
    ];
    let own = serde_json::json!({"data": {"chat_template": "{{ raise_exception('no') }}"}});
    let e = load(&job(dir.path(), &m, &rows, own)).unwrap_err();
    assert!(e.to_string().contains("train.jsonl:1: "), "{e}");
    std::fs::remove_file(m.join("tokenizer.json")).unwrap();
    let e = load(&job(dir.path(), &m, &rows, serde_json::json!({}))).unwrap_err();
    assert!(matches!(e, LmDataError::NoTokenizer), "{e}");
}

/// `$FINETUNE_FIXTURES`, else `<repo>/.fixtures`; `None` (with a printed reason) when `rel` is
/// missing there, a failure under CI=true.
fn fixture(rel: &str) -> Option<PathBuf> {
    let root = std::env::var_os("FINETUNE_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.fixtures"));
    let path = root.join(rel);
    if path.exists() {
        return Some(path);
    }
    let msg = format!(
        "fixture {} not found: run scripts/fetch-fixtures.sh",
        path.display()
    );
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{msg} (CI=true: fixtures are required)");
    }
    eprintln!("SKIPPED: {msg}");
    None
}

/// Runs of consecutive trained positions, as (start, end).
fn trained_runs(labels: &[i64]) -> Vec<(usize, usize)> {
    let mut runs = Vec::new();
    let mut start = None;
    for (i, &l) in labels.iter().chain([&IGNORE_INDEX]).enumerate() {
        match (l != IGNORE_INDEX, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                runs.push((s, i));
                start = None;
            }
            _ => {}
        }
    }
    runs
}

#[test]
fn chatterbot_with_smollm2_trains_exactly_the_assistant_turns() {
    let (Some(corpus), Some(gguf)) = (
        fixture("chatterbot/english"),
        fixture("smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let split =
        finetune_fixtures::chatterbot::write_messages(&corpus, &dir.path().join("chat"), 10)
            .unwrap();
    let j: JobSpec = serde_json::from_value(serde_json::json!({
        "name": "j", "task": "text-generation", "model": gguf, "output": dir.path().join("o"),
        "data": {"train": dir.path().join("chat/train.jsonl"), "eval": dir.path().join("chat/eval.jsonl")},
        "train": {"max_length": 512, "batch_size": 8},
    }))
    .unwrap();
    let ds = load(&j).unwrap();
    let (rows, _) = read_examples(&j.data.train, &j.data, j.train.loss_on).unwrap();
    assert_eq!(ds.train_stats.rows, split.train);
    assert_eq!(ds.eval_stats.rows, split.eval);
    assert_eq!((ds.train_stats.untrained, ds.train.len()), (0, split.train));
    let tok = ds.encoder.tokenizer();
    let end = "<|im_end|>";
    for (ex, row) in ds.train.iter().zip(&rows) {
        assert_eq!(ex.line, row.line);
        let Example::Messages(messages) = &row.example else {
            panic!("chatterbot rows are conversations")
        };
        let replies: Vec<String> = messages
            .iter()
            .filter(|m| m.role == Role::Assistant)
            .map(|m| format!("{}{end}", m.content))
            .collect();
        let runs = trained_runs(&ex.labels);
        let decoded: Vec<String> = runs
            .iter()
            .map(|&(a, b)| tok.decode(&ex.input_ids[a..b], false).unwrap())
            .collect();
        assert_eq!(decoded, replies, "line {}", row.line);
        for &(a, b) in &runs {
            let ids: Vec<i64> = ex.input_ids[a..b].iter().map(|&i| i64::from(i)).collect();
            assert_eq!(ex.labels[a..b], ids[..], "labels are the ids where trained");
        }
    }
    let s = &ds.train_stats;
    assert_eq!(
        s.tokens,
        ds.train.iter().map(|e| e.input_ids.len()).sum::<usize>()
    );
    assert_eq!(
        s.trained_tokens,
        ds.train
            .iter()
            .map(LmExample::trained_tokens)
            .sum::<usize>()
    );
    assert!(s.trained_tokens < s.tokens);
    eprintln!("chatterbot train with SmolLM2: {s:?}");

    // Packing: every token once, in rows of max_length.
    let how = Batching {
        batch_size: j.train.batch_size.get(),
        max_length: 512,
        packing: true,
        pad_id: ds.encoder.pad_id(),
    };
    let batches = epoch_batches(&ds.train, how, j.train.seed, 0);
    let mut packed: Vec<i64> = Vec::new();
    let mut trained = 0;
    for b in &batches {
        for (k, &m) in b.attention_mask.iter().enumerate() {
            if m == 1 {
                packed.push(b.input_ids[k]);
                trained += usize::from(b.labels[k] != IGNORE_INDEX);
            }
        }
    }
    let mut all: Vec<i64> = ds
        .train
        .iter()
        .flat_map(|e| e.input_ids.iter().map(|&i| i64::from(i)))
        .collect();
    assert_eq!(packed.len(), all.len());
    assert_eq!(trained, s.trained_tokens);
    packed.sort_unstable();
    all.sort_unstable();
    assert_eq!(packed, all);
    let full_rows = batches.iter().map(|b| b.batch).sum::<usize>() - 1;
    assert_eq!(full_rows, s.tokens / 512, "all rows but the last are full");
}
