#!/usr/bin/env bash
# Trainer start-up to first step: wall time from launching `finetune-trainer train` (release build,
# host, no container) to the first step record in its metrics.jsonl, on MiniLM and the tweets
# fixture (quickstart settings: batch 16, max_length 64, log every step). The process is stopped
# once the record appears. Also prints the trainer's own "first step done" log line, which splits
# the time into start-up and the step itself.
#
# Usage: bench/startup.sh [RUNS]   (env: THREADS, FINETUNE_FIXTURES, TRAINER: a built
#   finetune-trainer binary; default: cargo build --release here)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-3}
fixtures=${FINETUNE_FIXTURES:-$repo/.fixtures}
threads=${THREADS:-$(nproc)}
cd "$repo"
bin=${TRAINER:-}
if [ -z "$bin" ]; then
  cargo build --release --quiet -p finetune-trainer --bin finetune-trainer
  bin=$repo/target/release/finetune-trainer
fi
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ); threads $threads"
python3 - "$runs" "$bin" "$fixtures" "$threads" <<'PY'
import os, statistics, subprocess, sys, tempfile, time
runs, binary, fx, threads = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
times = []
for r in range(runs):
    out = tempfile.mkdtemp(prefix="ft-startup-")
    cmd = [binary, "--threads", threads, "train", "--model", f"{fx}/minilm",
           "--train", f"{fx}/tweets/train.jsonl", "--output", out, "--epochs", "1",
           "--batch-size", "16", "--max-length", "64", "--log-every-steps", "1",
           "--checkpoint-every", "0", "--seed", "42"]
    load = open("/proc/loadavg").read().split()[:3]
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    metrics = os.path.join(out, "metrics.jsonl")
    while True:
        if p.poll() is not None:
            sys.exit(f"trainer exited ({p.returncode}) before a step: {p.stderr.read()}")
        if os.path.exists(metrics) and '"loss"' in open(metrics).read():
            break
        time.sleep(0.02)
    dt = time.perf_counter() - t0
    p.terminate()
    _, err = p.communicate()
    line = next((l for l in err.splitlines() if "first step done" in l), "")
    times.append(dt)
    print(f"run {r + 1} (load {' '.join(load)}): first step record after {dt:.2f} s; {line.strip()}")
    subprocess.run(["rm", "-rf", out])
print(f"median {statistics.median(times):.2f} s over {runs} runs")
PY
