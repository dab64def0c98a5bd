#!/usr/bin/env bash
# Runs every test of the project. This is the README's test command and what CI runs.
#
# Rust (fmt, clippy, every crate's tests), then what runs outside cargo: the Kotlin of the
# Android library and of the sample app on the desktop JVM (Maven), a syntax check of every
# Swift file (tree-sitter-swift; Swift cannot be compiled on Linux), the official Python
# Triton client against the edge server, and the scale-out tests (export under ONNX Runtime,
# KServe's Python server, the edge's ONNX Runtime engine). Python tools live in one venv at
# ${TANDEM_VENV:-/tmp/tandem-ci-venv}. Set TANDEM_RUST_ONLY=1 to stop after cargo test.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
stage() { echo; echo "== [$((SECONDS - start)) s] $*"; }

stage "rustfmt"
cargo fmt --all -- --check
stage "clippy"
cargo clippy --workspace --all-targets -- -D warnings
stage "cargo test"
cargo test --workspace
if [ "${TANDEM_RUST_ONLY:-0}" = 1 ]; then
  exit 0
fi
# The scripts below build what they need with the same feature resolution as cargo test.
export TANDEM_BUILD_ALL=1

stage "Kotlin: generated bindings + Android library on the JVM (bindings/scripts/test-kotlin.sh)"
bash bindings/scripts/test-kotlin.sh
stage "Kotlin: FaceID sample app logic (sample-apps/android-faceid/jvm-check)"
mvn -q -B -Dstyle.color=never -f sample-apps/android-faceid/jvm-check/pom.xml test
stage "Swift: parse every Swift file (bindings/scripts/check-swift.sh)"
bash bindings/scripts/check-swift.sh
stage "Python: tritonclient[http] against tandem edge (scripts/test-python.sh)"
bash scripts/test-python.sh
stage "Scale-out: export, KServe, ONNX Runtime engine (scripts/test-scaleout.sh)"
bash scripts/test-scaleout.sh
stage "all tests passed"
