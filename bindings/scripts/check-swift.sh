#!/usr/bin/env bash
# Parses every Swift file of the project with tree-sitter-swift (the generated bindings, and
# everything hand-written under ios/ and sample-apps/) and fails on any syntax error. Swift
# cannot be compiled on this Linux CI: a syntax check only. The parser lives in a virtualenv
# at ${TANDEM_VENV:-/tmp/tandem-ci-venv}, created on first use. The work is done by
# `cargo xtask swift` (xtask/src/bindings.rs) and bindings/scripts/parse_swift.py.
#
#   bash bindings/scripts/check-swift.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
exec cargo xtask swift "$@"
