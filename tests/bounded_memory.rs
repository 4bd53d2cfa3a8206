//! Bounded memory: a windowed query frees each window's state when it closes (resident memory
//! stays flat over a long run), and a consumer that stops reading the output stalls the engine
//! (bounded rings, blocking writes) instead of letting it buffer. Memory is compared with
//! itself within one run, never with a fixed timing. BENCHMARKS.md has the 100M-record figures
//! of the release build.

mod common;
use common::*;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The resident memory of `pid` in MiB (Linux: /proc/PID/status).
fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no VmRSS in /proc/{pid}/status"));
    kb / 1024.0
}

/// RSS samples every 250 ms for `n` samples, checking the child is still running.
fn samples(child: &mut Child, n: usize) -> Vec<f64> {
    (0..n)
        .map(|_| {
            std::thread::sleep(Duration::from_millis(250));
            assert!(child.try_wait().unwrap().is_none(), "the run ended early");
            rss_mib(child.id())
        })
        .collect()
}

fn max(v: &[f64]) -> f64 {
    v.iter().copied().fold(0.0, f64::max)
}

#[test]
fn bounded_memory_tumbling_windows_free_their_state_as_they_close() {
    // One record per event-time millisecond: a minute's window closes every 60,000 records,
    // so a run of a few seconds opens and closes hundreds of windows of 200 groups each.
    let mut child = Command::new(env!("CARGO_BIN_EXE_shardsql"))
        .args([
            "--query",
            SEED_QUERIES[3],
            "--records",
            "100000000000",
            "--cores",
            "2",
            "--output",
            "null",
        ])
        .current_dir(repo())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let s = samples(&mut child, 16);
    child.kill().unwrap();
    child.wait().unwrap();
    let (early, late) = s.split_at(s.len() / 2);
    assert!(
        max(late) <= max(early) + 8.0,
        "resident memory grows as windows close (MiB every 250 ms): {s:?}"
    );
}

#[test]
fn bounded_memory_a_stalled_consumer_stalls_the_engine_not_its_memory() {
    // EMIT CHANGES writes one row per record to stdout, which nobody reads: once the pipe and
    // the rings are full, every core must wait.
    let mut child = Command::new(env!("CARGO_BIN_EXE_shardsql"))
        .args([
            "--query",
            SEED_QUERIES[4],
            "--records",
            "100000000000",
            "--cores",
            "2",
        ])
        .current_dir(repo())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    let s = samples(&mut child, 12);
    let (early, late) = s.split_at(s.len() / 2);
    assert!(
        max(late) <= max(early) + 4.0 && max(&s) < 512.0,
        "a stalled consumer lets memory grow (MiB every 250 ms): {s:?}"
    );
    // Reading again resumes the run: rows keep coming.
    use std::io::Read;
    let mut out = child.stdout.take().unwrap();
    let mut buf = vec![0u8; 1 << 20];
    let mut got = 0;
    while got < 4 << 20 {
        let n = out.read(&mut buf).unwrap();
        assert!(n > 0, "the run ended");
        got += n;
    }
    child.kill().unwrap();
    child.wait().unwrap();
}
