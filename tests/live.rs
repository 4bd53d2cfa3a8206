//! A live stream end to end, through real pipes with a slow writer: EMIT CHANGES rows and
//! closed windows arrive while the writer is still writing (asserted on arrival before the
//! next write and before close, never on timings); a Ctrl-C on a quiet pipe emits the results
//! of exactly the records written and counts them; a followed file is read as it grows; a paced
//! run writes its output file while it runs.

mod common;
use common::*;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

/// Long enough for any loaded CI machine; a row that takes this long is a bug.
const PATIENCE: Duration = Duration::from_secs(20);

struct Live {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
}

impl Live {
    fn start(args: &[&str]) -> Live {
        let mut child = Command::new(env!("CARGO_BIN_EXE_shardsql"))
            .args(args)
            .current_dir(repo())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let stdin = child.stdin.take();
        Live {
            child,
            stdin,
            lines,
        }
    }

    fn write(&mut self, text: &str) {
        let w = self.stdin.as_mut().unwrap();
        w.write_all(text.as_bytes()).unwrap();
        w.flush().unwrap();
    }

    /// The next output line, which must come while the input is still open.
    fn expect_line(&self, what: &str) -> String {
        self.lines
            .recv_timeout(PATIENCE)
            .unwrap_or_else(|_| panic!("{what}: no output line within {PATIENCE:?} of the write"))
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
    }

    /// Closes stdin (unless `keep_open`), waits, returns (exit code, remaining lines, stderr).
    fn finish(mut self, keep_open: bool) -> (Option<i32>, Vec<String>, String) {
        let stdin = self.stdin.take();
        if !keep_open {
            drop(stdin);
        }
        let out = self.child.wait_with_output().unwrap();
        let rest: Vec<String> = self.lines.try_iter().collect();
        (
            out.status.code(),
            rest,
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    }
}

fn query(dir: &std::path::Path, name: &str, sql: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, sql).unwrap();
    p.to_str().unwrap().to_string()
}

#[test]
fn emit_changes_rows_arrive_while_the_pipe_is_open_at_1_and_2_cores() {
    let dir = scratch("live-changes");
    let q = query(
        &dir,
        "q.sql",
        "SELECT device, COUNT(*) AS n, SUM(temp) AS total FROM readings GROUP BY device EMIT CHANGES",
    );
    for cores in ["1", "2"] {
        let mut live = Live::start(&["--query", &q, "--input", "-", "--cores", cores]);
        live.write("ts,device,temp\n");
        let mut counts = std::collections::HashMap::new();
        for i in 0..30 {
            let device = format!("d{}", i % 3);
            live.write(&format!(
                "{},{device},{i}\n",
                1_700_000_000_000i64 + i * 100
            ));
            let n = counts.entry(device.clone()).or_insert(0);
            *n += 1;
            if i == 0 {
                assert!(live.expect_line("header").contains("device"));
            }
            // This record's row arrives before the next record is written.
            let row = live.expect_line(&format!("record {i}"));
            assert!(
                row.starts_with(&format!("{device},{n},"))
                    || row.contains(&format!("{device},{n},")),
                "record {i}: got {row}"
            );
        }
        let (code, rest, err) = live.finish(false);
        assert_eq!(code, Some(0), "{err}");
        assert!(rest.is_empty(), "rows after close: {rest:?}");
        assert!(err.contains("records in   30"), "{err}");
    }
}

#[test]
fn a_window_closes_while_the_pipe_is_open() {
    let dir = scratch("live-window");
    let q = query(
        &dir,
        "q.sql",
        "SELECT device, COUNT(*) AS n, window_start FROM readings GROUP BY device \
         WINDOW TUMBLING (ts, INTERVAL '1' SECOND)",
    );
    for cores in ["1", "2"] {
        let mut live = Live::start(&[
            "--query",
            &q,
            "--input",
            "-",
            "--cores",
            cores,
            "--schema",
            "ts:timestamp",
        ]);
        live.write("ts,device\n");
        // Ten records in the first second, then one in the next that closes it.
        for i in 0..10 {
            live.write(&format!("{},d{}\n", 1_700_000_000_000i64 + i * 100, i % 2));
        }
        live.write(&format!("{},d0\n", 1_700_000_001_000i64));
        assert!(live.expect_line("header").contains("window_start"));
        let mut rows = vec![live.expect_line("window 1"), live.expect_line("window 1")];
        rows.sort();
        assert!(
            rows[0].starts_with("d0,5,") && rows[1].starts_with("d1,5,"),
            "{rows:?}"
        );
        let (code, rest, err) = live.finish(false);
        assert_eq!(code, Some(0), "{err}");
        // End of input closes the last window.
        assert_eq!(rest.len(), 1, "{rest:?}");
        assert!(rest[0].starts_with("d0,1,"), "{rest:?}");
    }
}

