#!/usr/bin/env bash
# Generates the Kotlin and/or Swift bindings from the host-built library (UniFFI library mode).
#
#   bash bindings/scripts/generate.sh [OUT_DIR] [kotlin] [swift]     (default: target/uniffi, both)
#
# Writes OUT_DIR/kotlin/dev/tandem/ffi/tandem_ffi.kt and OUT_DIR/swift/{Tandem.swift,
# TandemFFI.h, TandemFFI.modulemap}. Generated code is not committed: CI
# (bindings/scripts/test-kotlin.sh, check-swift.sh), the Android build
# (android/tandem/build.gradle.kts) and ios/scripts/build-xcframework.sh run this script.
# The interface UniFFI reads from the library is the same on every target, so bindings
# generated from the host build fit the Android and iOS builds of the same source.
set -euo pipefail
cd "$(dirname "$0")/../.."

out="${1:-target/uniffi}"
shift || true
languages=("$@")
[ ${#languages[@]} -gt 0 ] || languages=(kotlin swift)

case "$(uname -s)" in
  Darwin) lib="target/debug/libtandem_ffi.dylib" ;;
  *) lib="target/debug/libtandem_ffi.so" ;;
esac

# CI (scripts/test-all.sh sets TANDEM_BUILD_ALL=1) builds the whole workspace once with one
# feature resolution: building single packages resolves features differently (no
# dev-dependencies) and would rebuild half the dependency tree.
if [ "${TANDEM_BUILD_ALL:-0}" = 1 ]; then
  cargo build --quiet --workspace --all-targets
else
  cargo build --quiet -p tandem-bindings -p tandem-uniffi-bindgen
fi

for language in "${languages[@]}"; do
  case "$language" in
    kotlin | swift) ;;
    *) echo "generate.sh: unknown language '$language' (kotlin or swift)" >&2; exit 2 ;;
  esac
  rm -rf "${out:?}/$language"
  target/debug/uniffi-bindgen generate --library "$lib" --language "$language" \
    --out-dir "$out/$language" --no-format
  echo "generated $language bindings in $out/$language"
done
