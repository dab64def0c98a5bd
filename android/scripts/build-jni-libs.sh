#!/usr/bin/env bash
# Builds libtandem_ffi.so for each Android ABI into the library's jniLibs, with cargo-ndk:
#
#   bash android/scripts/build-jni-libs.sh [PROFILE]        (default: release-mobile)
#
# Needs: rustup targets aarch64-linux-android armv7-linux-androideabi x86_64-linux-android,
# `cargo install cargo-ndk`, and ANDROID_NDK_HOME (or ANDROID_HOME with an NDK r27+ installed).
# Every .so is linked with 16 KB page alignment. The work is done by `cargo xtask android`
# (xtask/src/mobile.rs).
set -euo pipefail
cd "$(dirname "$0")/../.."
exec cargo xtask android "$@"
