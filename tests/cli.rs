//! End-to-end tests of the command line: the stats JSON, the generator's output, input and
//! output formats, explain, and the errors a user sees.

mod common;
use common::*;
use std::io::Write;
use std::process::{Command, Stdio};

#[test]
fn stats_json_has_every_field_in_every_mode() {
    let dir = scratch("cli-stats");
    for mode in ["v1", "mutex", "v2"] {
        for q in SEED_QUERIES {
            let (_, s) = run_query(
                &dir,
                mode,
                q,
                &[
                    "--mode",
                    mode,
                    "--cores",
                    "2",
                    "--records",
                    "20000",
                    "--preload",
                ],
            );
            for key in [
                "records_in",
                "rows_out",
                "late_dropped",
                "malformed",
                "elapsed_s",
                "records_per_s",
                "mode",
                "cores",
                "host_cpus",
                "shards",
            ] {
                assert!(!s[key].is_null(), "{mode} {q}: stats lack `{key}`: {s}");
            }
            assert_eq!(s["records_in"], 20000);
            assert_eq!(s["mode"], mode);
            let shards = s["shards"].as_array().unwrap();
            assert_eq!(shards.len(), if mode == "v1" { 1 } else { 2 });
            assert!(
                shards
                    .iter()
                    .all(|x| x["id"].is_u64() && x["records"].is_u64())
            );
            assert_conserved(&s, q);
        }
    }
}

#[test]
fn gen_writes_the_documented_header_and_is_deterministic() {
    let a = shardsql(&["gen", "--records", "1000", "--seed", "5"]).stdout;
    let b = shardsql(&["gen", "--records", "1000", "--seed", "5"]).stdout;
    let c = shardsql(&["gen", "--records", "1000", "--seed", "6"]).stdout;
    assert_eq!(a, b);
    assert_ne!(a, c);
    let t = read_csv_text(&a);
    assert_eq!(
        t.header.join(","),
        "trade_id,trader_id,symbol,price,quantity,value,trade_time,event_time"
    );
    assert_eq!(t.rows.len(), 1000);
}

#[test]
fn stdin_and_json_lines_round_trip() {
    let dir = scratch("cli-jsonl");
    let csv = shardsql(&["gen", "--records", "3000", "--seed", "9"]).stdout;
    let mut child = Command::new(env!("CARGO_BIN_EXE_shardsql"))
        .args(["--query", SEED_QUERIES[2], "--input", "-", "--cores", "2"])
        .current_dir(repo())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&csv).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let from_stdin = read_csv_text(&out.stdout);

    let jsonl = dir.join("in.jsonl");
    shardsql(&[
        "gen",
        "--records",
        "3000",
        "--seed",
        "9",
        "--output",
        jsonl.to_str().unwrap(),
    ]);
    let (from_jsonl, _) = run_query(
        &dir,
        "jsonl",
        SEED_QUERIES[2],
        &["--input", jsonl.to_str().unwrap()],
    );
    assert_eq!(same_multiset(&from_stdin, &from_jsonl), Ok(()));

    let out = dir.join("out.jsonl");
    shardsql(&[
        "--query",
        SEED_QUERIES[2],
        "--records",
        "3000",
        "--seed",
        "9",
        "--output",
        out.to_str().unwrap(),
    ]);
    let lines = std::fs::read_to_string(&out).unwrap();
    assert_eq!(lines.lines().count(), from_stdin.rows.len());
    let first: serde_json::Value = serde_json::from_str(lines.lines().next().unwrap()).unwrap();
    assert!(
        first["trade_count"].is_i64() && first["trader_id"].is_string(),
        "{first}"
    );
}

