//! Stopping a run: SIGINT / SIGTERM mid-run leave complete output and valid stats marked
//! `interrupted` (and exit 130 / 143); a second signal exits at once; a panicking shard or a
//! failed output stops every core and exits non-zero with the cause — never a hang.

mod common;
use common::*;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn spawn(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_shardsql"))
        .args(args)
        .current_dir(repo())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// A paced generator run, interrupted once it has written output: exit 128 + signal, stats
/// marked interrupted and conserved, every output line complete, and the results exactly
/// those of a clean run over the records read (the cut falls on a block boundary and the
/// generator is deterministic).
fn interrupt_run(dir: &Path, tag: &str, query: &str, extra: &[&str], sig: &str, status: i32) {
    let out = dir.join(format!("{tag}.csv"));
    let stats = dir.join(format!("{tag}.json"));
    let mut args = vec![
        "--query",
        query,
        "--records",
        "1000000000",
        "--rate",
        "400000",
        "--disorder-ms",
        "2000",
        "--allowed-lateness",
        "1s",
        "--output",
        out.to_str().unwrap(),
        "--stats",
        stats.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let mut child = spawn(&args);
    // Aggregates emit late (or only at the end), so the output cannot show the run is under
    // way: give it time (it starts in milliseconds; the rate makes it last minutes).
    std::thread::sleep(Duration::from_millis(1200));
    signal(&child, sig);
    let code = wait_or_hang(&mut child, Duration::from_secs(30), tag).code();
    let err = stderr_of(child);
    assert_eq!(code, Some(status), "{tag}: {err}");
    assert!(
        err.contains(&format!("shardsql: stopped by SIG{sig} after reading "))
            && !err.contains("Error")
            && !err.contains("panicked"),
        "{tag}: {err}"
    );
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&stats).unwrap()).unwrap();
    assert_eq!(s["interrupted"], true, "{tag}: {s}");
    assert_conserved(&s, tag);
    let n = s["records_in"].as_u64().unwrap();
    assert!(n > 0 && n < 1_000_000_000, "{tag}: {s}");
    assert_eq!(n % 4096, 0, "{tag}: the cut is a block boundary: {s}");
    // Every line is complete: the CSV reader rejects a short last line.
    let text = std::fs::read(&out).unwrap();
    assert!(text.ends_with(b"\n"), "{tag}: the output ends mid-line");
    let got = read_csv_text(&text);
    let width = got.header.len();
    assert!(got.rows.iter().all(|r| r.len() == width), "{tag}");
    assert_eq!(got.rows.len() as u64, s["rows_out"].as_u64().unwrap());
    // The same as a clean run over the records read.
    let records = n.to_string();
    let mut clean_args = vec![
        "--records",
        &records,
        "--disorder-ms",
        "2000",
        "--allowed-lateness",
        "1s",
    ];
    clean_args.extend_from_slice(extra);
    let (clean, clean_stats) = run_query(dir, &format!("{tag}-clean"), query, &clean_args);
    assert_eq!(clean_stats["late_dropped"], s["late_dropped"], "{tag}");
    if let Err(e) = compare_seed(query, &clean, &got) {
        panic!("{tag}: the interrupted run differs from a clean run over its records: {e}");
    }
}

#[test]
fn shutdown_sigint_mid_run_emits_what_was_read_and_marks_the_stats() {
    let dir = scratch("shutdown-sigint");
    for (i, q) in SEED_QUERIES.iter().enumerate() {
        interrupt_run(&dir, &format!("q{i}"), q, &["--cores", "3"], "INT", 130);
    }
    interrupt_run(
        &dir,
        "mutex",
        SEED_QUERIES[3],
        &["--mode", "mutex", "--cores", "2"],
        "INT",
        130,
    );
    interrupt_run(
        &dir,
        "threads",
        SEED_QUERIES[4],
        &["--cores", "2", "--runtime", "threads"],
        "INT",
        130,
    );
}

