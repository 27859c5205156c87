#!/usr/bin/env python3
"""Reference logits and greedy generations of transformers' LlamaForCausalLM, for the trainer's
Llama parity tests (trainer/tests/trainer/llama.rs). Writes trainer/tests/data/llama_reference.json.

Two models, both run in float32 with eager attention:

- the fixtures crate's TinyLlama::TINY (seed 7), which the Rust tests write into a temp dir.
  The script reads the same checkpoint from a directory the ignored test
  `llama::write_tiny_llama_for_reference` writes (see below), and stores a fingerprint of its
  weights (sum of value * (index % 13 + 1) per tensor, tensors in name order, float64), which
  the parity test recomputes: if the fixture generator changes, the test says to rerun this.
  Stored: the token ids of a few texts (one padded batch of 2 rows of different length) and
  the full logits of every real token, from each row run alone (unpadded).
- SmolLM2-135M-Instruct from its Q4_1 GGUF (.fixtures/smollm2, scripts/fetch-fixtures.sh),
  loaded as scripts/gguf_reference.py does. Stored per real token: the logits at fixed vocab
  ids (SLICE), and at each row's last token the top-5 ids and values; and the ids of a greedy
  `generate(do_sample=False, max_new_tokens=8)` from one chat prompt.

The pinned environment is scripts/gguf_reference.py's; then:

    RUSTFLAGS="-C target-feature=+crt-static" TINY_LLAMA_OUT=/tmp/tiny-llama \\
        cargo test --release --locked --workspace --target x86_64-unknown-linux-gnu \\
        --test trainer -- --ignored write_tiny_llama_for_reference
    .fixtures/venv-gguf/bin/python scripts/causal_reference.py --tiny /tmp/tiny-llama
"""

import argparse
import json
import pathlib

import numpy as np
import safetensors.numpy
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
TINY_TEXTS = ["Hello, llama!", "abc", "The cat sat on the mat."]
SMOL_TEXTS = [
    "The capital of France is",
    "Hi",
    "def add(a, b):\n    return a + b",
]
CHAT = [{"role": "user", "content": "What is 2+2?"}]
SLICE = list(range(0, 8)) + list(range(1000, 1008)) + [4194, 49151]
TOP_K = 5
NEW_TOKENS = 8


def fingerprint(path):
    tensors = safetensors.numpy.load_file(str(path))
    total = 0.0
    for name in sorted(tensors):
        v = tensors[name].astype(np.float64).ravel()
        total += float((v * (np.arange(v.size) % 13 + 1)).sum())
    return total


def row_logits(model, ids):
    with torch.no_grad():
        out = model(input_ids=torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long))
    return out.logits[0].float().numpy()


def padded_batch(model, rows, pad):
    """The first two rows as one right-padded batch: checks the padded run agrees with the
    unpadded one here too (transformers' own consistency), and returns the layout."""
    a, b = rows[0], rows[1]
    n = max(len(a), len(b))
    ids = [r + [pad] * (n - len(r)) for r in (a, b)]
    mask = [[1] * len(r) + [0] * (n - len(r)) for r in (a, b)]
    with torch.no_grad():
        out = model(input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask)).logits.numpy()
    for i, r in enumerate((a, b)):
        diff = np.abs(out[i, : len(r)] - row_logits(model, r)).max()
        assert diff < 1e-4, f"transformers' padded row {i} differs by {diff}"
    return {"input_ids": ids, "attention_mask": mask}


def tiny(dir_):
    model = AutoModelForCausalLM.from_pretrained(dir_, dtype=torch.float32, attn_implementation="eager").eval()
    tok = AutoTokenizer.from_pretrained(dir_)
    rows = [tok(t, add_special_tokens=False)["input_ids"] for t in TINY_TEXTS]
    return {
        "fingerprint": fingerprint(pathlib.Path(dir_) / "model.safetensors"),
        "seed": 7,
        "texts": TINY_TEXTS,
        "ids": rows,
        "logits": [row_logits(model, r).tolist() for r in rows],
        "batch": padded_batch(model, rows, 2),
    }


def smollm2(dir_):
    model = AutoModelForCausalLM.from_pretrained(
        dir_, gguf_file=GGUF, dtype=torch.float32, attn_implementation="eager"
    ).eval()
    tok = AutoTokenizer.from_pretrained(dir_, gguf_file=GGUF)
    rows = [tok(t, add_special_tokens=False)["input_ids"] for t in SMOL_TEXTS]
    assert all(len(r) <= 24 for r in rows), [len(r) for r in rows]
    per_row = []
    for r in rows:
        logits = row_logits(model, r)
        last = torch.tensor(logits[-1]).topk(TOP_K)
        per_row.append(
            {
                "slice": logits[:, SLICE].tolist(),
                "top_ids": last.indices.tolist(),
                "top_values": last.values.tolist(),
            }
        )
    prompt = tok.apply_chat_template(CHAT, add_generation_prompt=True, tokenize=True)
    if isinstance(prompt, dict) or hasattr(prompt, "input_ids"):
        prompt = prompt["input_ids"]
    with torch.no_grad():
        gen = model.generate(
            torch.tensor([prompt]),
            attention_mask=torch.ones(1, len(prompt), dtype=torch.long),
            do_sample=False,
            max_new_tokens=NEW_TOKENS,
            pad_token_id=tok.pad_token_id if tok.pad_token_id is not None else 2,
        )
    return {
        "texts": SMOL_TEXTS,
        "ids": rows,
        "slice_ids": SLICE,
        "rows": per_row,
        "batch": padded_batch(model, rows, 2),
        "chat": CHAT,
        "prompt_ids": prompt,
        "generated_ids": gen[0, len(prompt):].tolist(),
        "eos_token_id": model.generation_config.eos_token_id,
    }


def main():
    root = pathlib.Path(__file__).resolve().parent.parent
    p = argparse.ArgumentParser()
    p.add_argument("--tiny", required=True, help="the TinyLlama dir the ignored test wrote")
    p.add_argument("--smollm2", default=str(root / ".fixtures/smollm2"))
    p.add_argument("--out", default=str(root / "trainer/tests/data/llama_reference.json"))
    args = p.parse_args()
    torch.manual_seed(0)
    data = {
        "generated_by": "scripts/causal_reference.py",
        "torch": torch.__version__,
        "tiny": tiny(args.tiny),
        "smollm2": smollm2(args.smollm2),
    }
    out = pathlib.Path(args.out)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(data) + "\n", encoding="utf-8")
    tmp.replace(out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
