//! End-to-end tests of what a new user's own files bring: gzip and a byte-order mark, boolean
//! columns, types inferred from the first records (and the messages when that guess is wrong),
//! output file names shardsql cannot honour.

mod common;
use common::*;
use std::io::Write;
use std::process::Command;

fn write(dir: &std::path::Path, name: &str, bytes: &[u8]) -> String {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p.to_str().unwrap().to_string()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

const READINGS: &str = "device,temp,ok\nd1,20.5,true\nd2,21.0,false\nd1,22.5,TRUE\nd2,,false\n";

#[test]
fn gzip_and_bom_inputs_read_as_the_plain_file_at_1_and_2_cores() {
    let dir = scratch("user-gzip");
    let q = write(
        &dir,
        "q.sql",
        b"SELECT device, COUNT(*) AS n, SUM(temp) AS t FROM readings GROUP BY device",
    );
    let plain = write(&dir, "readings.csv", READINGS.as_bytes());
    let bom = write(
        &dir,
        "bom.csv",
        &[b"\xEF\xBB\xBF", READINGS.as_bytes()].concat(),
    );
    let gz = write(&dir, "readings.csv.gz", &gzip(READINGS.as_bytes()));
    let gz_bom = write(
        &dir,
        "bom.csv.gz",
        &gzip(&[b"\xEF\xBB\xBF", READINGS.as_bytes()].concat()),
    );
    let jsonl = "{\"device\":\"d1\",\"temp\":20.5}\n{\"device\":\"d1\",\"temp\":1.5}\n";
    let jgz = write(&dir, "r.jsonl.gz", &gzip(jsonl.as_bytes()));
    for cores in ["1", "2"] {
        let (want, _) = run_query(
            &dir,
            "out-plain",
            &q,
            &["--input", &plain, "--cores", cores],
        );
        assert_eq!(want.rows.len(), 2);
        for (tag, input) in [("bom", &bom), ("gz", &gz), ("gzbom", &gz_bom)] {
            let (got, stats) = run_query(
                &dir,
                &format!("out-{tag}"),
                &q,
                &["--input", input, "--cores", cores],
            );
            assert_eq!(stats["malformed"], 0, "{tag}");
            assert!(
                same_multiset(&want, &got).is_ok(),
                "{tag}: {got:?} vs {want:?}"
            );
        }
        let (got, _) = run_query(&dir, "jgz", &q, &["--input", &jgz, "--cores", cores]);
        assert_eq!(got.rows, vec![vec!["d1", "2", "22.0"]]);
    }
    // A file that only looks like gzip is a clear error.
    let bad = write(&dir, "bad.csv.gz", b"\x1F\x8Bnot really gzip");
    let err = shardsql_fails(&["--query", &q, "--input", &bad]);
    assert!(err.contains("gzip"), "{err}");
}

#[test]
fn true_false_columns_are_boolean_in_csv_and_json() {
    let dir = scratch("user-bool");
    let csv = write(&dir, "r.csv", READINGS.as_bytes());
    let json = write(
        &dir,
        "r.jsonl",
        b"{\"device\":\"d1\",\"ok\":true}\n{\"device\":\"d2\",\"ok\":false}\n{\"device\":\"d3\",\"ok\":null}\n",
    );
    let q = write(&dir, "q.sql", b"SELECT device, ok FROM r WHERE ok");
    let (rows, _) = run_query(&dir, "csv", &q, &["--input", &csv]);
    assert_eq!(rows.rows, vec![vec!["d1", "true"], vec!["d1", "true"]]);
    // JSON booleans come back as JSON booleans, not strings.
    let out = dir.join("out.jsonl");
    shardsql(&[
        "--query",
        &q,
        "--input",
        &json,
        "--output",
        out.to_str().unwrap(),
    ]);
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "{\"device\":\"d1\",\"ok\":true}\n"
    );
    let all = write(&dir, "all.sql", b"SELECT device, ok FROM r");
    shardsql(&[
        "--query",
        &all,
        "--input",
        &json,
        "--output",
        out.to_str().unwrap(),
    ]);
    assert!(
        std::fs::read_to_string(&out)
            .unwrap()
            .contains("{\"device\":\"d2\",\"ok\":false}"),
    );
}

