#!/usr/bin/env bash
# The test command: installs what the tests need beyond cargo (DuckDB for the oracle tests),
# then checks formatting and lints and runs every test. `.ci/run` calls this script.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! python3 -c "import duckdb" 2>/dev/null; then
  echo "installing DuckDB (the oracle tests' reference engine)..." >&2
  python3 -m pip install --quiet --disable-pip-version-check duckdb \
    || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages duckdb
fi

cargo fmt --check
cargo clippy --all-targets --quiet -- -D warnings
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --no-fail-fast
  cargo test --doc --quiet
else
  cargo test --no-fail-fast
fi
