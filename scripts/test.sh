#!/usr/bin/env bash
# The test command: installs what the tests need beyond cargo (DuckDB for the oracle tests),
# then checks formatting and lints and runs every test. `.ci/run` calls this script.
set -euo pipefail
cd "$(dirname "$0")/.."

# Each step says what it does as it starts: the first build alone takes minutes.
step() { echo "==> [$(date +%H:%M:%S)] $*" >&2; }

step "checking for DuckDB (the oracle tests' reference engine)"
if ! python3 -c "import duckdb" 2>/dev/null; then
  echo "installing DuckDB (the oracle tests' reference engine)..." >&2
  python3 -m pip install --quiet --disable-pip-version-check duckdb \
    || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages duckdb
fi

step "cargo fmt --check"
cargo fmt --check
step "cargo clippy (first run: builds the dependencies, ~1.5-3 min on 2 cores)"
cargo clippy --all-targets --quiet -- -D warnings
if cargo nextest --version >/dev/null 2>&1; then
  step "building the tests (~2.5-5 min on 2 cores the first time)"
  cargo nextest run --no-run
  step "running every test (cargo nextest; ~4-5 min on 2 cores)"
  cargo nextest run --no-fail-fast
  step "doc tests"
  cargo test --doc --quiet
else
  step "building and running every test (cargo test)"
  cargo test --no-fail-fast
fi
step "all tests passed"
