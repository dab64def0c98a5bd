#!/usr/bin/env bash
# Python interop test of the edge server: the official `tritonclient[http]` drives a real
# `tandem edge` process (crates/edge/tests/python). Creates or reuses a venv at
# ${TANDEM_VENV:-/tmp/tandem-ci-venv}.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${TANDEM_VENV:-/tmp/tandem-ci-venv}"
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install --quiet --disable-pip-version-check -r crates/edge/tests/python/requirements.txt

echo "== build tandem (the whole workspace, as cargo test resolves it: no rebuild after it)"
cargo build --quiet --workspace --all-targets
TARGET_DIR="${CARGO_TARGET_DIR:-target}"

echo "== pytest crates/edge/tests/python"
TANDEM_BIN="$(cd "$TARGET_DIR" && pwd)/debug/tandem" "$VENV/bin/python" -m pytest -q crates/edge/tests/python "$@"
