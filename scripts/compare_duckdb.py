#!/usr/bin/env python3
"""Times shardsql and DuckDB side by side on the five seed queries over one generated file,
CSV (`.csv`) or JSON lines (`.jsonl`).

Usage: compare_duckdb.py SHARDSQL_BINARY DATA.csv|DATA.jsonl THREADS [REPS]

Two settings, both with the same thread count (`--cores N` / `SET threads = N`):
- in memory: shardsql `--input DATA.csv --preload` (its clock starts after parsing) against
  DuckDB over a table loaded from the CSV beforehand;
- from the file: shardsql parsing the file as it runs against DuckDB querying read_csv() or
  read_json() with the same column types.
Both engines form every result row: shardsql into its null sink, DuckDB into a temporary
table (CREATE TEMP TABLE ... AS). Each time is the median of REPS runs (default 3).

Before each run from the file, either engine's, the file is read once whole, so both read it
from the page cache: on a VM whose kernel pages out cold page cache (DAMON's `pageout`), a
run would otherwise time the disk as often as the parser. From-file rows also give shardsql's
bytes per second per thread (`cargo bench --bench readers` sets the readers' bytes per second
beside a memchr scan of the same bytes, in one run).
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import duckdb

QUERIES = {
    "01_passthrough": "SELECT * FROM {src}",
    "02_rows_window": "SELECT value, AVG(price) OVER (ORDER BY event_time, trade_id ROWS BETWEEN 100 PRECEDING AND CURRENT ROW) AS moving_avg FROM {src}",
    "03_group_by": "SELECT trader_id, symbol, COUNT(*) AS trade_count, AVG(price) AS avg_price FROM {src} GROUP BY trader_id, symbol",
    "04_tumbling": "SELECT trader_id, symbol, COUNT(*) AS trade_count, AVG(price) AS avg_price FROM {src} GROUP BY trader_id, symbol, trade_time // 60000",
    "05_tumbling_emit_changes": "SELECT CASE WHEN ROW_NUMBER() OVER w = 1 THEN '+I' ELSE '+U' END AS op, "
    "trader_id, symbol, COUNT(*) OVER w AS trade_count, AVG(price) OVER w AS avg_price FROM {src} "
    "WINDOW w AS (PARTITION BY trader_id, symbol, trade_time // 60000 ORDER BY trade_id ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)",
}
TYPES = "{'trade_id': 'BIGINT', 'trader_id': 'VARCHAR', 'symbol': 'VARCHAR', 'price': 'DOUBLE', 'quantity': 'BIGINT', 'value': 'DOUBLE', 'trade_time': 'BIGINT', 'event_time': 'BIGINT'}"


def shardsql_time(binary, data, query, threads, preload):
    with tempfile.NamedTemporaryFile(suffix=".json") as stats:
        args = [binary, "--query", f"queries/{query}.sql", "--input", data, "--cores", str(threads),
                "--output", "null", "--stats", stats.name]
        if preload:
            args.append("--preload")
        subprocess.run(args, check=True, stderr=subprocess.DEVNULL)
        return json.load(open(stats.name))["elapsed_s"]


def warm(data):
    """Reads the file once whole, so that the timed run reads it from the page cache."""
    with open(data, "rb") as f:
        while f.read(1 << 24):
            pass


def duckdb_time(con, sql):
    start = time.perf_counter()
    con.execute(f"CREATE OR REPLACE TEMP TABLE result AS {sql}")
    return time.perf_counter() - start


def main():
    binary, data, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
    reps = int(sys.argv[4]) if len(sys.argv) > 4 else 3
    con = duckdb.connect()
    con.execute(f"SET threads = {threads}")
    if data.endswith(".jsonl"):
        file_src = f"read_json('{data}', format = 'newline_delimited', columns = {TYPES})"
    else:
        file_src = f"read_csv('{data}', header = true, columns = {TYPES})"
    con.execute(f"CREATE TABLE market_data AS SELECT * FROM {file_src}")
    records = con.execute("SELECT COUNT(*) FROM market_data").fetchone()[0]
    size = os.path.getsize(data)
    print(f"{data.rsplit('.', 1)[-1]}: {records} records ({size / 1e6:.0f} MB), {threads} thread(s), DuckDB {duckdb.__version__}, median of {reps} runs")
    print(f"{'query':<26} {'setting':<10} {'shardsql s':>11} {'DuckDB s':>10} {'shardsql M rec/s':>17} {'DuckDB M rec/s':>15} {'ratio':>7} {'shardsql MB/s/thread':>21}")
    for name, sql in QUERIES.items():
        for setting, preload, src in [("in memory", True, "market_data"), ("from file", False, file_src)]:
            def ours_once():
                if not preload:
                    warm(data)
                return shardsql_time(binary, data, name, threads, preload)

            def theirs_once():
                if not preload:
                    warm(data)
                return duckdb_time(con, sql.format(src=src))

            ours = statistics.median(ours_once() for _ in range(reps))
            theirs = statistics.median(theirs_once() for _ in range(reps))
            per_thread = "" if preload else f"{size / ours / threads / 1e6:>21.0f}"
            print(f"{name:<26} {setting:<10} {ours:>11.3f} {theirs:>10.3f} {records / ours / 1e6:>17.1f} "
                  f"{records / theirs / 1e6:>15.1f} {theirs / ours:>6.1f}x {per_thread}")

if __name__ == "__main__":
    main()
