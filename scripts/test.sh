#!/usr/bin/env bash
# THE test command (README; `.ci/run` runs it with CI=true).
#
# Installs what a fresh machine lacks (a running engine, Compose v2), fetches the real fixtures,
# starts a real MLflow server on 127.0.0.1 for the tracking tests (FINETUNE_TEST_MLFLOW_URI) and a
# real image registry on 127.0.0.1 for the packaging tests (FINETUNE_TEST_REGISTRY),
# then: rustfmt, clippy (with the `cuda` feature on, so the CUDA code is linted and proven to
# compile), one static release build of every binary for the host triple, and the whole test suite
# against those binaries (the end-to-end tests find them in target/<triple>/release).
# burn is compiled once for the build and once checked for clippy: CI stays under an hour on 2 cores.
#
# With --full (never in CI: each compiles burn again, about 25 more minutes) it also builds the
# `--features cuda` binary and the offline multi-stage image from source, with the `runtime-cuda`
# stage's wiring checked on that CUDA build (scripts/check-cuda-image.sh). In CI the source build's
# one failure mode that the prebuilt image does not share, a workspace crate missing from the
# Dockerfile's builder stage, is caught by tests/e2e/image.rs against `cargo metadata`.
#
# Usage: scripts/test.sh [--full] [-- extra cargo test args]
# Exits non-zero when any step fails; every step still runs when the ones it needs passed.
set -uo pipefail
cd "$(dirname "$0")/.."

full=false
extra=()
while [ $# -gt 0 ]; do
    case "$1" in
        --full) full=true ;;
        --) shift; extra=("$@"); break ;;
        *) echo "usage: $0 [--full] [-- cargo test args]" >&2; exit 2 ;;
    esac
    shift
done

triple="$(rustc -vV | sed -n 's/^host: //p')"
static_flags="-C target-feature=+crt-static"
results=()
failed=0
t_all=$(date +%s)

# step NAME CMD...: run, time and record one step.
step() {
    local name="$1"; shift
    local t0; t0=$(date +%s)
    echo
    echo "==> $name"
    if "$@"; then
        results+=("ok      $(printf '%5ss' $(( $(date +%s) - t0 )))  $name")
        return 0
    else
        local rc=$?
        results+=("FAILED  $(printf '%5ss' $(( $(date +%s) - t0 )))  $name (exit $rc)")
        failed=$((failed + 1))
        return $rc
    fi
}
skip() { results+=("skipped         $1"); }

fetch_fixtures() {
    if [ -x scripts/fetch-fixtures.sh ]; then
        scripts/fetch-fixtures.sh
    else
        echo "scripts/fetch-fixtures.sh is missing: tests that need real fixtures will skip (fail in CI)"
        [ "${CI:-}" != true ]
    fi
}

static_build() {
    # `cargo test --no-run` rather than `cargo build --bins`: dev-dependencies (jsonschema) change
    # the features of shared crates (serde_json), and a plain build would then compile burn twice.
    # This builds every test and every binary the tests use, with the features `cargo test` uses.
    RUSTFLAGS="${RUSTFLAGS:-} $static_flags" cargo test --no-run --release --locked --workspace --target "$triple"
}
static_test() {
    # Same RUSTFLAGS/profile/target as static_build: the binaries are not rebuilt. The e2e tests
    # serialise on the engine themselves.
    RUSTFLAGS="${RUSTFLAGS:-} $static_flags" cargo test --release --locked --workspace --no-fail-fast --target "$triple" "${extra[@]}"
}
cuda_build() {
    # Proves the cuda feature compiles offline; dependencies unoptimised to keep it cheap. The
    # binary (dynamic, as the CUDA image needs) goes into the runtime-cuda check below.
    cargo build --locked -p finetune-trainer --features cuda \
        --config 'profile.dev.package."*".opt-level=0'
}
cuda_binary="${CARGO_TARGET_DIR:-target}/debug/finetune-trainer"
# A real MLflow server for the tracking tests (plugin/tests/mlflow.rs), stopped when this exits.
mlflow_dir="$(mktemp -d "${TMPDIR:-/tmp}/finetune-mlflow.XXXXXX")"
stop_mlflow() {
    if [ -s "$mlflow_dir/server.pid" ]; then kill "$(cat "$mlflow_dir/server.pid")" 2>/dev/null || true; fi
    rm -rf "$mlflow_dir"
}
# A real registry (Debian's docker-registry) for the packaging tests (tests/e2e/package.rs).
registry_dir="$(mktemp -d "${TMPDIR:-/tmp}/finetune-registry.XXXXXX")"
stop_servers() {
    stop_mlflow
    if [ -s "$registry_dir/registry.pid" ]; then kill "$(cat "$registry_dir/registry.pid")" 2>/dev/null || true; fi
    rm -rf "$registry_dir"
}
trap stop_servers EXIT
start_mlflow() {
    local uri
    uri="$(scripts/start-mlflow.sh --dir "$mlflow_dir")" || return 1
    export FINETUNE_TEST_MLFLOW_URI="$uri"
}
start_registry() {
    local addr
    addr="$(scripts/start-registry.sh --dir "$registry_dir")" || return 1
    export FINETUNE_TEST_REGISTRY="$addr"
}

step "engine (scripts/ensure-docker.sh)" scripts/ensure-docker.sh
step "compose v2 (scripts/install-compose.sh)" scripts/install-compose.sh
step "fixtures (scripts/fetch-fixtures.sh)" fetch_fixtures
step "MLflow server (scripts/start-mlflow.sh)" start_mlflow
step "image registry (scripts/start-registry.sh)" start_registry
step "cargo fmt --check" cargo fmt --all -- --check
step "cargo clippy -D warnings (cuda feature on)" \
    cargo clippy --locked --workspace --all-targets --features finetune-trainer/cuda -- -D warnings
if step "static release build ($triple)" static_build; then
    step "cargo test (release, $triple)" static_test
else
    skip "cargo test (the build failed)"
fi
if [ "$full" = true ]; then
    image_args=()
    if step "cargo build --features cuda" cuda_build; then
        image_args=(--cuda-binary "$cuda_binary")
    fi
    step "image build from source + runtime-cuda wiring (scripts/build-image-from-source.sh)" \
        scripts/build-image-from-source.sh "${image_args[@]}"
else
    skip "cuda binary + image build from source (--full runs them)"
fi

echo
echo "==> summary ($(( $(date +%s) - t_all )) s)"
printf '  %s\n' "${results[@]}"
if [ "$failed" -gt 0 ]; then
    echo "$failed step(s) failed"
    exit 1
fi
echo "all steps passed"
