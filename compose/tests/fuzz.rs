//! No input makes the library panic: thousands of deterministic mutations (truncations,
//! deletions, duplications, YAML-special insertions, line swaps) of real compose files and the
//! malformed corpus, plus random bytes, run through parsing, interpolation, project building,
//! validation, rendering and export.

mod common;

use finetune_compose::export::{self, ExportOptions};
use finetune_compose::interpolate::interpolate_tree;
use finetune_compose::project::build;
use finetune_compose::{render, validate, yaml, RenderOptions, ValidateOptions};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// xorshift64*: tiny, deterministic, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

const SPECIAL: &[&str] = &[
    ":",
    " ",
    "\n",
    "{",
    "}",
    "[",
    "]",
    "-",
    "&a",
    "*a",
    "<<: *a",
    "!reset",
    "!override",
    "|",
    ">",
    "'",
    "\"",
    "#",
    "$",
    "${",
    "${X:-",
    "}",
    "\t",
    "?",
    ",",
    "0",
    "-1",
    "1e999",
    "x-finetune:",
    "jobs:",
    "gpus:",
    "null",
    "~",
    "é",
    "\u{feff}",
];

fn boundary(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn mutate(rng: &mut Rng, text: &str) -> String {
    let mut s = text.to_string();
    for _ in 0..1 + rng.below(4) {
        let a = boundary(&s, rng.below(s.len() + 1));
        let b = boundary(&s, a + rng.below(40));
        match rng.below(6) {
            0 => s.truncate(a),
            1 => s.replace_range(a..b, ""),
            2 => {
                let chunk = s[a..b].to_string();
                s.insert_str(b, &chunk);
            }
            3 => s.insert_str(a, SPECIAL[rng.below(SPECIAL.len())]),
            4 => {
                let mut lines: Vec<&str> = s.lines().collect();
                if lines.len() > 1 {
                    let (i, j) = (rng.below(lines.len()), rng.below(lines.len()));
                    lines.swap(i, j);
                }
                s = lines.join("\n");
            }
            _ => {
                let line_start = s[..a].rfind('\n').map(|i| i + 1).unwrap_or(0);
                s.insert_str(line_start, ["  ", "\t", " "][rng.below(3)]);
            }
        }
    }
    s
}

/// Run the whole pipeline; returns how many jobs were rendered and exported.
fn exercise(text: &str) -> usize {
    let file = Path::new("/fuzz/compose.yaml");
    let Ok(mut node) = yaml::parse(text, file) else {
        return 0;
    };
    let env: BTreeMap<String, String> = [("X".to_string(), "1".to_string())].into();
    let mut errors = Vec::new();
    interpolate_tree(&mut node, &env, &mut errors);
    let p = build(
        "fuzz".into(),
        "/fuzz".into(),
        vec![file.to_path_buf()],
        &node,
        env,
        &["*".into()],
    );
    let _ = validate(&p, &ValidateOptions::default());
    for d in &p.diagnostics {
        let _ = d.to_string();
    }
    let opts = RenderOptions {
        build_context: Some("/src".into()),
        version: "0".into(),
        gpu_runtime: true,
        ..Default::default()
    };
    if let Ok(r) = render(&p, &opts) {
        let _ = (r.yaml(), r.json());
    }
    let eo = ExportOptions {
        image: "i".into(),
        ..Default::default()
    };
    for job in &p.jobs {
        let _ = export::kubernetes(&p.name, job, &eo);
        let _ = export::volcano(&p.name, job, &eo);
    }
    p.jobs.len()
}

/// Valid projects with jobs in every form.
const VALID: &[&str] = &[
    "services:\n  db: {image: pg}\n  t:\n    depends_on: [db]\n    x-finetune: {model: ./m, data: {train: ./d/t.csv}, output: ./o2, resources: {gpus: [0, 1]}}\n  p:\n    provider: {type: finetune, options: {model: ./m, train: ./d/t.jsonl, output: ./o3, gpus: 2}}\nx-finetune:\n  defaults: {resources: {memory: 8g, shm_size: 2g, cpus: 2}}\n  jobs:\n    a:\n      model: ./m\n      data: {train: ./d/t.jsonl, eval: ./e/e.jsonl}\n      method: {lora: {r: 4}}\n      output: ./o\n      cache: ./c\n      depends_on: [db]\n      environment: {HF_TOKEN: x, A: '1'}\n",
    "x-finetune:\n  jobs:\n    b:\n      model: ./m\n      data:\n        train: ./t.jsonl\n        eval_split: 0.2\n      train:\n        epochs: 2\n        early_stopping: {patience: 1}\n      output: ./o\n      resources:\n        gpus: {count: 1}\n",
];

fn seeds() -> Vec<String> {
    let mut files: Vec<PathBuf> = Vec::new();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    // The malformed corpus, and the rendered override of the render snapshots (`*.yaml.snap`).
    for (dir, ending) in [
        ("tests/malformed", ".yaml"),
        ("tests/snapshots", ".yaml.snap"),
    ] {
        files.extend(
            std::fs::read_dir(root.join(dir))
                .unwrap()
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.to_string_lossy().ends_with(ending)),
        );
    }
    if let Some(shared) = common::shared() {
        for f in [
            "compose-fixtures/loader/full-example.yml",
            "compose-fixtures/loader/testdata/compose-test-extends.yaml",
            "compose-fixtures/cli/testdata/simple/compose-with-variables.yaml",
        ] {
            files.push(shared.join(f));
        }
    }
    files.sort();
    let mut out: Vec<String> = files
        .iter()
        .filter_map(|f| {
            let text = std::fs::read_to_string(f).ok()?;
            let snap = f.extension().is_some_and(|e| e == "snap");
            Some(if snap {
                snapshot_body(&text).into()
            } else {
                text
            })
        })
        .collect();
    out.push(String::from("x-finetune:\n  defaults: &d\n    resources: {gpus: auto, memory: 8g}\n  jobs:\n    a:\n      <<: *d\n      model: ./m\n      data: {train: ./d.jsonl}\n      output: ./o\n      environment: [TOKEN, A=1]\n"));
    out
}

