#!/usr/bin/env bash
# The README's test command: installs everything the tests need, then runs
# the layer contracts, the linter and the whole test suite.
#   bash scripts/test.sh [pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# iptables: tests/test_interlock_liveness.py blocks one server's ZMQ event port on loopback.
# Services the tests start themselves (never as system services): mosquitto,
# InfluxDB 1.x, VictoriaMetrics; Node.js + npm for Node-RED; chromium for the dashboard test
# (Playwright drives Debian's chromium; never `playwright install`); docker.io and debootstrap for the
# stack test (tests/test_stack.py starts a private engine; the system service is never used).
APT_PACKAGES="python3-venv docker.io iptables debootstrap chromium mosquitto mosquitto-clients influxdb victoria-metrics tango-starter tango-test nodejs npm openssl libgl1 libegl1 libxkbcommon0 libfontconfig1 libdbus-1-3 libglib2.0-0"
missing=""
for pkg in $APT_PACKAGES; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"
done
# nodejs/npm may come from elsewhere (nodesource, nvm): only install them when absent
if command -v node >/dev/null && command -v npm >/dev/null; then
  missing=$(echo "$missing" | tr ' ' '\n' | { grep -v -x -e nodejs -e npm || true; } | tr '\n' ' ')
fi
if [ -n "${missing// /}" ]; then
  echo "== apt-get install$missing"
  as_root apt-get update -q
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -q --no-install-recommends $missing
fi

echo "== Node-RED (npm ci in docker/nodered)"
if [ ! -x docker/nodered/node_modules/.bin/node-red ] || [ ! -d docker/nodered/node_modules/@flowfuse/node-red-dashboard ]; then
  (cd docker/nodered && npm ci --no-audit --no-fund --loglevel=error)
fi

PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test,gui]'

echo "== import-linter layer contracts"
.venv/bin/lint-imports
echo "== ruff"
.venv/bin/ruff check .
echo "== pytest"
exec .venv/bin/python -m pytest "$@"
