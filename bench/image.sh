#!/usr/bin/env bash
# Engine-side figures, in one run:
#  1. the CPU runtime image's size (built from the host's static trainer binary:
#     scripts/build-trainer-static.sh + `docker finetune build --binary dist/finetune-trainer`);
#  2. cached `docker finetune up --detach` → first training step: wall time from invoking `up`
#     (image present) to the first step record in the job's metrics.jsonl, on the quickstart job
#     (MiniLM, 400 tweets, batch 16, max_length 64) with log_every_steps 1;
#  3. the same for plain `docker compose -p P --project-directory D -f compose.yaml
#     -f .finetune/compose.finetune.yaml up --detach sentiment` on the override that `up` wrote:
#     the difference is what the plugin adds (validation, preflight, rendering, job.json,
#     image check). Also the time each command takes to return.
# The two are interleaved ROUNDS times. Each round starts from an empty output directory.
#
# Usage: bench/image.sh [ROUNDS]   (env: SKIP_TRAINER_BUILD=1 to use dist/finetune-trainer as is)
# Needs: the plugin installed as a docker CLI plugin, Compose v2, the fixtures.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
rounds=${1:-3}
fixtures=${FINETUNE_FIXTURES:-$repo/.fixtures}
cd "$repo"
load() { cut -d' ' -f1-3 /proc/loadavg; }

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); engine $(docker version -f '{{.Server.Version}}'); $(docker compose version --short)"
echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"

[ "${SKIP_TRAINER_BUILD:-}" = 1 ] || scripts/build-trainer-static.sh
t0=$(date +%s.%N)
blog=$(mktemp)
docker finetune build --binary dist/finetune-trainer --source "$repo" >"$blog" 2>&1 || { cat "$blog" >&2; exit 1; }
t1=$(date +%s.%N)
rm -f "$blog"
# The tag `build` gives: docker-finetune/trainer:<trainer version>.
image=${IMAGE:-docker-finetune/trainer:$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)}
size=$(docker image inspect "$image" --format '{{.Size}}')
echo "image $image: $size bytes ($(awk "BEGIN {printf \"%.1f\", $size/1048576}") MiB); binary $(stat -c %s dist/finetune-trainer) bytes; prebuilt build $(awk "BEGIN {printf \"%.1f\", $t1-$t0}") s"

# A copy of the quickstart project with its fixtures, logging every step.
work=$(mktemp -d /tmp/finetune-bench-XXXX)
project=ftbench$$
cleanup() {
  (cd "$work" && docker finetune -p "$project" down -t 1 >/dev/null 2>&1 || true)
  rm -rf "$work" 2>/dev/null || true
}
trap cleanup EXIT
mkdir -p "$work/models/minilm" "$work/data"
for f in config.json model.safetensors tokenizer.json; do cp "$fixtures/minilm/$f" "$work/models/minilm/"; done
for f in train.jsonl eval.jsonl; do cp "$fixtures/tweets/$f" "$work/data/"; done
sed -e 's/log_every_steps: 5/log_every_steps: 1/' -e 's/checkpoint: { every_steps: 20, keep: 1 }/checkpoint: { every_steps: 1000, keep: 1 }/' \
  examples/quickstart/compose.yaml >"$work/compose.yaml"
cd "$work"
out=$work/runs/sentiment

# Seconds from "$@" starting until metrics.jsonl has a step record; prints "return_s first_step_s".
time_to_first_step() {
  python3 - "$out/metrics.jsonl" "$@" <<'PY'
import json, os, subprocess, sys, time
metrics, cmd = sys.argv[1], sys.argv[2:]
t0 = time.perf_counter()
subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
ret = time.perf_counter() - t0
while time.perf_counter() - t0 < 300:
    try:
        for line in open(metrics):
            if '"step"' in line and '"loss"' in line:
                print(f"{ret:.2f} {time.perf_counter() - t0:.2f}")
                sys.exit(0)
    except FileNotFoundError:
        pass
    time.sleep(0.05)
sys.exit("no step logged within 300 s")
PY
}
reset_output() { # stop the job, keep job.json (plain compose needs the one `up` wrote), clear the rest
  docker finetune -p "$project" down -t 1 >/dev/null 2>&1 || true
  docker compose -p "$project" -f compose.yaml -f .finetune/compose.finetune.yaml down -t 1 >/dev/null 2>&1 || true
  if [ -d "$out" ]; then
    find "$out" -mindepth 1 -maxdepth 1 ! -name job.json -exec rm -rf {} + 2>/dev/null || true
  fi
}

# Warm-up: `up` once so that the override and job.json exist and caches are warm.
reset_output
docker finetune -p "$project" up --detach sentiment >/dev/null 2>&1
reset_output
rows=()
for r in $(seq "$rounds"); do
  l=$(load)
  a=$(time_to_first_step docker finetune -p "$project" up --detach sentiment)
  reset_output
  b=$(time_to_first_step docker compose -p "$project" --project-directory "$work" -f compose.yaml -f .finetune/compose.finetune.yaml up --detach sentiment)
  reset_output
  echo "round $r (load $l): finetune up: returned ${a% *} s, first step ${a#* } s | compose up: returned ${b% *} s, first step ${b#* } s"
  rows+=("$a $b")
done
printf '%s\n' "${rows[@]}" | python3 -c '
import statistics, sys
r = [list(map(float, l.split())) for l in sys.stdin if l.strip()]
m = [statistics.median(c) for c in zip(*r)]
print(f"median: finetune up returns {m[0]:.2f} s, first step {m[1]:.2f} s; compose up returns {m[2]:.2f} s, first step {m[3]:.2f} s")
print(f"up overhead: {m[0]-m[2]:+.2f} s to return, {m[1]-m[3]:+.2f} s to the first step")
'
