#!/usr/bin/env bash
# One command from a fresh clone to a classified clip:
#   1. a virtualenv in .venv with vidclass and its export/test extras (CPU torch 2.13.0, never torchvision),
#   2. the one-time conversion of DeepMind's I3D weights to models/i3d_kinetics400.onnx (verified),
#   3. `vidclass predict` on a real clip.
# Usage: bash scripts/setup.sh [VIDEO]   (default: arm_wrestling.mp4 from the shared assets)
# Environment: VIDCLASS_ASSETS (default ../shared/assets), PYTHON (default python3).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
ASSETS=${VIDCLASS_ASSETS:-../shared/assets}

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv" >&2
  "$PYTHON" -m venv .venv
fi
echo "setup: installing vidclass with its extras (export, test, graph, plot, openvino, ray)" >&2
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[export,test,graph,plot,openvino,ray]'

echo "setup: exporting the I3D model (skipped when an up-to-date export exists)" >&2
.venv/bin/python scripts/export_i3d.py

clip=${1:-$ASSETS/clips/arm_wrestling.mp4}
if [ -f "$clip" ]; then
  echo "setup: classifying $clip" >&2
  .venv/bin/vidclass predict "$clip"
else
  echo "setup: done; no clip at $clip, try: .venv/bin/vidclass predict YOUR_VIDEO.mp4" >&2
fi