#[test]
fn malformed_csv_rows_are_counted_and_reported_with_line_numbers() {
    let dir = scratch("cli-malformed");
    let path = dir.join("bad.csv");
    std::fs::write(
        &path,
        "trade_id,trader_id,symbol,price,quantity,value,trade_time,event_time\n\
         0,A,X,1.5,2,3.0,1000,1000\n\
         1,A,X,oops,2,3.0,1001,1001\n\
         2,A,X,1.5,2\n\
         3,B,Y,2.5,1,2.5,1002,1002\n",
    )
    .unwrap();
    let (t, s) = run_query(
        &dir,
        "out",
        SEED_QUERIES[2],
        &["--input", path.to_str().unwrap(), "--cores", "2"],
    );
    assert_eq!(s["malformed"], 2);
    assert_eq!(s["records_in"], 4);
    assert_conserved(&s, "malformed");
    assert_eq!(t.rows.len(), 2);
    let err = shardsql_fails(&[
        "--query",
        SEED_QUERIES[2],
        "--input",
        path.to_str().unwrap(),
        "--on-error",
        "fail",
    ]);
    assert!(
        err.contains(":3: malformed record: column `price` (DOUBLE): cannot parse `oops`"),
        "{err}"
    );
}

#[test]
fn explain_shows_routing_window_and_emit() {
    let out = shardsql(&["explain", "--query", SEED_QUERIES[4]]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("Emit CHANGES"), "{text}");
    assert!(text.contains("hash(FxHash of trader_id, symbol)"), "{text}");
    assert!(
        text.contains("Window TUMBLING 1 min on trade_time"),
        "{text}"
    );
    let out = shardsql(&["explain", "--query", SEED_QUERIES[1]]);
    assert!(
        String::from_utf8(out.stdout)
            .unwrap()
            .contains("single shard")
    );
}

