#!/usr/bin/env bash
# Starts a real image registry for the packaging tests, and prints its address (HOST:PORT) on stdout.
#
# Debian's `docker-registry` package (the CNCF distribution registry, 2.8) is installed with apt-get
# when missing (root or sudo). The registry listens on 127.0.0.1 only, without TLS (the engine
# trusts 127.0.0.0/8 as an insecure registry by default), with filesystem storage under DIR (default:
# a new temp dir) and a config file it writes there. Its log is DIR/registry.log and its pid
# DIR/registry.pid; stop it with `kill "$(cat DIR/registry.pid)"`.
#
# Usage: scripts/start-registry.sh [--dir DIR] [--port PORT]
#   export FINETUNE_TEST_REGISTRY="$(scripts/start-registry.sh)"
set -euo pipefail

dir=""
port=""
while [ $# -gt 0 ]; do
    case "$1" in
        --dir) dir="$2"; shift ;;
        --port) port="$2"; shift ;;
        *) echo "usage: $0 [--dir DIR] [--port PORT]" >&2; exit 2 ;;
    esac
    shift
done

sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
registry="$(command -v docker-registry || true)"
if [ -z "$registry" ]; then
    echo "start-registry: installing Debian's docker-registry (apt-get)" >&2
    $sudo apt-get install -y -qq docker-registry >&2 \
        || { $sudo apt-get update -qq >&2 && $sudo apt-get install -y -qq docker-registry >&2; }
    registry="$(command -v docker-registry)"
fi

[ -n "$dir" ] || dir="$(mktemp -d "${TMPDIR:-/tmp}/finetune-registry.XXXXXX")"
mkdir -p "$dir/storage"
if [ -z "$port" ]; then
    # A free port now; the small race with another listener is acceptable for a test server.
    port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
fi
addr="127.0.0.1:$port"

cat >"$dir/config.yml" <<YAML
version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: $dir/storage
  delete:
    enabled: true
http:
  addr: $addr
YAML

nohup "$registry" serve "$dir/config.yml" >"$dir/registry.log" 2>&1 &
echo $! >"$dir/registry.pid"

for _ in $(seq 1 60); do
    if python3 -c "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://$addr/v2/', timeout=1).status == 200 else 1)" >/dev/null 2>&1; then
        echo "start-registry: $("$registry" --version 2>/dev/null | head -1) at $addr (storage in $dir/storage)" >&2
        echo "$addr"
        exit 0
    fi
    if ! kill -0 "$(cat "$dir/registry.pid")" 2>/dev/null; then
        echo "start-registry: the registry exited; its log:" >&2
        tail -n 30 "$dir/registry.log" >&2
        exit 1
    fi
    sleep 0.5
done
echo "start-registry: no answer from http://$addr/v2/ after 30s; its log:" >&2
tail -n 30 "$dir/registry.log" >&2
exit 1
