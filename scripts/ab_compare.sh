#!/usr/bin/env bash
# A/B throughput of two shardsql binaries on the seed queries, alternating runs, median of 3:
#   scripts/ab_compare.sh OLD_BINARY NEW_BINARY
# Preloaded generator input at 1 and 2 shards, then a 5M-record CSV (made by NEW's `gen`) at 2.
# Prints a Markdown table: base and new median records/s and their ratio.
set -u
OLD=$1; NEW=$2
cd "$(dirname "$0")/.."
stats=$(mktemp); csv=${CSV:-/tmp/ab5m.csv}
run() { "$1" "${@:2}" --output null --stats "$stats" >/dev/null 2>&1 && python3 -c "import json,sys;print(json.load(open(sys.argv[1]))['records_per_s'])" "$stats"; }
med() { python3 -c "import sys,statistics as s;v=[float(x) for x in sys.argv[1:]];print(f'{s.median(v)/1e6:.1f}')" "$@"; }
echo "| case | base M rec/s | this M rec/s | ratio |"
echo "|---|---|---|---|"
case_() { local name="$1"; shift; local o=() n=()
  for _ in 1 2 3; do o+=("$(run "$OLD" "$@")"); n+=("$(run "$NEW" "$@")"); done
  local mo mn; mo=$(med "${o[@]}"); mn=$(med "${n[@]}")
  echo "| $name | $mo | $mn | $(python3 -c "print(f'{$mn/$mo:.2f}')") |"; }
for q in 01_passthrough 02_rows_window 03_group_by 04_tumbling 05_tumbling_emit_changes; do
  for c in 1 2; do case_ "$q v2 $c (preloaded 20M)" --query "queries/$q.sql" --records 20000000 --preload --cores "$c"; done
done
[ -f "$csv" ] || "$NEW" gen --records 5000000 --output "$csv"
for q in 01_passthrough 03_group_by 05_tumbling_emit_changes; do
  case_ "$q v2 2 (from 5M-record CSV)" --query "queries/$q.sql" --input "$csv" --cores 2
done
rm -f "$stats"
