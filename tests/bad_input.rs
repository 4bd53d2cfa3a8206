//! Hostile input, one test per class of RELIABILITY.md's table: every bad record is skipped,
//! counted in `malformed` and reported with its line and reason (or stops the run under
//! `--on-error fail` with the same line and reason); errors that make the input unusable (a bad
//! header, an empty file with no `--schema`) are one clear message at open. Never a panic, and
//! every run conserves its records.
//!
//! Empty fields (and JSON `null` / missing keys) are not pinned here: they are SQL NULLs, and
//! the NULL tests own them.

mod common;
use common::*;
use std::path::Path;
use std::process::Command;

const HEADER: &str = "trade_id,trader_id,symbol,price,quantity,value,trade_time,event_time";
const GROUP_BY: &str = "queries/03_group_by.sql";
const PASSTHROUGH: &str = "queries/01_passthrough.sql";

/// A good CSV row with id `i` and times `t`.
fn row(i: u64, t: i64) -> String {
    format!("{i},T{},S{},10.5,2,21.0,{t},{t}", i % 3, i % 2)
}

struct Outcome {
    ok: bool,
    code: Option<i32>,
    stderr: String,
    stats: serde_json::Value,
    rows: Vec<Vec<String>>,
}

/// Writes `content` to `dir/name` and runs `query` over it with `extra` flags.
fn run_on(dir: &Path, name: &str, content: &[u8], query: &str, extra: &[&str]) -> Outcome {
    let input = dir.join(name);
    std::fs::write(&input, content).unwrap();
    run_file(dir, &input, query, extra)
}

fn run_file(dir: &Path, input: &Path, query: &str, extra: &[&str]) -> Outcome {
    let out = dir.join("out.csv");
    let stats = dir.join("stats.json");
    let _ = std::fs::remove_file(&out);
    let _ = std::fs::remove_file(&stats);
    let res = Command::new(env!("CARGO_BIN_EXE_shardsql"))
        .args([
            "--query",
            query,
            "--input",
            input.to_str().unwrap(),
            "--output",
            out.to_str().unwrap(),
            "--stats",
            stats.to_str().unwrap(),
        ])
        .args(extra)
        .current_dir(repo())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&res.stderr).to_string();
    assert!(
        !stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"),
        "{}: shardsql panicked:\n{stderr}",
        input.display()
    );
    let ok = res.status.success();
    let (stats, rows) = if ok {
        let s: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&stats).unwrap()).unwrap();
        assert_conserved(&s, &input.display().to_string());
        (s, read_csv(&out).rows)
    } else {
        (serde_json::Value::Null, Vec::new())
    };
    Outcome {
        ok,
        code: res.status.code(),
        stderr,
        stats,
        rows,
    }
}