#[test]
fn error_bad_sql_points_at_line_and_column() {
    let dir = scratch("cli-errors");
    let cases = [
        (
            "SELECT pric FROM market_data",
            "unknown column `pric`",
            "1:8",
            "did you mean `price`?",
        ),
        (
            "SELECT symbol, price\nFROM market_data GROUP BY symbol",
            "must appear in GROUP BY",
            "1:16",
            "add `price` to GROUP BY",
        ),
        (
            "SELECT * FROM market_data\nWHERE COUNT(*) > 1",
            "aggregate function COUNT is not allowed in WHERE",
            "2:7",
            "HAVING",
        ),
        (
            "SELECT FOO(price) FROM market_data",
            "unknown function `FOO`",
            "1:8",
            "aggregates: COUNT",
        ),
        (
            "SELECT * FROM market_data EMIT FINAL",
            "EMIT FINAL needs GROUP BY",
            "1:27",
            "remove EMIT FINAL",
        ),
        (
            "SELECT symbol FROM market_data GROUP BY symbol WINDOW TUMBLING (trade_time)",
            "malformed WINDOW clause",
            "1:",
            "INTERVAL",
        ),
        (
            "SELECT * FROM market_data a JOIN market_data b ON a.trade_id = b.trade_id",
            "unsupported: JOIN",
            "1:",
            "joins",
        ),
        (
            "SELECT * FROM market_data WHERE symbol > 3",
            "cannot compare VARCHAR with BIGINT",
            "1:33",
            "CAST",
        ),
        ("SELECT * FROM", "syntax error", "1:", "check the SQL"),
        (
            "DELETE FROM market_data",
            "unsupported statement `DELETE`",
            "1:1",
            "SELECT",
        ),
    ];
    let new_features = [
        (
            "SELECT symbol LIKE 3 FROM market_data",
            "the LIKE pattern must be a string literal",
            "1:20",
            "LIKE 'AA%'",
        ),
        (
            "SELECT CASE WHEN price > 1 THEN 'x' ELSE 2 END AS c FROM market_data",
            "CASE branches have different types: VARCHAR and BIGINT",
            "1:42",
            "CAST",
        ),
        (
            "SELECT symbol, COUNT(*) FROM market_data GROUP BY symbol\nWINDOW HOPPING (trade_time, INTERVAL '1' MINUTE, INTERVAL '5' MINUTE)",
            "advance must not exceed its size",
            "2:50",
            "TUMBLING",
        ),
        (
            "SELECT COUNT(DISTINCT price) OVER (ORDER BY event_time ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) AS d FROM market_data",
            "unsupported: COUNT(DISTINCT ...) over a ROWS frame",
            "1:8",
            "COUNT, SUM, AVG, MIN and MAX",
        ),
        (
            "SELECT symbol, COUNT(*) FROM market_data GROUP BY symbol WINDOW TUMBLING (trade_time, INTERVAL '1' MINUTE) ALLOWED LATENESS 5",
            "ALLOWED LATENESS needs an INTERVAL",
            "1:125",
            "INTERVAL '5' SECOND",
        ),
        (
            "SELECT ROUND(symbol) FROM market_data",
            "ROUND() needs a number, found VARCHAR",
            "1:14",
            "ROUND(price, 2)",
        ),
        (
            "SELECT SUM(DISTINCT price) FROM market_data",
            "unsupported: SUM(DISTINCT ...)",
            "1:8",
            "COUNT(DISTINCT x)",
        ),
    ];
    let deep = format!(
        "SELECT *\nFROM market_data WHERE price{}",
        " IS NULL".repeat(300)
    );
    let parens = format!(
        "SELECT * FROM market_data\nWHERE price > {}1{}",
        "(".repeat(60),
        ")".repeat(60)
    );
    let limits = [
        (
            deep.as_str(),
            "the expression is nested too deeply: more than 200 levels",
            "2:",
            "at most 200 nested levels",
        ),
        (
            parens.as_str(),
            "the query is nested too deeply: the SQL parser allows at most 50 levels",
            "2:",
            "parentheses",
        ),
    ];
    // Statement shapes sqlparser's tree keeps no span for: each still points somewhere.
    let shapes = [
        (
            "SELECT price FROM market_data\n-- union\nUNION ALL SELECT price FROM market_data",
            "unsupported: UNION ALL",
            "3:1",
            "run each SELECT as its own query",
        ),
        (
            "SELECT 'a' FROM market_data INTERSECT SELECT 'b' FROM market_data",
            "unsupported: INTERSECT",
            "1:29",
            "UNION / INTERSECT / EXCEPT",
        ),
        (
            "  WITH t AS (SELECT * FROM market_data) SELECT * FROM t",
            "unsupported: WITH (common table expressions)",
            "1:3",
            "one SELECT",
        ),
        (
            "SELECT * FROM market_data;\nSELECT price FROM market_data",
            "more than one statement",
            "2:1",
            "one SELECT per query file",
        ),
        (
            "-- nothing here\n",
            "the query file holds no statement",
            "1:",
            "write one SELECT",
        ),
        (
            "\nINSERT INTO market_data VALUES (1)",
            "unsupported statement `INSERT`",
            "2:1",
            "SELECT",
        ),
        (
            "VALUES (1, 2)",
            "only a plain SELECT ... FROM ... query",
            "1:1",
            "SELECT ... FROM",
        ),
        (
            "SELECT * FROM market_data ORDER BY price",
            "unsupported: ORDER BY on a stream",
            "1:36",
            "OVER",
        ),
        (
            "SELECT * FROM market_data LIMIT 5",
            "unsupported: LIMIT",
            "1:33",
            "remove LIMIT",
        ),
        (
            "SELECT * FROM (SELECT * FROM market_data) s",
            "unsupported: a subquery or table function in FROM",
            "1:16",
            "one stream",
        ),
        (
            "SELECT * FROM market_data WHERE price IN (SELECT price FROM market_data)",
            "unsupported: the expression",
            "1:33",
            "supported:",
        ),
    ];
    let times = [
        (
            "SELECT YEAR(quantity) FROM market_data",
            "YEAR() needs a TIMESTAMP, found BIGINT",
            "1:13",
            "TO_TIMESTAMP(seconds) or EPOCH_MS(ms)",
        ),
        (
            "SELECT DATE_TRUNC('fortnight', trade_time) FROM market_data",
            "DATE_TRUNC() needs a unit",
            "1:19",
            "'hour'",
        ),
        (
            "SELECT STRFTIME(trade_time, '%Q') FROM market_data",
            "unknown format code `%Q`",
            "1:29",
            "%Y",
        ),
        (
            "SELECT price + INTERVAL '1' MINUTE FROM market_data",
            "an INTERVAL can only be added to or subtracted from a TIMESTAMP",
            "1:8",
            "t + INTERVAL '5' MINUTE",
        ),
        (
            "SELECT TIMESTAMP '2024-02-30' FROM market_data",
            "is not a time in years 0001 to 9999",
            "1:18",
            "ISO-8601",
        ),
        (
            "SELECT EPOCH_MS(price) FROM market_data",
            "EPOCH_MS() needs BIGINT milliseconds or a TIMESTAMP, found DOUBLE",
            "1:17",
            "EPOCH_MS(1709294400000)",
        ),
        (
            "SELECT symbol, COUNT(*) FROM market_data GROUP BY symbol\nWINDOW TUMBLING (NOW(), INTERVAL '1' MINUTE)",
            "it is processing time",
            "2:18",
            "name the input's TIMESTAMP column",
        ),
        (
            "SELECT AVG(price) OVER (ORDER BY CURRENT_TIMESTAMP ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) AS a FROM market_data",
            "it is processing time",
            "1:34",
            "ORDER BY t",
        ),
    ];
    for (i, (sql, message, pos, hint)) in cases
        .iter()
        .chain(&new_features)
        .chain(&limits)
        .chain(&shapes)
        .chain(&times)
        .enumerate()
    {
        let q = dir.join(format!("q{i}.sql"));
        std::fs::write(&q, sql).unwrap();
        let err = shardsql_fails(&["--query", q.to_str().unwrap(), "--records", "10"]);
        assert!(err.starts_with("Error: "), "{err}");
        assert!(
            err.contains(message),
            "{sql}: expected `{message}` in:\n{err}"
        );
        assert!(
            err.contains(&format!("q{i}.sql:{pos}")),
            "{sql}: expected position {pos} in:\n{err}"
        );
        assert!(
            err.contains(hint),
            "{sql}: expected hint `{hint}` in:\n{err}"
        );
        assert!(err.contains('^'), "{sql}: expected a caret in:\n{err}");
    }
}

