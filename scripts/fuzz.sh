#!/usr/bin/env bash
# Fuzzes the request decoder (tandem_protocol::wire::decode_infer_request) for a bounded time.
#
#   bash scripts/fuzz.sh [SECONDS]      # default 60
#
# Always (stable): replays the committed seeds and corpus (crates/protocol/fuzz/{seeds,corpus})
# through the decoder: `cargo test --workspace --test fuzz_corpus` (the workspace's features: no rebuild).
# Then, only when a nightly toolchain is installed: installs cargo-fuzz if missing
# (`cargo install cargo-fuzz --locked`, from crates.io) and runs the `decode_request` target
# for SECONDS from the seeds and the corpus. New inputs go to a scratch corpus under
# target/, so the committed corpus only changes by hand. A crash fails the script and leaves
# its input in crates/protocol/fuzz/artifacts/.
#
# Build flags: FUZZ_BUILD_FLAGS, default "--dev -s none": the dev profile (overflow checks and
# debug assertions on) without a sanitizer, which builds in about 3 min on 2 cores with tract
# and runs about 1,300 inputs/s; the decoder is safe Rust, so AddressSanitizer adds little.
# For a long run: FUZZ_BUILD_FLAGS="-O" bash scripts/fuzz.sh 3600.
set -euo pipefail
seconds="${1:-60}"
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

cargo test -q --workspace --test fuzz_corpus

if ! rustup toolchain list 2>/dev/null | grep -q nightly; then
    echo "fuzz.sh: no nightly toolchain: corpus replayed, fuzzing skipped"
    exit 0
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi
scratch="$root/target/fuzz-corpus/decode_request"
mkdir -p "$scratch"
cd crates/protocol/fuzz
# shellcheck disable=SC2086
cargo +nightly fuzz run ${FUZZ_BUILD_FLAGS:---dev -s none} decode_request "$scratch" corpus/decode_request seeds/decode_request -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=65536
