#!/usr/bin/env bash
# The wheels the project image installs from (docker/Dockerfile builds with no index):
# tracker-dcs itself and every dependency, for this machine's Python (Debian bookworm: 3.11).
#   bash scripts/wheelhouse.sh [pip wheel arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
out=docker/wheelhouse
mkdir -p "$out"
"$PY" -m pip wheel -q --wheel-dir "$out" "$@" .
ls "$out" | wc -l | xargs echo "wheels in $out:"
