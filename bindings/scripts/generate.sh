#!/usr/bin/env bash
# Generates the Kotlin and Swift bindings from the host-built library (UniFFI library mode).
#
#   bash bindings/scripts/generate.sh [OUT_DIR]        (default: target/uniffi)
#
# Writes OUT_DIR/kotlin/dev/tandem/ffi/tandem_ffi.kt and OUT_DIR/swift/{Tandem.swift,
# TandemFFI.h, TandemFFI.modulemap}. Generated code is not committed: CI, the Android build
# (android/tandem/build.gradle.kts) and ios/scripts/build-xcframework.sh run this script.
# The metadata UniFFI reads is the same in every build of the library, so bindings
# generated from the host build fit the Android and iOS builds of the same source.
set -euo pipefail
cd "$(dirname "$0")/../.."

out="${1:-target/uniffi}"
profile_dir="target/debug"
case "$(uname -s)" in
  Darwin) lib="$profile_dir/libtandem_ffi.dylib" ;;
  *) lib="$profile_dir/libtandem_ffi.so" ;;
esac

cargo build --quiet -p tandem-bindings
cargo build --quiet -p tandem-uniffi-bindgen
bindgen="target/debug/uniffi-bindgen"

rm -rf "$out/kotlin" "$out/swift"
"$bindgen" generate --library "$lib" --language kotlin --out-dir "$out/kotlin" --no-format
"$bindgen" generate --library "$lib" --language swift --out-dir "$out/swift" --no-format
echo "generated Kotlin in $out/kotlin and Swift in $out/swift from $lib"
