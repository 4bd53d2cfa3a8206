//! Oracle tests: the seed queries over a generated CSV, run by shardsql (1 and 4 shards,
//! reading the file) and by DuckDB (an independent engine) on the same file. DuckDB has no
//! streaming windows, so each query carries its DuckDB equivalent: tumbling windows become a
//! GROUP BY on `trade_time // 60000`, EMIT CHANGES becomes running window aggregates in
//! input order (op `+I` on a key's first row, `+U` after it), lateness becomes a filter on
//! the running maximum of earlier event times.
//! Numbers are compared parsed (floats within 1e-9 relative), not as text.

mod common;
use common::*;

const WINDOWED: &str = "SELECT trader_id, symbol, COUNT(*) AS trade_count, AVG(price) AS avg_price";

/// Each seed query with its DuckDB equivalent. `{late}` is replaced by the lateness filter.
fn equivalents() -> Vec<(&'static str, String)> {
    vec![
        (SEED_QUERIES[0], "SELECT * FROM market_data".into()),
        (
            SEED_QUERIES[1],
            "SELECT value, AVG(price) OVER (ORDER BY event_time, trade_id ROWS BETWEEN 100 PRECEDING AND CURRENT ROW) \
             AS moving_avg FROM ({rows_late}) ORDER BY event_time, trade_id"
                .into(),
        ),
        (
            SEED_QUERIES[2],
            format!("{WINDOWED} FROM market_data GROUP BY trader_id, symbol"),
        ),
        (
            SEED_QUERIES[3],
            format!("{WINDOWED} FROM ({{late}}) GROUP BY trader_id, symbol, trade_time // 60000"),
        ),
        (
            SEED_QUERIES[4],
            "SELECT CASE WHEN ROW_NUMBER() OVER w = 1 THEN '+I' ELSE '+U' END AS op, \
             trader_id, symbol, COUNT(*) OVER w AS trade_count, AVG(price) OVER w AS avg_price \
             FROM ({late}) WINDOW w AS (PARTITION BY trader_id, symbol, trade_time // 60000 ORDER BY trade_id \
             ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) ORDER BY trade_id"
                .into(),
        ),
    ]
}

/// The records SPEC §3 keeps: a record is late when its window's end is at or before the
/// maximum earlier event time minus the allowed lateness.
fn on_time(lateness_ms: i64) -> String {
    format!(
        "SELECT * FROM (SELECT *, max(trade_time) OVER (ORDER BY trade_id ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS wm \
         FROM market_data) WHERE wm IS NULL OR (trade_time // 60000) * 60000 + 60000 > wm - {lateness_ms}"
    )
}

/// The records a ROWS window ordered by event time keeps: a row is late when its event time is
/// below the maximum earlier event time minus the allowed lateness.
fn rows_on_time(lateness_ms: i64) -> String {
    format!(
        "SELECT * FROM (SELECT *, max(event_time) OVER (ORDER BY trade_id ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS wm \
         FROM market_data) WHERE wm IS NULL OR event_time >= wm - {lateness_ms}"
    )
}

fn check(name: &str, gen_args: &[&str], lateness_ms: i64) {
    let dir = scratch(&format!("oracle-{name}"));
    let csv = dir.join("t.csv");
    let mut args = vec!["gen", "--output", csv.to_str().unwrap()];
    args.extend_from_slice(gen_args);
    shardsql(&args);
    let lateness = format!("{lateness_ms}ms");
    for (query, duck_sql) in equivalents() {
        let expected = duckdb(
            &csv,
            &duck_sql
                .replace("{late}", &on_time(lateness_ms))
                .replace("{rows_late}", &rows_on_time(lateness_ms)),
        );
        for cores in ["1", "4"] {
            let (got, stats) = run_query(
                &dir,
                &format!("c{cores}"),
                query,
                &[
                    "--input",
                    csv.to_str().unwrap(),
                    "--cores",
                    cores,
                    "--allowed-lateness",
                    &lateness,
                    // DuckDB reads the generator's times as BIGINT epoch ms.
                    "--timestamps",
                    "epoch-ms",
                ],
            );
            assert_conserved(&stats, query);
            if let Err(e) = compare_seed(query, &expected, &got) {
                panic!("{name}: {query} at {cores} shard(s) differs from DuckDB: {e}");
            }
            let kept = if query.contains("tumbling") {
                Some(on_time(lateness_ms))
            } else if query.contains("rows_window") {
                Some(rows_on_time(lateness_ms))
            } else {
                None
            };
            if let Some(kept) = kept {
                let late = duckdb(&csv, "SELECT COUNT(*) FROM market_data").rows[0][0]
                    .parse::<u64>()
                    .unwrap()
                    - duckdb(&csv, &format!("SELECT COUNT(*) FROM ({kept})")).rows[0][0]
                        .parse::<u64>()
                        .unwrap();
                assert_eq!(
                    stats["late_dropped"].as_u64(),
                    Some(late),
                    "{name}: {query} late count"
                );
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn oracle_seed_queries_match_duckdb() {
    check(
        "seed7",
        &[
            "--records",
            "200000",
            "--seed",
            "7",
            "--traders",
            "50",
            "--symbols",
            "20",
        ],
        0,
    );
}

#[test]
fn oracle_seed_queries_with_disorder_and_lateness_match_duckdb() {
    check(
        "disorder",
        &[
            "--records",
            "120000",
            "--seed",
            "99",
            "--traders",
            "7",
            "--symbols",
            "3",
            "--disorder-ms",
            "20000",
        ],
        3000,
    );
}
