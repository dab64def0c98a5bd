#!/usr/bin/env bash
# Checks that every ELF shared library is aligned for 16 KB pages (Android 15+ devices with
# 16 KB pages; Google Play requires it for new apps): each PT_LOAD segment's alignment must be
# at least 16384 (2**14). A 4 KB-aligned .so fails to load on such a device.
#
#   bash android/scripts/check-16kb-alignment.sh PATH...
#
# PATH: a .so, a folder (searched for *.so), or an .aar/.apk/.aab/.jar (every .so inside is
# checked). Reads program headers with `readelf -lW`: the NDK's llvm-readelf when
# ANDROID_NDK_HOME is set (it reads every Android ABI), else the host's readelf (binutils
# reads the program headers of any ELF class). Exits 1 if any library is misaligned, 2 when
# there is nothing to check.
#
# Where it runs: the Gradle task `:tandem:check16kbAlignment` runs it on the release AAR (needs
# the SDK and NDK); CI runs it on the host build of libtandem_ffi.so (see android/README.md).
# JNA's x86_64 libjnidispatch.so, inside the jna AAR, is a known 4 KB-aligned library: run it
# on the app's APK to see what it packages.
set -euo pipefail

readelf_bin=readelf
if [ -n "${ANDROID_NDK_HOME:-}" ]; then
    found=$(ls "$ANDROID_NDK_HOME"/toolchains/llvm/prebuilt/*/bin/llvm-readelf 2>/dev/null | head -n 1 || true)
    [ -n "$found" ] && readelf_bin=$found
fi
command -v "$readelf_bin" >/dev/null || { echo "no readelf (install binutils or set ANDROID_NDK_HOME)" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
libs=()
for path in "$@"; do
    case "$path" in
        *.aar|*.apk|*.aab|*.jar|*.zip)
            dest="$work/$(basename "$path")"
            mkdir -p "$dest"
            unzip -q -o "$path" '*.so' -d "$dest" 2>/dev/null || true
            while IFS= read -r f; do libs+=("$f"); done < <(find "$dest" -name '*.so' -type f | sort) ;;
        *)
            if [ -d "$path" ]; then
                while IFS= read -r f; do libs+=("$f"); done < <(find "$path" -name '*.so' -type f | sort)
            else
                libs+=("$path")
            fi ;;
    esac
done
[ "${#libs[@]}" -gt 0 ] || { echo "no .so found in: $*" >&2; exit 2; }

bad=0
for lib in "${libs[@]}"; do
    # LOAD lines: Type Offset VirtAddr PhysAddr FileSiz MemSiz Flg Align (Flg may hold spaces)
    aligns=$("$readelf_bin" -lW "$lib" | awk '$1 == "LOAD" { print $NF }')
    if [ -z "$aligns" ]; then
        echo "FAIL  $lib: no LOAD segments (not an ELF shared library?)"
        bad=1
        continue
    fi
    smallest=$(for a in $aligns; do printf '%d\n' "$a"; done | sort -n | head -n 1)
    name=${lib#"$work"/}
    if [ "$smallest" -lt 16384 ]; then
        echo "FAIL  $name: LOAD segment aligned to $smallest bytes (< 16384)"
        bad=1
    else
        echo "ok    $name: LOAD segments aligned to >= $smallest bytes"
    fi
done
exit "$bad"
