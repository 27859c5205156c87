#!/usr/bin/env bash
# CI check of trainer/Dockerfile's `runtime-cuda` stage without NVIDIA's image, a GPU or a
# registry: its wiring, with a host-built `--features cuda` trainer in it.
#
#  1. The base: the Dockerfile's CUDA_IMAGE default when it exists locally, else a stand-in made
#     from the builder base image (RUST_IMAGE, which build-image-from-source.sh makes) without its
#     Rust toolchain: a glibc Debian rootfs with no NVIDIA libraries, tagged local/cuda-standin.
#     NVIDIA's runtime image cannot be made offline, and the stage needs nothing of it but glibc.
#  2. `docker build --target runtime-cuda --build-arg CUDA_TRAINER=prebuilt` in CONTEXT (a staged
#     build context, as build-image-from-source.sh makes) with BINARY (stripped) as
#     dist/finetune-trainer. With the classic builder every earlier stage is built too: run it
#     after the `runtime` build of the same context, whose layers it then reuses.
#  3. Checks: the binary runs `--version`; the user is 65532:65532; the labels (CUDA backend,
#     version, `prebuilt`), entrypoint, command and NVIDIA_* environment; the default command
#     (`train --job /run/finetune/job.json`) on a job asking for a GPU, with no driver in the
#     container, prints the one `no NVIDIA driver found (libcuda.so.1)` line and exits 7
#     (`NO_GPU` of spec/src/contract.rs); the same job with `gpus: 0` falls back to the CPU.
#
# Usage: scripts/check-cuda-image.sh CONTEXT BINARY [TAG]   (TAG default finetune-trainer:cuda-check)
set -euo pipefail
cd "$(dirname "$0")/.."

[ $# -ge 2 ] || { echo "usage: $0 CONTEXT BINARY [TAG]" >&2; exit 2; }
ctx="$1"
binary="$2"
tag="${3:-finetune-trainer:cuda-check}"
log() { echo "check-cuda-image: $*" >&2; }
fail() { log "FAIL: $*"; exit 1; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
t_all=$(now)

[ -f "$ctx/trainer/Dockerfile" ] || fail "$ctx has no trainer/Dockerfile (stage it with build-image-from-source.sh)"
[ -x "$binary" ] || fail "$binary is not an executable (cargo build -p finetune-trainer --features cuda)"
dockerfile_arg() { sed -n "s/^ARG $1=//p" trainer/Dockerfile | head -1; }
cuda_image="$(dockerfile_arg CUDA_IMAGE)"
rust_image="$(dockerfile_arg RUST_IMAGE)"
version="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)"

# ---- 1. base image --------------------------------------------------------------------------
base="$cuda_image"
if ! docker image inspect "$base" >/dev/null 2>&1; then
    base="local/cuda-standin:bookworm"
    if ! docker image inspect "$base" >/dev/null 2>&1; then
        docker image inspect "$rust_image" >/dev/null 2>&1 \
            || fail "neither $cuda_image nor $rust_image exists locally (scripts/build-image-from-source.sh makes the latter)"
        t0=$(now)
        log "making $base from $rust_image without its toolchain (no NVIDIA libraries)"
        docker run --rm --network none --entrypoint tar "$rust_image" \
            -C / --one-file-system --exclude=./usr/local/rustup --exclude=./usr/local/cargo \
            --exclude=./proc --exclude=./sys --exclude=./dev -cf - . \
            | docker import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
                - "$base" >/dev/null
        log "stand-in base ready in $(elapsed "$t0") s"
    fi
fi

# ---- 2. build -------------------------------------------------------------------------------
t0=$(now)
mkdir -p "$ctx/dist"
# Debug info is most of a dev build's size; the check needs none of it.
strip -o "$ctx/dist/finetune-trainer" "$binary" 2>/dev/null || cp "$binary" "$ctx/dist/finetune-trainer"
log "docker build --target runtime-cuda (CUDA_TRAINER=prebuilt, CUDA_IMAGE=$base) -t $tag"
docker build --network none -q -f "$ctx/trainer/Dockerfile" --target runtime-cuda \
    --build-arg "CUDA_IMAGE=$base" --build-arg CUDA_TRAINER=prebuilt \
    --build-arg "TRAINER_VERSION=$version" -t "$tag" "$ctx" >/dev/null
t_build="$(elapsed "$t0")"

# ---- 3. checks ------------------------------------------------------------------------------
inspect() { docker image inspect -f "$1" "$tag"; }
[ "$(inspect '{{.Config.User}}')" = "65532:65532" ] || fail "user is '$(inspect '{{.Config.User}}')', expected 65532:65532"
[ "$(inspect '{{json .Config.Entrypoint}}')" = '["/usr/local/bin/finetune-trainer"]' ] \
    || fail "entrypoint is $(inspect '{{json .Config.Entrypoint}}')"
[ "$(inspect '{{json .Config.Cmd}}')" = '["train","--job","/run/finetune/job.json"]' ] \
    || fail "command is $(inspect '{{json .Config.Cmd}}')"
for kv in org.opencontainers.image.title=finetune-trainer-cuda \
          io.docker-finetune.trainer.backend=cuda \
          io.docker-finetune.trainer.build=prebuilt \
          "io.docker-finetune.trainer.version=$version"; do
    k="${kv%%=*}"; want="${kv#*=}"
    got="$(inspect "{{index .Config.Labels \"$k\"}}")"
    [ "$got" = "$want" ] || fail "label $k is '$got', expected '$want'"
done
env="$(inspect '{{join .Config.Env " "}}')"
for kv in NVIDIA_VISIBLE_DEVICES=all NVIDIA_DRIVER_CAPABILITIES=compute,utility; do
    case " $env " in *" $kv "*) ;; *) fail "environment lacks $kv: $env" ;; esac
done

run() { docker run --rm --network none --read-only --tmpfs /tmp --cap-drop ALL \
    --security-opt no-new-privileges "$@"; }
version_out="$(run "$tag" --version)"
case "$version_out" in "finetune-trainer $version"*) ;; *) fail "--version printed '$version_out'" ;; esac

