#!/usr/bin/env bash
# shardsql and DuckDB side by side on the five seed queries over one generated CSV, at the
# same thread count, in memory and from the file; prints times and ratios (DuckDB time /
# shardsql time: above 1 means shardsql is faster).
#   scripts/compare-duckdb.sh [RECORDS=5000000] [THREADS=2] [REPS=3]
set -euo pipefail
cd "$(dirname "$0")/.."
records=${1:-5000000}
threads=${2:-2}
reps=${3:-3}
python3 -c "import duckdb" 2>/dev/null || python3 -m pip install --quiet duckdb
cargo build --release --quiet
data=$(mktemp -d)/trades.csv
./target/release/shardsql gen --records "$records" --output "$data"
python3 scripts/compare_duckdb.py ./target/release/shardsql "$data" "$threads" "$reps"
rm -rf "$(dirname "$data")"
