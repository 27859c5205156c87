#!/usr/bin/env python3
"""PyTorch + transformers reference for the trainer benchmark: fine-tuning steps of
BertForSequenceClassification (MiniLM by default), batch 16, cross-entropy, backward, global-norm
clipping to 1.0, AdamW (weight decay 0.01), dropout on, on CPU with a given thread count (or on
CUDA with --device cuda). Prints one JSON object:

    {"framework": "pytorch", "samples_per_s": ..., "step_ms": ..., "steps": ..., ...}

Two workloads, as trainer/examples/step_bench.rs:
- full-length (default): random token ids, every row exactly --seq tokens, no padding;
- real (--data FILE.jsonl): the file's rows in order, --batch-size at a time (wrapping around),
  tokenised by transformers' fast tokenizer from the model's tokenizer.json, truncated to
  --max-length and padded to the longest row of each batch; labels are the sorted label set.

Needs torch + transformers (bench/train.sh makes the venv).
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
    ap.add_argument("--data", default=None, help="JSON-lines rows (text, label): the real workload")
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--num-labels", type=int, default=2)
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--dtype", default="f32", choices=["f32", "bf16", "f16"],
                    help="autocast dtype on cuda (weights stay f32, as with AMP)")
    args = ap.parse_args()

    import torch
    from transformers import AutoTokenizer, BertForSequenceClassification

    rows = None
    if args.data:
        raw = [json.loads(l) for l in open(args.data) if l.strip()]
        names = sorted({str(r["label"]) for r in raw})
        rows = [(r["text"], names.index(str(r["label"]))) for r in raw]
        args.num_labels = max(2, len(names))
        tok = AutoTokenizer.from_pretrained(args.model, use_fast=True)

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

    cursor = [0]

    def batch():
        if rows is not None:
            picked = [rows[(cursor[0] + k) % len(rows)] for k in range(args.batch_size)]
            cursor[0] = (cursor[0] + args.batch_size) % len(rows)
            enc = tok([t for t, _ in picked], padding="longest", truncation=True,
                      max_length=args.max_length, return_tensors="pt")
            labels = torch.tensor([l for _, l in picked])
            return (enc["input_ids"].to(device), enc["attention_mask"].to(device),
                    torch.zeros_like(enc["input_ids"]).to(device), labels.to(device))
        ids = torch.randint(1000, vocab, (args.batch_size, args.seq), generator=gen)
        ids[:, 0] = 101
        ids[:, -1] = 102
        labels = torch.randint(0, args.num_labels, (args.batch_size,), generator=gen)
        return (ids.to(device), torch.ones_like(ids).to(device),
                torch.zeros_like(ids).to(device), labels.to(device))

    amp = {"f32": None, "bf16": torch.bfloat16, "f16": torch.float16}[args.dtype]

    cfg = model.config

    def step_flops(b, s):
        # As step_bench.rs counts: matmul multiply-adds x2, backward = 2x forward.
        h, i = cfg.hidden_size, cfg.intermediate_size
        layer = 2 * b * s * (4 * h * h + 2 * h * i) + 4 * b * s * s * h
        return 3 * (cfg.num_hidden_layers * layer + 2 * b * (h * h + h * args.num_labels))

    seqs = []
    flops = [0.0]

    def step(timed=True):
        ids, mask, tt, labels = batch()
        if timed:
            seqs.append(ids.shape[1])
            flops[0] += step_flops(*ids.shape)
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

    t_first = time.perf_counter()
    for _ in range(args.warmup):
        step(timed=False)
    warmup_s = time.perf_counter() - t_first
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
        "workload": "real" if rows is not None else "full-length",
        "seq": args.max_length if rows is not None else args.seq,
        "batch_seqs": seqs,
        "padded_tokens": sum(seqs) * args.batch_size,
        "gflop": flops[0] / 1e9,
        "gflop_per_s": flops[0] / 1e9 / elapsed,
        "warmup_s": warmup_s,
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
