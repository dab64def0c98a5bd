#!/usr/bin/env bash
# Generates the Kotlin and/or Swift bindings from the host-built library (UniFFI library mode):
#
#   bash bindings/scripts/generate.sh [OUT_DIR] [kotlin] [swift]     (default: target/uniffi, both)
#
# Writes OUT_DIR/kotlin/dev/tandem/**.kt (one file per crate) and OUT_DIR/swift/*.swift, their
# C headers and TandemFFI.modulemap. TANDEM_BUILD_ALL=1 builds the whole workspace first (CI's
# feature resolution). The work is done by `cargo xtask generate` (xtask/src/bindings.rs).
set -euo pipefail
cd "$(dirname "$0")/../.."
exec cargo xtask generate "$@"
