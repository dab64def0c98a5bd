#!/usr/bin/env bash
# Builds ios/TandemFFI.xcframework and the Swift bindings, on macOS with Xcode:
#   rustup target add aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios
#   bash ios/scripts/build-xcframework.sh [PROFILE]          (default: release-mobile)
#
# The work is done by `cargo xtask ios` (xtask/src/mobile.rs): cargo builds libtandem_ffi.a
# for devices and simulators, lipo joins the simulator slices, uniffi-bindgen writes the Swift
# sources (into ios/Sources/Tandem/Generated), the headers and the module map, and xcodebuild
# packs the XCFramework.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec cargo xtask ios "$@"
