//! EMIT CHANGES is an upsert changelog (`op` first: `+I`, `+U`, `-D`) keyed by the GROUP BY key
//! and the window. For each query below, over generated input with disorder and an allowed
//! lateness (so late records and bridged sessions occur), in v1, mutex and v2 at 1 to 4 shards:
//! every `+I` names a key that is not visible, every `+U` and `-D` one that is; folding the
//! changelog by key (`+I`/`+U` upsert, `-D` delete) gives exactly the same query's EMIT FINAL
//! result; and the changelog is the same per key in every configuration.

mod common;
use common::*;

struct Case {
    name: &'static str,
    /// The query with EMIT CHANGES; EMIT FINAL replaces it for the expected result.
    sql: &'static str,
    /// The output columns (counting `op` as column 0) that make a changelog key.
    key: &'static [usize],
    /// Generator arguments.
    gen_args: &'static [&'static str],
    /// Whether the changelog must withdraw rows (`-D`) for this input.
    withdraws: bool,
}

const MANY_KEYS: &[&str] = &[
    "--records",
    "20000",
    "--seed",
    "5",
    "--traders",
    "200",
    "--symbols",
    "40",
    "--disorder-ms",
    "3000",
    "--allowed-lateness",
    "1s",
];

const FEW_KEYS: &[&str] = &[
    "--records",
    "30000",
    "--seed",
    "17",
    "--traders",
    "9",
    "--symbols",
    "5",
    "--disorder-ms",
    "2500",
    "--allowed-lateness",
    "700ms",
];

/// Sessions: a trader trades every ~9 ms; disorder up to 60 ms against a 20 ms lateness makes
/// late records (lag > gap + lateness) and records that bridge or extend earlier sessions.
const SESSIONS: &[&str] = &[
    "--records",
    "20000",
    "--seed",
    "29",
    "--traders",
    "9",
    "--symbols",
    "5",
    "--disorder-ms",
    "60",
    "--allowed-lateness",
    "20ms",
];

const CASES: &[Case] = &[
    Case {
        name: "having_count_below_3",
        sql: "SELECT trader_id, symbol, COUNT(*) AS n, SUM(quantity) AS q FROM market_data GROUP BY trader_id, symbol HAVING COUNT(*) < 3 EMIT CHANGES",
        key: &[1, 2],
        gen_args: MANY_KEYS,
        withdraws: true,
    },
    Case {
        name: "group_by_no_having",
        sql: "SELECT symbol, COUNT(*) AS n, AVG(price) AS p, MAX(quantity) AS hi FROM market_data GROUP BY symbol EMIT CHANGES",
        key: &[1],
        gen_args: FEW_KEYS,
        withdraws: false,
    },
    Case {
        name: "having_sum_up_and_down",
        sql: "SELECT symbol, COUNT(*) AS n, SUM(quantity - 500) AS drift FROM market_data GROUP BY symbol HAVING SUM(quantity - 500) > 0 EMIT CHANGES",
        key: &[1],
        gen_args: FEW_KEYS,
        withdraws: true,
    },
    Case {
        name: "tumbling_having_sum_up_and_down",
        sql: "SELECT trader_id, window_start, window_end, COUNT(*) AS n, SUM(quantity - 500) AS drift FROM market_data GROUP BY trader_id WINDOW TUMBLING (trade_time, INTERVAL '1' SECOND) HAVING SUM(quantity - 500) > 0 EMIT CHANGES",
        key: &[1, 2],
        gen_args: FEW_KEYS,
        withdraws: true,
    },
    Case {
        name: "tumbling_no_having",
        sql: "SELECT trader_id, symbol, window_start, COUNT(*) AS n, AVG(price) AS p FROM market_data GROUP BY trader_id, symbol WINDOW TUMBLING (trade_time, INTERVAL '1' SECOND) EMIT CHANGES",
        key: &[1, 2, 3],
        gen_args: FEW_KEYS,
        withdraws: false,
    },
    Case {
        name: "hopping_having_count_below_40",
        sql: "SELECT symbol, window_start, COUNT(*) AS n, MIN(price) AS lo FROM market_data GROUP BY symbol WINDOW HOPPING (trade_time, INTERVAL '2' SECOND, INTERVAL '500' MILLISECOND) HAVING COUNT(*) < 40 EMIT CHANGES",
        key: &[1, 2],
        gen_args: FEW_KEYS,
        withdraws: true,
    },
    Case {
        name: "hopping_no_having",
        sql: "SELECT trader_id, window_start, window_end, COUNT(*) AS n, SUM(quantity) AS q FROM market_data GROUP BY trader_id WINDOW HOPPING (trade_time, INTERVAL '2' SECOND, INTERVAL '500' MILLISECOND) EMIT CHANGES",
        key: &[1, 2],
        gen_args: FEW_KEYS,
        withdraws: false,
    },
    Case {
        name: "session_merges",
        sql: "SELECT trader_id, window_start, window_end, COUNT(*) AS n, SUM(quantity) AS q FROM market_data GROUP BY trader_id WINDOW SESSION (trade_time, INTERVAL '15' MILLISECOND) EMIT CHANGES",
        key: &[1, 2, 3],
        gen_args: SESSIONS,
        withdraws: true,
    },
    Case {
        name: "session_merges_having",
        sql: "SELECT trader_id, window_start, window_end, COUNT(*) AS n, SUM(quantity - 500) AS drift FROM market_data GROUP BY trader_id WINDOW SESSION (trade_time, INTERVAL '15' MILLISECOND) HAVING COUNT(*) BETWEEN 2 AND 4 AND SUM(quantity - 500) < 300 EMIT CHANGES",
        key: &[1, 2, 3],
        gen_args: SESSIONS,
        withdraws: true,
    },
];

