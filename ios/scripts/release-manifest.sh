#!/usr/bin/env bash
# Packs ios/TandemFFI.xcframework for a release and writes the SwiftPM manifest that apps
# consume: the same package as ios/Package.swift, with the XCFramework as a remote binary
# target (url + checksum) instead of a local path, so an app needs no Rust toolchain.
#
#   bash ios/scripts/release-manifest.sh VERSION URL_BASE [XCFRAMEWORK_ZIP] [OUT_DIR]
#
# VERSION: e.g. 0.1.0. URL_BASE: where the release's files will be downloadable, e.g.
# https://github.com/OWNER/tandem/releases/download/v0.1.0. XCFRAMEWORK_ZIP: an existing zip;
# default: zips ios/TandemFFI.xcframework (built by build-xcframework.sh on macOS) into
# OUT_DIR/TandemFFI-VERSION.xcframework.zip. OUT_DIR (default target/ios-release) receives the
# zip and Package.swift. The checksum is the zip's SHA-256, what `swift package
# compute-checksum` prints (that command is used when swift is on the PATH).
#
# Tested on a fake zip by ios/scripts/test-release-manifest.sh (CI has no Apple toolchain).
set -euo pipefail
cd "$(dirname "$0")/../.."
[ $# -ge 2 ] || { sed -n '2,16p' "$0" >&2; exit 2; }
version=$1
url_base=${2%/}
out=${4:-target/ios-release}
mkdir -p "$out"
zip_name="TandemFFI-$version.xcframework.zip"

if [ $# -ge 3 ] && [ -n "$3" ]; then
    [ -f "$3" ] || { echo "no such zip: $3" >&2; exit 1; }
    [ "$(cd "$(dirname "$3")" && pwd)/$(basename "$3")" = "$(cd "$out" && pwd)/$zip_name" ] || cp "$3" "$out/$zip_name"
else
    [ -d ios/TandemFFI.xcframework ] || { echo "build ios/TandemFFI.xcframework first (ios/scripts/build-xcframework.sh)" >&2; exit 1; }
    rm -f "$out/$zip_name"
    (cd ios && zip -q -r -y "../$out/$zip_name" TandemFFI.xcframework)
fi

if command -v swift >/dev/null 2>&1; then
    checksum=$(swift package compute-checksum "$out/$zip_name")
elif command -v sha256sum >/dev/null 2>&1; then
    checksum=$(sha256sum "$out/$zip_name" | cut -d' ' -f1)
else
    checksum=$(shasum -a 256 "$out/$zip_name" | cut -d' ' -f1)
fi

cat > "$out/Package.swift" <<MANIFEST
// swift-tools-version:5.9
// Tandem $version: release manifest written by ios/scripts/release-manifest.sh. The Rust core
// is a prebuilt XCFramework, downloaded and checked by SwiftPM (checksum = SHA-256 of the zip).
import PackageDescription

let package = Package(
    name: "TandemKit",
    platforms: [.iOS(.v15)],
    products: [
        .library(name: "TandemKit", targets: ["TandemKit"]),
    ],
    targets: [
        .binaryTarget(
            name: "TandemFFI",
            url: "$url_base/$zip_name",
            checksum: "$checksum"
        ),
        .target(
            name: "TandemKit",
            dependencies: ["TandemFFI"],
            path: "Sources/Tandem"
        ),
    ]
)
MANIFEST
echo "wrote $out/Package.swift (TandemFFI: $url_base/$zip_name, checksum $checksum)"
echo "publish: the zip at that URL, and Package.swift with ios/Sources/ in a tag of the package repository"
