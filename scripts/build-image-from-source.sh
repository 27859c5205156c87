#!/usr/bin/env bash
# CI check: trainer/Dockerfile's multi-stage source build works with no registry and no network.
#
#  1. Unless it already exists, make the builder base image locally: debootstrap a minimal
#     bookworm (gcc, libc6-dev, ca-certificates), copy in the active rustup toolchain (without
#     share/doc), `docker import` it and tag it as the Dockerfile's RUST_IMAGE default, so the
#     unmodified Dockerfile builds with no pull.
#  2. Stage a build context: the workspace sources, `cargo vendor` output in vendor/, and an empty
#     dist/finetune-trainer placeholder (the classic builder runs the runtime-prebuilt stage even
#     for --target runtime).
#  3. `docker build --network none --target runtime` and check that the image runs
#     `finetune-trainer --version` as a non-root user with --network none.
#  4. With --cuda-binary PATH (a host-built `--features cuda` trainer): the `runtime-cuda` stage's
#     wiring in the same context, by scripts/check-cuda-image.sh (which reuses step 3's layers).
#
# Flags: --rebuild-base (re-create the builder base image), --tag T (default finetune-trainer:source),
#        --keep-context (leave the staged context for inspection), --cuda-binary PATH.
# Needs root (debootstrap) and network access to a Debian mirror and crates.io (vendoring) the
# first time; the image build itself runs offline.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"

rebuild_base=false
keep_context=false
tag="finetune-trainer:source"
cuda_binary=""
while [ $# -gt 0 ]; do
    case "$1" in
        --rebuild-base) rebuild_base=true ;;
        --keep-context) keep_context=true ;;
        --tag) tag="$2"; shift ;;
        --cuda-binary) cuda_binary="$(realpath "$2")"; shift ;;
        *) echo "usage: $0 [--rebuild-base] [--keep-context] [--tag TAG] [--cuda-binary PATH]" >&2; exit 2 ;;
    esac
    shift
done

log() { echo "build-image-from-source: $*" >&2; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

rust_image="$(sed -n 's/^ARG RUST_IMAGE=//p' trainer/Dockerfile | head -1)"
[ -n "$rust_image" ] || { log "trainer/Dockerfile has no ARG RUST_IMAGE default"; exit 1; }
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"

work="$(mktemp -d /var/tmp/finetune-src-build.XXXXXX)"
cleanup() {
    if [ "$keep_context" = true ]; then log "context kept in $work/context"; else rm -rf "$work"; fi
}
trap cleanup EXIT

# ---- 1. builder base image ------------------------------------------------------------------
t_base="-"
if [ "$rebuild_base" = false ] && docker image inspect "$rust_image" >/dev/null 2>&1; then
    log "builder base $rust_image exists locally; reusing it (--rebuild-base to re-create)"
else
    t0=$(now)
    if ! command -v debootstrap >/dev/null 2>&1; then
        log "installing debootstrap"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
    fi
    rootfs="$work/rootfs"
    log "debootstrap bookworm ($mirror) into $rootfs"
    debootstrap --variant=minbase --include=gcc,libc6-dev,ca-certificates bookworm "$rootfs" "$mirror" \
        > "$work/debootstrap.log" 2>&1 || { tail -20 "$work/debootstrap.log" >&2; exit 1; }
    toolchain="$(rustc --print sysroot)"
    tc_name="$(basename "$toolchain")"
    log "copying toolchain $tc_name (without share/doc)"
    mkdir -p "$rootfs/usr/local/rustup/toolchains" "$rootfs/usr/local/cargo/bin"
    tar -C "$(dirname "$toolchain")" --exclude="$tc_name/share/doc" -cf - "$tc_name" \
        | tar -C "$rootfs/usr/local/rustup/toolchains" -xf -
    for b in "$rootfs/usr/local/rustup/toolchains/$tc_name/bin/"*; do
        ln -sf "/usr/local/rustup/toolchains/$tc_name/bin/$(basename "$b")" "$rootfs/usr/local/cargo/bin/$(basename "$b")"
    done
    rm -rf "$rootfs/var/cache/apt/archives/"*.deb "$rootfs/var/lib/apt/lists/"*
    local_tag="local/rust:$(rustc --version | awk '{print $2}')"
    log "docker import as $local_tag, tagged $rust_image"
    tar -C "$rootfs" -cf - . | docker import \
        --change 'ENV PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV CARGO_HOME=/usr/local/cargo' \
        --change 'ENV RUSTUP_HOME=/usr/local/rustup' \
        --change 'WORKDIR /' \
        --change 'CMD ["/bin/bash"]' \
        - "$local_tag" >/dev/null
    docker tag "$local_tag" "$rust_image"
    rm -rf "$rootfs"
    t_base="$(elapsed "$t0")"
    log "builder base ready in ${t_base} s ($(docker image inspect -f '{{.Size}}' "$rust_image" | awk '{printf "%.0f MB", $1/1e6}'))"
fi

# ---- 2. build context -----------------------------------------------------------------------
t0=$(now)
ctx="$work/context"
mkdir -p "$ctx/dist"
tar -C "$repo" \
    --exclude='target' --exclude='target-*' --exclude='runs' --exclude='.fixtures' \
    -cf - Cargo.toml Cargo.lock .dockerignore spec compose trainer plugin fixtures gguf tests | tar -C "$ctx" -xf -
: > "$ctx/dist/finetune-trainer"
log "cargo vendor into the context"
(cd "$repo" && cargo vendor --locked --quiet "$ctx/vendor" >/dev/null)
t_ctx="$(elapsed "$t0")"
log "context staged in ${t_ctx} s ($(du -sh "$ctx" | cut -f1))"

# ---- 3. offline multi-stage build -----------------------------------------------------------
t0=$(now)
log "docker build --network none --target runtime -t $tag (classic builder unless BuildKit is available)"
docker build --network none -f "$ctx/trainer/Dockerfile" --target runtime \
    --build-arg "TRAINER_VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)" \
    -t "$tag" "$ctx"
t_build="$(elapsed "$t0")"

user="$(docker image inspect -f '{{.Config.User}}' "$tag")"
case "$user" in
    ""|0|0:*|root|root:*) log "image user is '$user': expected a non-root user"; exit 1 ;;
esac
version_out="$(docker run --rm --network none --read-only --cap-drop ALL \
    --security-opt no-new-privileges "$tag" --version)"
size="$(docker image inspect -f '{{.Size}}' "$tag" | awk '{printf "%.1f MB", $1/1e6}')"
log "image $tag runs as $user: '$version_out'"
echo "build-image-from-source: OK image=$tag size=$size user=$user base_s=$t_base context_s=$t_ctx build_s=$t_build"

# ---- 4. the runtime-cuda stage --------------------------------------------------------------
if [ -n "$cuda_binary" ]; then
    scripts/check-cuda-image.sh "$ctx" "$cuda_binary"
fi
