#!/usr/bin/env bash
# Scale-out tests (issue 10): `tandem export` repositories under ONNX Runtime, the offload
# session against KServe's Python model server, and the edge server's ONNX Runtime engine.
#
#   scripts/test-scaleout.sh            # everything below, ~3-5 min after the first install
#
# Creates or reuses a venv at ${TANDEM_VENV:-/tmp/tandem-ci-venv} with the pinned
# deploy/kserve/requirements.txt (kserve, onnxruntime; the onnxruntime wheel's
# libonnxruntime.so is also what `--engine ort` loads). Builds in the dev profile.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${TANDEM_VENV:-/tmp/tandem-ci-venv}"
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install --quiet --disable-pip-version-check -r deploy/kserve/requirements.txt
ORT_DYLIB_PATH="$("$VENV/bin/python" - <<'EOF'
import glob, os, onnxruntime
libs = sorted(glob.glob(os.path.join(os.path.dirname(onnxruntime.__file__), "capi", "libonnxruntime.so*")))
print(libs[0] if libs else "")
EOF
)"
if [ -z "$ORT_DYLIB_PATH" ]; then
    echo "no libonnxruntime.so in the onnxruntime wheel of $VENV" >&2
    exit 1
fi
export ORT_DYLIB_PATH
export TANDEM_KSERVE_PYTHON="$VENV/bin/python"
TARGET_DIR="${CARGO_TARGET_DIR:-target}"

echo "== build (dev profile): tandem and the test binaries, in one cargo run"
# One cargo invocation builds every test binary with the workspace's feature resolution (the
# edge's `ort` feature is on by default: the same build as cargo test); the binaries are then
# run directly.
BINS="$(mktemp)"
trap 'rm -f "$BINS"' EXIT
cargo test --workspace --no-run \
    --message-format=json-render-diagnostics \
    | "$VENV/bin/python" -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["profile"]["test"]:
        print(m["package_id"].split("#")[0].rsplit("/", 1)[-1], m["target"]["name"], m["executable"])
' > "$BINS"
bin() { awk -v p="$1" -v t="$2" '$1 ~ p && $2 == t {print $3}' "$BINS" | head -1; }
TANDEM_BIN="$(cd "$TARGET_DIR" && pwd)/debug/tandem"

echo "== unit tests: export, plain OIP target, engine choice"
"$(bin export tandem_export)" -q
"$(bin sdk tandem_sdk)" -q plain::
"$(bin edge tandem_edge)" -q engine::

echo "== tandem export / tandem edge --engine (CLI)"
(cd tools/cli && "$(bin cli export)" -q)

echo "== exported parts under ONNX Runtime == Tandem split execution (pytest)"
TANDEM_BIN="$TANDEM_BIN" "$VENV/bin/python" -m pytest -q deploy/tests "$@"

echo "== edge server with the ONNX Runtime engine == local execution"
TANDEM_REQUIRE_ORT=1 "$(bin edge ort_engine)" -q

echo "== a model the phone's engine cannot run, whole on the edge's ONNX Runtime engine"
TANDEM_REQUIRE_ORT=1 "$(bin e2e whole_on_edge)" -q

echo "== offload session -> KServe (Python model server + ONNX Runtime) == local execution"
"$(bin sdk plain_oip)" -q --ignored