#[test]
fn error_bad_flags_and_files_are_one_clear_line() {
    let err = shardsql_fails(&["--query", "no/such/file.sql"]);
    assert!(
        err.contains("--query no/such/file.sql: cannot read"),
        "{err}"
    );
    let err = shardsql_fails(&["--query", SEED_QUERIES[0], "--input", "no/such.csv"]);
    assert!(err.contains("--input no/such.csv: cannot open"), "{err}");
    let err = shardsql_fails(&["--query", SEED_QUERIES[0], "--cores", "0"]);
    assert!(err.contains("--cores"), "{err}");
    let err = shardsql_fails(&["--query", SEED_QUERIES[0], "--mode", "v3"]);
    assert!(err.contains("v3"), "{err}");
}

#[test]
fn empty_and_header_only_inputs_give_no_rows_not_errors() {
    let dir = scratch("cli-empty");
    let header_only = dir.join("input-h.csv");
    std::fs::write(
        &header_only,
        "trade_id,trader_id,symbol,price,quantity,value,trade_time,event_time\n",
    )
    .unwrap();
    for q in SEED_QUERIES {
        let (t, s) = run_query(
            &dir,
            "h",
            q,
            &["--input", header_only.to_str().unwrap(), "--cores", "3"],
        );
        assert!(t.rows.is_empty());
        assert_eq!(s["records_in"], 0);
    }
    let err = shardsql_fails(&[
        "--query",
        SEED_QUERIES[0],
        "--input",
        header_only.to_str().unwrap(),
        "--output",
        header_only.to_str().unwrap(),
    ]);
    assert!(err.contains("--output is the --input file"), "{err}");
    let empty = dir.join("e.csv");
    std::fs::write(&empty, "").unwrap();
    let err = shardsql_fails(&[
        "--query",
        SEED_QUERIES[0],
        "--input",
        empty.to_str().unwrap(),
    ]);
    assert!(err.contains("empty"), "{err}");
    let (_, s) = run_query(
        &dir,
        "zero",
        SEED_QUERIES[3],
        &["--records", "0", "--cores", "2"],
    );
    assert_eq!(s["rows_out"], 0);
}

