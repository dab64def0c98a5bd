#!/usr/bin/env bash
# Tests the gradlew bootstrap (android/gradlew, sample-apps/android-faceid/gradlew) without
# Gradle: a fake distribution zip whose bin/gradle prints its arguments, served from a file:
# URL. Checks that a matching SHA-256 runs it with the arguments, that a wrong one refuses it,
# and that both projects carry the same script and the same pinned properties.
set -euo pipefail
cd "$(dirname "$0")/../.."
cmp android/gradlew sample-apps/android-faceid/gradlew
cmp android/gradle/wrapper/gradle-wrapper.properties sample-apps/android-faceid/gradle/wrapper/gradle-wrapper.properties
grep -q '^distributionSha256Sum=[0-9a-f]\{64\}$' android/gradle/wrapper/gradle-wrapper.properties

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/dist/gradle-0.0-fake/bin" "$work/project/gradle/wrapper"
printf '#!/bin/sh\necho "fake gradle: $*"\n' > "$work/dist/gradle-0.0-fake/bin/gradle"
chmod +x "$work/dist/gradle-0.0-fake/bin/gradle"
(cd "$work/dist" && zip -q -r ../gradle-0.0-fake-bin.zip gradle-0.0-fake)
sum=$(sha256sum "$work/gradle-0.0-fake-bin.zip" | cut -d' ' -f1)
cp android/gradlew "$work/project/gradlew"

props() {
    printf 'distributionUrl=file:%s\ndistributionSha256Sum=%s\n' "$work/gradle-0.0-fake-bin.zip" "$1" \
        > "$work/project/gradle/wrapper/gradle-wrapper.properties"
}

props "$(printf '0%.0s' {1..64})"
if GRADLE_USER_HOME="$work/home" "$work/project/gradlew" tasks 2> "$work/err"; then
    echo "FAIL: a distribution with the wrong checksum was run" >&2; exit 1
fi
grep -q "refused" "$work/err" || { cat "$work/err" >&2; echo "FAIL: no refusal message" >&2; exit 1; }

props "$sum"
out=$(GRADLE_USER_HOME="$work/home" "$work/project/gradlew" :tandem:assembleRelease --offline 2>/dev/null)
[ "$out" = "fake gradle: -p $work/project :tandem:assembleRelease --offline" ] || { echo "FAIL: got '$out'" >&2; exit 1; }
# a second run uses the unpacked distribution without downloading it again
rm "$work/gradle-0.0-fake-bin.zip"
out=$(GRADLE_USER_HOME="$work/home" "$work/project/gradlew" help 2>/dev/null)
[ "$out" = "fake gradle: -p $work/project help" ] || { echo "FAIL: second run got '$out'" >&2; exit 1; }
echo "gradlew bootstrap: checksum enforced, distribution cached, arguments passed (3 checks)"
