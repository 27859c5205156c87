#!/usr/bin/env python3
"""Reference logits for the trainer's GPT-2 parity test (trainer/tests/trainer/gpt2.rs).

Runs transformers' GPT2LMHeadModel (float32, eager attention, CPU) on the tiny random GPT-2
checkpoint that `fixtures::TinyGpt2` writes (seed 7), checks that it loads with no missing,
unexpected or mismatched keys, and saves the token ids, attention masks and full logits of a
few texts (one batch right-padded) with the FNV-1a 64 hash of `model.safetensors`, so the test
notices when the fixture no longer writes the checkpoint the reference was made from.

The checkpoint comes from the export test, which keeps its files under FINETUNE_KEEP_EXPORT:

    FINETUNE_KEEP_EXPORT=/tmp/gpt2-export RUSTFLAGS="-C target-feature=+crt-static" \\
        cargo test --release --locked --workspace --target x86_64-unknown-linux-gnu \\
        --test trainer -- gpt2_export
    .fixtures/venv-gguf/bin/python scripts/gpt2_reference.py /tmp/gpt2-export/base

(.fixtures/venv-gguf holds torch, transformers, peft, safetensors, numpy.)
"""

import argparse
import json
import pathlib
import platform

import torch
import transformers
from tokenizers import Tokenizer
from transformers import GPT2LMHeadModel

# (name, texts): one row each, or a batch right-padded to its longest row.
CASES = [
    ("single", ["Hello, GPT-2!"]),
    ("unicode", ["naïve café, ünïcode"]),
    ("padded_batch", ["The cat sat on the mat.", "Hi there"]),
]
PAD_ID = 2  # <|im_end|>, the tokenizer config's pad token


def fnv1a64(data: bytes) -> str:
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model_dir", type=pathlib.Path)
    default_out = pathlib.Path(__file__).resolve().parent.parent / "trainer/tests/data/gpt2_reference.json"
    parser.add_argument("--out", type=pathlib.Path, default=default_out)
    args = parser.parse_args()

    model, info = GPT2LMHeadModel.from_pretrained(
        args.model_dir, output_loading_info=True, attn_implementation="eager", dtype=torch.float32
    )
    problems = {k: v for k, v in info.items() if v}
    if problems:
        raise SystemExit(f"{args.model_dir} does not load cleanly: {problems}")
    model.eval()
    tok = Tokenizer.from_file(str(args.model_dir / "tokenizer.json"))

    cases = []
    for name, texts in CASES:
        rows = [tok.encode(t).ids for t in texts]
        width = max(len(r) for r in rows)
        ids = [r + [PAD_ID] * (width - len(r)) for r in rows]
        mask = [[1] * len(r) + [0] * (width - len(r)) for r in rows]
        with torch.no_grad():
            logits = model(input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask)).logits
        cases.append(
            {
                "name": name,
                "texts": texts,
                "input_ids": ids,
                "attention_mask": mask,
                "logits": [[[float(f"{x:.8g}") for x in pos] for pos in row] for row in logits.tolist()],
            }
        )

    out = {
        "model_safetensors_fnv1a64": fnv1a64((args.model_dir / "model.safetensors").read_bytes()),
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
        },
        "cases": cases,
    }
    args.out.write_text(json.dumps(out) + "\n")
    print(f"wrote {args.out} ({len(cases)} cases)")


if __name__ == "__main__":
    main()
