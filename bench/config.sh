#!/usr/bin/env bash
# Times `docker finetune config` against `docker compose config` on the same generated project:
# 100 services, 10 fine-tune jobs. Both read, interpolate and merge the same file in the same run;
# the ratio is what users feel when they add the plugin to a large stack.
#
# Usage: bench/config.sh [RUNS]   (needs the plugin installed as a docker CLI plugin, and Compose v2)
set -euo pipefail
runs=${1:-20}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

python3 - "$work" <<'PY'
import json, os, sys
root = sys.argv[1]
os.makedirs(f"{root}/models/m", exist_ok=True)
for f in ["config.json", "model.safetensors", "tokenizer.json"]:
    open(f"{root}/models/m/{f}", "w").write("{}")
os.makedirs(f"{root}/data", exist_ok=True)
open(f"{root}/data/train.jsonl", "w").write('{"text":"a","label":"x"}\n')
lines = ["name: bench", "services:"]
for i in range(100):
    lines += [f"  svc{i}:", f"    image: example/app:${{TAG:-1.0}}",
              f"    environment: {{ INDEX: \"{i}\", MODE: ${{MODE:-prod}} }}",
              f"    ports: [\"{8000 + i}:80\"]", "    labels: { team: core }"]
lines += ["x-finetune:", "  defaults:", "    resources: { gpus: 0, cpus: 2, memory: 4g, shm_size: 1g }",
          "    model: ./models/m", "  jobs:"]
for j in range(10):
    lines += [f"    job{j}:", "      data: { train: ./data/train.jsonl, eval_split: 0.1 }",
              f"      output: ./runs/job{j}", f"      train: {{ epochs: 1, seed: {j} }}",
              f"      depends_on: [svc{j}]"]
open(f"{root}/compose.yaml", "w").write("\n".join(lines) + "\n")
PY

cd "$work"
time_cmd() { # prints mean milliseconds of RUNS runs of "$@"
  python3 - "$runs" "$@" <<'PY'
import subprocess, sys, time
runs, cmd = int(sys.argv[1]), sys.argv[2:]
subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)  # warm the page cache
t = []
for _ in range(runs):
    s = time.perf_counter(); subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL); t.append(time.perf_counter() - s)
t.sort()
print(f"{1000 * t[len(t) // 2]:.1f}")
PY
}
ours=$(time_cmd docker finetune config)
peer=$(time_cmd docker compose config)
echo "machine: $(nproc) cores, $(uname -m), $(docker compose version --short 2>/dev/null || true)"
echo "docker finetune config: ${ours} ms (median of $runs)"
echo "docker compose config:  ${peer} ms (median of $runs)"
python3 -c "print(f'ratio finetune/compose: {$ours/$peer:.2f}')"
