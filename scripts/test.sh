#!/usr/bin/env bash
# The README's test command: installs everything the tests need, then runs
# the layer contracts, the linter and the whole test suite.
#   bash scripts/test.sh [pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

PY=${PYTHON:-python3}
if ! "$PY" -c 'import ensurepip, venv' 2>/dev/null; then
  as_root apt-get update -q
  as_root apt-get install -y -q python3-venv
fi
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test]'

echo "== import-linter layer contracts"
.venv/bin/lint-imports
echo "== ruff"
.venv/bin/ruff check .
echo "== pytest"
exec .venv/bin/python -m pytest "$@"
