#!/usr/bin/env bash
# MiniLM fine-tuning on an NVIDIA GPU: the CUDA trainer binary for STEPS training steps (batch 16,
# every row truncated to exactly seq 128, bf16 by default), then, when a Python with torch +
# transformers (and CUDA) is at hand, bench/torch_step.py doing the same step with the same
# batch/seq/dtype. Prints samples/s (trainer: from metrics.jsonl, first log window = warm-up and
# kernel compilation left out), peak GPU memory (nvidia-smi polled every 0.2 s while the trainer
# runs, minus the memory in use before it started) and a one-screen summary.
# Made for a host with no network: everything it needs is passed in.
#
# Build here:  cargo build --release -p finetune-trainer --features cuda
#              cp target/release/finetune-trainer /somewhere/finetune-trainer-cuda
# Run there:   bench/gpu.sh TRAINER_BIN FIXTURES_DIR [STEPS]
#   TRAINER_BIN   the CUDA build of finetune-trainer
#   FIXTURES_DIR  holds minilm/{config.json,model.safetensors,tokenizer.json} and tweets/train.jsonl
#   STEPS         training steps (default 300)
# Env: PRECISION (auto|bf16|f16|f32, default bf16), BATCH (16), SEQ (128), PYTHON (python3),
#      GPU (nvidia-smi index, default 0), OUT (work dir, default a new temp dir).
# Exit status: non-zero when the trainer fails or did not run on CUDA (CPU build, fallback);
# a missing or failing PyTorch is reported and does not fail the script.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:?usage: bench/gpu.sh TRAINER_BIN FIXTURES_DIR [STEPS]}
fixtures=${2:?usage: bench/gpu.sh TRAINER_BIN FIXTURES_DIR [STEPS]}
steps=${3:-300}
precision=${PRECISION:-bf16}
batch=${BATCH:-16}
seq=${SEQ:-128}
py=${PYTHON:-python3}
gpu=${GPU:-0}
out=${OUT:-$(mktemp -d /tmp/gpu-bench.XXXXXX)}
model=$fixtures/minilm
tweets=$fixtures/tweets/train.jsonl

[ -x "$bin" ] || { echo "gpu.sh: $bin is not an executable" >&2; exit 2; }
[ -f "$model/model.safetensors" ] || { echo "gpu.sh: no MiniLM at $model" >&2; exit 2; }
[ -f "$tweets" ] || { echo "gpu.sh: no $tweets" >&2; exit 2; }
command -v nvidia-smi >/dev/null || { echo "gpu.sh: nvidia-smi not found: not an NVIDIA host?" >&2; exit 2; }
mkdir -p "$out"

gpu_name=$(nvidia-smi -i "$gpu" --query-gpu=name,driver_version --format=csv,noheader)
echo "GPU $gpu: $gpu_name; trainer $("$bin" --version); $steps steps, batch $batch, seq $seq, $precision"

# Every row at least $seq tokens long (the tweet repeated), so each batch is exactly
# batch x seq like torch_step.py's, instead of padded to the longest tweet.
data=$out/train-seq$seq.jsonl
awk '{ t=$0; sub(/^\{"text": "/, "", t); sub(/", "label": .*$/, "", t);
       l=$0; sub(/^.*"label": /, "", l); sub(/\}[[:space:]]*$/, "", l);
       printf "{\"text\": \"%s %s %s %s %s %s\", \"label\": %s}\n", t, t, t, t, t, t, l }' \
  "$tweets" > "$data"

mem_used() { nvidia-smi -i "$gpu" --query-gpu=memory.used --format=csv,noheader,nounits | head -1; }
base_mem=$(mem_used)
peak_file=$out/peak-mib
echo "$base_mem" > "$peak_file"
( peak=$base_mem
  while :; do
    m=$(mem_used 2>/dev/null || echo 0)
    if [ "${m:-0}" -gt "$peak" ] 2>/dev/null; then peak=$m; echo "$peak" > "$peak_file"; fi
    sleep 0.2
  done ) &
poller=$!
trap 'kill "$poller" 2>/dev/null || true' EXIT

run_out=$out/run
rm -rf "$run_out"
start=$(date +%s.%N)
set +e
"$bin" train --model "$model" --train "$data" --output "$run_out" --name gpu-bench \
  --epochs 1000 --max-steps "$steps" --batch-size "$batch" --max-length "$seq" \
  --lr 5e-5 --seed 1 --log-every-steps 20 --checkpoint-every 100000 --keep-checkpoints 1 \
  --precision "$precision" 2> "$out/trainer.log"
rc=$?
set -e
wall=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.0f", b - a }')
kill "$poller" 2>/dev/null || true
peak=$(cat "$peak_file")
if [ "$rc" -ne 0 ]; then
  tail -20 "$out/trainer.log" >&2
  echo "gpu.sh: the trainer failed (exit $rc); log: $out/trainer.log" >&2
  exit "$rc"
fi
grep -E "backend cuda|first step done|done:" "$out/trainer.log" || true

# samples/s: mean over the log windows after the first (warm-up, kernel compilation).
read -r trainer_sps windows < <(
  grep -v '"eval"' "$run_out/metrics.jsonl" |
  sed -n 's/.*"samples_per_s":\([0-9.eE+-]*\).*/\1/p' |
  awk 'NR>1 { s+=$1; n++ } END { if (n) printf "%.1f %d\n", s/n, n; else print "n/a 0" }')
backend=$(sed -n 's/.*"backend": *"\([^"]*\)".*/\1/p' "$run_out/run.json" | head -1)
used_precision=$(sed -n 's/.*"precision": *"\([^"]*\)".*/\1/p' "$run_out/run.json" | head -1)
if [ "$backend" != cuda ]; then
  grep -E "falling back|precision" "$out/trainer.log" >&2 || true
  echo "gpu.sh: the trainer ran on backend '$backend', not cuda (a CPU build, or no usable GPU); log: $out/trainer.log" >&2
  exit 1
fi

torch_line="torch: not run (no python with torch+transformers and CUDA: set PYTHON)"
if "$py" -c 'import torch, transformers, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
  tdtype=$precision; [ "$tdtype" = auto ] && tdtype=bf16
  if tjson=$("$py" "$here/torch_step.py" --model "$model" --device cuda --dtype "$tdtype" \
       --batch-size "$batch" --seq "$seq" --steps 50 --warmup 5 2> "$out/torch.log"); then
    echo "$tjson" > "$out/torch.json"
    torch_sps=$("$py" -c 'import json,sys; print("%.1f" % json.load(sys.stdin)["samples_per_s"])' <<< "$tjson")
    torch_mem=$("$py" -c 'import json,sys; print("%.0f" % json.load(sys.stdin).get("peak_gpu_mem_mib", -1))' <<< "$tjson")
    ratio=$(awk -v a="$trainer_sps" -v b="$torch_sps" 'BEGIN { if (b > 0 && a + 0 == a) printf "%.2f", a / b; else print "n/a" }')
    torch_line="torch ($tdtype autocast): $torch_sps samples/s, peak allocated $torch_mem MiB; trainer/torch = $ratio"
  else
    torch_line="torch: failed, see $out/torch.log"
  fi
fi

echo
echo "== summary (GPU $gpu: $gpu_name) =="
echo "trainer: backend $backend, precision $used_precision, $trainer_sps samples/s (mean of $windows windows of 20 steps after the first), wall ${wall}s for $steps steps"
echo "trainer: peak GPU memory $((peak - base_mem)) MiB above the $base_mem MiB in use before (nvidia-smi memory.used)"
echo "$torch_line"
echo "files: $out"