#[test]
fn shutdown_sigterm_mid_run_exits_143_with_valid_stats() {
    let dir = scratch("shutdown-sigterm");
    interrupt_run(
        &dir,
        "term",
        SEED_QUERIES[2],
        &["--cores", "2"],
        "TERM",
        143,
    );
}

/// A stream from stdin (with malformed lines) is cut by its parser thread; conservation holds
/// with the malformed records counted.
#[test]
fn shutdown_sigint_on_a_stdin_stream_counts_every_record_read() {
    let dir = scratch("shutdown-stdin");
    let stats = dir.join("s.json");
    let out = dir.join("o.csv");
    let mut child = Command::new(env!("CARGO_BIN_EXE_shardsql"))
        .args([
            "--query",
            SEED_QUERIES[3],
            "--input",
            "-",
            "--cores",
            "2",
            "--output",
            out.to_str().unwrap(),
            "--stats",
            stats.to_str().unwrap(),
        ])
        .current_dir(repo())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || {
        use std::io::Write;
        let mut text =
            String::from("trade_id,trader_id,symbol,price,quantity,value,trade_time,event_time\n");
        let mut i = 0u64;
        // Feed until the engine stops reading (a closed pipe ends the loop).
        loop {
            for _ in 0..1000 {
                if i.is_multiple_of(97) {
                    text.push_str("bad,row\n");
                } else {
                    text.push_str(&format!("{i},T{},S{},1.5,2,3.0,{i},{i}\n", i % 7, i % 3));
                }
                i += 1;
            }
            if stdin.write_all(text.as_bytes()).is_err() {
                return i;
            }
            text.clear();
        }
    });
    std::thread::sleep(Duration::from_millis(1500));
    signal(&child, "INT");
    let code = wait_or_hang(&mut child, Duration::from_secs(30), "stdin").code();
    let err = stderr_of(child);
    assert_eq!(code, Some(130), "{err}");
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&stats).unwrap()).unwrap();
    assert_eq!(s["interrupted"], true);
    assert_conserved(&s, "stdin");
    assert!(s["malformed"].as_u64().unwrap() > 0, "{s}");
    let t = read_csv(&out);
    let counted: u64 = t.rows.iter().map(|r| r[2].parse::<u64>().unwrap()).sum();
    assert_eq!(
        counted,
        s["shards"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["records"].as_u64().unwrap())
            .sum::<u64>(),
        "every processed record is in exactly one output window"
    );
    feeder.join().unwrap();
}

/// The second signal does not wait for the drain: here the output is a pipe nobody reads, so
/// the graceful stop cannot finish writing; the second SIGINT ends the process at once, saying
/// what was done and writing the stats it has, marked incomplete.
#[test]
fn shutdown_second_signal_exits_at_once_with_what_it_has() {
    let dir = scratch("second-signal");
    let stats = dir.join("stats.json");
    let mut child = Command::new(env!("CARGO_BIN_EXE_shardsql"))
        .args([
            "--query",
            SEED_QUERIES[0],
            "--records",
            "1000000000",
            "--stats",
            stats.to_str().unwrap(),
        ])
        .current_dir(repo())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap(); // held open, never read: writes block
    std::thread::sleep(Duration::from_millis(800));
    signal(&child, "INT");
    std::thread::sleep(Duration::from_millis(300));
    signal(&child, "INT");
    let status = wait_or_hang(&mut child, Duration::from_secs(5), "second signal");
    assert_eq!(status.code(), Some(130));
    let err = stderr_of(child);
    assert!(
        err.contains("stopped at once by a second SIGINT after reading "),
        "{err}"
    );
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&stats).unwrap()).unwrap();
    assert_eq!(s["complete"], false, "{s}");
    assert_eq!(s["interrupted"], true, "{s}");
    assert!(s["records_in"].as_u64().unwrap() > 0, "{s}");
    drop(stdout);
}

