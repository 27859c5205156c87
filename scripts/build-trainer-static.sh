#!/usr/bin/env bash
# Build the trainer as a static binary (static-pie, crt-static) for the host triple and copy it
# to dist/finetune-trainer, where trainer/Dockerfile's runtime-prebuilt stage picks it up.
# The explicit --target matters: without it RUSTFLAGS also hit proc-macro crates and the build fails.
# Honours CARGO_TARGET_DIR (default: target/).
set -euo pipefail
cd "$(dirname "$0")/.."

triple="$(rustc -vV | sed -n 's/^host: //p')"
target_dir="${CARGO_TARGET_DIR:-$PWD/target}"
start=$(date +%s)
RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" \
    cargo build --release --locked -p finetune-trainer --bin finetune-trainer --target "$triple"
mkdir -p dist
install -m 0755 "$target_dir/$triple/release/finetune-trainer" dist/finetune-trainer.tmp
mv -f dist/finetune-trainer.tmp dist/finetune-trainer
echo "build-trainer-static: dist/finetune-trainer ($(du -h dist/finetune-trainer | cut -f1), $(( $(date +%s) - start )) s, $(file -b dist/finetune-trainer 2>/dev/null | grep -o 'static-pie linked\|statically linked\|dynamically linked' || echo unknown linkage))"
