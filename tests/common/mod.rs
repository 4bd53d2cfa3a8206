//! Helpers shared by the end-to-end tests: run the binary, read its CSV output and stats, and
//! compare result sets as multisets (floats within a relative 1e-9), as per-key changelogs,
//! or in order; fold an EMIT CHANGES changelog into the result it stands for.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

pub const SEED_QUERIES: [&str; 5] = [
    "queries/01_passthrough.sql",
    "queries/02_rows_window.sql",
    "queries/03_group_by.sql",
    "queries/04_tumbling.sql",
    "queries/05_tumbling_emit_changes.sql",
];

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A fresh scratch directory for one test.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("shardsql-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `shardsql args...` in the repo root; panics with its stderr unless it succeeds.
pub fn shardsql(args: &[&str]) -> std::process::Output {
    let out = Command::new(env!("CARGO_BIN_EXE_shardsql"))
        .args(args)
        .current_dir(repo())
        .output()
        .expect("run shardsql");
    assert!(
        out.status.success(),
        "shardsql {} failed:\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A result set: the header and the rows as text.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

pub fn read_csv(path: &Path) -> Table {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    read_csv_text(&bytes)
}

pub fn read_csv_text(text: &[u8]) -> Table {
    let mut r = csv::Reader::from_reader(text);
    let header = r.headers().unwrap().iter().map(str::to_string).collect();
    let rows = r
        .records()
        .map(|rec| rec.unwrap().iter().map(str::to_string).collect())
        .collect();
    Table { header, rows }
}

/// Runs `sql` in DuckDB (the oracle) over the CSV file, as a table `market_data`.
pub fn duckdb(csv: &Path, sql: &str) -> Table {
    let out = Command::new("python3")
        .arg(repo().join("scripts/duckdb_query.py"))
        .arg(csv)
        .arg(sql)
        .output()
        .expect("python3 must be installed");
    assert!(
        out.status.success(),
        "DuckDB failed (install it with `pip install duckdb`; scripts/test.sh does):\n{}\n{sql}",
        String::from_utf8_lossy(&out.stderr)
    );
    read_csv_text(&out.stdout)
}

/// Runs a query into a CSV file and returns its rows and the stats JSON.
pub fn run_query(dir: &Path, tag: &str, query: &str, extra: &[&str]) -> (Table, serde_json::Value) {
    let out = dir.join(format!("{tag}.csv"));
    let stats = dir.join(format!("{tag}.json"));
    let mut args = vec![
        "--query",
        query,
        "--output",
        out.to_str().unwrap(),
        "--stats",
        stats.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    shardsql(&args);
    let table = read_csv(&out);
    let stats: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&stats).unwrap()).unwrap();
    (table, stats)
}

/// Checks `records_in = Σ shards.records + filtered + late_dropped + malformed`.
pub fn assert_conserved(stats: &serde_json::Value, context: &str) {
    let n = |k: &str| {
        stats[k]
            .as_u64()
            .unwrap_or_else(|| panic!("stats lack {k}: {stats}"))
    };
    let processed: u64 = stats["shards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["records"].as_u64().unwrap())
        .sum();
    assert_eq!(
        n("records_in"),
        processed + n("filtered") + n("late_dropped") + n("malformed"),
        "{context}: records are not conserved: {stats}"
    );
}

#[derive(Debug, Clone, PartialEq)]
enum Cell {
    Num(f64),
    Text(String),
}

fn cell(s: &str) -> Cell {
    match s.trim().parse::<f64>() {
        Ok(x) => Cell::Num(x),
        Err(_) => Cell::Text(s.to_string()),
    }
}

fn close(a: f64, b: f64) -> bool {
    a == b || (a.is_nan() && b.is_nan()) || (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1e-300)
}

fn rows_equal(a: &[String], b: &[String]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| match (cell(x), cell(y)) {
            (Cell::Num(x), Cell::Num(y)) => close(x, y),
            (x, y) => x == y,
        })
}

/// Sorts rows so that rows equal within tolerance line up: exact cells (text, integers) first
/// as text, then float cells by numeric value (never by rounded text, which can straddle a
/// rounding boundary).
fn sort_rows(rows: &mut [Vec<String>]) {
    rows.sort_by_cached_key(|row| {
        let mut exact = Vec::new();
        let mut floats = Vec::new();
        for c in row {
            match (c.trim().parse::<i64>(), c.trim().parse::<f64>()) {
                (Ok(_), _) | (Err(_), Err(_)) => exact.push(c.clone()),
                // The bit trick behind f64::total_cmp, as an integer key.
                (Err(_), Ok(x)) => {
                    let b = x.to_bits() as i64;
                    floats.push(b ^ ((((b >> 63) as u64) >> 1) as i64));
                }
            }
        }
        (exact, floats)
    });
}

fn describe_first_difference(a: &[Vec<String>], b: &[Vec<String>]) -> String {
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        if !rows_equal(x, y) {
            return format!("row {i}: {x:?} vs {y:?}");
        }
    }
    format!("{} rows vs {} rows", a.len(), b.len())
}

/// Equal as multisets of rows.
pub fn same_multiset(a: &Table, b: &Table) -> Result<(), String> {
    if a.header.len() != b.header.len() {
        return Err(format!("headers differ: {:?} vs {:?}", a.header, b.header));
    }
    let mut x = a.rows.clone();
    let mut y = b.rows.clone();
    sort_rows(&mut x);
    sort_rows(&mut y);
    if x.len() == y.len() && x.iter().zip(&y).all(|(p, q)| rows_equal(p, q)) {
        Ok(())
    } else {
        Err(describe_first_difference(&x, &y))
    }
}

/// Equal row by row, in order.
pub fn same_sequence(a: &Table, b: &Table) -> Result<(), String> {
    if a.rows.len() == b.rows.len() && a.rows.iter().zip(&b.rows).all(|(p, q)| rows_equal(p, q)) {
        Ok(())
    } else {
        Err(describe_first_difference(&a.rows, &b.rows))
    }
}

/// Equal as changelogs: per key (the columns `key_cols`), the same rows in the same order.
pub fn same_changelog(a: &Table, b: &Table, key_cols: &[usize]) -> Result<(), String> {
    use std::collections::BTreeMap;
    let by_key = |t: &Table| {
        let mut m: BTreeMap<Vec<String>, Vec<Vec<String>>> = BTreeMap::new();
        for r in &t.rows {
            m.entry(key_cols.iter().map(|&k| r[k].clone()).collect())
                .or_default()
                .push(r.clone());
        }
        m
    };
    let (x, y) = (by_key(a), by_key(b));
    if x.keys().ne(y.keys()) {
        return Err(format!("key sets differ: {} vs {} keys", x.len(), y.len()));
    }
    for (k, xs) in &x {
        let ys = &y[k];
        if xs.len() != ys.len() || !xs.iter().zip(ys).all(|(p, q)| rows_equal(p, q)) {
            return Err(format!("key {k:?}: {}", describe_first_difference(xs, ys)));
        }
    }
    Ok(())
}

/// How many `+I`, `+U`, `-D` and `-U` rows a changelog had.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub insert: usize,
    pub update: usize,
    pub delete: usize,
    pub retract: usize,
}