/// A panicking core (injected) stops the others: exit 1 with the shard and its message, in
/// every routing, mode and runtime, and from a stream input.
#[test]
fn shutdown_shard_panic_stops_every_core_with_its_message() {
    let cases: [&[&str]; 6] = [
        &["--query", SEED_QUERIES[0], "--cores", "3"],
        &["--query", SEED_QUERIES[1], "--cores", "2"],
        &["--query", SEED_QUERIES[3], "--cores", "4"],
        &[
            "--query",
            SEED_QUERIES[4],
            "--mode",
            "mutex",
            "--cores",
            "2",
        ],
        &[
            "--query",
            SEED_QUERIES[2],
            "--cores",
            "2",
            "--runtime",
            "threads",
        ],
        &["--query", SEED_QUERIES[4], "--mode", "v1"],
    ];
    for case in cases {
        let mut args = case.to_vec();
        args.extend_from_slice(&[
            "--records",
            "1000000000",
            "--output",
            "null",
            "--inject-fault",
            "panic-shard",
        ]);
        let mut child = spawn(&args);
        let status = wait_or_hang(&mut child, Duration::from_secs(30), &args.join(" "));
        let err = stderr_of(child);
        assert_eq!(status.code(), Some(1), "{args:?}: {err}");
        let shard = if case.contains(&"v1") { 0 } else { 1 };
        assert!(
            err.contains(&format!(
                "Error: internal error (a bug in shardsql): a shard failed: shard {shard}: injected fault"
            )),
            "{args:?}: {err}"
        );
    }
    // From a file stream: the parser thread is stopped too.
    let dir = scratch("shutdown-panic-stream");
    let csv = dir.join("in.csv");
    shardsql(&[
        "gen",
        "--records",
        "300000",
        "--output",
        csv.to_str().unwrap(),
    ]);
    let mut child = spawn(&[
        "--query",
        SEED_QUERIES[2],
        "--input",
        csv.to_str().unwrap(),
        "--cores",
        "2",
        "--output",
        "null",
        "--inject-fault",
        "panic-shard",
    ]);
    let status = wait_or_hang(&mut child, Duration::from_secs(30), "stream panic");
    let err = stderr_of(child);
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(err.contains("shard 1: injected fault"), "{err}");
}

/// A failed output write stops reading at once: a full disk is an error (exit 1), a closed
/// pipe (`| head`) ends the run quietly — neither runs on to the end of a billion records.
#[test]
fn shutdown_failed_output_stops_the_run() {
    if Path::new("/dev/full").exists() {
        let mut child = spawn(&[
            "--query",
            SEED_QUERIES[0],
            "--records",
            "1000000000",
            "--cores",
            "2",
            "--output",
            "/dev/full",
        ]);
        let status = wait_or_hang(&mut child, Duration::from_secs(30), "/dev/full");
        let err = stderr_of(child);
        assert_eq!(status.code(), Some(1), "{err}");
        assert!(
            err.contains("Error: --output: writing results failed: No space left"),
            "{err}"
        );
    }
    let mut child = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "set -o pipefail; {} --query {} --records 1000000000 --cores 2 | head -3",
            env!("CARGO_BIN_EXE_shardsql"),
            SEED_QUERIES[4]
        ))
        .current_dir(repo())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = wait_or_hang(&mut child, Duration::from_secs(30), "| head");
    let out = child.wait_with_output().unwrap();
    assert!(status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.stdout.iter().filter(|&&b| b == b'\n').count(), 3);
}