jobs="$(mktemp -d)"
trap 'rm -rf "$jobs"' EXIT
chmod 755 "$jobs"
job() {  # job NAME GPUS: a job file whose model and data do not exist (never reached on a GPU job)
    printf '{"name":"%s","model":"/model","data":{"train":"/data/t.jsonl"},"output":"/tmp/o","resources":{"gpus":%s}}\n' "$1" "$2" > "$jobs/$1.json"
    chmod 644 "$jobs/$1.json"
}
job gpu 1
job cpu 0
set +e
err="$(run -v "$jobs/gpu.json:/run/finetune/job.json:ro" "$tag" 2>&1 >/dev/null)"; rc=$?
set -e
last="$(printf '%s\n' "$err" | tail -1)"
[ "$rc" = 7 ] || fail "train without a driver exited $rc, expected 7 (NO_GPU); stderr: $err"
case "$last" in "error: no NVIDIA driver found (libcuda.so.1): "*) ;; *) fail "train without a driver ended with '$last'" ;; esac
if printf '%s\n' "$err" | grep -q "panicked"; then fail "train without a driver panicked: $err"; fi
set +e
err_cpu="$(run -v "$jobs/cpu.json:/run/finetune/job.json:ro" "$tag" 2>&1 >/dev/null)"; rc_cpu=$?
set -e
# `gpus: 0` runs on the CPU, so it gets as far as the (absent) model: a bad-input exit.
printf '%s\n' "$err_cpu" | grep -q "falling back to the CPU backend" \
    || fail "a gpus: 0 job did not fall back to the CPU: $err_cpu"
[ "$rc_cpu" = 2 ] || fail "the gpus: 0 job exited $rc_cpu, expected 2 (no model); stderr: $err_cpu"

size="$(inspect '{{.Size}}' | awk '{printf "%.0f MB", $1/1e6}')"
log "no-driver line: ${last#error: }"
echo "check-cuda-image: OK image=$tag base=$base size=$size build_s=$t_build total_s=$(elapsed "$t_all")"