#[test]
fn a_wrong_inferred_type_says_it_was_inferred_and_how_to_fix_it() {
    let dir = scratch("user-infer");
    // `A1` after 1000 integers: the column was inferred BIGINT.
    let mut text = String::from("id,temp\n");
    for i in 0..1200 {
        text.push_str(&format!(
            "{},{i}\n",
            if i == 1100 {
                "A1".into()
            } else {
                i.to_string()
            }
        ));
    }
    let ids = write(&dir, "ids.csv", text.as_bytes());
    let q = write(&dir, "q.sql", b"SELECT id FROM ids");
    let stats = dir.join("s.json");
    shardsql(&[
        "--query",
        &q,
        "--input",
        &ids,
        "--output",
        "null",
        "--stats",
        stats.to_str().unwrap(),
    ]);
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&stats).unwrap()).unwrap();
    let reason = s["malformed_examples"][0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("inferred") && reason.contains("--schema id:varchar"),
        "{reason}"
    );
    assert_eq!(s["malformed_examples"][0]["line"], 1102);

    // One `abc` among numbers made the column VARCHAR: AVG(temp) says so, with the line.
    let temps = write(&dir, "t.csv", b"temp\n20.5\nabc\n21\n");
    let avg = write(&dir, "avg.sql", b"SELECT AVG(temp) AS t FROM t");
    let err = shardsql_fails(&["--query", &avg, "--input", &temps]);
    assert!(err.contains("inferred"), "{err}");
    assert!(err.contains("line 3 holds `abc`"), "{err}");
    assert!(err.contains("--schema temp:double"), "{err}");
}

#[test]
fn an_output_name_shardsql_cannot_write_is_refused() {
    let dir = scratch("user-ext");
    let q = write(&dir, "q.sql", b"SELECT * FROM market_data");
    for name in ["out.parquet", "out.csv.gz", "out.xlsx"] {
        let out = dir.join(name);
        let err = shardsql_fails(&[
            "--query",
            &q,
            "--records",
            "10",
            "--output",
            out.to_str().unwrap(),
        ]);
        assert!(
            err.contains("does not write") && err.contains(".jsonl"),
            "{err}"
        );
        assert!(!out.exists(), "{name} was created");
        let err = shardsql_fails(&["gen", "--records", "10", "--output", out.to_str().unwrap()]);
        assert!(err.contains("does not write"), "{err}");
    }
    for name in ["out.csv", "out.JSONL", "out"] {
        let out = dir.join(name);
        shardsql(&[
            "--query",
            &q,
            "--records",
            "10",
            "--output",
            out.to_str().unwrap(),
        ]);
    }
}

#[test]
fn many_late_records_warn_and_the_suggested_lateness_keeps_them() {
    let dir = scratch("user-late");
    // Readings one second apart, every fifth delivered 2.5 s late (1.5 s behind the one before it).
    let mut text = String::from("ts,device,temp\n");
    let mut rng = 7u64;
    for i in 0..2000i64 {
        rng = rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let ts = if i % 5 == 0 {
            i * 1000 - 2500
        } else {
            i * 1000
        };
        text.push_str(&format!("{},d{},{}\n", ts.max(0), rng >> 62, i % 30));
    }
    let input = write(&dir, "r.csv", text.as_bytes());
    let q = write(
        &dir,
        "q.sql",
        b"SELECT device, COUNT(*) AS n FROM r GROUP BY device WINDOW TUMBLING (ts, INTERVAL '1' SECOND)",
    );
    for cores in ["1", "2"] {
        let out = Command::new(env!("CARGO_BIN_EXE_shardsql"))
            .args(["--query", &q, "--input", &input, "--schema", "ts:timestamp"])
            .args(["--output", "null", "--cores", cores])
            .output()
            .unwrap();
        assert!(out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("warning") && err.contains("arrived late and were dropped"),
            "{err}"
        );
        assert!(err.contains("--allowed-lateness 2s"), "{err}");
        let (_, stats) = run_query(
            &dir,
            "kept",
            &q,
            &[
                "--input",
                &input,
                "--schema",
                "ts:timestamp",
                "--allowed-lateness",
                "3s",
            ],
        );
        assert_eq!(stats["late_dropped"], 0, "{stats}");
    }
    // In-order input: no warning, no disorder.
    let (_, stats) = run_query(
        &dir,
        "sorted",
        "queries/04_tumbling.sql",
        &["--records", "5000"],
    );
    assert_eq!(stats["max_disorder_ms"], 0);
}
