#!/usr/bin/env python3
"""Checks the trainer's causal-LM exports against PEFT and transformers themselves.

Reads the three directories the GPT-2 export test (trainer/tests/trainer/gpt2_export.rs)
keeps under FINETUNE_KEEP_EXPORT: `base/` (the input model), `adapter/` (our PEFT adapter) and
`merged/` (our HF export, LoRA merged). Loads base + adapter with
`peft.PeftModel.from_pretrained`, checks that PEFT took every adapter tensor as written, loads
the merged export with transformers, and checks that the logits agree within 1e-4 (printing
the max abs diff). Exits non-zero otherwise.

    FINETUNE_KEEP_EXPORT=/tmp/gpt2-export RUSTFLAGS="-C target-feature=+crt-static" \\
        cargo test --release --locked --workspace --target x86_64-unknown-linux-gnu \\
        --test trainer -- gpt2_export
    .fixtures/venv-gguf/bin/python scripts/peft_check.py /tmp/gpt2-export
"""

import argparse
import pathlib

import torch
from peft import PeftModel
from peft.utils import get_peft_model_state_dict
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM

TOLERANCE = 1e-4
IDS = [[5, 40, 77, 100, 3, 9, 200, 31], [8, 120, 33, 60, 2, 2, 2, 2]]
MASK = [[1] * 8, [1, 1, 1, 1, 0, 0, 0, 0]]


def logits(model) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids=torch.tensor(IDS), attention_mask=torch.tensor(MASK)).logits


def load(path: pathlib.Path):
    return AutoModelForCausalLM.from_pretrained(path, attn_implementation="eager", dtype=torch.float32).eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("export_dir", type=pathlib.Path)
    d = parser.parse_args().export_dir

    base = load(d / "base")
    base_logits = logits(base)
    peft_model = PeftModel.from_pretrained(base, d / "adapter").eval()

    # PEFT kept every tensor we wrote, unchanged (a misnamed one would be silently skipped).
    written = load_file(d / "adapter" / "adapter_model.safetensors")
    loaded = get_peft_model_state_dict(peft_model)
    if set(written) != set(loaded):
        raise SystemExit(f"adapter keys differ: ours only {set(written) - set(loaded)}, PEFT only {set(loaded) - set(written)}")
    for name, t in written.items():
        if not torch.equal(t, loaded[name].cpu()):
            raise SystemExit(f"{name} changed on load")

    adapted = logits(peft_model)
    merged = logits(load(d / "merged"))
    diff = (adapted - merged).abs().max().item()
    effect = (adapted - base_logits).abs().max().item()
    print(f"{len(written)} adapter tensors; adapter effect on logits {effect:.3e}")
    print(f"max |PEFT(base + adapter) - transformers(merged)| = {diff:.3e}")
    if effect < 1e-3:
        raise SystemExit("the adapter does not change the logits: nothing was checked")
    if diff > TOLERANCE:
        raise SystemExit(f"logits differ by {diff} > {TOLERANCE}")


if __name__ == "__main__":
    main()
