//! Differential input tests: hostile CSV and JSON-lines files — stray quotes inside unquoted
//! fields, quoted newlines, doubled quotes, CR, LF and CRLF endings, blank lines, a BOM,
//! invalid UTF-8, wrong field counts, bad numbers, random bytes — read at 1, 2 and 3 cores
//! (2 and 3 cut the file into chunks parsed in parallel) must give identical stats (records
//! in, malformed count and first examples with their line numbers, rows out) and identical
//! results. The inputs are larger than a few input blocks, so chunk boundaries fall among the
//! hostile records.

mod common;
use common::*;

/// Records per file: more than three input blocks of 4,096.
const LINES: usize = 14_000;
/// Well-formed records at the start, so the sampled types are BIGINT, VARCHAR, DOUBLE.
const CLEAN: u64 = 1_100;

/// A CSV file of `id,name,v` whose records are mostly well formed, with every kind of hostile
/// record mixed in at random places.
fn hostile_csv(seed: u64) -> Vec<u8> {
    let mut r = Rng(seed);
    let mut out = b"\xEF\xBB\xBFid,name,v\n".to_vec();
    // Clean records first, so the inferred types are BIGINT, VARCHAR, DOUBLE.
    for id in 0..CLEAN {
        out.extend_from_slice(format!("{id},dev-{},{}.5\n", id % 7, id).as_bytes());
    }
    for id in CLEAN..LINES as u64 {
        let v = r.below(1000);
        let k = r.below(9);
        let line: Vec<u8> = match r.below(40) {
            0 => format!("{id},TV 55\" screen,{v}\n").into_bytes(),
            1 => format!("{id},\"line one\nline two\",{v}\n").into_bytes(),
            2 => format!("{id},\"say \"\"hi\"\", \"\"yo\"\"\",{v}\n").into_bytes(),
            3 => format!("{id},dev-{k},{v}\r\n").into_bytes(),
            4 => format!("{id},dev-{k},{v}\r").into_bytes(),
            5 => b"\n".to_vec(),
            6 => b"\r\n".to_vec(),
            7 => [
                format!("{id},").as_bytes(),
                b"\xFF\xFEx",
                format!(",{v}\n").as_bytes(),
            ]
            .concat(),
            8 => format!("{id},only-two\n").into_bytes(),
            9 => format!("{id},dev-{k},abc\n").into_bytes(),
            10 => format!("{id},\"ab\"cd\"ef,{v}\n").into_bytes(),
            11 => format!("{id},\"open,{v}\n").into_bytes(),
            12 => format!("{id},x\"\n\"y,{v}\n").into_bytes(),
            13 => b" \n".to_vec(),
            14 => format!("\"{id}\",\"dev-{k}\",\"{v}\"\r\n").into_bytes(),
            15 => format!("{id},\"a,b\r\nc\",{v}\n").into_bytes(),
            _ => format!("{id},dev-{k},{v}.25\n").into_bytes(),
        };
        out.extend_from_slice(&line);
    }
    out
}

/// A valid header, then random bytes rich in quotes, commas and line ends.
fn random_csv(seed: u64) -> Vec<u8> {
    let mut r = Rng(seed);
    let alphabet = b"\"\",,,\n\n\r 1a.\xFF";
    let mut out = b"id,name,v\n".to_vec();
    for _ in 0..LINES * 8 {
        out.push(alphabet[r.below(alphabet.len())]);
    }
    out
}

/// JSON lines of `{"id","name","v"}` with hostile lines mixed in.
fn hostile_jsonl(seed: u64) -> Vec<u8> {
    let mut r = Rng(seed);
    let mut out = b"\xEF\xBB\xBF{\"id\":0,\"name\":\"dev-0\",\"v\":0.5}\n".to_vec();
    for id in 1..CLEAN {
        out.extend_from_slice(
            format!("{{\"id\":{id},\"name\":\"dev-{}\",\"v\":{id}.5}}\n", id % 7).as_bytes(),
        );
    }
    for id in CLEAN..LINES as u64 {
        let v = r.below(1000);
        let k = r.below(9);
        let line: Vec<u8> = match r.below(30) {
            0 => format!("{{\"id\":{id},\"name\":\"TV 55\\\" screen\",\"v\":{v}}}\n").into_bytes(),
            1 => format!("{{\"id\":{id},\"name\":\"a\\nb\",\"v\":{v}}}\r\n").into_bytes(),
            2 => b"\n".to_vec(),
            3 => b"  \r\n".to_vec(),
            4 => format!("{{\"id\":{id},\"name\":").into_bytes(),
            5 => [
                format!("{{\"id\":{id},\"name\":\"").as_bytes(),
                b"\xFF",
                b"\"}\n",
            ]
            .concat(),
            6 => b"[1,2]\n".to_vec(),
            7 => format!("{{\"id\":{id},\"name\":{{\"x\":1}}}}\n").into_bytes(),
            8 => format!("{{\"id\":{id},\"v\":null}}\n").into_bytes(),
            9 => format!("{{\"id\":{id},\"name\":\"dev-{k}\",\"v\":\"abc\"}}\n").into_bytes(),
            10 => format!("{{\"id\":{id},\"id\":{id}}}\n").into_bytes(),
            11 => b"\"\n".to_vec(),
            _ => format!("{{\"id\":{id},\"name\":\"dev-{k}\",\"v\":{v}.5}}\n").into_bytes(),
        };
        out.extend_from_slice(&line);
    }
    out
}

/// The stats every core count must agree on.
fn agreed_stats(stats: &serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "records_in": stats["records_in"],
        "malformed": stats["malformed"],
        "malformed_examples": stats["malformed_examples"],
        "filtered": stats["filtered"],
        "rows_out": stats["rows_out"],
    })
}

