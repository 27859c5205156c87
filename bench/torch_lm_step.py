#!/usr/bin/env python3
"""PyTorch + transformers (+ peft) reference for the causal-LM step benchmark (bench/lm.sh):
fine-tuning steps of SmolLM2-135M-Instruct loaded by transformers from the same GGUF file as
ours (dequantised to f32, eager attention), LoRA through peft with the same r / alpha / dropout /
targets (or full fine-tuning), the next-token loss over the labelled tokens (labels -100
elsewhere, as ours masks), backward, global-norm clipping to 1.0, AdamW (same lr and weight
decay; no decay on 1-D parameters, as ours), f32, train mode, on CPU with a given thread count.

The batches are the ones trainer/examples/lm_step_bench.rs trained on (`--emit`): identical
token ids, masks and labels, warm-up batches first. Prints one JSON object, the shape the Rust
side prints:

    {"framework": "pytorch", "tokens_per_s": ..., "samples_per_s": ..., "s_per_step": ..., ...}

Needs torch, transformers, peft and gguf (bench/lm.sh checks the venv).
"""

import argparse
import json
import os
import pathlib
import platform
import time


def main() -> None:
    ap = argparse.ArgumentParser(description="PyTorch causal-LM fine-tuning step benchmark")
    ap.add_argument("--batches", required=True, help="JSON written by lm_step_bench --emit")
    ap.add_argument("--model", default=None, help="the GGUF file (default: the one in --batches)")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--attn", default="eager", help="transformers attn_implementation")
    args = ap.parse_args()

    import torch
    from transformers import AutoModelForCausalLM

    doc = json.load(open(args.batches))
    gguf = pathlib.Path(args.model or doc["model"])
    torch.set_num_threads(args.threads)
    torch.manual_seed(42)

    t_load = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(
        str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32,
        attn_implementation=args.attn)
    if doc["full"]:
        method = "full"
    else:
        from peft import LoraConfig, get_peft_model
        lo = doc["lora"]
        model = get_peft_model(model, LoraConfig(
            r=lo["r"], lora_alpha=lo["alpha"], lora_dropout=lo["dropout"],
            target_modules=lo["targets"], task_type="CAUSAL_LM"))
        method = "lora"
    model.train()
    load_s = time.perf_counter() - t_load
    params = [p for p in model.parameters() if p.requires_grad]
    trainable = sum(p.numel() for p in params)
    total = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW([
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": doc["weight_decay"]},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ], lr=doc["lr"])

    phases = {"forward": 0.0, "backward": 0.0, "clip": 0.0, "adamw": 0.0}

    def step(b, timed):
        t = time.perf_counter()
        ids = torch.tensor(b["input_ids"], dtype=torch.long)
        mask = torch.tensor(b["attention_mask"], dtype=torch.long)
        labels = torch.tensor(b["labels"], dtype=torch.long)
        out = model(input_ids=ids, attention_mask=mask, labels=labels)
        loss = out.loss.item()
        t_fwd = time.perf_counter()
        out.loss.backward()
        t_bwd = time.perf_counter()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        t_clip = time.perf_counter()
        opt.step()
        opt.zero_grad(set_to_none=True)
        t_opt = time.perf_counter()
        if timed:
            for k, (a, z) in zip(phases, [(t, t_fwd), (t_fwd, t_bwd), (t_bwd, t_clip),
                                          (t_clip, t_opt)]):
                phases[k] += (z - a) * 1000.0
        return loss

    warm, batches = doc["batches"][:doc["warmup"]], doc["batches"][doc["warmup"]:]
    t_first = time.perf_counter()
    for b in warm:
        step(b, False)
    warmup_s = time.perf_counter() - t_first
    losses, per_step = [], []
    t0 = time.perf_counter()
    for b in batches:
        s = time.perf_counter()
        losses.append(step(b, True))
        per_step.append((time.perf_counter() - s) * 1000.0)
    elapsed = time.perf_counter() - t0

    n = len(batches)
    tokens = sum(sum(map(sum, b["attention_mask"])) for b in batches)
    padded = sum(len(b["input_ids"]) * len(b["input_ids"][0]) for b in batches)
    trained = sum(sum(1 for row in b["labels"] for l in row[1:] if l != -100) for b in batches)
    samples = sum(len(b["input_ids"]) for b in batches)
    import transformers
    result = {
        "framework": "pytorch",
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "attn": args.attn,
        "device": "cpu",
        "dtype": "f32",
        "threads": args.threads,
        "method": method,
        "trainable_params": trainable,
        "total_params": total,
        "batch_size": doc["batch_size"],
        "max_length": doc["max_length"],
        "batch_seqs": [len(b["input_ids"][0]) for b in batches],
        "tokens": tokens,
        "padded_tokens": padded,
        "trained_tokens": trained,
        "steps": n,
        "s_per_step": elapsed / n,
        "step_ms_each": per_step,
        "phase_ms": {k: v / n for k, v in phases.items()},
        "samples_per_s": samples / elapsed,
        "tokens_per_s": tokens / elapsed,
        "load_s": load_s,
        "warmup_s": warmup_s,
        "losses": losses,
        "last_loss": losses[-1],
        "machine": platform.machine(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