/// Folds an EMIT CHANGES changelog (`op` in column 0) by the columns `key`: `+I` inserts a key
/// that must not be visible, `+U` replaces the row of a visible key, `-D` deletes a visible key.
/// Returns the visible rows (without the op column), which is what EMIT FINAL gives once every
/// window has closed, and the op counts.
pub fn fold_changelog(t: &Table, key: &[usize]) -> Result<(Table, Counts), String> {
    fold_changelog_as(t, key, false)
}

/// `fold_changelog` for the upsert form, or with `retract` for the retract form
/// (`--changelog retract`): there `-U` and `-D` must carry exactly the key's visible row, and
/// each `-U` is followed, for its key, by the `+U` that replaces it.
pub fn fold_changelog_as(
    t: &Table,
    key: &[usize],
    retract: bool,
) -> Result<(Table, Counts), String> {
    use std::collections::{BTreeMap, BTreeSet};
    if t.header.first().map(String::as_str) != Some("op") {
        return Err(format!("the first column is not `op`: {:?}", t.header));
    }
    let mut visible: BTreeMap<Vec<String>, Vec<String>> = BTreeMap::new();
    // Retract form: keys whose `-U` awaits its `+U`.
    let mut retracted: BTreeSet<Vec<String>> = BTreeSet::new();
    let mut counts = Counts::default();
    for (i, row) in t.rows.iter().enumerate() {
        let k: Vec<String> = key.iter().map(|&c| row[c].clone()).collect();
        let values = row[1..].to_vec();
        if retracted.contains(&k) && row[0] != "+U" {
            return Err(format!(
                "row {i}: -U of key {k:?} not followed by +U: {row:?}"
            ));
        }
        match row[0].as_str() {
            "+I" => {
                counts.insert += 1;
                if visible.insert(k.clone(), values).is_some() {
                    return Err(format!("row {i}: +I of visible key {k:?}: {row:?}"));
                }
            }
            "+U" if retract => {
                counts.update += 1;
                if !retracted.remove(&k) || visible.insert(k.clone(), values).is_some() {
                    return Err(format!("row {i}: +U of key {k:?} without -U: {row:?}"));
                }
            }
            "+U" => {
                counts.update += 1;
                if visible.insert(k.clone(), values).is_none() {
                    return Err(format!("row {i}: +U of key {k:?} not visible: {row:?}"));
                }
            }
            op @ ("-D" | "-U") => {
                if op == "-D" {
                    counts.delete += 1;
                } else if retract {
                    counts.retract += 1;
                    retracted.insert(k.clone());
                } else {
                    return Err(format!("row {i}: -U in an upsert changelog: {row:?}"));
                }
                match visible.remove(&k) {
                    None => return Err(format!("row {i}: {op} of key {k:?} not visible: {row:?}")),
                    Some(old) if retract && !rows_equal(&old, &values) => {
                        return Err(format!(
                            "row {i}: {op} of key {k:?} does not carry its visible row {old:?}: {row:?}"
                        ));
                    }
                    Some(_) => {}
                }
            }
            op => return Err(format!("row {i}: unknown op {op:?}")),
        }
    }
    if let Some(k) = retracted.first() {
        return Err(format!("-U of key {k:?} never followed by +U"));
    }
    let folded = Table {
        header: t.header[1..].to_vec(),
        rows: visible.into_values().collect(),
    };
    Ok((folded, counts))
}

