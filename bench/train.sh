#!/usr/bin/env bash
# Fine-tuning step throughput of MiniLM on CPU: this trainer (trainer/examples/step_bench.rs, burn
# flex backend) against PyTorch + transformers (bench/torch_step.py) doing the same step: batch 16,
# cross-entropy, backward, global-norm clip 1.0, AdamW (wd 0.01), dropout on, f32, the same thread
# count, on the same rows in the same order. Three workloads:
#   real-128, real-64: the tweets' train.jsonl in file order, max_length 128 / 64, each batch
#                      padded to its longest row (ours: the trainer's tokenizer; PyTorch:
#                      transformers' fast tokenizer; both from the model's tokenizer.json);
#   full-128:          random ids, every row 128 tokens (no padding).
# The two sides run interleaved, ROUNDS times per workload, in this one script run, so both see
# the same machine load; the load average is printed beside every run.
#
# Usage: bench/train.sh [ROUNDS] [STEPS]
#   env: THREADS, WARMUP, FULL_STEPS (timed steps of full-128; default STEPS/2, at least 2),
#        WORKLOADS (default "real-128 real-64 full-128"), FINETUNE_FIXTURES,
#        STEP_BENCH (a built step_bench binary; default: cargo build --release here),
#        VENV (torch + transformers; default .fixtures/venv-ref, created with pip when missing:
#        about 5.6 GB on disk, the Linux torch wheel pulls CUDA libraries even for CPU use).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
rounds=${1:-2}
steps=${2:-8}
warmup=${WARMUP:-2}
full_steps=${FULL_STEPS:-$(( steps / 2 > 2 ? steps / 2 : 2 ))}
threads=${THREADS:-$(nproc)}
workloads=${WORKLOADS:-real-128 real-64 full-128}
fixtures=${FINETUNE_FIXTURES:-$repo/.fixtures}
model=$fixtures/minilm
rows=$fixtures/tweets/train.jsonl
venv=${VENV:-$repo/.fixtures/venv-ref}
[ -f "$model/model.safetensors" ] || { echo "no MiniLM at $model: run scripts/fetch-fixtures.sh" >&2; exit 1; }
[ -f "$rows" ] || { echo "no tweets at $rows: run scripts/fetch-fixtures.sh" >&2; exit 1; }

if ! "$venv/bin/python" -c 'import torch, transformers' 2>/dev/null; then
  echo "creating $venv with torch + transformers (pip, about 5.6 GB)..." >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet torch transformers safetensors numpy
fi

cd "$repo"
ours_bin=${STEP_BENCH:-}
if [ -z "$ours_bin" ]; then
  cargo build --release --quiet --example step_bench -p finetune-trainer
  ours_bin=${CARGO_TARGET_DIR:-$repo/target}/release/examples/step_bench
fi

# Peak f32 rate: cores x clock x SIMD lanes x 2 (an FMA is a multiply and an add) x 2 FMA pipes
# per core (Zen 4/5 and Intel server cores have two; /proc/cpuinfo cannot say).
cpu_mhz=$(grep -m1 'cpu MHz' /proc/cpuinfo | cut -d: -f2 | xargs)
flags=$(grep -m1 '^flags' /proc/cpuinfo)
lanes=4; isa=SSE
if grep -qw avx2 <<<"$flags" && grep -qw fma <<<"$flags"; then lanes=8; isa="AVX2+FMA"; fi
if grep -qw avx512f <<<"$flags"; then lanes=16; isa="AVX-512F"; fi
# AMD family 25 (Zen 4) runs AVX-512 on 256-bit FMA pipes: a 16-lane FMA issues as two halves,
# so its peak is the 8-lane one. (Zen 5, family 26, has full 512-bit pipes.)
vendor=$(grep -m1 vendor_id /proc/cpuinfo | cut -d: -f2 | xargs)
family=$(grep -m1 'cpu family' /proc/cpuinfo | cut -d: -f2 | xargs)
if [ "$lanes" = 16 ] && [ "$vendor" = AuthenticAMD ] && [ "$family" = 25 ]; then
  lanes=8; isa="AVX-512F on Zen 4's 256-bit FMA pipes"
