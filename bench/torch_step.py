#!/usr/bin/env python3
"""PyTorch + transformers reference for the trainer benchmark: fine-tuning steps of
BertForSequenceClassification (MiniLM by default) at seq 128, batch 16, AdamW, on CPU with a
given thread count (or on CUDA with --device cuda). Prints one JSON object:

    {"framework": "pytorch", "samples_per_s": ..., "step_ms": ..., "steps": ..., ...}

Inputs are random token ids (every row full length, no padding) so that the measure is the
step itself, as in the Rust side of the benchmark. Needs torch + transformers (see
scripts/reference_logits.py for the venv).
"""

import argparse
import json
import os
import pathlib
import platform
import time


def main() -> None:
    repo = pathlib.Path(__file__).resolve().parent.parent
    fixtures = pathlib.Path(os.environ.get("FINETUNE_FIXTURES", repo / ".fixtures"))
    ap = argparse.ArgumentParser(description="PyTorch fine-tuning step benchmark")
    ap.add_argument("--model", default=str(fixtures / "minilm"))
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--num-labels", type=int, default=2)
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--dtype", default="f32", choices=["f32", "bf16", "f16"],
                    help="autocast dtype on cuda (weights stay f32, as with AMP)")
    args = ap.parse_args()

    import torch
    from transformers import BertForSequenceClassification

    torch.set_num_threads(args.threads)
    torch.manual_seed(42)
    device = torch.device(args.device)
    t_load = time.perf_counter()
    model = BertForSequenceClassification.from_pretrained(args.model, num_labels=args.num_labels)
    model.to(device).train()
    load_s = time.perf_counter() - t_load
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    vocab = model.config.vocab_size
    gen = torch.Generator().manual_seed(0)

    def batch():
        ids = torch.randint(1000, vocab, (args.batch_size, args.seq), generator=gen)
        ids[:, 0] = 101
        ids[:, -1] = 102
        labels = torch.randint(0, args.num_labels, (args.batch_size,), generator=gen)
        return (ids.to(device), torch.ones_like(ids).to(device),
                torch.zeros_like(ids).to(device), labels.to(device))

    amp = {"f32": None, "bf16": torch.bfloat16, "f16": torch.float16}[args.dtype]

    def step():
        ids, mask, tt, labels = batch()
        with torch.autocast(device_type=device.type, dtype=amp, enabled=amp is not None):
            out = model(input_ids=ids, attention_mask=mask, token_type_ids=tt, labels=labels)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return out.loss.item()

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    for _ in range(args.warmup):
        step()
    sync()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    loss = 0.0
    for _ in range(args.steps):
        loss = step()
    sync()
    elapsed = time.perf_counter() - t0
    result = {
        "framework": "pytorch",
        "torch": torch.__version__,
        "device": args.device,
        "dtype": args.dtype,
        "threads": args.threads,
        "batch_size": args.batch_size,
        "seq": args.seq,
        "steps": args.steps,
        "step_ms": 1000.0 * elapsed / args.steps,
        "samples_per_s": args.steps * args.batch_size / elapsed,
        "load_s": load_s,
        "last_loss": loss,
        "machine": platform.machine(),
    }
    if device.type == "cuda":
        result["peak_gpu_mem_mib"] = torch.cuda.max_memory_allocated() / 2**20
        result["gpu"] = torch.cuda.get_device_name()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
