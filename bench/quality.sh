#!/usr/bin/env bash
# Same recipe, same quality (issue #8 item 4): our trainer and a PyTorch + transformers loop
# (bench/torch_finetune.py, written as HF's Trainer does it) fine-tune MiniLM with the same
# hyper-parameters on the same rows, over several seeds, for a 2-class and a 3-class slice of the
# fixtures' tweets. Prints each run's eval accuracy and the means; the goal is |mean(ours) -
# mean(PyTorch)| <= 0.02 for each slice. Slow (about a minute a run on 2 cores).
#
# Recipe (both sides): 3 epochs, batch 16, lr 5e-5, AdamW eps 1e-8 with weight decay 0.01 on all
# but biases and LayerNorm weights, linear warmup 6% then linear decay, clip 1.0, max_length 128,
# padded to the longest row, dropout on.
# Slices (seeded, from tweets.csv, annotator confidence >= 0.9, de-duplicated, balanced):
#   2-class: positive/negative, 300 train + 200 eval; 3-class: + neutral, 300 train + 201 eval.
#
# Usage: bench/quality.sh [SEEDS...]   (default: 1 2 3)
#   env: THREADS (default nproc), TRAINER (a built finetune-trainer; default: cargo build
#        --release here), VENV (torch + transformers; default .fixtures/venv-ref, made as
#        bench/train.sh makes it), FINETUNE_FIXTURES, SLICES (default "2 3").
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
seeds=("$@"); [ ${#seeds[@]} -gt 0 ] || seeds=(1 2 3)
threads=${THREADS:-$(nproc)}
slices=${SLICES:-2 3}
fixtures=${FINETUNE_FIXTURES:-$repo/.fixtures}
model=$fixtures/minilm
csv=$fixtures/tweets/tweets.csv
venv=${VENV:-$repo/.fixtures/venv-ref}
[ -f "$model/model.safetensors" ] && [ -f "$csv" ] || { echo "no fixtures at $fixtures: run scripts/fetch-fixtures.sh" >&2; exit 1; }
if ! "$venv/bin/python" -c 'import torch, transformers' 2>/dev/null; then
  echo "creating $venv with torch + transformers (pip, about 5.6 GB)..." >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet torch transformers safetensors numpy
fi
trainer=${TRAINER:-}
if [ -z "$trainer" ]; then
  (cd "$repo" && cargo build --release --quiet -p finetune-trainer)
  trainer=${CARGO_TARGET_DIR:-$repo/target}/release/finetune-trainer
fi
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT

python3 - "$csv" "$work" <<'PY'
import csv, json, pathlib, random, sys
src, out = sys.argv[1], pathlib.Path(sys.argv[2])
rows, seen = {"positive": [], "negative": [], "neutral": []}, set()
with open(src, encoding="utf-8", errors="replace", newline="") as f:
    for r in csv.DictReader(f):
        label, text = r.get("sentiment", ""), " ".join((r.get("text") or "").split())
        try:
            conf = float(r.get("confidence") or "")
        except ValueError:
            continue
        if label in rows and conf >= 0.9 and text and text not in seen:
            seen.add(text)
            rows[label].append(text)
for k, labels in (("2", ["negative", "positive"]), ("3", ["negative", "neutral", "positive"])):
    rng = random.Random(20261201)
    per_train, per_eval = 300 // len(labels), -(-200 // len(labels))
    train, evl = [], []
    for label in labels:
        texts = sorted(rows[label]); rng.shuffle(texts)
        train += [{"text": t, "label": label} for t in texts[:per_train]]
        evl += [{"text": t, "label": label} for t in texts[per_train:per_train + per_eval]]
    rng.shuffle(train); rng.shuffle(evl)
    for name, items in (("train", train), ("eval", evl)):
        with open(out / f"{k}-{name}.jsonl", "w", encoding="utf-8") as f:
            f.writelines(json.dumps(i, ensure_ascii=False) + "\n" for i in items)
PY

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); threads $threads; date $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "trainer: $trainer ($("$trainer" --version 2>/dev/null || echo '?')); peer: torch $("$venv/bin/python" -c 'import torch, transformers; print(torch.__version__, "transformers", transformers.__version__)')"
printf '%-8s %-6s %-8s %10s %10s %9s\n' slice seed side accuracy eval_loss train_s
for k in $slices; do
  train=$work/$k-train.jsonl; evl=$work/$k-eval.jsonl
  ours=(); peer=()
  for seed in "${seeds[@]}"; do
    out=$work/out-$k-$seed
    "$trainer" --threads "$threads" train --model "$model" --train "$train" --eval "$evl" --output "$out" \
      --seed "$seed" --epochs 3 --batch-size 16 --learning-rate 5e-5 --weight-decay 0.01 \
      --warmup-ratio 0.06 --schedule linear --max-grad-norm 1.0 --max-length 128 --precision f32 \
      > "$work/log-$k-$seed" 2>&1 || { echo "our trainer failed (slice $k seed $seed):" >&2; tail -5 "$work/log-$k-$seed" >&2; exit 1; }
    read -r acc loss secs < <(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); e=r["final_eval"]; print(e["accuracy"], e["loss"], r["duration_s"])' "$out/run.json")
    printf '%-8s %-6s %-8s %10.4f %10.4f %9.1f\n' "$k-class" "$seed" ours "$acc" "$loss" "$secs"
    ours+=("$acc")
    line=$("$venv/bin/python" "$repo/bench/torch_finetune.py" --model "$model" --train "$train" --eval "$evl" \
      --seed "$seed" --threads "$threads" 2>/dev/null | tail -1)
    read -r acc loss secs < <(python3 -c 'import json,sys; r=json.loads(sys.argv[1]); print(r["accuracy"], r["eval_loss"], r["train_s"])' "$line")
    printf '%-8s %-6s %-8s %10.4f %10.4f %9.1f\n' "$k-class" "$seed" pytorch "$acc" "$loss" "$secs"
    peer+=("$acc")
  done
  python3 - "$k" "${ours[*]}" "${peer[*]}" <<'PY'
import statistics as s, sys
k, ours, peer = sys.argv[1], [float(x) for x in sys.argv[2].split()], [float(x) for x in sys.argv[3].split()]
d = s.mean(ours) - s.mean(peer)
print(f"{k}-class: mean accuracy ours {s.mean(ours):.4f} (sd {s.pstdev(ours):.4f}), pytorch {s.mean(peer):.4f} (sd {s.pstdev(peer):.4f}), difference {d:+.4f}: {'within' if abs(d) <= 0.02 else 'OUTSIDE'} 0.02")
PY
done
