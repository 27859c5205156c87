#!/usr/bin/env python3
"""Test data for the trainer's pytorch_model.bin reader (trainer/src/model/torch_file.rs,
tests in trainer/tests/torch_bin.rs). Writes into trainer/tests/data/torch_bin/:

- config.json, model.safetensors: a tiny random BertForSequenceClassification (3 labels);
- pytorch_model.bin: the same weights through torch.save, laid out the way real checkpoints
  can be: most tensors contiguous, the query weights as transposed (strided) views, and each
  LayerNorm's weight and bias as two slices of one shared storage (non-zero storage offset);
- formats.bin: tensors whose values are a formula the Rust test recomputes, in f32, f16, bf16
  and f64, a strided view, a 0-d tensor and an int64 buffer that the reader must skip.

Run once with the reference venv (see scripts/reference_logits.py); the files are committed, so
tests do not need torch:

    .fixtures/venv-ref/bin/python scripts/torch_bin_testdata.py
"""

import json
import pathlib

import torch
from safetensors.torch import save_file
from transformers import BertConfig, BertForSequenceClassification

out = pathlib.Path(__file__).resolve().parent.parent / "trainer/tests/data/torch_bin"
out.mkdir(parents=True, exist_ok=True)
torch.manual_seed(0)
cfg = BertConfig(vocab_size=40, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                 intermediate_size=32, max_position_embeddings=24, num_labels=3)
model = BertForSequenceClassification(cfg).eval()
sd = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()
      if v.is_floating_point()}
save_file(sd, str(out / "model.safetensors"))
conf = cfg.to_dict()
conf["architectures"] = ["BertForSequenceClassification"]
(out / "config.json").write_text(json.dumps(conf, indent=1, sort_keys=True) + "\n")

binsd = {}
for k, v in sd.items():
    if k.endswith("query.weight"):
        binsd[k] = v.t().contiguous().t()  # same values, strides (1, rows)
    elif k.endswith("LayerNorm.weight"):
        both = torch.cat([v, sd[k[: -len("weight")] + "bias"]])
        binsd[k] = both[: v.numel()]
        binsd[k[: -len("weight")] + "bias"] = both[v.numel():]
    elif k not in binsd:
        binsd[k] = v
torch.save(binsd, out / "pytorch_model.bin")


def formula(*shape):
    n = 1
    for d in shape:
        n *= d
    # Multiples of 1/8 in [-2, 2): exact in f16 and bf16.
    return ((torch.arange(n, dtype=torch.float64) % 32) / 8 - 2).reshape(shape)


torch.save({
    "f32": formula(2, 3).float(),
    "f16": formula(2, 3).half(),
    "bf16": formula(2, 3).bfloat16(),
    "f64": formula(2, 3),
    "strided": formula(3, 4).float().t(),       # [4, 3], strides (1, 4)
    "sliced": formula(4, 4).float()[1:3, ::2],  # offset 4, strides (8, 2)
    "scalar": torch.tensor(1.5),
    "position_ids": torch.arange(8).unsqueeze(0),
}, out / "formats.bin")
for f in sorted(out.iterdir()):
    print(f.name, f.stat().st_size)
