#!/usr/bin/env bash
# Builds the release binary once and runs sweeps end to end:
#   scripts/bench.sh [CONFIG.yaml ...]     (default: bench-configs/seed-scenarios.yaml)
# Each sweep prints its matrix and writes results/<name>/ (results.csv, results.json,
# report.md, hgrm/, throughput-*.svg).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
configs=("$@")
[ ${#configs[@]} -gt 0 ] || configs=(bench-configs/seed-scenarios.yaml)
for c in "${configs[@]}"; do
  ./target/release/shardsql bench "$c"
done
