#!/usr/bin/env bash
# Starts a real MLflow tracking server for the tracking tests, and prints its URI on stdout.
#
# MLflow 3.x from PyPI goes into a venv under ${FINETUNE_FIXTURES:-<repo>/.fixtures}/mlflow-venv
# (installed once; later runs only check it imports). The server listens on 127.0.0.1 only, with a
# sqlite backend store and local artifact serving (the artifact proxy `docker finetune` uploads
# through), under DIR (default: a new temp dir). Its log is DIR/server.log and its pid DIR/server.pid;
# stop it with `kill "$(cat DIR/server.pid)"`.
#
# Usage: scripts/start-mlflow.sh [--dir DIR] [--port PORT]
#   export FINETUNE_TEST_MLFLOW_URI="$(scripts/start-mlflow.sh)"
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
fixtures="${FINETUNE_FIXTURES:-$repo/.fixtures}"
venv="$fixtures/mlflow-venv"
python="${PYTHON:-python3}"
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

# Install once: a venv whose python imports mlflow is kept as it is.
if ! "$venv/bin/python" -c 'import mlflow' >/dev/null 2>&1; then
    echo "start-mlflow: installing mlflow 3.x into $venv (PyPI)" >&2
    mkdir -p "$fixtures"
    "$python" -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check 'mlflow>=3,<4' >&2
fi

[ -n "$dir" ] || dir="$(mktemp -d "${TMPDIR:-/tmp}/finetune-mlflow.XXXXXX")"
mkdir -p "$dir/artifacts"
if [ -z "$port" ]; then
    # A free port now; the small race with another listener is acceptable for a test server.
    port="$("$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
fi
uri="http://127.0.0.1:$port"

# One worker: the tests are light. No background job runner (MLflow 3's huey consumers, for GenAI
# jobs the tests do not use): fewer processes and a quicker start. Killing the pid stops them all.
MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false nohup "$venv/bin/mlflow" server --host 127.0.0.1 --port "$port" --workers 1 \
    --backend-store-uri "sqlite:///$dir/mlflow.db" \
    --artifacts-destination "$dir/artifacts" --serve-artifacts \
    >"$dir/server.log" 2>&1 &
echo $! >"$dir/server.pid"

for _ in $(seq 1 120); do
    if "$venv/bin/python" -c "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('$uri/health', timeout=1).status == 200 else 1)" >/dev/null 2>&1; then
        echo "start-mlflow: MLflow $("$venv/bin/python" -c 'import mlflow; print(mlflow.__version__)') at $uri (data in $dir)" >&2
        echo "$uri"
        exit 0
    fi
    if ! kill -0 "$(cat "$dir/server.pid")" 2>/dev/null; then
        echo "start-mlflow: the server exited; its log:" >&2
        tail -n 30 "$dir/server.log" >&2
        exit 1
    fi
    sleep 0.5
done
echo "start-mlflow: no answer from $uri/health after 60s; its log:" >&2
tail -n 30 "$dir/server.log" >&2
exit 1
