#!/usr/bin/env bash
# Samples a command's resident memory (VmRSS of the process, from /proc) every INTERVAL
# seconds while it runs, then prints the samples, the peak (VmHWM) and the command's status.
#
#   scripts/rss.sh 0.5 ./target/release/shardsql --query queries/04_tumbling.sql \
#       --records 100000000 --cores 2 --output null
#
# Output (on stderr, so the command's stdout can be piped on): one line per sample,
# `elapsed_s rss_mib`, then `peak_mib N` and `status N`. With STOP_AFTER=S in the environment
# the command gets SIGINT after S seconds (a graceful stop: see RELIABILITY.md).
set -uo pipefail
interval=$1
shift
"$@" &
pid=$!
start=$(date +%s.%N)
peak=0
stopped=0
while kill -0 "$pid" 2>/dev/null; do
  if rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null) && [ -n "$rss" ]; then
    hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
    [ -n "$hwm" ] && [ "$hwm" -gt "$peak" ] && peak=$hwm
    now=$(date +%s.%N)
    awk -v t="$now" -v s="$start" -v r="$rss" 'BEGIN { printf "%.1f %.1f\n", t - s, r / 1024 }' >&2
    if [ -n "${STOP_AFTER:-}" ] && [ "$stopped" = 0 ] &&
      awk -v t="$now" -v s="$start" -v l="$STOP_AFTER" 'BEGIN { exit !(t - s >= l) }'; then
      kill -INT "$pid"
      stopped=1
    fi
  fi
  sleep "$interval"
done
wait "$pid"
status=$?
awk -v p="$peak" 'BEGIN { printf "peak_mib %.1f\n", p / 1024 }' >&2
echo "status $status" >&2