fn configurations() -> Vec<(&'static str, Vec<&'static str>)> {
    vec![
        ("v1", vec!["--mode", "v1"]),
        ("mutex2", vec!["--mode", "mutex", "--cores", "2"]),
        ("v2_1", vec!["--mode", "v2", "--cores", "1"]),
        ("v2_2", vec!["--mode", "v2", "--cores", "2"]),
        ("v2_3", vec!["--mode", "v2", "--cores", "3"]),
        ("v2_4_threads", vec!["--cores", "4", "--runtime", "threads"]),
    ]
}

fn check_case(case: &Case) {
    check_case_as(case, false);
}

/// `check_case`, the changelog in the retract form (`--changelog retract`) when `retract`.
fn check_case_as(case: &Case, retract: bool) {
    let dir = scratch(&format!("changelog-{}-{retract}", case.name));
    let changes = dir.join("changes.sql");
    std::fs::write(&changes, case.sql).unwrap();
    let final_sql = dir.join("final.sql");
    std::fs::write(&final_sql, case.sql.replace("EMIT CHANGES", "EMIT FINAL")).unwrap();
    let (expected, final_stats) = run_query(
        &dir,
        "final",
        final_sql.to_str().unwrap(),
        &[&["--cores", "2"], case.gen_args].concat(),
    );
    assert!(
        !expected.rows.is_empty(),
        "{}: EMIT FINAL gave no rows",
        case.name
    );
    let mut base: Option<Table> = None;
    let form: &[&str] = if retract {
        &["--changelog", "retract"]
    } else {
        &[]
    };
    for (tag, args) in configurations() {
        let (log, stats) = run_query(
            &dir,
            tag,
            changes.to_str().unwrap(),
            &[&args[..], case.gen_args, form].concat(),
        );
        assert_conserved(&stats, tag);
        assert_eq!(
            stats["late_dropped"], final_stats["late_dropped"],
            "{} {tag}: late counts differ from EMIT FINAL",
            case.name
        );
        let (folded, counts) = fold_changelog_as(&log, case.key, retract)
            .unwrap_or_else(|e| panic!("{} {tag}: {e}", case.name));
        assert!(counts.insert > 0, "{} {tag}: no +I", case.name);
        assert_eq!(
            counts.retract > 0,
            retract && counts.update > 0,
            "{} {tag}: {counts:?}",
            case.name
        );
        assert_eq!(
            counts.delete > 0,
            case.withdraws,
            "{} {tag}: {counts:?}",
            case.name
        );
        if let Err(e) = same_multiset(&folded, &expected) {
            panic!(
                "{} {tag}: the folded changelog differs from EMIT FINAL: {e}",
                case.name
            );
        }
        match &base {
            None => base = Some(log),
            Some(b) => {
                if let Err(e) = same_changelog(b, &log, case.key) {
                    panic!("{} {tag}: the changelog differs from v1's: {e}", case.name);
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn changelog_having_count_below_3_withdraws_groups() {
    check_case(&CASES[0]);
}

#[test]
fn changelog_group_by_without_having_inserts_then_updates() {
    check_case(&CASES[1]);
}

#[test]
fn changelog_having_on_a_sum_that_goes_up_and_down() {
    check_case(&CASES[2]);
}

#[test]
fn changelog_tumbling_with_and_without_having() {
    check_case(&CASES[3]);
    check_case(&CASES[4]);
}

#[test]
fn changelog_hopping_with_and_without_having() {
    check_case(&CASES[5]);
    check_case(&CASES[6]);
}

#[test]
fn changelog_session_merges_withdraw_the_absorbed_windows() {
    check_case(&CASES[7]);
    check_case(&CASES[8]);
}

/// The retract form: `-U` with exactly the old row before each `+U`, `-D` with the last
/// emitted row, for HAVING, tumbling, hopping and merging sessions.
#[test]
fn changelog_retract_form_carries_the_old_rows() {
    for case in [0, 2, 4, 5, 7, 8].map(|i| &CASES[i]) {
        check_case_as(case, true);
    }
}

/// The checks must be able to fail: a changelog that never withdraws (the old behaviour) or
/// one with a dropped row is caught.
#[test]
fn changelog_fold_detects_missing_withdrawals_and_bad_ops() {
    let t = |rows: &[&[&str]]| Table {
        header: vec!["op".into(), "k".into(), "n".into()],
        rows: rows
            .iter()
            .map(|r| r.iter().map(|s| s.to_string()).collect())
            .collect(),
    };
    let ok = t(&[&["+I", "a", "1"], &["+U", "a", "2"], &["-D", "a", "3"]]);
    let (folded, counts) = fold_changelog(&ok, &[1]).unwrap();
    assert!(folded.rows.is_empty());
    assert_eq!((counts.insert, counts.update, counts.delete), (1, 1, 1));
    let retracted = t(&[&["+I", "a", "1"], &["-U", "a", "1"], &["+U", "a", "2"]]);
    assert!(fold_changelog_as(&retracted, &[1], true).is_ok());
    assert!(fold_changelog(&retracted, &[1]).is_err());
    let wrong_old = t(&[&["+I", "a", "1"], &["-U", "a", "5"], &["+U", "a", "2"]]);
    assert!(fold_changelog_as(&wrong_old, &[1], true).is_err());
    let no_update = t(&[&["+I", "a", "1"], &["-U", "a", "1"], &["-D", "a", "1"]]);
    assert!(fold_changelog_as(&no_update, &[1], true).is_err());
    assert!(fold_changelog(&t(&[&["+I", "a", "1"], &["+I", "a", "2"]]), &[1]).is_err());
    assert!(fold_changelog(&t(&[&["+U", "a", "1"]]), &[1]).is_err());
    assert!(fold_changelog(&t(&[&["-D", "a", "1"]]), &[1]).is_err());
    // Without withdrawals a HAVING COUNT(*) < 2 changelog keeps a row EMIT FINAL lacks.
    let stale = t(&[&["+I", "a", "1"]]);
    let (folded, _) = fold_changelog(&stale, &[1]).unwrap();
    let expected = Table {
        header: vec!["k".into(), "n".into()],
        rows: vec![],
    };
    assert!(same_multiset(&folded, &expected).is_err());
}
