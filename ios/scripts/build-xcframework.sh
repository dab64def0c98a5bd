#!/usr/bin/env bash
# Builds ios/TandemFFI.xcframework and the Swift bindings, on macOS with Xcode:
#   rustup target add aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios
#   bash ios/scripts/build-xcframework.sh [PROFILE]          (default: release-mobile)
#
# 1. cargo builds libtandem_ffi.a for devices (arm64) and simulators (arm64, x86_64);
# 2. lipo joins the two simulator slices;
# 3. uniffi-bindgen (from the host build) writes the Swift bindings, the C header and the
#    module map;
# 4. xcodebuild -create-xcframework packs the libraries with the header and module map.
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ "$(uname -s)" != Darwin ] || ! command -v xcodebuild >/dev/null; then
  echo "build-xcframework.sh: needs macOS with Xcode (xcodebuild, lipo)" >&2
  exit 1
fi

profile="${1:-release-mobile}"
export IPHONEOS_DEPLOYMENT_TARGET="${IPHONEOS_DEPLOYMENT_TARGET:-15.0}"
work="target/ios"
rm -rf "$work"
mkdir -p "$work/headers" "$work/simulator"

for target in aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios; do
  echo "== cargo build --target $target --profile $profile"
  cargo build -p tandem-bindings --lib --target "$target" --profile "$profile"
done

echo "== lipo (simulators)"
lipo -create \
  "target/aarch64-apple-ios-sim/$profile/libtandem_ffi.a" \
  "target/x86_64-apple-ios/$profile/libtandem_ffi.a" \
  -output "$work/simulator/libtandem_ffi.a"

echo "== uniffi-bindgen swift"
bash bindings/scripts/generate.sh target/uniffi swift
cp target/uniffi/swift/TandemFFI.h "$work/headers/"
# inside an XCFramework the module map must be called module.modulemap
cp target/uniffi/swift/TandemFFI.modulemap "$work/headers/module.modulemap"
mkdir -p ios/Sources/Tandem/Generated
# renamed from Tandem.swift: the hand-written API has a Tandem.swift, and one target cannot
# hold two files of the same name
cp target/uniffi/swift/Tandem.swift ios/Sources/Tandem/Generated/TandemBindings.swift

echo "== xcodebuild -create-xcframework"
rm -rf ios/TandemFFI.xcframework
xcodebuild -create-xcframework \
  -library "target/aarch64-apple-ios/$profile/libtandem_ffi.a" -headers "$work/headers" \
  -library "$work/simulator/libtandem_ffi.a" -headers "$work/headers" \
  -output ios/TandemFFI.xcframework

echo "built ios/TandemFFI.xcframework and ios/Sources/Tandem/Generated/TandemBindings.swift"