/// The (line, reason) pairs of the stats' malformed examples.
fn examples(o: &Outcome) -> Vec<(u64, String)> {
    o.stats["malformed_examples"]
        .as_array()
        .unwrap_or_else(|| panic!("no malformed_examples in {}", o.stats))
        .iter()
        .map(|e| {
            (
                e["line"].as_u64().unwrap(),
                e["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// A CSV with good rows around `bad` (line 3 of the file): skip mode keeps the three good rows
/// and reports line 3 with a reason containing `reason`; fail mode stops with the same.
fn assert_bad_csv_row(dir: &Path, tag: &str, bad: &[u8], reason: &str) {
    let mut text = format!("{HEADER}\n{}\n", row(0, 1000)).into_bytes();
    text.extend_from_slice(bad);
    text.extend_from_slice(format!("\n{}\n{}\n", row(2, 1002), row(3, 1003)).as_bytes());
    for cores in ["1", "3"] {
        let o = run_on(
            dir,
            &format!("{tag}.csv"),
            &text,
            PASSTHROUGH,
            &["--cores", cores],
        );
        assert!(o.ok, "{tag}: {}", o.stderr);
        assert_eq!(o.stats["malformed"], 1, "{tag}: {}", o.stats);
        assert_eq!(o.stats["records_in"], 4, "{tag}: {}", o.stats);
        assert_eq!(o.rows.len(), 3, "{tag}");
        let ex = examples(&o);
        assert_eq!(ex[0].0, 3, "{tag}: {ex:?}");
        assert!(ex[0].1.contains(reason), "{tag}: {ex:?} lacks `{reason}`");
        assert!(
            o.stderr
                .contains(&format!("malformed    line 3: {}", ex[0].1)),
            "{tag}: the summary reports it: {}",
            o.stderr
        );
    }
    let o = run_on(
        dir,
        &format!("{tag}.csv"),
        &text,
        PASSTHROUGH,
        &["--on-error", "fail"],
    );
    assert!(
        !o.ok && o.code == Some(1),
        "{tag}: --on-error fail must stop"
    );
    assert!(
        o.stderr.starts_with("Error: --input ")
            && o.stderr.contains(".csv:3: malformed record: ")
            && o.stderr.contains(reason)
            && o.stderr.contains("(--on-error fail)"),
        "{tag}: {}",
        o.stderr
    );
}

#[test]
fn bad_input_wrong_column_count_is_skipped_with_line_and_reason() {
    let dir = scratch("bad-count");
    assert_bad_csv_row(&dir, "few", b"1,T1,S1,10.5,2", "expected 8 fields, found 5");
    assert_bad_csv_row(
        &dir,
        "many",
        b"1,T1,S1,10.5,2,21.0,1001,1001,extra",
        "expected 8 fields, found 9",
    );
    // An unterminated quote swallows the rest of the file into one field: one record, counted.
    let o = run_on(
        &dir,
        "quote.csv",
        format!("{HEADER}\n{}\n1,\"T1,S1\n{}\n", row(0, 1000), row(2, 1002)).as_bytes(),
        PASSTHROUGH,
        &[],
    );
    assert!(o.ok, "{}", o.stderr);
    assert_eq!((o.stats["malformed"].as_u64(), o.rows.len()), (Some(1), 1));
}

#[test]
fn bad_input_non_number_in_number_column_is_skipped() {
    let dir = scratch("bad-nan-text");
    assert_bad_csv_row(
        &dir,
        "price",
        b"1,T1,S1,abc,2,21.0,1001,1001",
        "column `price` (DOUBLE): cannot parse `abc`",
    );
    assert_bad_csv_row(
        &dir,
        "qty",
        b"1,T1,S1,10.5,2.5,21.0,1001,1001",
        "column `quantity` (BIGINT): cannot parse `2.5`",
    );
    assert_bad_csv_row(
        &dir,
        "time",
        b"1,T1,S1,10.5,2,21.0,yesterday,1001",
        "column `trade_time` (TIMESTAMP): cannot parse `yesterday`",
    );
}

#[test]
fn bad_input_integer_overflow_is_skipped_with_the_range() {
    let dir = scratch("bad-overflow");
    for (tag, v) in [
        ("pos", "9223372036854775808"),
        ("neg", "-9223372036854775809"),
    ] {
        assert_bad_csv_row(
            &dir,
            tag,
            format!("1,T1,S1,10.5,{v},21.0,1001,1001").as_bytes(),
            &format!("column `quantity` (BIGINT): `{v}` is out of the BIGINT range"),
        );
    }
    // The extremes themselves are valid, and summing them wraps rather than panics.
    let o = run_on(
        &dir,
        "extremes.csv",
        format!(
            "{HEADER}\n0,A,X,1.0,9223372036854775807,1.0,1000,1000\n1,A,X,1.0,9223372036854775807,1.0,1001,1001\n"
        )
        .as_bytes(),
        "queries/01_passthrough.sql",
        &[],
    );
    assert!(o.ok, "{}", o.stderr);
    assert_eq!(o.rows.len(), 2);
    assert_eq!(o.rows[0][4], "9223372036854775807");
}

#[test]
fn bad_input_nan_and_infinite_doubles_are_rejected() {
    let dir = scratch("bad-inf");
    for (tag, v) in [
        ("nan", "NaN"),
        ("inf", "inf"),
        ("neg_inf", "-inf"),
        ("infinity", "Infinity"),
        ("huge", "1e400"),
    ] {
        assert_bad_csv_row(
            &dir,
            tag,
            format!("1,T1,S1,{v},2,21.0,1001,1001").as_bytes(),
            &format!("column `price` (DOUBLE): `{v}` is not a finite number"),
        );
    }
    // A column of an unknown name is not inferred as DOUBLE from `nan` / `inf` words.
    let o = run_on(
        &dir,
        "words.csv",
        b"name,n\nnan,1\ninf,2\n",
        PASSTHROUGH,
        &[],
    );
    assert!(o.ok, "{}", o.stderr);
    assert_eq!(o.rows, [["nan", "1"], ["inf", "2"]]);
}

#[test]
fn bad_input_timestamps_outside_years_1_to_9999_are_rejected() {
    let dir = scratch("bad-time");
    for (tag, v) in [
        ("max", "9223372036854775807"),
        ("min", "-9223372036854775808"),
        ("year10000", "253402300800000"),
        ("year0", "-62135596800001"),
    ] {
        assert_bad_csv_row(
            &dir,
            tag,
            format!("1,T1,S1,10.5,2,21.0,{v},1001").as_bytes(),
            &format!("column `trade_time` (TIMESTAMP): `{v}` is outside the TIMESTAMP range"),
        );
    }
    // The range's ends and times before 1970 are valid, and windows over them are epoch-aligned.
    let o = run_on(
        &dir,
        "edges.csv",
        format!(
            "{HEADER}\n{}\n{}\n{}\n{}\n",
            row(0, -62135596800000),
            row(1, -90_000),
            row(2, -30_000),
            row(3, 253402300799999)
        )
        .as_bytes(),
        "queries/04_tumbling.sql",
        &["--cores", "2"],
    );
    assert!(o.ok, "{}", o.stderr);
    assert_eq!(o.stats["malformed"], 0);
    assert_eq!(o.stats["late_dropped"], 0);
    // Four records in four distinct one-minute windows (two groups each at most).
    let counts: u64 = o.rows.iter().map(|r| r[2].parse::<u64>().unwrap()).sum();
    assert_eq!(counts, 4, "{:?}", o.rows);
}

#[test]
fn bad_input_invalid_utf8_in_a_field_is_skipped_and_in_the_header_is_an_error() {
    let dir = scratch("bad-utf8");
    assert_bad_csv_row(
        &dir,
        "field",
        b"1,T\xff\xfe,S1,10.5,2,21.0,1001,1001",
        "column `trader_id` is not valid UTF-8",
    );
    let o = run_on(
        &dir,
        "header.csv",
        b"trade_id,trad\xffer_id\n1,2\n",
        PASSTHROUGH,
        &[],
    );
    assert!(!o.ok && o.code == Some(1));
    assert!(
        o.stderr
            .contains("header.csv: header column 2 is not valid UTF-8"),
        "{}",
        o.stderr
    );
    let o = run_on(
        &dir,
        "field.jsonl",
        b"{\"trade_id\":1,\"s\":\"a\"}\n{\"trade_id\":2,\"s\":\"b\xff\"}\n{\"trade_id\":3,\"s\":\"c\"}\n",
        PASSTHROUGH,
        &[],
    );
    assert!(o.ok, "{}", o.stderr);
    assert_eq!(o.rows.len(), 2);
    let ex = examples(&o);
    assert_eq!(ex[0].0, 2);
    assert!(
        ex[0].1.starts_with("not a JSON object: invalid unicode"),
        "{ex:?}"
    );
}

#[test]
fn bad_input_ten_megabyte_lines_are_processed_or_skipped() {
    let dir = scratch("bad-huge");
    let big = "x".repeat(10 << 20);
    let text = format!(
        "{HEADER}\n{}\n1,{big},S1,10.5,2,21.0,1001,1001\n2,{big},S1,10.5,2\n{}\n",
        row(0, 1000),
        row(3, 1003)
    );
    let o = run_on(
        &dir,
        "huge.csv",
        text.as_bytes(),
        GROUP_BY,
        &["--cores", "2"],
    );
    assert!(o.ok, "{}", o.stderr);
    assert_eq!(o.stats["records_in"], 4);
    assert_eq!(o.stats["malformed"], 1);
    assert_eq!(examples(&o)[0], (4, "expected 8 fields, found 5".into()));
    assert!(
        o.rows.iter().any(|r| r[0].len() == big.len()),
        "the 10 MB key is a group"
    );
    let json = format!(
        "{{\"k\":\"a\",\"n\":1}}\n{{\"k\":\"{big}\",\"n\":2}}\n{{\"k\":\"{big}\",\"n\":\"x\"}}\n"
    );
    let o = run_on(
        &dir,
        "huge.jsonl",
        json.as_bytes(),
        PASSTHROUGH,
        &["--schema", "n:bigint"],
    );
    assert!(o.ok, "{}", o.stderr);
    assert_eq!(o.rows.len(), 2);
    assert_eq!(examples(&o)[0].0, 3);
}

#[test]
fn bad_input_empty_file_is_a_clear_error_or_with_schema_a_clean_empty_run() {
    let dir = scratch("bad-empty");
    for (name, content) in [
        ("empty.csv", &b""[..]),
        ("newline.csv", b"\n"),
        ("empty.jsonl", b""),
        ("blank.jsonl", b"\n  \n"),
    ] {
        let o = run_on(&dir, name, content, PASSTHROUGH, &[]);
        assert!(!o.ok && o.code == Some(1), "{name}");
        assert!(
            o.stderr.contains(&format!("{name}: the file is empty"))
                && o.stderr.contains("--schema"),
            "{name}: {}",
            o.stderr
        );
        let o = run_on(
            &dir,
            name,
            content,
            GROUP_BY,
            &["--schema", "trader_id:varchar,symbol:varchar,price:double"],
        );
        assert!(o.ok, "{name}: {}", o.stderr);
        assert_eq!(o.stats["records_in"], 0);
        assert!(o.rows.is_empty());
    }
}

#[test]
fn bad_input_header_only_is_a_clean_run_in_every_mode() {
    let dir = scratch("bad-header-only");
    for q in SEED_QUERIES {
        for extra in [
            &["--mode", "v1"][..],
            &["--mode", "mutex", "--cores", "2"],
            &["--cores", "3"],
            &["--cores", "2", "--preload"],
        ] {
            let o = run_on(&dir, "h.csv", format!("{HEADER}\n").as_bytes(), q, extra);
            assert!(o.ok, "{q} {extra:?}: {}", o.stderr);
            assert_eq!(o.stats["records_in"], 0);
            assert!(o.rows.is_empty());
        }
    }
}

#[test]
fn bad_input_duplicate_header_names_are_an_error_with_positions() {
    let dir = scratch("bad-dup");
    let o = run_on(
        &dir,
        "dup.csv",
        b"trade_id,symbol,Symbol\n1,a,b\n",
        PASSTHROUGH,
        &[],
    );
    assert!(!o.ok && o.code == Some(1));
    assert!(
        o.stderr
            .contains("dup.csv: the header names column `Symbol` twice (columns 2 and 3"),
        "{}",
        o.stderr
    );
    let o = run_on(&dir, "nameless.csv", b"a,,b\n1,2,3\n", PASSTHROUGH, &[]);
    assert!(
        o.stderr.contains("header column 2 has no name"),
        "{}",
        o.stderr
    );
    // JSON lines: a repeated key in the first object names the columns twice; in a later
    // object it is a malformed record, never a silent choice between the two values.
    let o = run_on(&dir, "dup.jsonl", b"{\"a\":1,\"a\":2}\n", PASSTHROUGH, &[]);
    assert!(!o.ok);
    assert!(o.stderr.contains("duplicate key `a`"), "{}", o.stderr);
    let o = run_on(
        &dir,
        "dup2.jsonl",
        b"{\"a\":1,\"b\":2}\n{\"a\":3,\"b\":4,\"a\":5}\n{\"a\":6,\"b\":7}\n",
        PASSTHROUGH,
        &[],
    );
    assert!(o.ok, "{}", o.stderr);
    assert_eq!(o.rows, [["1", "2"], ["6", "7"]]);
    let ex = examples(&o);
    assert_eq!(ex[0].0, 2);
    assert!(ex[0].1.contains("duplicate key `a`"), "{ex:?}");
}

#[test]
fn bad_input_missing_header_column_names_the_columns_the_file_has() {
    let dir = scratch("bad-missing");
    let o = run_on(
        &dir,
        "m.csv",
        b"trade_id,symbol,price\n1,A,2.0\n",
        GROUP_BY,
        &[],
    );
    assert!(!o.ok && o.code == Some(1));
    assert!(
        o.stderr.contains("unknown column `trader_id`")
            && o.stderr
                .contains("m.csv has the columns: trade_id, symbol, price"),
        "{}",
        o.stderr
    );
    // `--schema` naming a column the file lacks is a flag error.
    let o = run_on(
        &dir,
        "m.csv",
        b"trade_id,symbol,price\n1,A,2.0\n",
        PASSTHROUGH,
        &["--schema", "quantity:bigint"],
    );
    assert_eq!(o.code, Some(2), "{}", o.stderr);
    assert!(
        o.stderr.contains("--schema names column `quantity`"),
        "{}",
        o.stderr
    );
}

#[test]
fn bad_input_json_lines_non_objects_nested_values_and_bad_numbers_are_skipped() {
    let dir = scratch("bad-json");
    let text = "{\"id\":1,\"price\":1.5,\"s\":\"a\"}\n\
                [1,2,3]\n\
                {\"id\":2,\"price\":{\"x\":1},\"s\":\"b\"}\n\
                {\"id\":3,\"price\":1.5,\"s\":[\"b\"]}\n\
                {\"id\":4,\"price\":1e400,\"s\":\"b\"}\n\
                {\"id\":5,\"price\":\"NaN\",\"s\":\"b\"}\n\
                {\"id\":18446744073709551615,\"price\":1.5,\"s\":\"b\"}\n\
                {\"id\":6,\"price\":2.5,\"s\":\"c\"}\n\
                {\"id\":7,\"price\":true,\"s\":\"c\"}\n\
                not json at all\n";
    let o = run_on(
        &dir,
        "j.jsonl",
        text.as_bytes(),
        PASSTHROUGH,
        &["--schema", "id:bigint,price:double"],
    );
    assert!(o.ok, "{}", o.stderr);
    assert_eq!(o.rows, [["1", "1.5", "a"], ["6", "2.5", "c"]]);
    assert_eq!(o.stats["malformed"], 8);
    let ex = examples(&o);
    let want = [
        (
            2,
            "not a JSON object: invalid type: sequence, expected a JSON object",
        ),
        (3, "field `price` is an object"),
        (4, "field `s` is an array"),
        (5, "not a JSON object: number out of range"),
        (6, "column `price` (DOUBLE): `NaN` is not a finite number"),
    ];
    for ((line, reason), (got_line, got)) in want.iter().zip(&ex) {
        assert_eq!(line, got_line, "{ex:?}");
        assert!(
            got.contains(reason),
            "line {line}: `{got}` lacks `{reason}`"
        );
    }
    let o = run_on(
        &dir,
        "j.jsonl",
        text.as_bytes(),
        PASSTHROUGH,
        &["--schema", "id:bigint,price:double", "--on-error", "fail"],
    );
    assert!(!o.ok);
    assert!(
        o.stderr
            .contains("j.jsonl:2: malformed record: not a JSON object"),
        "{}",
        o.stderr
    );
}

#[test]
fn bad_input_examples_are_the_first_lines_and_the_rest_are_counted() {
    let dir = scratch("bad-many");
    let mut text = format!("{HEADER}\n");
    for i in 0..3000u64 {
        // Every 7th row has too few fields (a reader error found while sampling types), every
        // 11th a bad price (found when the row is parsed): reports arrive out of line order.
        if i % 7 == 3 {
            text.push_str("1,2,3\n");
        } else if i % 11 == 5 {
            text.push_str(&format!("{i},T,S,bad,1,1.0,{i},{i}\n"));
        } else {
            text.push_str(&row(i, i as i64));
            text.push('\n');
        }
    }
    let o = run_on(
        &dir,
        "many.csv",
        text.as_bytes(),
        GROUP_BY,
        &["--cores", "2"],
    );
    assert!(o.ok, "{}", o.stderr);
    let bad = (0..3000u64).filter(|i| i % 7 == 3 || i % 11 == 5).count() as u64;
    assert_eq!(o.stats["malformed"].as_u64(), Some(bad));
    let lines: Vec<u64> = examples(&o).iter().map(|e| e.0).collect();
    // Rows 3, 5, 10, 16, 17 are the first bad ones: file lines 5, 7, 12, 18, 19.
    assert_eq!(lines, [5, 7, 12, 18, 19]);
    assert!(
        o.stderr.contains(&format!("... and {} more", bad - 5)),
        "{}",
        o.stderr
    );
}
