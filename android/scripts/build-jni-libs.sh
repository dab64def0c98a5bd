#!/usr/bin/env bash
# Builds libtandem_ffi.so for each Android ABI into the library's jniLibs, with cargo-ndk.
#
#   bash android/scripts/build-jni-libs.sh [PROFILE]        (default: release-mobile)
#
# Needs: rustup targets aarch64-linux-android armv7-linux-androideabi x86_64-linux-android,
# `cargo install cargo-ndk`, and ANDROID_NDK_HOME (or ANDROID_HOME with an NDK r27+ installed).
# Every .so is linked with 16 KB page alignment (required for Android 15+ devices with 16 KB
# pages, and for Play from November 2025).
set -euo pipefail
cd "$(dirname "$0")/../.."

profile="${1:-release-mobile}"
out="android/tandem/src/main/jniLibs"
align="-C link-arg=-Wl,-z,max-page-size=16384"

# Per-target flags, so a user's own RUSTFLAGS and host builds (build scripts) are untouched.
export CARGO_TARGET_AARCH64_LINUX_ANDROID_RUSTFLAGS="${CARGO_TARGET_AARCH64_LINUX_ANDROID_RUSTFLAGS:-} $align"
export CARGO_TARGET_ARMV7_LINUX_ANDROIDEABI_RUSTFLAGS="${CARGO_TARGET_ARMV7_LINUX_ANDROIDEABI_RUSTFLAGS:-} $align"
export CARGO_TARGET_X86_64_LINUX_ANDROID_RUSTFLAGS="${CARGO_TARGET_X86_64_LINUX_ANDROID_RUSTFLAGS:-} $align"

cargo ndk \
  -t arm64-v8a -t armeabi-v7a -t x86_64 \
  --platform 26 \
  -o "$out" \
  build --profile "$profile" -p tandem-bindings

echo "built libtandem_ffi.so ($profile) into $out/{arm64-v8a,armeabi-v7a,x86_64}"