#[test]
fn latency_percentiles_reach_stats_stderr_and_hgrm() {
    let dir = scratch("cli-latency");
    let hgrm = dir.join("lat.hgrm");
    let stats = dir.join("s.json");
    let out = shardsql(&[
        "--query",
        SEED_QUERIES[3],
        "--records",
        "200000",
        "--cores",
        "2",
        "--output",
        "null",
        "--latency",
        "--rate",
        "2000000",
        "--hgrm",
        hgrm.to_str().unwrap(),
        "--stats",
        stats.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("p99.9"), "{err}");
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&stats).unwrap()).unwrap();
    let lat = &s["latency_us"];
    assert!(lat["count"].as_u64().unwrap() > 0, "{s}");
    assert!(lat["p50"].as_u64().unwrap() <= lat["p99"].as_u64().unwrap());
    assert!(lat["p99"].as_u64().unwrap() <= lat["max"].as_u64().unwrap());
    assert!(
        s["window_latency_us"]["count"].as_u64().unwrap() > 0,
        "tumbling windows closed: {s}"
    );
    // 200000 records at 2M records/s take at least 0.1 s.
    assert!(s["elapsed_s"].as_f64().unwrap() >= 0.09, "{s}");
    let text = std::fs::read_to_string(&hgrm).unwrap();
    let rows = shardsql::metrics::latency::parse_hgrm(&text).unwrap();
    assert_eq!(rows.last().unwrap().1, 1.0);
    assert!(dir.join("lat-window.hgrm").exists());
}

#[test]
fn string_literals_are_output_and_compared() {
    let dir = scratch("cli-literals");
    let q = dir.join("q.sql");
    std::fs::write(
        &q,
        "SELECT 'tag' AS label, symbol, price > 100 AS dear FROM market_data WHERE symbol = 'AAPL' OR symbol IN ('MSFT', 'NOPE')",
    )
    .unwrap();
    let (t, _) = run_query(
        &dir,
        "out",
        q.to_str().unwrap(),
        &["--records", "2000", "--cores", "2"],
    );
    assert!(!t.rows.is_empty());
    for row in &t.rows {
        assert_eq!(row[0], "tag", "{row:?}");
        assert!(row[1] == "AAPL" || row[1] == "MSFT", "{row:?}");
        assert!(row[2] == "true" || row[2] == "false", "{row:?}");
    }
}

