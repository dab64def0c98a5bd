#!/usr/bin/env bash
# Desktop verification of the Android library's Kotlin (what CI runs):
#   1. builds the host cdylib (libtandem_ffi.so) and the `tandem` CLI (the edge server);
#   2. generates the Kotlin bindings from that library;
#   3. compiles generated + hand-written Kotlin with Maven and runs the JUnit 5 tests against
#      the library, with a real `tandem edge` on loopback, and the Robolectric tests of the
#      Android platform signals.
# Maven downloads its plugins and dependencies on the first run (to ~/.m2); later runs are
# offline-capable. Set MAVEN_ARGS for extra flags (e.g. -o once ~/.m2 is warm).
set -euo pipefail
cd "$(dirname "$0")/../.."
root="$(pwd)"

if ! command -v mvn >/dev/null || ! command -v javac >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "== installing Maven and a JDK (apt)"
    apt-get update -qq && apt-get install -y -qq maven default-jdk-headless >/dev/null
  else
    echo "test-kotlin.sh: needs Maven (mvn) and a JDK 17+" >&2
    exit 1
  fi
fi

echo "== build libtandem_ffi and the tandem CLI (the whole workspace, as cargo test resolves it)"
cargo build --quiet --workspace --all-targets
echo "== generate Kotlin bindings"
TANDEM_BUILD_ALL=1 bash bindings/scripts/generate.sh target/uniffi kotlin

echo "== mvn test (android/jvm-test)"
# shellcheck disable=SC2086 # MAVEN_ARGS is a list of flags
mvn -q -B -Dstyle.color=never ${MAVEN_ARGS:-} -f android/jvm-test/pom.xml test \
  -Duniffi.kotlin.dir="$root/target/uniffi/kotlin" \
  -Dtandem.lib.dir="$root/target/debug" \
  -Dtandem.cli="$root/target/debug/tandem" \
  -Dtandem.models="$root/models"

# Surefire is quiet with -q: print its totals so the run shows what it ran.
python3 - "$root/android/jvm-test/target/surefire-reports" <<'PY'
import glob, sys, xml.etree.ElementTree as ET
tests = failures = errors = skipped = 0
for f in glob.glob(sys.argv[1] + "/TEST-*.xml"):
    s = ET.parse(f).getroot()
    tests += int(s.get("tests", 0)); failures += int(s.get("failures", 0))
    errors += int(s.get("errors", 0)); skipped += int(s.get("skipped", 0))
print(f"kotlin: {tests - failures - errors - skipped} passed, {failures + errors} failed, {skipped} skipped")
sys.exit(1 if tests == 0 or failures + errors else 0)
PY
