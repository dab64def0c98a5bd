#!/usr/bin/env bash
# Tests check-16kb-alignment.sh on the host (no NDK): two shared libraries built here from the
# same C file, linked with 4 KB and with 16 KB maximum page size, must fail and pass; an
# archive holding both must fail and name the bad one. Then reports (without failing) on the
# host build of libtandem_ffi.so and on the JNA jar's libjnidispatch.so files, to show what
# the check prints for real libraries.
set -euo pipefail
cd "$(dirname "$0")/../.."
check=android/scripts/check-16kb-alignment.sh
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
printf 'int tandem_probe(void) { return 16; }\n' > "$work/probe.c"
cc -shared -fPIC -Wl,-z,max-page-size=4096 -o "$work/lib4k.so" "$work/probe.c"
cc -shared -fPIC -Wl,-z,max-page-size=16384 -o "$work/lib16k.so" "$work/probe.c"

bash "$check" "$work/lib16k.so" > /dev/null || { echo "FAIL: a 16 KB-aligned library was refused" >&2; exit 1; }
if bash "$check" "$work/lib4k.so" > /dev/null; then echo "FAIL: a 4 KB-aligned library passed" >&2; exit 1; fi
mkdir -p "$work/aar/jni/x86_64" "$work/aar/jni/arm64-v8a"
cp "$work/lib4k.so" "$work/aar/jni/x86_64/libbad.so"
cp "$work/lib16k.so" "$work/aar/jni/arm64-v8a/libgood.so"
(cd "$work/aar" && zip -q -r ../fake.aar jni)
if out=$(bash "$check" "$work/fake.aar"); then echo "FAIL: an AAR with a 4 KB library passed" >&2; exit 1; fi
grep -q "FAIL .*x86_64/libbad.so" <<< "$out" || { echo "FAIL: the bad library is not named: $out" >&2; exit 1; }
grep -q "ok .*arm64-v8a/libgood.so" <<< "$out" || { echo "FAIL: the good library is not listed: $out" >&2; exit 1; }
echo "16 KB alignment check: 4 KB refused, 16 KB accepted, archives searched (3 checks)"

echo "-- for information (not a failure): the host build and JNA's desktop jar"
lib=target/debug/libtandem_ffi.so
[ -f "$lib" ] && { bash "$check" "$lib" || true; }
jna=$(ls ~/.m2/repository/net/java/dev/jna/jna/*/jna-*.jar 2>/dev/null | grep -v sources | head -n 1 || true)
[ -n "$jna" ] && { bash "$check" "$jna" | grep -E 'linux-(x86-64|aarch64)' || true; }
