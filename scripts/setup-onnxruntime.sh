#!/usr/bin/env bash
# Makes ONNX Runtime available to `tandem edge --engine auto` (the default) on a fresh
# machine: a Python venv at ${TANDEM_VENV:-/tmp/tandem-ci-venv} with the onnxruntime wheel
# pinned in deploy/kserve/requirements.txt, from PyPI. The edge finds the wheel's
# libonnxruntime.so there by itself (crates/edge/src/ort_locate.rs); this script prints its
# path, for ORT_DYLIB_PATH if you keep the venv elsewhere. Reuses the venv when it has it.
#
#   bash scripts/setup-onnxruntime.sh            # prints /tmp/tandem-ci-venv/.../libonnxruntime.so.1.x
#
# A GPU machine: install onnxruntime-gpu instead (same version) for the CUDA execution provider.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${TANDEM_VENV:-/tmp/tandem-ci-venv}"
PIN="$(grep -E '^onnxruntime==' deploy/kserve/requirements.txt)"
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV" >&2
fi
if ! "$VENV/bin/python" -c "import onnxruntime" >/dev/null 2>&1; then
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "$PIN" >&2
fi
LIB="$("$VENV/bin/python" - <<'PY'
import glob, os, onnxruntime
libs = sorted(glob.glob(os.path.join(os.path.dirname(onnxruntime.__file__), "capi", "libonnxruntime.so.*")))
print(libs[-1] if libs else "")
PY
)"
if [ -z "$LIB" ]; then
    echo "no libonnxruntime.so in the onnxruntime wheel of $VENV" >&2
    exit 1
fi
echo "$LIB"
