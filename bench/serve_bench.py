#!/usr/bin/env python3
"""Helpers of bench/serve.sh: the classifier under test, the HTTP load client and the PyTorch peer.

    serve_bench.py make-model --base MINILM --out DIR   # BertForSequenceClassification, seeded head
    serve_bench.py http --port N --data EVAL.jsonl ...   # latency and throughput of a `serve`
    serve_bench.py torch --model DIR --data EVAL.jsonl   # the same work in PyTorch, in process

Both measurements print one JSON object: p50/p95 latency (ms) of single-text requests sent one
after another, and throughput (texts/s) of batch requests sent one after another. `http` uses only
the standard library (http.client, keep-alive); `torch` tokenises with transformers' fast
tokenizer from the model's tokenizer.json, truncates to --max-length, pads each batch to its
longest row, and runs under torch.inference_mode() with torch.set_num_threads(--threads).
"""

import argparse
import http.client
import json
import statistics
import time


def texts_of(path, n):
    rows = [json.loads(line)["text"] for line in open(path, encoding="utf-8") if line.strip()]
    return [rows[i % len(rows)] for i in range(n)]


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q / 100 * (len(xs) - 1))))]


def summary(framework, lat_s, batch_s, batch, extra=None):
    out = {
        "framework": framework,
        "single_p50_ms": 1000 * statistics.median(lat_s),
        "single_p95_ms": 1000 * pct(lat_s, 95),
        "single_per_s": len(lat_s) / sum(lat_s),
        "batch": batch,
        "batch_texts_per_s": batch * len(batch_s) / sum(batch_s),
        "batch_p50_ms": 1000 * statistics.median(batch_s),
    }
    out.update(extra or {})
    return out


def make_model(args):
    import torch
    from transformers import AutoTokenizer, BertForSequenceClassification

    torch.manual_seed(0)
    model = BertForSequenceClassification.from_pretrained(
        args.base, num_labels=2, id2label={0: "negative", 1: "positive"},
        label2id={"negative": 0, "positive": 1})
    model.save_pretrained(args.out, safe_serialization=True)
    AutoTokenizer.from_pretrained(args.base).save_pretrained(args.out)


def bench_http(args):
    conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=300)

    def post(inputs):
        body = json.dumps({"inputs": inputs})
        t = time.perf_counter()
        conn.request("POST", "/predict", body, {"Content-Type": "application/json"})
        resp = conn.getresponse()
        data = resp.read()
        dt = time.perf_counter() - t
        if resp.status != 200:
            raise SystemExit(f"HTTP {resp.status}: {data[:200]!r}")
        return dt

    singles = texts_of(args.data, args.warmup + args.requests)
    for t in singles[: args.warmup]:
        post(t)
    lat = [post(t) for t in singles[args.warmup:]]
    batches = texts_of(args.data, args.batch * args.batches)
    bat = [post(batches[i * args.batch:(i + 1) * args.batch]) for i in range(args.batches)]
    print(json.dumps(summary(args.label, lat, bat, args.batch)))


def bench_torch(args):
    import torch
    from transformers import AutoTokenizer, BertForSequenceClassification

    torch.set_num_threads(args.threads)
    tok = AutoTokenizer.from_pretrained(args.model)
    model = BertForSequenceClassification.from_pretrained(args.model).eval()

    def run(inputs):
        t = time.perf_counter()
        enc = tok(inputs, truncation=True, max_length=args.max_length, padding=True,
                  return_tensors="pt")
        with torch.inference_mode():
            probs = torch.softmax(model(**enc).logits, dim=-1)
        probs.tolist()
        return time.perf_counter() - t

    singles = texts_of(args.data, args.warmup + args.requests)
    for t in singles[: args.warmup]:
        run([t])
    lat = [run([t]) for t in singles[args.warmup:]]
    batches = texts_of(args.data, args.batch * args.batches)
    bat = [run(batches[i * args.batch:(i + 1) * args.batch]) for i in range(args.batches)]
    print(json.dumps(summary("pytorch", lat, bat, args.batch,
                             {"torch": torch.__version__, "threads": torch.get_num_threads()})))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make-model")
    m.add_argument("--base", required=True)
    m.add_argument("--out", required=True)
    for name in ("http", "torch"):
        p = sub.add_parser(name)
        p.add_argument("--data", required=True)
        p.add_argument("--requests", type=int, default=200)
        p.add_argument("--warmup", type=int, default=10)
        p.add_argument("--batch", type=int, default=16)
        p.add_argument("--batches", type=int, default=20)
        if name == "http":
            p.add_argument("--port", type=int, required=True)
            p.add_argument("--label", default="serve")
        else:
            p.add_argument("--model", required=True)
            p.add_argument("--threads", type=int, default=1)
            p.add_argument("--max-length", type=int, default=512)
    args = ap.parse_args()
    {"make-model": make_model, "http": bench_http, "torch": bench_torch}[args.cmd](args)


if __name__ == "__main__":
    main()
