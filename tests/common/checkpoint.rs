//! Helpers of the checkpoint tests (`tests/checkpoint*.rs`): start, kill and resume runs,
//! check the checkpoints left behind, compare outputs and counters with an uninterrupted run.

#![allow(dead_code)]

use crate::common::*;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The stats counters a resumed run must report for the whole input.
pub const COUNTERS: [&str; 5] = [
    "records_in",
    "late_dropped",
    "filtered",
    "rows_out",
    "malformed",
];

pub fn spawn(args: &[String]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_shardsql"))
        .args(args)
        .current_dir(repo())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits for a run that must succeed; panics with its stderr otherwise.
pub fn finish(mut child: Child, what: &str) {
    let status = wait_or_hang(&mut child, Duration::from_secs(120), what);
    let err = String::from_utf8_lossy(&child.wait_with_output().unwrap().stderr).to_string();
    assert!(status.success(), "{what}: {status}:\n{err}");
}

/// SIGKILL (`Child::kill`), then reaps the process.
pub fn sigkill(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

pub fn s(x: &Path) -> String {
    x.to_str().unwrap().to_string()
}

/// The complete checkpoints in `dir` (`ckpt-` and a 10-digit epoch), oldest first. Anything
/// else (a temporary being written) is not one.
pub fn checkpoints(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            name.strip_prefix("ckpt-")
                .is_some_and(|epoch| epoch.len() == 10 && epoch.bytes().all(|b| b.is_ascii_digit()))
        })
        .collect();
    found.sort();
    found
}

/// Every checkpoint is complete (an atomic rename: both files, a manifest that parses) and at
/// most the last 3 are kept.
pub fn assert_checkpoints_complete(dir: &Path, what: &str) {
    let found = checkpoints(dir);
    assert!(
        found.len() <= 3,
        "{what}: {} checkpoints kept, not at most 3: {found:?}",
        found.len()
    );
    for c in &found {
        assert!(c.is_dir(), "{what}: {} is not a directory", c.display());
        assert!(
            c.join("state.bin").is_file(),
            "{what}: {} lacks state.bin",
            c.display()
        );
        let manifest = std::fs::read_to_string(c.join("manifest.json"))
            .unwrap_or_else(|e| panic!("{what}: {} lacks manifest.json: {e}", c.display()));
        if let Err(e) = serde_json::from_str::<serde_json::Value>(&manifest) {
            panic!(
                "{what}: {}/manifest.json is not JSON ({e}): {manifest}",
                c.display()
            );
        }
    }
}

