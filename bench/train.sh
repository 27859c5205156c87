#!/usr/bin/env bash
# Fine-tuning step throughput of MiniLM on CPU: this trainer (trainer/examples/step_bench.rs, burn
# flex backend) against PyTorch + transformers (bench/torch_step.py) doing the same step: batch 16,
# seq 128 random full-length ids, cross-entropy, backward, global-norm clip 1.0, AdamW (wd 0.01),
# f32, the same thread count. The two run interleaved, ROUNDS times, in this one script run, so
# both see the same machine load; the load average is printed beside every run.
#
# Usage: bench/train.sh [ROUNDS] [STEPS]     (env: THREADS, WARMUP, FINETUNE_FIXTURES)
#
# Needs the MiniLM fixture (scripts/fetch-fixtures.sh) and a venv with torch + transformers at
# .fixtures/venv-ref; when it is missing this script creates it with pip: about 5.6 GB on disk
# (the Linux torch wheel pulls CUDA libraries even for CPU use).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
rounds=${1:-2}
steps=${2:-5}
warmup=${WARMUP:-1}
threads=${THREADS:-$(nproc)}
fixtures=${FINETUNE_FIXTURES:-$repo/.fixtures}
model=$fixtures/minilm
venv=$repo/.fixtures/venv-ref
[ -f "$model/model.safetensors" ] || { echo "no MiniLM at $model: run scripts/fetch-fixtures.sh" >&2; exit 1; }

if ! "$venv/bin/python" -c 'import torch, transformers' 2>/dev/null; then
  echo "creating $venv with torch + transformers (pip, about 5.6 GB)..." >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet torch transformers safetensors numpy
fi

cd "$repo"
cargo build --release --quiet --example step_bench -p finetune-trainer
ours_bin=$repo/target/release/examples/step_bench

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ); threads $threads; batch 16, seq 128; $steps steps after $warmup warm-up, $rounds rounds"
results=$(mktemp)
trap 'rm -f "$results"' EXIT
load() { cut -d' ' -f1-3 /proc/loadavg; }
for r in $(seq "$rounds"); do
  l=$(load)
  out=$("$ours_bin" --model "$model" --threads "$threads" --steps "$steps" --warmup "$warmup")
  echo "round $r burn    (load before: $l, after: $(load)): $out"
  echo "$out" >>"$results"
  l=$(load)
  out=$("$venv/bin/python" bench/torch_step.py --model "$model" --threads "$threads" --steps "$steps" --warmup "$warmup" 2>/dev/null)
  echo "round $r pytorch (load before: $l, after: $(load)): $out"
  echo "$out" >>"$results"
done
python3 - "$results" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
med = {}
for fw in ("burn", "pytorch"):
    sps = [r["samples_per_s"] for r in rows if r["framework"] == fw]
    med[fw] = statistics.median(sps)
    print(f"{fw:8s} samples/s per round: {', '.join(f'{x:.2f}' for x in sps)}; median {med[fw]:.2f}"
          f" ({16 / med[fw]:.2f} s/step)")
print(f"ratio burn/pytorch (samples/s): {med['burn'] / med['pytorch']:.2f}")
PY
