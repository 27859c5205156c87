#!/usr/bin/env bash
# `serve` on one CPU: latency and throughput of MiniLM as a classifier, f32 against int8
# (`quantize`), and the peer: PyTorch + transformers on the same model and texts, one thread.
#
# The model is MiniLM with a seeded classification head (transformers' BertForSequenceClassification
# saved with save_pretrained, bench/serve_bench.py make-model): both sides load that directory.
# `quantize` makes the int8 copy and scores both on the tweets' eval.jsonl (printed). Then, ROUNDS
# times, each of f32, int8 and PyTorch in turn, pinned to CPU $CPU (taskset) with one thread:
#   single: REQUESTS texts of eval.jsonl, one per request, one after another: p50 and p95 latency;
#   batch:  BATCHES requests of 16 texts, one after another: texts per second.
# The HTTP client (stdlib http.client, keep-alive) runs on CPU $CLIENT_CPU. PyTorch runs in process
# (tokenise + forward + softmax, no HTTP), so its figures carry no server overhead at all.
#
# Usage: bench/serve.sh [ROUNDS]
#   env: SERVE_BIN (a built finetune-trainer; default target/x86_64-unknown-linux-gnu/release/...,
#        built with the workspace's flags when missing), CPU (default 0), CLIENT_CPU (default 1),
#        REQUESTS (200), BATCHES (20), FINETUNE_FIXTURES, VENV (torch + transformers; default
#        .fixtures/venv-ref, created with pip when missing, as bench/train.sh does).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
rounds=${1:-2}
cpu=${CPU:-0}
client_cpu=${CLIENT_CPU:-1}
requests=${REQUESTS:-200}
batches=${BATCHES:-20}
fixtures=${FINETUNE_FIXTURES:-$repo/.fixtures}
minilm=$fixtures/minilm
eval_rows=$fixtures/tweets/eval.jsonl
venv=${VENV:-$repo/.fixtures/venv-ref}
[ -f "$minilm/model.safetensors" ] || { echo "no MiniLM at $minilm: run scripts/fetch-fixtures.sh" >&2; exit 1; }
[ -f "$eval_rows" ] || { echo "no tweets at $eval_rows: run scripts/fetch-fixtures.sh" >&2; exit 1; }
command -v taskset >/dev/null || { echo "taskset (util-linux) is needed to pin to one CPU" >&2; exit 1; }

if ! "$venv/bin/python" -c 'import torch, transformers' 2>/dev/null; then
  echo "creating $venv with torch + transformers (pip, about 5.6 GB)..." >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet torch transformers safetensors numpy
fi
py=$venv/bin/python

cd "$repo"
target=x86_64-unknown-linux-gnu
bin=${SERVE_BIN:-$repo/target/$target/release/finetune-trainer}
if [ -z "${SERVE_BIN:-}" ] && [ ! -x "$bin" ]; then
  RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --locked --target "$target" \
    --quiet -p finetune-trainer --bin finetune-trainer
fi

work=$(mktemp -d)
server_pid=
cleanup() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ); server on CPU $cpu, 1 thread; client on CPU $client_cpu; $rounds rounds; $requests single requests, $batches x 16-text batches"
"$py" bench/serve_bench.py make-model --base "$minilm" --out "$work/f32" 2>/dev/null
"$bin" --threads 1 quantize --model "$work/f32" --out "$work/int8" --data "$eval_rows" --max-length 128
echo "weights: f32 $(stat -c %s "$work/f32/model.safetensors") bytes, int8 $(stat -c %s "$work/int8/model.safetensors") bytes"

load() { cut -d' ' -f1-3 /proc/loadavg; }
serve_one() { # VARIANT: start serve pinned to $cpu, run the client, stop it with SIGTERM
  local log=$work/serve-$1.log port
  taskset -c "$cpu" "$bin" --threads 1 serve --model "$work/$1" --host 127.0.0.1 --port 0 2>"$log" &
  server_pid=$!
  for _ in $(seq 600); do
    port=$(sed -n 's/.*serving .* on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log")
    [ -n "$port" ] && break
    sleep 0.1
  done
  [ -n "$port" ] || { cat "$log" >&2; exit 1; }
  taskset -c "$client_cpu" "$py" bench/serve_bench.py http --port "$port" --label "serve-$1" \
    --data "$eval_rows" --requests "$requests" --batches "$batches"
  kill -TERM "$server_pid"; wait "$server_pid"; server_pid=
}
results=$work/results.jsonl
for r in $(seq "$rounds"); do
  for variant in f32 int8 pytorch; do
    l=$(load)
    if [ "$variant" = pytorch ]; then
      out=$(taskset -c "$cpu" "$py" bench/serve_bench.py torch --model "$work/f32" --threads 1 \
        --data "$eval_rows" --requests "$requests" --batches "$batches" 2>/dev/null)
    else
      out=$(serve_one "$variant")
    fi
    echo "round $r $variant (load before: $l): $out"
    echo "$out" >>"$results"
  done
done
python3 - "$results" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print(f"{'side':12s} {'p50 ms':>8s} {'p95 ms':>8s} {'single/s':>9s} {'batch-16 texts/s':>17s}   (medians over rounds)")
for fw in dict.fromkeys(r["framework"] for r in rows):
    rs = [r for r in rows if r["framework"] == fw]
    med = lambda k: statistics.median(r[k] for r in rs)
    print(f"{fw:12s} {med('single_p50_ms'):8.1f} {med('single_p95_ms'):8.1f} {med('single_per_s'):9.1f} {med('batch_texts_per_s'):17.1f}")
PY
