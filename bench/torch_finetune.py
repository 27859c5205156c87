"""The peer for bench/quality.sh: a PyTorch + transformers fine-tune of a BERT-family
sequence classifier with the recipe our trainer uses, written as Hugging Face's Trainer does it.

- the model: AutoModelForSequenceClassification (classifier N(0, initializer_range), zero bias),
  dropout on while training;
- AdamW (torch.optim.AdamW, eps 1e-8, betas 0.9/0.999) with weight decay on every parameter but
  biases and LayerNorm weights, as Trainer's `get_decay_parameter_names`;
- linear warmup over ceil(warmup_ratio * total) steps then linear decay
  (get_linear_schedule_with_warmup), global-norm clipping;
- each epoch shuffled by a seeded generator, the last partial batch kept, every batch padded to
  its longest row;
- evaluation: accuracy and mean cross-entropy over the eval file.

Prints one JSON line: {"accuracy", "eval_loss", "train_s", "steps"}.
"""
import argparse
import json
import math
import time

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer
from transformers import get_linear_schedule_with_warmup


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def batches(tok, rows, label_ids, size, max_length, order):
    for i in range(0, len(order), size):
        chunk = [rows[j] for j in order[i : i + size]]
        enc = tok(
            [r["text"] for r in chunk],
            padding="longest",
            truncation=True,
            max_length=max_length,
            return_tensors="pt",
        )
        enc["labels"] = torch.tensor([label_ids[r["label"]] for r in chunk])
        yield enc


def main():
    p = argparse.ArgumentParser()
    for name in ("model", "train", "eval"):
        p.add_argument("--" + name, required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=5e-5)
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--warmup-ratio", type=float, default=0.06)
    p.add_argument("--max-length", type=int, default=128)
    p.add_argument("--max-grad-norm", type=float, default=1.0)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    train, evl = read_jsonl(a.train), read_jsonl(a.eval)
    labels = sorted({r["label"] for r in train})
    label_ids = {l: i for i, l in enumerate(labels)}
    tok = AutoTokenizer.from_pretrained(a.model)
    model = AutoModelForSequenceClassification.from_pretrained(
        a.model,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id=label_ids,
    )
    no_decay = [n for n, _ in model.named_parameters() if n.endswith("bias") or "LayerNorm" in n]
    groups = [
        {"params": [q for n, q in model.named_parameters() if n not in no_decay], "weight_decay": a.weight_decay},
        {"params": [q for n, q in model.named_parameters() if n in no_decay], "weight_decay": 0.0},
    ]
    opt = torch.optim.AdamW(groups, lr=a.lr, eps=1e-8, betas=(0.9, 0.999))
    per_epoch = math.ceil(len(train) / a.batch_size)
    total = per_epoch * a.epochs
    sched = get_linear_schedule_with_warmup(opt, math.ceil(a.warmup_ratio * total), total)
    gen = torch.Generator().manual_seed(a.seed)

    t0 = time.time()
    model.train()
    for _ in range(a.epochs):
        order = torch.randperm(len(train), generator=gen).tolist()
        for batch in batches(tok, train, label_ids, a.batch_size, a.max_length, order):
            loss = model(**batch).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), a.max_grad_norm)
            opt.step()
            sched.step()
            opt.zero_grad()
    train_s = time.time() - t0

    model.eval()
    correct, loss_sum = 0, 0.0
    with torch.no_grad():
        for batch in batches(tok, evl, label_ids, 32, a.max_length, list(range(len(evl)))):
            out = model(**batch)
            loss_sum += out.loss.item() * len(batch["labels"])
            correct += (out.logits.argmax(-1) == batch["labels"]).sum().item()
    print(json.dumps({"accuracy": correct / len(evl), "eval_loss": loss_sum / len(evl), "train_s": round(train_s, 1), "steps": total}))


if __name__ == "__main__":
    main()
