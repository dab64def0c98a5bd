#!/usr/bin/env bash
# Runs every test of the project. This is the README's test command and what CI runs.
#
# Rust (fmt, clippy, every crate's tests), then what runs outside cargo: the Kotlin of the
# Android library and of the sample app on the desktop JVM (Maven), a syntax check of every
# Swift file (tree-sitter-swift; Swift cannot be compiled on Linux), the official Python
# Triton client against the edge server, and the scale-out tests (export under ONNX Runtime,
# KServe's Python server, the edge's ONNX Runtime engine). Python tools live in one venv at
# ${TANDEM_VENV:-/tmp/tandem-ci-venv}. Set TANDEM_RUST_ONLY=1 to stop after cargo test.
# The work is done by `cargo xtask ci` (xtask/src/ci.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo xtask ci "$@"