/// An insta snapshot without its `---`-delimited header.
fn snapshot_body(text: &str) -> &str {
    text.strip_prefix("---\n")
        .and_then(|rest| rest.split_once("\n---\n"))
        .map_or(text, |(_, body)| body)
}

#[test]
fn mutated_compose_files_never_panic() {
    let seeds = seeds();
    let mut rng = Rng(0x5eed_f1e7_u64);
    let mut jobs = 0;
    for case in 0..4000usize {
        // Every other case mutates a valid project, so rendering and export are reached often.
        let seed = if case.is_multiple_of(2) {
            &VALID[case / 2 % VALID.len()].to_string()
        } else {
            &seeds[case % seeds.len()]
        };
        let input = mutate(&mut rng, seed);
        let result = std::panic::catch_unwind(|| exercise(&input));
        assert!(result.is_ok(), "panic on case {case}, input:\n{input}");
        jobs += result.unwrap_or(0);
    }
    // The mutations must still reach rendering and export often, or the test proves little.
    assert!(jobs > 200, "only {jobs} jobs rendered");
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng(0xdead_beef_cafe_f00d);
    for case in 0..2000 {
        let len = rng.below(300);
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                let r = rng.below(4);
                const ALPHABET: &[u8] = b" :-{}[]\n\tab01$&*!|>'\"#";
                if r == 0 {
                    rng.below(256) as u8
                } else {
                    ALPHABET[rng.below(ALPHABET.len())]
                }
            })
            .collect();
        let input = String::from_utf8_lossy(&bytes).into_owned();
        let result = std::panic::catch_unwind(|| exercise(&input));
        assert!(result.is_ok(), "panic on case {case}, input: {input:?}");
    }
}
