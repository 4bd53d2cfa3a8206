#!/usr/bin/env bash
# Runs the cargo-fuzz targets (fuzz/fuzz_targets: sql, csv, jsonl) one after another, each for
# SECONDS (default 600), one libFuzzer process at a time, with debug assertions (integer
# overflow panics). Needs a nightly toolchain and `cargo install cargo-fuzz`.
#
#   bash scripts/fuzz.sh            # every target, 10 minutes each
#   bash scripts/fuzz.sh 60 sql     # one target, one minute
#
# New inputs go to fuzz/corpus-run/<target> (ignored by git), seeded from the committed
# fuzz/corpus/<target>. A crash stops the target and leaves its input in
# fuzz/artifacts/<target>/: copy it to fuzz/regressions/<target>/ (tests/fuzz_regressions.rs
# replays those on stable Rust in CI), fix the bug, and run again. To refresh the committed
# seeds: cargo +nightly fuzz cmin <target> fuzz/corpus/<target>.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
secs=${1:-600}
shift || true
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(sql csv jsonl)
for t in "${targets[@]}"; do
  mkdir -p "corpus-run/$t"
  echo "== fuzzing $t for ${secs}s" >&2
  cargo +nightly fuzz run --debug-assertions "$t" "corpus-run/$t" "corpus/$t" -- \
    -max_total_time="$secs" -rss_limit_mb=4096 -timeout=10 -print_final_stats=1
done
