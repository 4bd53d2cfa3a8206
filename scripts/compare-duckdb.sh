#!/usr/bin/env bash
# shardsql and DuckDB side by side on the five seed queries over one generated file per format
# (CSV and JSON lines), at the same thread count, in memory and from the file; prints times and
# ratios (DuckDB time / shardsql time: above 1 means shardsql is faster).
#   scripts/compare-duckdb.sh [RECORDS=5000000] [THREADS=2] [REPS=3] [FORMATS="csv jsonl"]
set -euo pipefail
cd "$(dirname "$0")/.."
records=${1:-5000000}
threads=${2:-2}
reps=${3:-3}
formats=${4:-csv jsonl}
python3 -c "import duckdb" 2>/dev/null || python3 -m pip install --quiet duckdb
cargo build --release --quiet
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
for format in $formats; do
  ./target/release/shardsql gen --records "$records" --output "$dir/trades.$format"
  python3 scripts/compare_duckdb.py ./target/release/shardsql "$dir/trades.$format" "$threads" "$reps"
  rm -f "$dir/trades.$format"
done