fn check_file(name: &str, bytes: &[u8], ext: &str, extra: &[&str]) {
    let dir = scratch(&format!("diffin-{name}"));
    let input = dir.join(format!("input.{ext}"));
    std::fs::write(&input, bytes).unwrap();
    // Queries reading all, some and none of the columns: readers parse only what a query
    // reads, yet every query must count the same malformed records (`read_by_every_query`).
    let queries = [
        "SELECT * FROM input",
        "SELECT name, COUNT(*) AS n, MIN(v) AS lo_v, MAX(v) AS hi_v, MIN(id) AS lo FROM input GROUP BY name",
        "SELECT COUNT(*) AS n FROM input",
        "SELECT v FROM input WHERE v > 10",
    ];
    let mut read_by_every_query = None;
    for (q, query) in queries.iter().enumerate() {
        let qfile = dir.join(format!("q{q}.sql"));
        std::fs::write(&qfile, query).unwrap();
        let run = |cores: &str| {
            run_query(
                &dir,
                &format!("q{q}-{cores}"),
                qfile.to_str().unwrap(),
                &[
                    &["--input", input.to_str().unwrap(), "--cores", cores],
                    extra,
                ]
                .concat(),
            )
        };
        let (base, base_stats) = run("1");
        assert_conserved(&base_stats, name);
        let read = serde_json::json!({
            "records_in": base_stats["records_in"],
            "malformed": base_stats["malformed"],
            "malformed_examples": base_stats["malformed_examples"],
        });
        assert_eq!(
            read_by_every_query.get_or_insert_with(|| read.clone()),
            &read,
            "{name}: {query} reads other records than {} (input {})",
            queries[0],
            input.display()
        );
        for cores in ["2", "3"] {
            let (got, stats) = run(cores);
            assert_conserved(&stats, name);
            assert_eq!(
                agreed_stats(&stats),
                agreed_stats(&base_stats),
                "{name}: stats of {query} at {cores} cores differ from 1 core (input {})",
                input.display()
            );
            // Exact text: no aggregate here depends on the order of its inputs.
            let sorted = |t: &Table| {
                let mut rows = t.rows.clone();
                rows.sort();
                rows
            };
            assert_eq!(base.header, got.header);
            assert!(
                sorted(&base) == sorted(&got),
                "{name}: {query} at {cores} cores differs from 1 core (input {})",
                input.display()
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn differential_input_hostile_csv_at_1_2_3_cores() {
    for seed in [1, 2, 3] {
        check_file(
            &format!("hostile-csv-{seed}"),
            &hostile_csv(seed),
            "csv",
            &[],
        );
    }
}

#[test]
fn differential_input_random_bytes_csv_at_1_2_3_cores() {
    for seed in [7, 8] {
        check_file(
            &format!("random-csv-{seed}"),
            &random_csv(seed),
            "csv",
            &["--schema", "v:double"],
        );
    }
}

#[test]
fn differential_input_hostile_jsonl_at_1_2_3_cores() {
    for seed in [4, 5] {
        check_file(
            &format!("hostile-jsonl-{seed}"),
            &hostile_jsonl(seed),
            "jsonl",
            &[],
        );
    }
}

/// The files above read by the cores in byte ranges of 61 bytes (`--range-bytes`, at 2 and 3
/// cores: a range boundary every record or so, inside quoted fields, between CR and LF, in
/// blank lines) and through the cutter thread (`--range-bytes 0`): the same as 1 core.
#[test]
fn differential_input_tiny_byte_ranges_and_the_cutter_at_1_2_3_cores() {
    for range in ["61", "0"] {
        let extra = ["--range-bytes", range];
        check_file(
            &format!("ranges-{range}-csv"),
            &hostile_csv(1),
            "csv",
            &extra,
        );
        check_file(
            &format!("ranges-{range}-random"),
            &random_csv(7),
            "csv",
            &[&extra[..], &["--schema", "v:double"]].concat(),
        );
        check_file(
            &format!("ranges-{range}-jsonl"),
            &hostile_jsonl(4),
            "jsonl",
            &extra,
        );
    }
}

/// The user's report: a stray quote in record 4096, then a quoted newline in 4097.
#[test]
fn a_stray_quote_before_a_quoted_newline_loses_no_record_at_2_cores() {
    let mut text = String::from("id,name,device\n");
    for id in 1..=6000 {
        match id {
            4096 => text.push_str("4096,TV 55\" screen,dev-1\n"),
            4097 => text.push_str("4097,\"line one\nline two\",dev-2\n"),
            _ => text.push_str(&format!("{id},item {id},dev-{}\n", id % 3)),
        }
    }
    let dir = scratch("stray-quote");
    let input = dir.join("items.csv");
    std::fs::write(&input, &text).unwrap();
    let q = dir.join("q.sql");
    std::fs::write(
        &q,
        "SELECT id, name FROM items WHERE id >= 4096 AND id <= 4097",
    )
    .unwrap();
    for cores in ["1", "2"] {
        let (rows, stats) = run_query(
            &dir,
            cores,
            q.to_str().unwrap(),
            &["--input", input.to_str().unwrap(), "--cores", cores],
        );
        assert_eq!(stats["records_in"], 6000, "{cores} cores");
        assert_eq!(stats["malformed"], 0, "{cores} cores");
        let mut names: Vec<_> = rows.rows.iter().map(|r| r[1].clone()).collect();
        names.sort();
        assert_eq!(
            names,
            ["TV 55\" screen", "line one\nline two"],
            "{cores} cores"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