#[test]
fn ctrl_c_on_a_quiet_pipe_emits_the_records_written_and_counts_them() {
    let dir = scratch("live-sigint");
    let q = query(
        &dir,
        "q.sql",
        "SELECT device, COUNT(*) AS n FROM readings GROUP BY device",
    );
    for (cores, n) in [("1", 500), ("2", 37)] {
        let stats = dir.join(format!("stats-{cores}.json"));
        let mut live = Live::start(&[
            "--query",
            &q,
            "--input",
            "-",
            "--cores",
            cores,
            "--stats",
            stats.to_str().unwrap(),
        ]);
        live.write("ts,device\n");
        for i in 0..n {
            live.write(&format!("{i},d{}\n", i % 4));
        }
        // The pipe stays open and quiet; the signal alone ends the run.
        std::thread::sleep(Duration::from_millis(300));
        live.signal("INT");
        let (code, rest, err) = live.finish(true);
        assert_eq!(code, Some(130), "{err}");
        assert!(err.contains(&format!("after reading {n} records")), "{err}");
        let s: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&stats).unwrap()).unwrap();
        assert_eq!(s["records_in"], n, "{s}");
        assert_eq!(s["interrupted"], true);
        let total: i64 = rest
            .iter()
            .skip(1)
            .map(|l| l.rsplit(',').next().unwrap().parse::<i64>().unwrap())
            .sum();
        assert_eq!(total, n as i64, "{rest:?}");
    }
}

#[test]
fn a_followed_file_is_read_as_it_grows() {
    let dir = scratch("live-follow");
    let input = dir.join("grows.csv");
    std::fs::write(&input, "device,v\n").unwrap();
    let q = query(
        &dir,
        "q.sql",
        "SELECT device, COUNT(*) AS n FROM grows GROUP BY device EMIT CHANGES",
    );
    let live = Live::start(&[
        "--query",
        &q,
        "--input",
        input.to_str().unwrap(),
        "--follow",
    ]);
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&input)
        .unwrap();
    for i in 1..=5 {
        writeln!(f, "a,{i}").unwrap();
        f.flush().unwrap();
        if i == 1 {
            // Column types come from the first record: the header follows it.
            assert!(live.expect_line("header").contains("device"));
        }
        let op = if i == 1 { "+I" } else { "+U" };
        assert_eq!(
            live.expect_line(&format!("appended record {i}")),
            format!("{op},a,{i}")
        );
    }
    live.signal("TERM");
    let (code, _, err) = live.finish(true);
    assert_eq!(code, Some(143), "{err}");
}

#[test]
fn a_paced_run_writes_its_output_file_while_it_runs() {
    let dir = scratch("live-paced");
    let out = dir.join("out.csv");
    let mut child = Command::new(env!("CARGO_BIN_EXE_shardsql"))
        .args([
            "--query",
            "queries/04_tumbling.sql",
            "--records",
            "100000000",
            "--rate",
            "20000",
            "--output",
            out.to_str().unwrap(),
        ])
        .current_dir(repo())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // One-minute windows at 20,000 records/s: the first closes after 3 s of input.
    let deadline = std::time::Instant::now() + PATIENCE;
    let mut lines = 0;
    while std::time::Instant::now() < deadline {
        lines = std::fs::read_to_string(&out).map_or(0, |t| t.lines().count());
        if lines > 1 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let _ = child.wait();
    assert!(
        lines > 1,
        "no window row in the output file while the run went on"
    );
}
