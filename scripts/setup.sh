#!/usr/bin/env bash
# The development set-up, one command from a fresh clone (or the unpacked sdist): a virtualenv in
# .venv with vidclass installed editable and everything the tests exercise (`.[dev]`: the test, plot,
# openvino and ray extras and ruff). No torch, and no model: the first command that needs the model
# fetches and converts it (README, Models); the tests convert it once from the shared weights into
# the pytest cache.
# Usage: bash scripts/setup.sh [VIDEO]   (with a VIDEO: classify it, making the model first if needed)
# Environment: PYTHON (default python3).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv" >&2
  "$PYTHON" -m venv .venv
fi
echo "setup: installing vidclass (editable) with the dev extras: test, plot, openvino, ray, ruff" >&2
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'

if [ $# -gt 0 ]; then
  echo "setup: classifying $1" >&2
  .venv/bin/vidclass predict "$1"
fi
echo "setup: done; the tests: .venv/bin/python -m pytest; the CLI: .venv/bin/vidclass" >&2
