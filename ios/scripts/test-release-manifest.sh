#!/usr/bin/env bash
# Tests release-manifest.sh without an Apple toolchain: a fake XCFramework zip must give a
# manifest whose binary target has the release URL and the zip's SHA-256 (what SwiftPM checks);
# the manifest is then parsed with the project's Swift syntax check (tree-sitter-swift).
set -euo pipefail
cd "$(dirname "$0")/../.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/TandemFFI.xcframework/ios-arm64"
printf 'not a real library\n' > "$work/TandemFFI.xcframework/ios-arm64/libtandem_ffi.a"
(cd "$work" && zip -q -r fake.zip TandemFFI.xcframework)
want=$(sha256sum "$work/fake.zip" | cut -d' ' -f1)
bash ios/scripts/release-manifest.sh 9.8.7 https://example.invalid/releases/v9.8.7/ "$work/fake.zip" "$work/out" > /dev/null
manifest="$work/out/Package.swift"
grep -q 'url: "https://example.invalid/releases/v9.8.7/TandemFFI-9.8.7.xcframework.zip"' "$manifest" \
    || { cat "$manifest" >&2; echo "FAIL: url" >&2; exit 1; }
grep -q "checksum: \"$want\"" "$manifest" || { cat "$manifest" >&2; echo "FAIL: checksum" >&2; exit 1; }
cmp "$work/fake.zip" "$work/out/TandemFFI-9.8.7.xcframework.zip"
python=${TANDEM_VENV:-/tmp/tandem-ci-venv}/bin/python
"$python" bindings/scripts/parse_swift.py "$manifest"
echo "release manifest: url, checksum and zip right, manifest parses (4 checks)"
