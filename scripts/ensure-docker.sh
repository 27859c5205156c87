#!/usr/bin/env bash
# Make sure a Docker engine answers `docker info`.
# If none does: install Debian's docker.io (engine + CLI) when dockerd is missing, start dockerd
# in the background, and wait until it is ready. Never starts a second dockerd while one runs
# (two daemons fight over docker0 and the bridge network).
set -euo pipefail

log() { echo "ensure-docker: $*" >&2; }

if docker info >/dev/null 2>&1; then
    log "engine ready ($(docker version --format '{{.Server.Version}} (API {{.Server.APIVersion}})' 2>/dev/null || echo unknown))"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then
    log "installing docker.io from apt"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq docker.io >/dev/null
fi

dockerd_pid() { pidof dockerd 2>/dev/null || pgrep -x dockerd 2>/dev/null || true; }

if [ -n "$(dockerd_pid)" ]; then
    log "dockerd is already running (pid $(dockerd_pid)); waiting for it"
else
    log "starting dockerd in the background (log: /var/log/dockerd.log)"
    # setsid: the daemon must outlive this script and the CI step that ran it.
    $SUDO setsid dockerd >/var/log/dockerd.log 2>&1 < /dev/null &
fi

for _ in $(seq 1 60); do
    if docker info >/dev/null 2>&1; then
        log "engine ready ($(docker version --format '{{.Server.Version}} (API {{.Server.APIVersion}})'))"
        exit 0
    fi
    sleep 1
done
log "the engine did not answer within 60 s; see /var/log/dockerd.log"
exit 1
