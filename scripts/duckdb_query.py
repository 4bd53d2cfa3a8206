#!/usr/bin/env python3
"""Runs one SQL query in DuckDB over a CSV file and prints the result as CSV on stdout.

Usage: duckdb_query.py DATA.csv "SQL"   (the SQL reads the table `market_data`)

The oracle tests use it as the independent engine. Column types are fixed to shardsql's
market_data schema so that neither engine's type inference decides the answer.
"""
import csv
import sys

import duckdb

TYPES = {
    "trade_id": "BIGINT",
    "trader_id": "VARCHAR",
    "symbol": "VARCHAR",
    "price": "DOUBLE",
    "quantity": "BIGINT",
    "value": "DOUBLE",
    "trade_time": "BIGINT",
    "event_time": "BIGINT",
}


def main() -> None:
    data, sql = sys.argv[1], sys.argv[2]
    con = duckdb.connect()
    if len(sys.argv) > 3:
        con.execute(f"SET threads = {int(sys.argv[3])}")
    columns = ", ".join(f"'{k}': '{v}'" for k, v in TYPES.items())
    con.execute(
        f"CREATE VIEW market_data AS SELECT * FROM read_csv('{data}', header = true, columns = {{{columns}}})"
    )
    cur = con.execute(sql)
    out = csv.writer(sys.stdout, lineterminator="\n")
    out.writerow([d[0] for d in cur.description])
    while True:
        rows = cur.fetchmany(10000)
        if not rows:
            break
        # Booleans as shardsql writes them; NULL is an empty field either way.
        out.writerows(
            [("true" if v else "false") if isinstance(v, bool) else v for v in row]
            for row in rows
        )


if __name__ == "__main__":
    main()