/// How a seed query's results must be compared.
pub fn compare_seed(query: &str, a: &Table, b: &Table) -> Result<(), String> {
    if query.contains("emit_changes") {
        // `op`, then the changelog key (trader_id, symbol; one window at a time per key).
        same_changelog(a, b, &[1, 2])?;
        same_multiset(a, b)
    } else if query.contains("rows_window") {
        same_sequence(a, b)
    } else {
        same_multiset(a, b)
    }
}

/// Runs `shardsql args...` expecting failure; returns stderr, which must hold no panic.
pub fn shardsql_fails(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_shardsql"))
        .args(args)
        .current_dir(repo())
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "shardsql {} should fail",
        args.join(" ")
    );
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        !err.contains("panicked"),
        "a user error must not panic:\n{err}"
    );
    err
}

/// A tiny xorshift PRNG: generated inputs are the same on every machine.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Uniform-ish in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Waits for `child`, killing it and failing the test if it has not exited within `limit`.
pub fn wait_or_hang(
    child: &mut std::process::Child,
    limit: std::time::Duration,
    what: &str,
) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("{what}: still running after {limit:?} (a hang)");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Sends signal `sig` (`INT`, `TERM`, ...) to `child`.
pub fn signal(child: &std::process::Child, sig: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{sig}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success(), "kill -{sig}");
}

/// Waits for `child` and returns its stderr.
pub fn stderr_of(child: std::process::Child) -> String {
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stderr).to_string()
}