/// Waits until `dir` holds a checkpoint newer than `after` (or the run ends); true if one
/// appeared.
pub fn wait_for_checkpoint(
    child: &mut Child,
    dir: &Path,
    after: Option<&PathBuf>,
    what: &str,
) -> bool {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if checkpoints(dir).last() > after {
            return true;
        }
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!(
                "{what}: no checkpoint in {} after 30 s at --checkpoint-interval 100ms",
                dir.display()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A run that was to be killed ended first: fails with its exit status and stderr.
pub fn ended_too_soon(child: Child, what: &str) -> ! {
    let out = child.wait_with_output().unwrap();
    panic!(
        "{what}: the run ended ({}) before it could be killed after a checkpoint:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn read_stats(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The query's output must equal the reference as multisets; an EMIT CHANGES changelog also
/// per changelog key (`op`, then the GROUP BY key), row for row in order, and folded where the
/// key includes the window start.
pub fn assert_same_output(want: &Table, got: &Table, what: &str) {
    if let Err(e) = same_multiset(want, got) {
        panic!("{what}: the output differs from an uninterrupted run: {e}");
    }
    if want.header.first().map(String::as_str) != Some("op") {
        return;
    }
    let col = |name: &str| want.header.iter().position(|h| h == name);
    let key: Vec<usize> = ["trader_id", "symbol", "window_start"]
        .iter()
        .filter_map(|c| col(c))
        .collect();
    if let Err(e) = same_changelog(want, got, &key) {
        panic!("{what}: the changelog of a key differs from an uninterrupted run's: {e}");
    }
    if col("window_start").is_some() {
        let fold = |t: &Table, which: &str| {
            fold_changelog(t, &key)
                .unwrap_or_else(|e| panic!("{what}: the {which} changelog does not fold: {e}"))
                .0
        };
        if let Err(e) = same_multiset(&fold(want, "reference"), &fold(got, "resumed")) {
            panic!("{what}: the folded changelog differs from an uninterrupted run's: {e}");
        }
    }
}

pub fn assert_same_counters(want: &serde_json::Value, got: &serde_json::Value, what: &str) {
    for k in COUNTERS {
        assert!(want[k].is_u64(), "{what}: reference stats lack {k}: {want}");
        assert_eq!(
            want[k], got[k],
            "{what}: {k} of the resumed run differs from an uninterrupted run\nwant {want}\ngot  {got}"
        );
    }
}

/// Runs `args` (which name the output, stats and any late output) at `--rate rate` with
/// checkpoints every 100 ms into `ckpt`, SIGKILLs it `kills` times at random moments
/// (sometimes after a new checkpoint appeared, sometimes not), resuming each time, then lets
/// the last run finish. Returns how many kills happened, and how many of them left a
/// checkpoint to resume from.
///
/// Where no kill came after a checkpoint (the input ended first: a slow disk's fsync can hold a
/// checkpoint for a second or two), it starts again from nothing at half the rate, up to three
/// times: the pace is the test's, not the engine's, and a busy machine must not fail it.
pub fn run_killed_and_resumed(
    args: &[String],
    rate: u32,
    ckpt: &Path,
    kills: usize,
    rng: &mut Rng,
    what: &str,
) -> (usize, usize) {
    let mut rate = rate;
    for attempt in 0.. {
        let mut paced = args.to_vec();
        paced.extend(["--rate".into(), rate.to_string()]);
        let (killed, from_checkpoint) = killed_and_resumed_once(&paced, ckpt, kills, rng, what);
        if (killed >= 1 && from_checkpoint >= 1) || attempt == 3 {
            return (killed, from_checkpoint);
        }
        rate /= 2;
        eprintln!(
            "{what}: killed {killed} times, {from_checkpoint} after a checkpoint: again from \
             nothing at --rate {rate}"
        );
        std::fs::remove_dir_all(ckpt).unwrap();
        std::fs::create_dir_all(ckpt).unwrap();
    }
    unreachable!()
}

fn killed_and_resumed_once(
    args: &[String],
    ckpt: &Path,
    kills: usize,
    rng: &mut Rng,
    what: &str,
) -> (usize, usize) {
    let with = |resume: bool| {
        let mut a = args.to_vec();
        a.extend(["--checkpoint-dir".into(), s(ckpt)]);
        a.extend(["--checkpoint-interval".into(), "100ms".into()]);
        if resume {
            a.push("--resume".into());
        }
        a
    };
    let (mut killed, mut from_checkpoint) = (0, 0);
    for i in 0..kills {
        // The first run starts fresh without --resume (DIR is empty); later ones resume.
        let before = checkpoints(ckpt).last().cloned();
        let mut child = spawn(&with(i > 0));
        if rng.below(2) == 0 || (i == 1 && from_checkpoint == 0) {
            wait_for_checkpoint(&mut child, ckpt, before.as_ref(), what);
            std::thread::sleep(Duration::from_millis(rng.below(300) as u64));
        } else {
            std::thread::sleep(Duration::from_millis(300 + rng.below(600) as u64));
        }
        if child.try_wait().unwrap().is_some() {
            // It finished before this kill: that is the final run.
            finish(child, &format!("{what}: run {i}"));
            return (killed, from_checkpoint);
        }
        sigkill(child);
        killed += 1;
        assert_checkpoints_complete(ckpt, &format!("{what}: after kill {killed}"));
        if !checkpoints(ckpt).is_empty() {
            from_checkpoint += 1;
        }
    }
    finish(spawn(&with(true)), &format!("{what}: the last resume"));
    assert_checkpoints_complete(ckpt, &format!("{what}: at the end"));
    (killed, from_checkpoint)
}

/// A generated CSV input with disorder (so late records with a 1 s lateness), and a
/// malformed line every 4,999 lines after the first 2,000 (so the types are still inferred).
pub fn disordered_csv(dir: &Path, records: u64) -> PathBuf {
    let clean = dir.join("clean.csv");
    let n = records.to_string();
    shardsql(&[
        "gen",
        "--records",
        &n,
        "--seed",
        "11",
        "--disorder-ms",
        "3000",
        "--output",
        clean.to_str().unwrap(),
    ]);
    let text = std::fs::read_to_string(&clean).unwrap();
    let mut out = String::with_capacity(text.len() + text.len() / 1000);
    for (i, line) in text.lines().enumerate() {
        out.push_str(line);
        out.push('\n');
        if i > 2000 && i % 4999 == 0 {
            out.push_str("bad,row\n");
        }
    }
    std::fs::remove_file(&clean).unwrap();
    let csv = dir.join("in.csv");
    std::fs::write(&csv, out).unwrap();
    csv
}
