#!/usr/bin/env bash
# Causal-LM fine-tuning step throughput on CPU (issue #9, "CPU cost"): this trainer
# (trainer/examples/lm_step_bench.rs, burn flex backend, the trainer's own data, LoRA, loss, clip
# and AdamW code) against PyTorch + transformers + peft (bench/torch_lm_step.py) doing the same
# step on the same batches: SmolLM2-135M-Instruct from its Q4_1 GGUF (both dequantise it to f32),
# LoRA r 8 / alpha 16 / dropout 0 on q_proj + v_proj (METHOD=full: full fine-tuning), the
# chatterbot conversations rendered with the model's chat template, loss on the assistant
# tokens, each batch padded to its longest row, global-norm clip 1.0, AdamW (lr 1e-4, wd 0.01),
# f32, the same thread count. Our side writes the batches it trained on (token ids, masks,
# labels); PyTorch trains on exactly those. The two sides run interleaved, ROUNDS times, in this
# one script run, so both see the same machine load; the load average is printed beside every
# run. tokens/s counts the non-pad tokens of the timed batches.
#
# Usage: bench/lm.sh [ROUNDS] [STEPS]
#   env: THREADS, WARMUP (default 1), BATCH (default 4), MAX_LENGTH (default 96), METHOD (lora or
#        full), FINETUNE_FIXTURES, ATTN (transformers attn_implementation, default eager),
#        LM_STEP_BENCH (the built example; default target/x86_64-unknown-linux-gnu/release/
#        examples/lm_step_bench, then target/release/examples/lm_step_bench),
#        VENV (torch + transformers + peft + gguf; default .fixtures/venv-ref).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
rounds=${1:-2}
steps=${2:-3}
warmup=${WARMUP:-1}
batch=${BATCH:-4}
max_length=${MAX_LENGTH:-96}
method=${METHOD:-lora}
attn=${ATTN:-eager}
threads=${THREADS:-$(nproc)}
fixtures=${FINETUNE_FIXTURES:-$repo/.fixtures}
model=$fixtures/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
corpus=$fixtures/chatterbot/english
venv=${VENV:-$repo/.fixtures/venv-ref}
[ -f "$model" ] || { echo "no SmolLM2 GGUF at $model: run scripts/fetch-fixtures.sh" >&2; exit 1; }
[ -d "$corpus" ] || { echo "no chatterbot corpus at $corpus: run scripts/fetch-fixtures.sh" >&2; exit 1; }
if ! "$venv/bin/python" -c 'import torch, transformers, peft, gguf' 2>/dev/null; then
  echo "$venv lacks torch, transformers, peft or gguf: python3 -m venv $venv &&" \
    "$venv/bin/pip install torch transformers safetensors numpy peft gguf" >&2
  exit 1
fi

cd "$repo"
ours_bin=${LM_STEP_BENCH:-}
if [ -z "$ours_bin" ]; then
  for c in "${CARGO_TARGET_DIR:-$repo/target}"/{x86_64-unknown-linux-gnu/release,release}/examples/lm_step_bench; do
    if [ -x "$c" ]; then ours_bin=$c; break; fi
  done
  [ -n "$ours_bin" ] || { echo "no lm_step_bench built: cargo build --release --example lm_step_bench -p finetune-trainer" >&2; exit 1; }
fi
method_args=()
[ "$method" = full ] && method_args=(--full)

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'cpu MHz' /proc/cpuinfo | cut -d: -f2 | xargs) MHz, $(grep -m1 '^flags' /proc/cpuinfo | grep -ow 'avx2\|fma\|avx512f' | sort -u | xargs | tr ' ' +)"
echo "torch: $("$venv/bin/python" -c 'import torch, transformers, peft; print(torch.__version__, "transformers", transformers.__version__, "peft", peft.__version__)' 2>/dev/null)"
echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ); threads $threads; $method; batch $batch; max_length $max_length; $steps timed steps after $warmup warm-up; $rounds rounds; attn $attn; binary $ours_bin"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
results=$work/results.jsonl
load() { cut -d' ' -f1-3 /proc/loadavg; }
for r in $(seq "$rounds"); do
  for fw in burn pytorch; do
    l=$(load)
    if [ "$fw" = burn ]; then
      out=$("$ours_bin" --model "$model" --chatterbot "$corpus" --threads "$threads" \
        --batch-size "$batch" --max-length "$max_length" --steps "$steps" --warmup "$warmup" \
        "${method_args[@]}" --emit "$work/batches.$r.json")
      # Every round trains on the same batches: the rows and their order are seeded.
      if [ "$r" != 1 ] && ! cmp -s "$work/batches.1.json" "$work/batches.$r.json"; then
        echo "WARNING: round $r's batches differ from round 1's" >&2
      fi
    else
      out=$("$venv/bin/python" bench/torch_lm_step.py --batches "$work/batches.$r.json" \
        --threads "$threads" --attn "$attn" 2>"$work/torch.err") || { cat "$work/torch.err" >&2; exit 1; }
    fi
    echo "round $r $fw (load before: $l, after: $(load)): $out"
    echo "{\"load\": \"$l\", \"r\": $out}" >>"$results"
  done
done
python3 - "$results" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
runs = {fw: [r["r"] for r in rows if r["r"]["framework"] == fw] for fw in ("burn", "pytorch")}
loads = [r["load"].split()[0] for r in rows]
print(f"== summary (load 1-min {min(loads)}..{max(loads)})")
med = {}
for fw, rs in runs.items():
    tps = [r["tokens_per_s"] for r in rs]
    med[fw] = statistics.median(tps)
    sps = statistics.median(r["samples_per_s"] for r in rs)
    sec = statistics.median(r["s_per_step"] for r in rs)
    ph = {k: statistics.median(r["phase_ms"][k] for r in rs)
          for k in ("forward", "backward", "clip", "adamw")}
    total = sum(ph.values())
    print(f"{fw:8s} tokens/s per round: {', '.join(f'{x:.1f}' for x in tps)}; median {med[fw]:.1f};"
          f" {sps:.2f} samples/s; {sec:.2f} s/step; {rs[0]['trainable_params']} of"
          f" {rs[0]['total_params']} params trained; losses {[round(x, 4) for x in rs[0]['losses']]}")
    print(f"{'':8s} phases (median ms per step): " + ", ".join(
        f"{k} {v:.0f} ({100 * v / total:.0f} %)" for k, v in ph.items()))
key = lambda r: (r["tokens"], r["padded_tokens"], r["trained_tokens"], tuple(r["batch_seqs"]))
seen = {fw: {key(r) for r in rs} for fw, rs in runs.items()}
if len(seen["burn"] | seen["pytorch"]) != 1:
    print(f"WARNING: the two sides saw different batches: {seen}")
else:
    t, p, tr, seqs = seen["burn"].pop()
    print(f"same batches on both sides: {t} tokens ({p} padded, {tr} trained) per run, seqs {list(seqs)}")
print(f"ratio ours/pytorch (tokens/s): {med['burn'] / med['pytorch']:.2f}")
PY