/// glommio needs locked memory; under a tiny `ulimit -l` the run must stop with the reason and
/// the fix (never hang), and `--runtime threads` must run the same query.
#[test]
fn error_glommio_start_failure_says_why_and_threads_runtime_works() {
    let run = |extra: &str| {
        Command::new("bash")
            .arg("-c")
            .arg(format!(
                "ulimit -l 64 && exec {} --query {} --records 20000 --cores 2 --output null {extra}",
                env!("CARGO_BIN_EXE_shardsql"),
                SEED_QUERIES[2]
            ))
            .current_dir(repo())
            .output()
            .unwrap()
    };
    let failed = run("");
    let err = String::from_utf8_lossy(&failed.stderr);
    assert!(!failed.status.success(), "{err}");
    assert!(
        err.contains("cannot start the glommio runtime") && err.contains("--runtime threads"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    let ok = run("--runtime threads");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
}

#[test]
fn null_event_times_are_late_and_kept_by_late_output() {
    let dir = scratch("cli-null-time");
    let csv = dir.join("in.csv");
    std::fs::write(&csv, "k,t,x\na,,2\na,1000,1\nb,1500,3\na,,5\na,2500,4\n").unwrap();
    let q = dir.join("q.sql");
    std::fs::write(
        &q,
        "SELECT k, window_start, COUNT(*) AS n, SUM(x) AS s FROM market_data GROUP BY k \
         WINDOW TUMBLING (t, INTERVAL '1' SECOND)",
    )
    .unwrap();
    let late = dir.join("late.csv");
    for cores in ["1", "2"] {
        let (rows, stats) = common::run_query(
            &dir,
            &format!("c{cores}"),
            q.to_str().unwrap(),
            &[
                "--input",
                csv.to_str().unwrap(),
                "--cores",
                cores,
                "--late-output",
                late.to_str().unwrap(),
            ],
        );
        assert_eq!(stats["late_dropped"], 2, "{stats}");
        assert_eq!(rows.rows.len(), 3);
        let kept = std::fs::read_to_string(&late).unwrap();
        assert_eq!(kept.lines().count(), 3, "{kept}");
        assert!(kept.contains("a,,2") && kept.contains("a,,5"), "{kept}");
    }
}

/// Long flat expressions (thousands of IN items, ORs, `+` terms) explain and run, with the
/// right rows, instead of overflowing the stack; 100,000 IN items plan in linear time.
#[test]
fn long_flat_expressions_explain_and_run() {
    let dir = scratch("cli-long-exprs");
    let csv = dir.join("in.csv");
    let mut text = String::from("n,x\n");
    for i in 0..60 {
        text.push_str(&format!("{i},{}\n", f64::from(i) * 0.5));
    }
    std::fs::write(&csv, text).unwrap();
    let joined = |items: Vec<String>, sep: &str| items.join(sep);
    let cases = [
        (
            "in6k",
            format!(
                "SELECT n FROM readings WHERE n IN ({})",
                joined((0..6000).map(|i| (i * 3).to_string()).collect(), ", ")
            ),
            (0..60).filter(|n| n % 3 == 0).collect::<Vec<i64>>(),
        ),
        (
            "notin100k",
            format!(
                "SELECT n FROM readings WHERE n NOT IN ({})",
                joined((0..100_000).map(|i| (i * 2).to_string()).collect(), ",")
            ),
            (0..60).filter(|n| n % 2 == 1).collect(),
        ),
        (
            "or3k",
            format!(
                "SELECT n FROM readings WHERE {}",
                joined(
                    (0..3000).map(|i| format!("n = {}", i * 5)).collect(),
                    " OR "
                )
            ),
            (0..60).filter(|n| n % 5 == 0).collect(),
        ),
    ];
    for (tag, sql, want) in &cases {
        let q = dir.join(format!("{tag}.sql"));
        std::fs::write(&q, sql).unwrap();
        let q = q.to_str().unwrap();
        let out = shardsql(&["explain", "--query", q, "--input", csv.to_str().unwrap()]);
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Filter"),
            "{tag}"
        );
        let (t, _) = run_query(
            &dir,
            tag,
            q,
            &["--input", csv.to_str().unwrap(), "--cores", "2"],
        );
        let mut got: Vec<i64> = t.rows.iter().map(|r| r[0].parse().unwrap()).collect();
        got.sort();
        assert_eq!(&got, want, "{tag}");
    }
    // 5,000 `+` terms: x + x + ... = 5000 x.
    let q = dir.join("plus5k.sql");
    let terms = vec!["x".to_string(); 5000].join(" + ");
    std::fs::write(&q, format!("SELECT n, {terms} AS s FROM readings")).unwrap();
    let q = q.to_str().unwrap();
    shardsql(&["explain", "--query", q, "--input", csv.to_str().unwrap()]);
    let (t, _) = run_query(&dir, "plus5k", q, &["--input", csv.to_str().unwrap()]);
    assert_eq!(t.rows.len(), 60);
    for r in &t.rows {
        let n: f64 = r[0].parse().unwrap();
        assert_eq!(r[1].parse::<f64>().unwrap(), n * 0.5 * 5000.0, "{r:?}");
    }
}

/// Errors about a query over the user's own file speak in the file's terms (its stream name
/// and columns, never the generator's), and a ROWS window must be ordered by a TIMESTAMP.
#[test]
fn error_user_files_get_hints_in_their_own_terms() {
    let dir = scratch("cli-user-file-errors");
    let csv = dir.join("sensors.csv");
    std::fs::write(
        &csv,
        "device,humidity,pressure,ts\n\
         a,40,1.5,1000\nb,41,2.5,1001\na,42,3.5,1002\nb,45,4.5,1003\na,44,5.5,1004\n",
    )
    .unwrap();
    let input = csv.to_str().unwrap();
    let cases = [
        (
            "SELECT AVG(pressure) OVER (ORDER BY humidity ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) AS a FROM sensors",
            "a ROWS window must be ordered by a TIMESTAMP column; `humidity` is BIGINT",
            "1:37",
            "--schema humidity:timestamp",
        ),
        (
            "SELECT AVG(humidity) OVER (PARTITION BY device\n  ORDER BY pressure ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) AS a FROM sensors",
            "`pressure` is DOUBLE",
            "2:12",
            "ROWS windows are ordered by event time",
        ),
        (
            "SELECT device, COUNT(*) FROM sensors GROUP BY device WINDOW TUMBLING (ts)",
            "malformed WINDOW clause",
            "1:",
            "WINDOW TUMBLING (ts, INTERVAL '1' MINUTE)",
        ),
        (
            "SELECT device, COUNT(*) FROM sensors GROUP BY device WINDOW TUMBLING (device, INTERVAL '1' MINUTE)",
            "the window time column `device` is VARCHAR",
            "1:71",
            "column of the input: humidity, ts",
        ),
        (
            "SELECT device, COUNT(*) FROM sensors GROUP BY device WINDOW HOPPING (ts, INTERVAL '1' SECOND, INTERVAL '5' SECOND)",
            "advance must not exceed its size",
            "1:",
            "WINDOW HOPPING (ts, INTERVAL '5' MINUTE",
        ),
        (
            "SELECT * FROM sensors LIMIT 3",
            "unsupported: LIMIT",
            "1:29",
            "remove LIMIT",
        ),
        (
            "SELECT * FROM sensors WHERE device",
            "WHERE needs a boolean condition",
            "1:29",
            "WHERE humidity > 100",
        ),
        (
            "SELECT SUM(device) FROM sensors",
            "SUM() needs a numeric argument",
            "1:12",
            "e.g. pressure",
        ),
        (
            "SELECT device, ROUND(device) AS r FROM sensors",
            "ROUND() needs a number, found VARCHAR",
            "1:22",
            "ROUND(pressure, 2)",
        ),
        (
            "SELECT humidity LIKE 'a%' AS l FROM sensors",
            "LIKE needs a string, found BIGINT",
            "1:8",
            "e.g. device",
        ),
        (
            "SELECT device FROM sensors WHERE device = 'a' OR humidity",
            "OR needs boolean operands",
            "1:",
            "e.g. a > 10 AND b < 5",
        ),
    ];
    for (i, (sql, message, pos, hint)) in cases.iter().enumerate() {
        let q = dir.join(format!("u{i}.sql"));
        std::fs::write(&q, sql).unwrap();
        let err = shardsql_fails(&["--query", q.to_str().unwrap(), "--input", input]);
        assert!(
            err.contains(message),
            "{sql}: expected `{message}` in:\n{err}"
        );
        assert!(
            err.contains(&format!("u{i}.sql:{pos}")),
            "{sql}: expected position {pos} in:\n{err}"
        );
        assert!(
            err.contains(hint),
            "{sql}: expected hint `{hint}` in:\n{err}"
        );
        assert!(err.contains('^'), "{sql}: expected a caret in:\n{err}");
        for generator_talk in ["trade_time", "market_data", "--records", "generator"] {
            assert!(
                !err.contains(generator_talk),
                "{sql}: a user's file gets no `{generator_talk}`:\n{err}"
            );
        }
    }

    // Declared a TIMESTAMP, the same column orders the ROWS window: a moving average of 3.
    let q = dir.join("rows.sql");
    std::fs::write(
        &q,
        "SELECT humidity, AVG(pressure) OVER (ORDER BY humidity ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) AS a FROM sensors",
    )
    .unwrap();
    let (t, s) = run_query(
        &dir,
        "rows",
        q.to_str().unwrap(),
        // Epoch ms written back as numbers, the way the file has them.
        &[
            "--input",
            input,
            "--schema",
            "humidity:timestamp",
            "--timestamps",
            "epoch-ms",
        ],
    );
    assert_eq!(s["late_dropped"], 1, "45 then 44: one late row: {s}");
    assert_eq!(t.rows.len(), 4);
    assert_eq!(t.rows[3], ["45", "3.5"]);
}

/// Without --input the query reads the built-in generator, which answers to `market_data`
/// only; any other FROM name is an error pointing at it. With --input any name is the file.
#[test]
fn error_a_stream_name_without_input_is_not_the_generator() {
    let dir = scratch("cli-stream-name");
    let q = dir.join("q.sql");
    std::fs::write(&q, "SELECT COUNT(*) AS n\nFROM sensors").unwrap();
    let q = q.to_str().unwrap();
    for args in [
        vec!["--query", q, "--records", "10"],
        vec!["explain", "--query", q],
    ] {
        let err = shardsql_fails(&args);
        assert!(
            err.contains("no --input was given") && err.contains("`market_data`, not `sensors`"),
            "{err}"
        );
        assert!(err.contains("q.sql:2:6"), "{err}");
        assert!(err.contains('^'), "{err}");
        assert!(
            err.contains("pass --input FILE") && err.contains("FROM market_data"),
            "{err}"
        );
    }
    let csv = dir.join("sensors.csv");
    std::fs::write(&csv, "device,humidity\na,1\nb,2\n").unwrap();
    let (t, _) = run_query(&dir, "ok", q, &["--input", csv.to_str().unwrap()]);
    assert_eq!(t.rows, [["2"]]);
    let (t, _) = run_query(
        &dir,
        "gen",
        "queries/03_group_by.sql",
        &["--records", "100"],
    );
    assert!(!t.rows.is_empty());
}

/// ISO-8601 times are read and written back as ISO (CSV and JSON lines), `--timestamps
/// epoch-ms` keeps milliseconds, and epoch seconds read as milliseconds by a window get a
/// warning with the `--schema` fix (none once declared).
#[test]
fn timestamps_read_iso_write_iso_or_epoch_and_warn_about_seconds() {
    let dir = scratch("cli-timestamps");
    let iso = dir.join("in-iso.csv");
    std::fs::write(
        &iso,
        "ts,v\n2024-03-01T12:00:05Z,1\n2024-03-01 12:00:40.250,2\n2024-03-01T14:01:10.5+02:00,3\n",
    )
    .unwrap();
    let q = dir.join("q.sql");
    std::fs::write(
        &q,
        "SELECT window_start, window_end, COUNT(*) AS n, MAX(ts) AS last FROM r \
         WINDOW TUMBLING (ts, INTERVAL '1' MINUTE)",
    )
    .unwrap();
    let (t, _) = run_query(
        &dir,
        "iso",
        q.to_str().unwrap(),
        &["--input", iso.to_str().unwrap()],
    );
    let mut rows = t.rows.clone();
    rows.sort();
    assert_eq!(
        rows,
        [
            [
                "2024-03-01 12:00:00",
                "2024-03-01 12:01:00",
                "2",
                "2024-03-01 12:00:40.25"
            ],
            [
                "2024-03-01 12:01:00",
                "2024-03-01 12:02:00",
                "1",
                "2024-03-01 12:01:10.5"
            ],
        ]
    );
    let (t, _) = run_query(
        &dir,
        "ms",
        q.to_str().unwrap(),
        &["--input", iso.to_str().unwrap(), "--timestamps", "epoch-ms"],
    );
    assert!(
        t.rows
            .iter()
            .any(|r| r[0] == "1709294400000" && r[3] == "1709294440250"),
        "{t:?}"
    );
    let json = dir.join("out.jsonl");
    shardsql(&[
        "--query",
        q.to_str().unwrap(),
        "--input",
        iso.to_str().unwrap(),
        "--output",
        json.to_str().unwrap(),
    ]);
    let text = std::fs::read_to_string(&json).unwrap();
    assert!(
        text.contains("{\"window_start\":\"2024-03-01 12:00:00\",\"window_end\":\"2024-03-01 12:01:00\",\"n\":2,"),
        "{text}"
    );

    let secs = dir.join("in-secs.csv");
    std::fs::write(&secs, "ts,v\n1709294405,1\n1709294440,2\n1709294470,3\n").unwrap();
    let run = |schema: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_shardsql"))
            .args([
                "--query",
                q.to_str().unwrap(),
                "--input",
                secs.to_str().unwrap(),
            ])
            .args(["--schema", schema, "--output", "null"])
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stderr).to_string()
    };
    let err = run("ts:timestamp");
    assert!(
        err.contains("warning: column `ts`")
            && err.contains("look like seconds")
            && err.contains("--schema ts:timestamp_s"),
        "{err}"
    );
    assert!(!run("ts:timestamp_s").contains("warning"));
    let (t, _) = run_query(
        &dir,
        "secs",
        q.to_str().unwrap(),
        &[
            "--input",
            secs.to_str().unwrap(),
            "--schema",
            "ts:timestamp_s",
        ],
    );
    assert_eq!(t.rows.len(), 2, "{t:?}");
}