/// A regular file read by several cores, paced by `--rate`: SIGINT stops it within moments,
/// not after every chunk the cutter thread had already dealt (the whole file, which at this
/// rate takes 10 s); the records read are a prefix of whole blocks, and their results are a
/// clean run's over that prefix.
#[test]
fn shutdown_sigint_on_a_paced_file_stops_within_moments() {
    let dir = scratch("shutdown-file");
    let input = dir.join("in.csv");
    shardsql(&[
        "gen",
        "--records",
        "500000",
        "--output",
        input.to_str().unwrap(),
    ]);
    let out = dir.join("out.csv");
    let stats = dir.join("out.json");
    let query = "queries/03_group_by.sql";
    for cores in ["1", "2"] {
        let what = format!("a paced file at {cores} core(s)");
        let mut child = spawn(&[
            "--query",
            query,
            "--input",
            input.to_str().unwrap(),
            "--cores",
            cores,
            "--rate",
            "50000",
            "--output",
            out.to_str().unwrap(),
            "--stats",
            stats.to_str().unwrap(),
        ]);
        std::thread::sleep(Duration::from_millis(1000));
        let signalled = Instant::now();
        signal(&child, "INT");
        let code = wait_or_hang(&mut child, Duration::from_secs(30), &what).code();
        let took = signalled.elapsed();
        let err = stderr_of(child);
        assert_eq!(code, Some(130), "{what}: {err}");
        assert!(
            took < Duration::from_secs(3),
            "{what}: stopped {took:?} after SIGINT"
        );
        let s: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&stats).unwrap()).unwrap();
        assert_conserved(&s, &what);
        let n = s["records_in"].as_u64().unwrap();
        assert!(n > 0 && n < 250_000, "{what}: read {n} records: {s}");
        // The records read are the file's first n (whole blocks): a clean run over them.
        let text = std::fs::read_to_string(&input).unwrap();
        let prefix: String = text
            .lines()
            .take(n as usize + 1)
            .flat_map(|l| [l, "\n"])
            .collect();
        let head = dir.join("head.csv");
        std::fs::write(&head, prefix).unwrap();
        let clean_out = dir.join("clean.csv");
        shardsql(&[
            "--query",
            query,
            "--input",
            head.to_str().unwrap(),
            "--output",
            clean_out.to_str().unwrap(),
        ]);
        if let Err(e) = compare_seed(query, &read_csv(&clean_out), &read_csv(&out)) {
            panic!("{what}: the stopped run differs from a clean run over its records: {e}");
        }
    }
}

/// A regular file read by the cores themselves in byte ranges (no reader thread), its output
/// pipe read slowly so the run is under way: SIGINT stops every core at one agreed block, so
/// the records read are exactly the file's first ones, and every one of them is in the output.
#[test]
fn shutdown_sigint_on_a_file_read_by_ranges_keeps_a_prefix() {
    use std::io::Read;
    let dir = scratch("shutdown-ranges");
    let csv = dir.join("in.csv");
    let stats = dir.join("s.json");
    let records = 400_000u64;
    shardsql(&[
        "gen",
        "--records",
        &records.to_string(),
        "--output",
        csv.to_str().unwrap(),
    ]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_shardsql"))
        .args([
            "--query",
            SEED_QUERIES[0],
            "--input",
            csv.to_str().unwrap(),
            "--cores",
            "2",
            "--range-bytes",
            "20000",
            "--stats",
            stats.to_str().unwrap(),
        ])
        .current_dir(repo())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut text = vec![0u8; 1 << 16];
    out.read_exact(&mut text).unwrap();
    signal(&child, "INT");
    out.read_to_end(&mut text).unwrap();
    let status = wait_or_hang(&mut child, Duration::from_secs(30), "ranges");
    let err = stderr_of(child);
    assert_eq!(status.code(), Some(130), "{err}");
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&stats).unwrap()).unwrap();
    assert_eq!(s["interrupted"], true, "{s}");
    assert_conserved(&s, "ranges");
    let n = s["records_in"].as_u64().unwrap();
    assert!(n > 0 && n < records, "{s}");
    let got = read_csv_text(&text);
    assert_eq!(
        got.rows.len() as u64,
        n,
        "every record read is in the output"
    );
    let mut ids: Vec<u64> = got.rows.iter().map(|r| r[0].parse().unwrap()).collect();
    ids.sort_unstable();
    assert!(
        ids.iter().enumerate().all(|(i, &id)| id == i as u64),
        "the records read are not the file's first {n}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
