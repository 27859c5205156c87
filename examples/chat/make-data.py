#!/usr/bin/env python3
"""Writes data/train.jsonl and data/eval.jsonl (`messages` rows) from the chatterbot-corpus
English YAML that scripts/fetch-fixtures.sh puts in .fixtures/chatterbot/english.

The same rows, byte for byte, as the tests' `finetune_fixtures::chatterbot::write_messages`
(fixtures/src/chatterbot.rs): each conversation is one row of alternating user/assistant turns
(whitespace runs folded, a last question without an answer dropped), repeats are dropped, and
about one question in ten is held out for evaluation, chosen by a hash of the first user line so
that every answer to one question lands on the same side.

    python3 make-data.py [CORPUS_DIR] [OUT_DIR]     # defaults: ../../.fixtures/chatterbot/english data

Needs PyYAML (`python3 -m pip install pyyaml`).
"""

import json
import os
import sys

import yaml

EVAL_EVERY = 10


def fnv1a(data: bytes) -> int:
    """FNV-1a, 64-bit, as the Rust side computes it."""
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def scalar(v):
    """A YAML scalar's text. Read with PyYAML's BaseLoader every scalar stays the string written,
    so YAML 1.1's `yes`/`no` booleans and `1:20` numbers never turn into something else."""
    return v if isinstance(v, str) else None


def conversations(corpus):
    for name in sorted(os.listdir(corpus)):
        if not name.endswith((".yml", ".yaml")):
            continue
        with open(os.path.join(corpus, name), encoding="utf-8") as f:
            doc = yaml.load(f, Loader=yaml.BaseLoader) or {}
        for conv in doc.get("conversations") or []:
            lines = [" ".join(s.split()) for s in map(scalar, conv or []) if s is not None]
            whole = len(lines) // 2 * 2
            if whole >= 2 and all(lines[:whole]):
                yield lines[:whole]


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    corpus = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "../../.fixtures/chatterbot/english")
    out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(here, "data")
    os.makedirs(out, exist_ok=True)
    seen, train, evals = set(), [], []
    for conv in conversations(corpus):
        if tuple(conv) in seen:
            continue
        seen.add(tuple(conv))
        turns = [{"role": "user" if i % 2 == 0 else "assistant", "content": c} for i, c in enumerate(conv)]
        row = json.dumps({"messages": turns}, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
        (evals if fnv1a(conv[0].lower().encode()) % EVAL_EVERY == 0 else train).append(row)
    for name, rows in (("train.jsonl", train), ("eval.jsonl", evals)):
        with open(os.path.join(out, name), "w", encoding="utf-8") as f:
            f.writelines(r + "\n" for r in rows)
    print(f"{out}: {len(train)} train rows, {len(evals)} eval rows")


if __name__ == "__main__":
    main()
