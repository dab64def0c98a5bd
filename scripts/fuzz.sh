#!/usr/bin/env bash
# Fuzzes the request decoder (tandem_protocol::wire::decode_infer_request) for a bounded time.
#
#   bash scripts/fuzz.sh [SECONDS]      # default 60
#
# Always (stable): replays the committed seeds and corpus (crates/protocol/fuzz/{seeds,corpus})
# through the decoder: `cargo test -p tandem-protocol --test fuzz_corpus`.
# Then, only when a nightly toolchain is installed: installs cargo-fuzz if missing
# (`cargo install cargo-fuzz --locked`, from crates.io) and runs the `decode_request` target
# for SECONDS from the seeds and the corpus. New inputs go to a scratch corpus under
# target/, so the committed corpus only changes by hand. A crash fails the script and leaves
# its input in crates/protocol/fuzz/artifacts/.
set -euo pipefail
seconds="${1:-60}"
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

cargo test -q -p tandem-protocol --test fuzz_corpus

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
cargo +nightly fuzz run decode_request "$scratch" corpus/decode_request seeds/decode_request -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=65536
