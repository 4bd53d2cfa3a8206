//! Checkpoints (`--checkpoint-dir DIR [--checkpoint-interval D] [--resume]`): a run killed with
//! SIGKILL any number of times and resumed each time ends with exactly the output file (as a
//! multiset; EMIT CHANGES folded per key), the `--late-output` file and the stats counters of
//! an uninterrupted run; a checkpoint taken at 2 cores resumes at 1 and 3; the generator
//! resumes too. Every `ckpt-*` left after a kill is complete (`manifest.json` and `state.bin`)
//! and at most 3 remain. A changed query, a DIR with checkpoints but no `--resume`, and stdin
//! input are refused with a message, never a panic.

#[path = "common/checkpoint.rs"]
mod checkpoint_runs;
mod common;
#[path = "common/kafka.rs"]
mod kafka_broker;

use checkpoint_runs::*;
use common::*;
use kafka_broker::Broker;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

struct Case {
    query: &'static str,
    input: &'static str,
    config: &'static [&'static str],
    late: bool,
}

/// Several seed queries over a disordered file (CSV, one JSON lines), at 1 and 2 cores and in
/// v1: killed 3–5 times at random and resumed, the output, late output and stats equal an
/// uninterrupted run's.
#[test]
fn checkpoint_sigkill_many_times_then_resume_equals_uninterrupted_run() {
    let dir = scratch("ckpt-kills");
    // 180,000 records at 60,000 per second: a run of about 3 s.
    let records = 180_000;
    let csv = disordered_csv(&dir, records);
    let jsonl = dir.join("in.jsonl");
    shardsql(&[
        "gen",
        "--records",
        &records.to_string(),
        "--seed",
        "12",
        "--disorder-ms",
        "3000",
        "--output",
        jsonl.to_str().unwrap(),
    ]);
    let cases = [
        Case {
            query: "queries/03_group_by.sql",
            input: "csv",
            config: &["--cores", "2"],
            late: false,
        },
        Case {
            query: "queries/04_tumbling.sql",
            input: "csv",
            config: &["--cores", "1"],
            late: true,
        },
        Case {
            query: "queries/05_tumbling_emit_changes.sql",
            input: "jsonl",
            config: &["--cores", "2"],
            late: false,
        },
        Case {
            query: "queries/06_hopping.sql",
            input: "csv",
            config: &["--mode", "v1"],
            late: false,
        },
        Case {
            query: "queries/07_hopping_emit_changes.sql",
            input: "csv",
            config: &["--cores", "1"],
            late: false,
        },
        Case {
            query: "queries/10_statistics.sql",
            input: "csv",
            config: &["--cores", "2"],
            late: true,
        },
        Case {
            query: "queries/08_session.sql",
            input: "csv",
            config: &["--cores", "2"],
            late: true,
        },
        Case {
            query: "queries/11_rows_partitioned.sql",
            input: "csv",
            config: &["--cores", "2"],
            late: true,
        },
    ];
    let mut rng = Rng(0x5eed_c4ec_b01e);
    for (n, case) in cases.iter().enumerate() {
        let what = format!("{} {:?}", case.query, case.config);
        let input = if case.input == "csv" { &csv } else { &jsonl };
        let args = |tag: &str| {
            let mut a: Vec<String> = vec![
                "--query".into(),
                case.query.into(),
                "--input".into(),
                s(input),
                "--allowed-lateness".into(),
                "1s".into(),
                "--output".into(),
                s(&dir.join(format!("{n}-{tag}.csv"))),
                "--stats".into(),
                s(&dir.join(format!("{n}-{tag}.json"))),
            ];
            if case.late {
                a.extend([
                    "--late-output".into(),
                    s(&dir.join(format!("{n}-{tag}-late.csv"))),
                ]);
            }
            a.extend(case.config.iter().map(|x| x.to_string()));
            a
        };
        let reference = args("ref");
        shardsql(&reference.iter().map(String::as_str).collect::<Vec<_>>());
        let paced = args("ckpt");
        let ckpt = dir.join(format!("{n}-ckpt"));
        std::fs::create_dir_all(&ckpt).unwrap();
        let kills = 3 + rng.below(3);
        let (killed, from_checkpoint) =
            run_killed_and_resumed(&paced, 60_000, &ckpt, kills, &mut rng, &what);
        assert!(
            killed >= 1 && from_checkpoint >= 1,
            "{what}: the run was killed {killed} times, {from_checkpoint} of them after a \
             checkpoint: too fast to test resuming"
        );
        let want = read_csv(&dir.join(format!("{n}-ref.csv")));
        assert!(!want.rows.is_empty(), "{what}: the reference has no rows");
        let got = read_csv(&dir.join(format!("{n}-ckpt.csv")));
        assert_same_output(&want, &got, &what);
        let want_stats = read_stats(&dir.join(format!("{n}-ref.json")));
        assert_same_counters(
            &want_stats,
            &read_stats(&dir.join(format!("{n}-ckpt.json"))),
            &what,
        );
        assert!(
            want_stats["malformed"].as_u64().unwrap() > 0 || case.input != "csv",
            "{what}: {want_stats}"
        );
        if case.late {
            assert!(
                want_stats["late_dropped"].as_u64().unwrap() > 0,
                "{what}: no late records: {want_stats}"
            );
            let want = read_csv(&dir.join(format!("{n}-ref-late.csv")));
            let got = read_csv(&dir.join(format!("{n}-ckpt-late.csv")));
            if let Err(e) = same_multiset(&want, &got) {
                panic!("{what}: the late output differs from an uninterrupted run's: {e}");
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Copies a checkpoint directory (one level of `ckpt-*` directories holding files).
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let target = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_dir(&p, &target);
        } else {
            std::fs::copy(&p, &target).unwrap();
        }
    }
}

/// State taken at 2 shards is redistributed by key over 1 and over 3 shards on resume.
#[test]
fn checkpoint_taken_at_2_cores_resumes_at_1_and_3_cores() {
    let dir = scratch("ckpt-rescale");
    let csv = disordered_csv(&dir, 200_000);
    for (n, query) in [
        "queries/05_tumbling_emit_changes.sql",
        "queries/03_group_by.sql",
    ]
    .iter()
    .enumerate()
    {
        let args = |tag: &str, cores: &str| -> Vec<String> {
            [
                "--query",
                query,
                "--input",
                csv.to_str().unwrap(),
                "--allowed-lateness",
                "1s",
                "--cores",
                cores,
                "--output",
                dir.join(format!("{n}-{tag}.csv")).to_str().unwrap(),
                "--stats",
                dir.join(format!("{n}-{tag}.json")).to_str().unwrap(),
            ]
            .map(String::from)
            .to_vec()
        };
        let reference = args("ref", "2");
        shardsql(&reference.iter().map(String::as_str).collect::<Vec<_>>());
        let want = read_csv(&dir.join(format!("{n}-ref.csv")));
        let want_stats = read_stats(&dir.join(format!("{n}-ref.json")));
        let ckpt = dir.join(format!("{n}-ckpt"));
        std::fs::create_dir_all(&ckpt).unwrap();
        let checkpointed = |tag: &str, cores: &str, ckpt: &Path, resume: bool, rate: u32| {
            let mut a = args(tag, cores);
            a.extend(
                [
                    "--rate",
                    &rate.to_string(),
                    "--checkpoint-dir",
                    ckpt.to_str().unwrap(),
                    "--checkpoint-interval",
                    "100ms",
                ]
                .map(String::from),
            );
            if resume {
                a.push("--resume".into());
            }
            a
        };
        // Killed 400 ms after its first checkpoint. Where the input ends first (a slow disk's
        // fsync can hold a checkpoint for a second), again from nothing at half the rate.
        let mut rate = 50_000;
        let child = loop {
            let mut child = spawn(&checkpointed("at2", "2", &ckpt, false, rate));
            if wait_for_checkpoint(&mut child, &ckpt, None, query) {
                std::thread::sleep(Duration::from_millis(400));
                if child.try_wait().unwrap().is_none() {
                    break child;
                }
            }
            if rate < 10_000 {
                ended_too_soon(child, query);
            }
            finish(child, query);
            eprintln!("{query}: ended too soon at --rate {rate}: again at half the rate");
            rate /= 2;
            std::fs::remove_dir_all(&ckpt).unwrap();
            std::fs::create_dir_all(&ckpt).unwrap();
        };
        sigkill(child);
        assert_checkpoints_complete(&ckpt, query);
        let partial = dir.join(format!("{n}-at2.csv"));
        for cores in ["1", "3"] {
            let what = format!("{query}: taken at 2 cores, resumed at {cores}");
            let copy = dir.join(format!("{n}-ckpt-{cores}"));
            copy_dir(&ckpt, &copy);
            let tag = format!("at{cores}");
            std::fs::copy(&partial, dir.join(format!("{n}-{tag}.csv"))).unwrap();
            finish(spawn(&checkpointed(&tag, cores, &copy, true, rate)), &what);
            let got = read_csv(&dir.join(format!("{n}-{tag}.csv")));
            assert_same_output(&want, &got, &what);
            let got_stats = read_stats(&dir.join(format!("{n}-{tag}.json")));
            assert_same_counters(&want_stats, &got_stats, &what);
            assert_eq!(got_stats["cores"], cores.parse::<u64>().unwrap(), "{what}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The built-in generator (no --input) resumes at the record after the checkpoint: COUNT
/// DISTINCT and MIN / MAX of strings over hopping windows, and a filtered projection.
#[test]
fn checkpoint_generator_input_resumes_exactly() {
    let dir = scratch("ckpt-gen");
    let queries = [
        (
            "hopping_distinct",
            "SELECT symbol, window_start, window_end, COUNT(*) AS n, \
             COUNT(DISTINCT trader_id) AS traders, MIN(trader_id) AS first_trader, \
             MAX(trader_id) AS last_trader, SUM(quantity) AS q FROM market_data \
             GROUP BY symbol WINDOW HOPPING (trade_time, INTERVAL '10' SECOND, INTERVAL '5' SECOND)",
            "2",
            // 800,000 records at 200,000 per second: about 4 s.
            ("800000", 200_000),
        ),
        (
            "projection",
            "SELECT trade_id, trader_id, symbol, price FROM market_data WHERE quantity > 990",
            "1",
            ("2000000", 500_000),
        ),
    ];
    let mut rng = Rng(0x6e4e_4a70);
    for (tag, sql, cores, (records, rate)) in queries {
        let q = dir.join(format!("{tag}.sql"));
        std::fs::write(&q, sql).unwrap();
        let args = |run: &str| -> Vec<String> {
            [
                "--query",
                q.to_str().unwrap(),
                "--records",
                records,
                "--seed",
                "3",
                "--traders",
                "300",
                "--disorder-ms",
                "2000",
                "--allowed-lateness",
                "500ms",
                "--cores",
                cores,
                "--output",
                dir.join(format!("{tag}-{run}.csv")).to_str().unwrap(),
                "--stats",
                dir.join(format!("{tag}-{run}.json")).to_str().unwrap(),
            ]
            .map(String::from)
            .to_vec()
        };
        let reference = args("ref");
        shardsql(&reference.iter().map(String::as_str).collect::<Vec<_>>());
        let paced = args("ckpt");
        let ckpt = dir.join(format!("{tag}-ckpt"));
        std::fs::create_dir_all(&ckpt).unwrap();
        let (killed, from_checkpoint) =
            run_killed_and_resumed(&paced, rate, &ckpt, 3, &mut rng, tag);
        assert!(
            killed >= 1 && from_checkpoint >= 1,
            "{tag}: killed {killed} times, {from_checkpoint} after a checkpoint"
        );
        let want = read_csv(&dir.join(format!("{tag}-ref.csv")));
        assert!(!want.rows.is_empty(), "{tag}");
        let got = read_csv(&dir.join(format!("{tag}-ckpt.csv")));
        assert_same_output(&want, &got, tag);
        let want_stats = read_stats(&dir.join(format!("{tag}-ref.json")));
        assert_eq!(want_stats["records_in"].to_string(), records, "{tag}");
        assert_same_counters(
            &want_stats,
            &read_stats(&dir.join(format!("{tag}-ckpt.json"))),
            tag,
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs `args` expecting a refusal within 60 s (not a run to the end); `stdin` is fed through
/// a pipe. Returns stderr, which must hold no panic.
fn refused(args: &[String], stdin: Option<Vec<u8>>) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_shardsql"))
        .args(args)
        .current_dir(repo())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let feeder = stdin.map(|bytes| {
        let mut pipe = child.stdin.take().unwrap();
        std::thread::spawn(move || {
            use std::io::Write;
            // A refusal closes the pipe early: a failed write is expected then.
            let _ = pipe.write_all(&bytes);
        })
    });
    let what = args.join(" ");
    let status = wait_or_hang(&mut child, Duration::from_secs(60), &what);
    let err = String::from_utf8_lossy(&child.wait_with_output().unwrap().stderr).to_string();
    if let Some(f) = feeder {
        f.join().unwrap();
    }
    assert!(
        !status.success(),
        "shardsql {what} should be refused:\n{err}"
    );
    assert!(
        !err.contains("panicked"),
        "a refusal must not panic:\n{err}"
    );
    // Not clap's refusal of an unknown flag: the feature's own.
    assert!(
        !err.contains("unexpected argument"),
        "the checkpoint flags must be known:\n{err}"
    );
    err
}

/// Runs `query` over the paced generator with checkpoints into `ckpt` and kills it once one
/// exists; returns the arguments it ran with.
fn leave_a_checkpoint(query: &str, ckpt: &Path, out: &Path) -> Vec<String> {
    std::fs::create_dir_all(ckpt).unwrap();
    let args: Vec<String> = [
        "--query",
        query,
        "--records",
        "100000000",
        "--rate",
        "200000",
        "--output",
        out.to_str().unwrap(),
        "--checkpoint-dir",
        ckpt.to_str().unwrap(),
        "--checkpoint-interval",
        "100ms",
    ]
    .map(String::from)
    .to_vec();
    let mut child = spawn(&args);
    if !wait_for_checkpoint(&mut child, ckpt, None, query) {
        ended_too_soon(child, query);
    }
    sigkill(child);
    assert_checkpoints_complete(ckpt, query);
    assert!(!checkpoints(ckpt).is_empty());
    args
}

/// The same run, but the query's SQL text changed: its checkpoint is not resumed.
#[test]
fn error_checkpoint_refuses_a_changed_query() {
    let dir = scratch("ckpt-changed-query");
    let ckpt = dir.join("ckpt");
    let original = dir.join("original.sql");
    let sql = std::fs::read_to_string(repo().join("queries/04_tumbling.sql")).unwrap();
    std::fs::write(&original, &sql).unwrap();
    let args = leave_a_checkpoint(original.to_str().unwrap(), &ckpt, &dir.join("out.csv"));
    let before = checkpoints(&ckpt);
    std::fs::write(
        &original,
        sql.replace("COUNT(*) AS trade_count", "SUM(quantity) AS trade_count"),
    )
    .unwrap();
    let mut resume = args.clone();
    resume.push("--resume".into());
    let err = refused(&resume, None);
    let lower = err.to_lowercase();
    assert!(
        lower.contains("checkpoint") && lower.contains("query"),
        "the refusal must say the checkpoint is of another query: {err}"
    );
    assert_eq!(
        checkpoints(&ckpt),
        before,
        "a refused resume leaves the checkpoints alone"
    );
    // Reformatted and commented, it is the same query: it resumes (and runs on until killed).
    assert!(sql.contains(" FROM "));
    std::fs::write(
        &original,
        format!("-- reformatted\n{}", sql.replace(" FROM ", "\n   FROM ")),
    )
    .unwrap();
    let mut child = spawn(&resume);
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        child.try_wait().unwrap().is_none(),
        "a reformatted query must resume its checkpoint"
    );
    sigkill(child);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The same run again without --resume: a DIR holding checkpoints is not silently overwritten.
#[test]
fn error_checkpoint_dir_with_checkpoints_needs_resume() {
    let dir = scratch("ckpt-needs-resume");
    let ckpt = dir.join("ckpt");
    let args = leave_a_checkpoint("queries/03_group_by.sql", &ckpt, &dir.join("out.csv"));
    let before = checkpoints(&ckpt);
    let err = refused(&args, None);
    assert!(err.contains("--resume"), "{err}");
    assert_eq!(
        checkpoints(&ckpt),
        before,
        "the refusal leaves the checkpoints alone"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn error_checkpoint_refuses_stdin() {
    let dir = scratch("ckpt-stdin");
    let ckpt = dir.join("ckpt");
    std::fs::create_dir_all(&ckpt).unwrap();
    let csv = shardsql(&["gen", "--records", "20000"]).stdout;
    let args = [
        "--query",
        "queries/03_group_by.sql",
        "--input",
        "-",
        "--output",
        dir.join("out.csv").to_str().unwrap(),
        "--checkpoint-dir",
        ckpt.to_str().unwrap(),
    ]
    .map(String::from);
    let err = refused(&args, Some(csv));
    assert!(
        err.to_lowercase().contains("checkpoint"),
        "the refusal must name the checkpoint: {err}"
    );
    assert!(checkpoints(&ckpt).is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Kafka input: a run over a topic killed several times and resumed each time (from the
/// checkpoint's offsets, not the group's or `--start`) ends with an uninterrupted run's output
/// and counts. One partition: every query's rows are reproducible exactly; three partitions:
/// EMIT FINAL rows (up to the last digits of float sums, which vary between uninterrupted
/// runs too, as block boundaries follow the broker's timing).
#[test]
fn checkpoint_kafka_input_sigkill_and_resume_equals_uninterrupted_run() {
    let broker = Broker::start();
    let dir = scratch("ckpt-kafka");
    let mut rng = Rng(0x006b_6166_6b61);
    for (n, (partitions, query)) in [
        (1, "queries/05_tumbling_emit_changes.sql"),
        (1, "queries/08_session.sql"),
        (3, "queries/04_tumbling.sql"),
    ]
    .into_iter()
    .enumerate()
    {
        let what = format!("{query} over {partitions} partition(s)");
        let topic = broker.url(&format!("ckpt{n}"));
        shardsql(&[
            "gen",
            "--records",
            "150000",
            "--disorder-ms",
            "3000",
            "--partitions",
            &partitions.to_string(),
            "--output",
            &topic,
        ]);
        let args = |tag: &str| -> Vec<String> {
            vec![
                "--query".into(),
                query.into(),
                "--input".into(),
                topic.clone(),
                "--bounded".into(),
                "--allowed-lateness".into(),
                "1s".into(),
                "--cores".into(),
                "2".into(),
                "--output".into(),
                s(&dir.join(format!("{n}-{tag}.csv"))),
                "--stats".into(),
                s(&dir.join(format!("{n}-{tag}.json"))),
            ]
        };
        let reference = args("ref");
        shardsql(&reference.iter().map(String::as_str).collect::<Vec<_>>());
        let paced = args("ckpt");
        let ckpt = dir.join(format!("{n}-ckpt"));
        std::fs::create_dir_all(&ckpt).unwrap();
        let (killed, from_checkpoint) =
            run_killed_and_resumed(&paced, 50_000, &ckpt, 3, &mut rng, &what);
        assert!(
            killed >= 1 && from_checkpoint >= 1,
            "{what}: {killed} kills"
        );
        let want = read_csv(&dir.join(format!("{n}-ref.csv")));
        let got = read_csv(&dir.join(format!("{n}-ckpt.csv")));
        if partitions == 1 {
            assert_same_output(&want, &got, &what);
        } else {
            compare_seed(query, &want, &got).unwrap_or_else(|e| panic!("{what}: {e}"));
        }
        assert_same_counters(
            &read_stats(&dir.join(format!("{n}-ref.json"))),
            &read_stats(&dir.join(format!("{n}-ckpt.json"))),
            &what,
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A file followed as it grows (`--follow`) is checkpointed at the byte offset and line of each
/// cut, also while it is quiet: killed twice between appends and resumed, then stopped by
/// SIGINT once everything was written, the run ends with the output and counts of a run over
/// the whole file.
#[test]
fn checkpoint_followed_file_sigkill_and_resume_equals_whole_file_run() {
    let dir = scratch("ckpt-follow");
    let full = disordered_csv(&dir, 60_000);
    let text = std::fs::read(&full).unwrap();
    let cut_at = |fraction: f64| {
        let at = (text.len() as f64 * fraction) as usize;
        at + text[at..].iter().position(|&b| b == b'\n').unwrap() + 1
    };
    let (first, second) = (cut_at(0.4), cut_at(0.7));
    let grows = dir.join("grows.csv");
    std::fs::write(&grows, &text[..first]).unwrap();
    let args = |input: &Path, tag: &str| -> Vec<String> {
        [
            "--query",
            "queries/04_tumbling.sql",
            "--input",
            &s(input),
            "--allowed-lateness",
            "1s",
            "--cores",
            "2",
            "--output",
            &s(&dir.join(format!("{tag}.csv"))),
            "--late-output",
            &s(&dir.join(format!("{tag}-late.csv"))),
            "--stats",
            &s(&dir.join(format!("{tag}.json"))),
        ]
        .map(String::from)
        .to_vec()
    };
    let reference = args(&full, "ref");
    shardsql(&reference.iter().map(String::as_str).collect::<Vec<_>>());
    let ckpt = dir.join("ckpt");
    let mut followed = args(&grows, "follow");
    followed.extend(["--follow", "--checkpoint-dir", &s(&ckpt)].map(String::from));
    followed.extend(["--checkpoint-interval", "100ms"].map(String::from));
    let append = |bytes: &[u8]| {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&grows)
            .unwrap();
        f.write_all(bytes).unwrap();
    };
    let what = "followed file";
    for (i, more) in [&text[first..second], &text[second..]]
        .into_iter()
        .enumerate()
    {
        let mut run = followed.clone();
        if i > 0 {
            run.push("--resume".into());
        }
        let before = checkpoints(&ckpt).last().cloned();
        let mut child = spawn(&run);
        // The file is quiet now: checkpoints must still come.
        assert!(
            wait_for_checkpoint(&mut child, &ckpt, before.as_ref(), what),
            "{what}: run {i} ended"
        );
        std::thread::sleep(Duration::from_millis(150));
        sigkill(child);
        assert_checkpoints_complete(&ckpt, what);
        append(more);
    }
    let mut run = followed.clone();
    run.push("--resume".into());
    let mut child = spawn(&run);
    // Everything is written: give the run time to read it, then stop it.
    let stats = dir.join("follow.json");
    let _ = std::fs::remove_file(&stats);
    std::thread::sleep(Duration::from_secs(3));
    let ok = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    let status = wait_or_hang(&mut child, Duration::from_secs(60), what);
    assert_eq!(status.code(), Some(130), "{what}: not stopped by SIGINT");
    let want_stats = read_stats(&dir.join("ref.json"));
    let got_stats = read_stats(&stats);
    assert_eq!(
        want_stats["records_in"], got_stats["records_in"],
        "{what}: the last run did not read the whole file within 3 s of the last append"
    );
    assert_same_counters(&want_stats, &got_stats, what);
    // Live chunks are cut by time, so float sums may differ in their last digits.
    for (want, got) in [("ref", "follow"), ("ref-late", "follow-late")] {
        let want = read_csv(&dir.join(format!("{want}.csv")));
        let got = read_csv(&dir.join(format!("{got}.csv")));
        if let Err(e) = same_multiset(&want, &got) {
            panic!("{what}: the output differs from the whole file's: {e}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
