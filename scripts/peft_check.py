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

The TinyLlama LoRA test (trainer/tests/trainer/causal_train.rs) keeps the same layout plus
`ours.json` (our trainer's logits of `merged/`) and `model.gguf` (our f16 GGUF export); both are
checked too, against transformers loading `merged/` and transformers' GGUF loader:

    FINETUNE_KEEP_EXPORT=/tmp/llama-export ... --test trainer -- tiny_llama_lora_learns
    .fixtures/venv-ref/bin/python scripts/peft_check.py /tmp/llama-export
"""

import argparse
import json
import pathlib

import torch
from peft import PeftModel
from peft.utils import get_peft_model_state_dict
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM

TOLERANCE = 1e-4
# model.gguf holds f16 weights.
GGUF_TOLERANCE = 2e-2
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

    # Our trainer's own logits of the merged export (the Llama test writes them), against
    # transformers loading that directory: the export is what our model computes.
    ours_path = d / "ours.json"
    if ours_path.exists():
        ours = json.loads(ours_path.read_text())
        assert ours["ids"] == IDS and ours["mask"] == MASK
        ours_t = torch.tensor(ours["logits"]).reshape(ours["shape"])
        keep = torch.tensor(MASK, dtype=torch.bool)
        diff = (ours_t[keep] - merged[keep]).abs().max().item()
        print(f"max |our trainer(merged) - transformers(merged)| = {diff:.3e}")
        if diff > TOLERANCE:
            raise SystemExit(f"our logits differ from transformers' by {diff} > {TOLERANCE}")

    # Our GGUF export, read by transformers' own GGUF loader (f16 weights: a looser bound).
    gguf_path = d / "model.gguf"
    if gguf_path.exists():
        from_gguf = AutoModelForCausalLM.from_pretrained(
            d, gguf_file=gguf_path.name, attn_implementation="eager", dtype=torch.float32
        ).eval()
        keep = torch.tensor(MASK, dtype=torch.bool)
        diff = (logits(from_gguf)[keep] - merged[keep]).abs().max().item()
        print(f"max |transformers(model.gguf) - transformers(merged)| = {diff:.3e}")
        if diff > GGUF_TOLERANCE:
            raise SystemExit(f"GGUF logits differ by {diff} > {GGUF_TOLERANCE}")


if __name__ == "__main__":
    main()
