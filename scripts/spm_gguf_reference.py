#!/usr/bin/env python3
"""Reference ids for finetune-gguf's SentencePiece test (gguf/tests/spm.rs).

transformers' GGUF loader builds a fast tokenizer from a `tokenizer.ggml.model = llama` vocabulary
(pieces, scores, token types; merges rebuilt from the scores). This script loads the synthetic
file the Rust test writes with `AutoTokenizer.from_pretrained(dir, gguf_file=...)` and records,
for a few texts, the ids with and without special tokens and the decoded text.

    cargo test -p finetune-gguf --test spm -- --ignored write_spm_gguf_for_reference \
        (with SPM_GGUF_OUT=/tmp/spm/spm.gguf)
    .fixtures/venv-ref/bin/python scripts/spm_gguf_reference.py /tmp/spm/spm.gguf \
        > gguf/tests/data/spm_reference.json

Environment: torch, transformers, gguf (pip), versions recorded in the output.
"""

import json
import pathlib
import sys

import gguf
import transformers
from transformers import AutoTokenizer

TEXTS = [
    "the cat sat on the mat",
    "hello world",
    "The Cat",
    "  two  spaces ",
    "caté ☕ 42",
    "<s>the</s> mat",
    "thethe",
    "",
]


def main() -> None:
    path = pathlib.Path(sys.argv[1])
    tok = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    cases = []
    for text in TEXTS:
        ids = tok(text, add_special_tokens=True)["input_ids"]
        plain = tok(text, add_special_tokens=False)["input_ids"]
        cases.append(
            {
                "text": text,
                "ids": ids,
                "ids_no_special": plain,
                "decoded": tok.decode(plain, skip_special_tokens=True),
            }
        )
    json.dump(
        {
            "generated_by": "scripts/spm_gguf_reference.py",
            "transformers": transformers.__version__,
            "gguf": getattr(gguf, "__version__", "unknown"),
            "tokenizer_class": type(tok).__name__,
            "cases": cases,
        },
        sys.stdout,
        indent=1,
        ensure_ascii=False,
    )
    print()


if __name__ == "__main__":
    main()
