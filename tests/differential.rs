//! Differential tests: the same generated stream through v1, mutex (2 workers, lock per batch
//! and per record) and v2 at 1, 2, 3, 4 and 8 shards, on both runtimes; every result must
//! equal v1's (multisets, floats within 1e-9; EMIT CHANGES as per-key changelogs in order; the
//! global ROWS window in order), and every run must conserve its records.

mod common;
use common::*;

const GEN: [&str; 8] = [
    "--records",
    "150000",
    "--seed",
    "11",
    "--traders",
    "50",
    "--symbols",
    "20",
];

fn configurations() -> Vec<(String, Vec<&'static str>)> {
    let mut c: Vec<(String, Vec<&str>)> = vec![
        (
            "mutex2_batch".into(),
            vec!["--mode", "mutex", "--cores", "2", "--lock-per", "batch"],
        ),
        (
            "mutex2_record".into(),
            vec!["--mode", "mutex", "--cores", "2", "--lock-per", "record"],
        ),
        (
            "v2_3_threads".into(),
            vec!["--mode", "v2", "--cores", "3", "--runtime", "threads"],
        ),
        (
            "v2_2_preload".into(),
            vec!["--mode", "v2", "--cores", "2", "--preload"],
        ),
    ];
    for n in ["1", "2", "3", "4", "8"] {
        c.push((format!("v2_{n}"), vec!["--mode", "v2", "--cores", n]));
    }
    c
}

fn check_query(name: &str, query: &str, extra: &[&str]) {
    check_query_over(name, query, extra, &["--records", GEN[1]]);
}

