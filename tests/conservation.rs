//! Conservation: `records_in = Σ shards.records + filtered + late_dropped + malformed` in every
//! mode, core count, runtime and input path (generator, preloaded, CSV and JSON-lines streams
//! with malformed lines, late records and a WHERE clause), and the counts themselves agree
//! across configurations — nothing is lost silently or counted twice. (The differential tests
//! check the same equation on the generator for every seed query.)

mod common;
use common::*;
use std::path::Path;

const CONFIGS: [&[&str]; 8] = [
    &["--mode", "v1"],
    &["--mode", "mutex", "--cores", "2", "--lock-per", "batch"],
    &["--mode", "mutex", "--cores", "3", "--lock-per", "record"],
    &["--cores", "1"],
    &["--cores", "2"],
    &["--cores", "3", "--runtime", "threads"],
    &["--cores", "4", "--preload"],
    &["--cores", "8"],
];

/// A CSV of `n` records with disorder (some late), one malformed line in `bad_every`.
fn write_inputs(dir: &Path, n: u64, bad_every: u64) -> (String, String) {
    let mut csv =
        String::from("trade_id,trader_id,symbol,price,quantity,value,trade_time,event_time\n");
    let mut jsonl = String::new();
    let mut bad = 0;
    for i in 0..n {
        if i % bad_every == 7 {
            bad += 1;
            match bad % 3 {
                0 => csv.push_str("1,2,3\n"),
                1 => csv.push_str(&format!("{i},T,S,NaN,1,1.0,{i},{i}\n")),
                _ => csv.push_str(&format!("{i},T,S,1.0,1,1.0,99999999999999999,{i}\n")),
            }
            jsonl.push_str("{\"trade_id\": oops}\n");
            continue;
        }
        // Mostly in order; every 13th record lags by 90 s (late for 1-minute windows).
        let t = 1_700_000_000_000 + (i as i64) * 50 - if i % 13 == 0 { 90_000 } else { 0 };
        let (tr, sy, p, q) = (i % 11, i % 5, 10.0 + (i % 17) as f64, 1 + i % 9);
        csv.push_str(&format!(
            "{i},T{tr},S{sy},{p},{q},{},{t},{t}\n",
            p * q as f64
        ));
        jsonl.push_str(&format!(
            "{{\"trade_id\":{i},\"trader_id\":\"T{tr}\",\"symbol\":\"S{sy}\",\"price\":{p:.1},\"quantity\":{q},\"value\":{:.1},\"trade_time\":{t},\"event_time\":{t}}}\n",
            p * q as f64
        ));
    }
    let c = dir.join("in.csv");
    let j = dir.join("in.jsonl");
    std::fs::write(&c, csv).unwrap();
    std::fs::write(&j, jsonl).unwrap();
    (c.to_str().unwrap().into(), j.to_str().unwrap().into())
}

#[test]
fn conservation_holds_in_every_mode_core_count_and_input_path() {
    let dir = scratch("conservation");
    let n = 30_000u64;
    let (csv, jsonl) = write_inputs(&dir, n, 101);
    let filtered = dir.join("filtered.sql");
    std::fs::write(
        &filtered,
        "SELECT symbol, COUNT(*) AS n, MAX(price) AS p FROM market_data WHERE quantity > 3 \
         GROUP BY symbol WINDOW TUMBLING (event_time, INTERVAL '1' MINUTE)",
    )
    .unwrap();
    let filtered = filtered.to_str().unwrap().to_string();
    let mut queries: Vec<&str> = SEED_QUERIES.to_vec();
    queries.push(&filtered);
    for q in &queries {
        for (input, tag) in [(&csv, "csv"), (&jsonl, "jsonl")] {
            let mut seen: Option<serde_json::Value> = None;
            for cfg in CONFIGS {
                let mut args = vec!["--input", input.as_str(), "--allowed-lateness", "10s"];
                args.extend_from_slice(cfg);
                let (_, s) = run_query(&dir, "run", q, &args);
                let ctx = format!("{q} {tag} {cfg:?}");
                assert_conserved(&s, &ctx);
                assert_eq!(s["records_in"], n, "{ctx}: {s}");
                assert!(s["malformed"].as_u64().unwrap() > 0, "{ctx}: {s}");
                if q.contains("tumbling") || q.contains("filtered") {
                    assert!(s["late_dropped"].as_u64().unwrap() > 0, "{ctx}: {s}");
                }
                if let Some(first) = &seen {
                    for k in ["malformed", "late_dropped", "filtered", "rows_out"] {
                        // EMIT FINAL rows and drops are the same whatever the configuration.
                        assert_eq!(s[k], first[k], "{ctx}: `{k}` differs from v1: {s}");
                    }
                } else {
                    seen = Some(s);
                }
            }
        }
    }
    // The generator path, with disorder, lateness and a filter, in every configuration.
    for cfg in CONFIGS {
        let mut args = vec![
            "--records",
            "100000",
            "--disorder-ms",
            "20000",
            "--allowed-lateness",
            "2s",
        ];
        args.extend_from_slice(cfg);
        let (_, s) = run_query(&dir, "gen", &filtered, &args);
        assert_conserved(&s, &format!("generator {cfg:?}"));
        assert!(s["late_dropped"].as_u64().unwrap() > 0 && s["filtered"].as_u64().unwrap() > 0);
    }
}
