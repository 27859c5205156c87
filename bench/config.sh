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
              f"    environment: {{ INDEX: \"{i}\", MODE: \"${{MODE:-prod}}\" }}",
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
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); compose $(docker compose version --short 2>/dev/null || echo '?')"
echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ); load before: $(cut -d' ' -f1-3 /proc/loadavg)"
# The two commands alternate run by run, so both see the same machine load; medians of RUNS.
python3 - "$runs" <<'PY'
import statistics, subprocess, sys, time
runs = int(sys.argv[1])
cmds = {"docker finetune config": ["docker", "finetune", "config"],
        "docker compose config": ["docker", "compose", "config"]}
t = {k: [] for k in cmds}
for c in cmds.values():  # warm the page cache; check both accept the file
    subprocess.run(c, check=True, stdout=subprocess.DEVNULL)
for _ in range(runs):
    for k, c in cmds.items():
        s = time.perf_counter()
        subprocess.run(c, check=True, stdout=subprocess.DEVNULL)
        t[k].append(1000 * (time.perf_counter() - s))
m = {k: statistics.median(v) for k, v in t.items()}
for k, v in t.items():
    print(f"{k:24s} median {m[k]:7.1f} ms (min {min(v):.1f}, max {max(v):.1f}) over {runs} runs")
print(f"ratio finetune/compose: {m['docker finetune config'] / m['docker compose config']:.2f}")
PY
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