fi
cores=$(nproc)
peak=$(awk -v c="$cores" -v m="$cpu_mhz" -v l="$lanes" 'BEGIN {printf "%.0f", c * m / 1000 * l * 2 * 2}')
peak_avx2=$(awk -v c="$cores" -v m="$cpu_mhz" 'BEGIN {printf "%.0f", c * m / 1000 * 8 * 2 * 2}')

echo "machine: $cores cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
echo "peak f32: $cores cores x $(awk -v m="$cpu_mhz" 'BEGIN {printf "%.2f", m / 1000}') GHz (cpu MHz, the base clock; boost can exceed it) x $lanes lanes ($isa) x 2 (FMA) x 2 FMA pipes/core = $peak GFLOP/s ($peak_avx2 GFLOP/s with 8-lane AVX2 code)"
echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ); threads $threads; batch 16; real: $steps steps, full-128: $full_steps steps, after $warmup warm-up; $rounds rounds; workloads: $workloads"
results=$(mktemp)
trap 'rm -f "$results"' EXIT
load() { cut -d' ' -f1-3 /proc/loadavg; }
run_one() { # FRAMEWORK WORKLOAD
  local wl=$2 args n
  case $wl in
    real-*) n=$steps; args=(--data "$rows" --max-length "${wl#real-}") ;;
    full-*) n=$full_steps; args=(--seq "${wl#full-}") ;;
    *) echo "unknown workload $wl" >&2; exit 2 ;;
  esac
  args+=(--model "$model" --threads "$threads" --steps "$n" --warmup "$warmup")
  if [ "$1" = burn ]; then "$ours_bin" "${args[@]}"; else "$venv/bin/python" bench/torch_step.py "${args[@]}" 2>/dev/null; fi
}
for wl in $workloads; do
  for r in $(seq "$rounds"); do
    for fw in burn pytorch; do
      l=$(load)
      out=$(run_one "$fw" "$wl")
      echo "$wl round $r $fw (load before: $l, after: $(load)): $out"
      echo "{\"wl\": \"$wl\", \"load\": \"$l\", \"r\": $out}" >>"$results"
    done
  done
done
python3 - "$results" "$peak" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
peak = float(sys.argv[2])
for wl in dict.fromkeys(r["wl"] for r in rows):
    runs = {fw: [r["r"] for r in rows if r["wl"] == wl and r["r"]["framework"] == fw]
            for fw in ("burn", "pytorch")}
    loads = [r["load"].split()[0] for r in rows if r["wl"] == wl]
    print(f"== {wl} (load 1-min {min(loads)}..{max(loads)})")
    med = {}
    for fw, rs in runs.items():
        sps = [r["samples_per_s"] for r in rs]
        med[fw] = statistics.median(sps)
        gf = statistics.median(r["gflop_per_s"] for r in rs)
        print(f"{fw:8s} samples/s per round: {', '.join(f'{x:.2f}' for x in sps)}; median {med[fw]:.2f}"
              f" ({16 / med[fw]:.2f} s/step); {gf:.1f} GFLOP/s = {100 * gf / peak:.1f} % of peak")
    tok = {fw: {r["padded_tokens"] for r in rs} for fw, rs in runs.items()}
    if tok["burn"] != tok["pytorch"]:
        print(f"WARNING: the two sides saw different padded token counts: {tok}")
    else:
        print(f"same rows on both sides: {tok['burn'].pop()} padded tokens per run,"
              f" seqs {runs['burn'][0]['batch_seqs']}")
    ph = {k: statistics.median(r["phase_ms"][k] for r in runs["burn"])
          for k in ("forward", "backward", "clip", "adamw")}
    total = sum(ph.values())
    print("burn phases (median ms per step): " + ", ".join(
        f"{k} {v:.0f} ({100 * v / total:.0f} %)" for k, v in ph.items()))
    print(f"ratio burn/pytorch (samples/s): {med['burn'] / med['pytorch']:.2f}")
PY
