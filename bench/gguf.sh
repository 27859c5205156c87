#!/usr/bin/env bash
# GGUF read + dequantise: the whole SmolLM2-135M-Instruct Q4_1 file (272 tensors: Q8_0
# embedding, Q4_1 matrices, F32 norms) to f32, by finetune-gguf (release build, one thread) and
# by the Python `gguf` package (llama.cpp's reader: GGUFReader + gguf.quants.dequantize, numpy),
# in the same run. Each side times itself from opening the file to the last tensor, best of RUNS
# (file in the page cache after the first).
#
# Usage: bench/gguf.sh [RUNS]   (env: FINETUNE_FIXTURES, VENV: default .fixtures/venv-gguf, made
# as scripts/gguf_reference.py's docstring says)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-3}
fixtures=${FINETUNE_FIXTURES:-$repo/.fixtures}
venv=${VENV:-$repo/.fixtures/venv-gguf}
file=$fixtures/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
[ -f "$file" ] || { echo "no $file: run scripts/fetch-fixtures.sh" >&2; exit 1; }
"$venv/bin/python" -c 'import gguf, numpy' 2>/dev/null || {
  echo "no gguf + numpy in $venv: see scripts/gguf_reference.py" >&2; exit 1; }
cd "$repo"
target=x86_64-unknown-linux-gnu
RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --locked --quiet --target $target \
  -p finetune-gguf --example gguf_inspect
bin=$repo/target/$target/release/examples/gguf_inspect
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ); load $(cut -d" " -f1-3 /proc/loadavg); file: $(du -h "$file" | cut -f1) $file"
echo "peer: python gguf $("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("gguf"), "numpy", m.version("numpy"))')"
best() { sort -g | head -n1; }
rust=$(for _ in $(seq "$runs"); do
  "$bin" "$file" --dequantize | sed -n 's/.* in \([0-9.]*\) s$/\1/p'
done | best)
py=$(for _ in $(seq "$runs"); do
  OMP_NUM_THREADS=1 "$venv/bin/python" - "$file" <<'PY'
import sys, time
import gguf
from gguf.quants import dequantize
t0 = time.perf_counter()
r = gguf.GGUFReader(sys.argv[1])
n = sum(dequantize(t.data, t.tensor_type).size for t in r.tensors)
print(f"{time.perf_counter() - t0:.3f}")
PY
done | best)
echo "finetune-gguf: ${rust} s   python gguf: ${py} s   (best of $runs; read + dequantise all tensors to f32)"