/// `check_query` over `records` (`["--records", N]`) instead of the default count.
fn check_query_over(name: &str, query: &str, extra: &[&str], records: &[&str]) {
    let dir = scratch(&format!("diff-{name}"));
    let mut base_args = records.to_vec();
    base_args.extend_from_slice(&GEN[2..]);
    base_args.extend_from_slice(extra);
    let (base, base_stats) = run_query(
        &dir,
        "v1",
        query,
        &[&["--mode", "v1"], &base_args[..]].concat(),
    );
    assert_conserved(&base_stats, "v1");
    assert!(!base.rows.is_empty(), "{query}: v1 produced no rows");
    for (tag, args) in configurations() {
        let (got, stats) = run_query(&dir, &tag, query, &[&args[..], &base_args[..]].concat());
        assert_conserved(&stats, &tag);
        assert_eq!(
            stats["late_dropped"], base_stats["late_dropped"],
            "{query} {tag}: late counts differ"
        );
        assert_eq!(
            stats["records_in"], base_stats["records_in"],
            "{query} {tag}"
        );
        if let Err(e) = compare_seed(query, &base, &got) {
            panic!("{query}: {tag} differs from v1: {e}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn differential_passthrough_all_modes_and_shard_counts() {
    check_query("passthrough", SEED_QUERIES[0], &[]);
}

#[test]
fn differential_rows_window_all_modes_and_shard_counts() {
    check_query("rows", SEED_QUERIES[1], &[]);
}

#[test]
fn differential_group_by_all_modes_and_shard_counts() {
    check_query("groupby", SEED_QUERIES[2], &[]);
}

#[test]
fn differential_tumbling_all_modes_and_shard_counts() {
    check_query("tumbling", SEED_QUERIES[3], &[]);
}

#[test]
fn differential_tumbling_emit_changes_all_modes_and_shard_counts() {
    check_query("changes", SEED_QUERIES[4], &[]);
}

#[test]
fn differential_tumbling_with_disorder_and_lateness_drops_the_same_records() {
    check_query(
        "tumbling-late",
        SEED_QUERIES[3],
        &["--disorder-ms", "30000", "--allowed-lateness", "5s"],
    );
    check_query(
        "changes-late",
        SEED_QUERIES[4],
        &["--disorder-ms", "30000", "--allowed-lateness", "5s"],
    );
}

/// The disorder cases: 8 s of disorder with 2 s of lateness over 60,000 records (60 s of event
/// time, 15 input blocks: every shard count up to 8 gets several) drops and keeps enough
/// records to tell a wrong lateness decision; one test per query so they run in parallel.
const DISORDER: [&str; 4] = ["--disorder-ms", "8000", "--allowed-lateness", "2s"];

fn check_disorder(name: &str, query: &str) {
    let records = ["--records", "60000"];
    check_query_over(name, query, &DISORDER, &records);
}

#[test]
fn differential_hopping_under_disorder() {
    check_disorder("hopping", "queries/06_hopping.sql");
}

#[test]
fn differential_hopping_emit_changes_under_disorder() {
    check_disorder("hopping-changes", "queries/07_hopping_emit_changes.sql");
}

#[test]
fn differential_session_under_disorder() {
    check_disorder("session", "queries/08_session.sql");
}

#[test]
fn differential_rows_partitioned_under_disorder() {
    check_disorder("rows-partitioned", "queries/11_rows_partitioned.sql");
}

#[test]
fn differential_rows_global_under_disorder() {
    check_disorder("rows-global", SEED_QUERIES[1]);
}

#[test]
fn differential_csv_stream_equals_generator() {
    let dir = scratch("diff-csv");
    let csv = dir.join("in.csv");
    let out = shardsql(&[
        "gen",
        "--records",
        "50000",
        "--seed",
        "3",
        "--output",
        csv.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    for q in SEED_QUERIES {
        let (a, _) = run_query(
            &dir,
            "gen",
            q,
            &["--records", "50000", "--seed", "3", "--cores", "2"],
        );
        let (b, sb) = run_query(
            &dir,
            "csv",
            q,
            &["--input", csv.to_str().unwrap(), "--cores", "3"],
        );
        assert_conserved(&sb, "csv");
        if let Err(e) = compare_seed(q, &a, &b) {
            panic!("{q}: CSV input differs from the generator: {e}");
        }
    }
}

/// The checks above must be able to fail: a shard that loses or duplicates one record
/// is caught.
#[test]
fn differential_detects_a_dropped_or_duplicated_record() {
    let dir = scratch("diff-fault");
    for q in [SEED_QUERIES[2], SEED_QUERIES[4]] {
        let (base, _) = run_query(&dir, "v1", q, &[&["--mode", "v1"], &GEN[..]].concat());
        let (clean, _) = run_query(&dir, "clean", q, &[&["--cores", "2"], &GEN[..]].concat());
        assert_eq!(compare_seed(q, &base, &clean), Ok(()));
        for fault in ["drop-record", "duplicate-record"] {
            let (bad, _) = run_query(
                &dir,
                fault,
                q,
                &[&["--cores", "2", "--inject-fault", fault], &GEN[..]].concat(),
            );
            assert!(
                compare_seed(q, &base, &bad).is_err(),
                "{q}: {fault} went unnoticed"
            );
        }
    }
}

/// Beyond the seed queries: many groups (one per record: the readers' partial tables outgrow
/// and drop), a global aggregate (one group, single shard), a filtered windowed aggregate with
/// MIN/MAX, and a PARTITION BY ROWS window with several functions.
#[test]
fn differential_other_aggregates_and_key_spaces() {
    let dir = scratch("diff-other");
    let queries = [
        (
            "many_groups",
            "SELECT trade_id, SUM(quantity) AS q, MIN(price) AS lo, MAX(price) AS hi FROM market_data GROUP BY trade_id",
        ),
        (
            "global",
            "SELECT COUNT(*) AS n, SUM(value) AS v, MIN(trade_time) AS t0, MAX(quantity) AS q FROM market_data",
        ),
        (
            "filtered_window",
            "SELECT window_start, symbol, MAX(quantity) AS q, MIN(price) AS p, COUNT(price) AS c FROM market_data \
             WHERE price > 100 AND quantity % 3 <> 0 GROUP BY symbol WINDOW TUMBLING (trade_time, INTERVAL '30' SECONDS)",
        ),
        (
            "rows_partitioned",
            "SELECT trader_id, trade_id, SUM(quantity) OVER (PARTITION BY trader_id ORDER BY event_time ROWS BETWEEN 9 PRECEDING AND CURRENT ROW) AS s, \
             MAX(price) OVER (PARTITION BY trader_id ORDER BY event_time ROWS BETWEEN 9 PRECEDING AND CURRENT ROW) AS m FROM market_data",
        ),
    ];
    for (name, sql) in queries {
        let q = dir.join(format!("{name}.sql"));
        std::fs::write(&q, sql).unwrap();
        let q = q.to_str().unwrap();
        let (base, base_stats) = run_query(&dir, "v1", q, &[&["--mode", "v1"], &GEN[..]].concat());
        assert_conserved(&base_stats, name);
        assert!(!base.rows.is_empty(), "{name}: no rows");
        for args in [
            ["--mode", "v2", "--cores", "3"],
            ["--mode", "mutex", "--cores", "2"],
            ["--mode", "v2", "--cores", "8"],
        ] {
            let (got, stats) = run_query(&dir, "other", q, &[&args[..], &GEN[..]].concat());
            assert_conserved(&stats, name);
            let cmp = if name == "rows_partitioned" {
                same_changelog(&base, &got, &[0])
            } else {
                same_multiset(&base, &got)
            };
            if let Err(e) = cmp {
                panic!("{name}: {args:?} differs from v1: {e}");
            }
        }
    }
}

/// A file read by the cores themselves (`source::ranges`) finds its blocks' starts by scanning
/// byte ranges, whose boundaries fall anywhere in the records. A disordered CSV and its JSON lines
/// (with malformed lines among them) through every windowed query, at 1 core (the sequential
/// reader), 2 cores through the cutter thread (`--range-bytes 0`), and at 2 and 3 cores by
/// ranges of the default size, of 1,000 bytes and of 50 bytes (thousands of ranges a block):
/// the same results, late counts, disorder and malformed reports.
#[test]
fn differential_file_ranges_under_disorder_equal_one_core() {
    let dir = scratch("diff-ranges");
    let generate = |out: &std::path::Path| {
        let o = shardsql(&[
            "gen",
            "--records",
            "30000",
            "--seed",
            "5",
            "--disorder-ms",
            "8000",
            "--output",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success());
    };
    let csv = dir.join("in.csv");
    let jsonl = dir.join("in.jsonl");
    generate(&csv);
    generate(&jsonl);
    // Malformed lines at random places (not in the sampled first rows).
    for (path, bad) in [(&csv, "bad,row\n"), (&jsonl, "{\"trade_id\":\n")] {
        let text = std::fs::read_to_string(path).unwrap();
        let mut out = String::new();
        for (i, line) in text.lines().enumerate() {
            out.push_str(line);
            out.push('\n');
            if i > 1500 && i % 2999 == 0 {
                out.push_str(bad);
            }
        }
        std::fs::write(path, out).unwrap();
    }
    let queries = [
        SEED_QUERIES[1],
        SEED_QUERIES[2],
        SEED_QUERIES[3],
        SEED_QUERIES[4],
        "queries/06_hopping.sql",
        "queries/07_hopping_emit_changes.sql",
        "queries/08_session.sql",
        "queries/11_rows_partitioned.sql",
    ];
    let agreed = |s: &serde_json::Value| {
        serde_json::json!([
            s["records_in"],
            s["late_dropped"],
            s["max_disorder_ms"],
            s["malformed"],
            s["malformed_examples"],
            s["rows_out"]
        ])
    };
    for input in [&csv, &jsonl] {
        for q in queries {
            let run = |tag: &str, extra: &[&str]| {
                let args = [
                    &[
                        "--input",
                        input.to_str().unwrap(),
                        "--allowed-lateness",
                        "2s",
                    ],
                    extra,
                ]
                .concat();
                let (t, s) = run_query(&dir, tag, q, &args);
                assert_conserved(&s, tag);
                (t, s)
            };
            let (base, base_stats) = run("one", &["--cores", "1"]);
            for (tag, extra) in [
                ("cutter", &["--cores", "2", "--range-bytes", "0"][..]),
                ("ranges2", &["--cores", "2"]),
                ("ranges3-1000", &["--cores", "3", "--range-bytes", "1000"]),
                ("ranges2-50", &["--cores", "2", "--range-bytes", "50"]),
            ] {
                let (got, stats) = run(tag, extra);
                assert_eq!(
                    agreed(&stats),
                    agreed(&base_stats),
                    "{q} over {}: {tag}'s stats differ from 1 core",
                    input.display()
                );
                if let Err(e) = compare_seed(q, &base, &got) {
                    panic!(
                        "{q} over {}: {tag} differs from 1 core: {e}",
                        input.display()
                    );
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
