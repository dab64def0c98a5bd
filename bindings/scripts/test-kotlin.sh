#!/usr/bin/env bash
# Desktop verification of the Android library's Kotlin (what CI runs): builds the host cdylib
# and the `tandem` CLI, generates the Kotlin bindings, and runs the JUnit 5 and Robolectric
# tests with Maven against the library and a real `tandem edge` on loopback. Maven downloads
# its plugins and dependencies on the first run (to ~/.m2). Set MAVEN_ARGS for extra flags
# (e.g. -o once ~/.m2 is warm). The work is done by `cargo xtask kotlin` (xtask/src/bindings.rs).
set -euo pipefail
cd "$(dirname "$0")/../.."
exec cargo xtask kotlin "$@"
