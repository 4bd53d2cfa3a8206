//! Exactly-once Kafka output under checkpoints (`--output kafka://… --checkpoint-dir DIR`): a
//! run SIGKILLed (or stopped by SIGINT) several times at random moments and resumed each time
//! leaves in the topic,
//! counting only committed transactions, exactly the messages of an uninterrupted run (EMIT
//! FINAL: the same multiset per key; EMIT CHANGES: the same sequence per key), and the same
//! counters.
//!
//! Which transactions committed: Tansu 0.6 hands a `read_committed` consumer the messages of
//! aborted transactions too, so the test applies what such a consumer does itself. Every
//! message carries a `shardsql.txn` header `RUN.EPOCH`; each run prints its run id, and a
//! resumed run the checkpoint it resumes from, which is the last epoch committed (shardsql
//! commits the epoch inside each transaction). So run `r` committed the epochs after the one
//! it resumed from up to the one run `r + 1` resumed from, and the last run all of its own.

#[path = "common/checkpoint.rs"]
mod checkpoint_runs;
mod common;
#[path = "common/kafka.rs"]
mod kafka_broker;

use checkpoint_runs::*;
use common::*;
use kafka_broker::Broker;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

/// A message: (key, value; `None` for a tombstone, header `shardsql.txn` if any).
type Message = (Option<String>, Option<String>, Option<String>);

/// Every message of `topic`, per partition in offset order, partitions one after another.
fn consume_all(broker: &Broker, topic: &str) -> Vec<Message> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::message::{Headers, Message as _};
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &broker.addr)
        .set("group.id", "test-reader")
        .set("enable.partition.eof", "true")
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .create()
        .unwrap();
    let md = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .unwrap();
    let parts = md.topics()[0].partitions().len();
    assert!(parts > 0, "{topic} has no partitions");
    let mut by_part: Vec<Vec<Message>> = vec![Vec::new(); parts];
    let mut tpl = rdkafka::TopicPartitionList::new();
    for p in 0..parts as i32 {
        tpl.add_partition_offset(topic, p, rdkafka::Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let mut at_end = vec![false; parts];
    let start = Instant::now();
    while !at_end.iter().all(|&e| e) {
        assert!(start.elapsed() < Duration::from_secs(60), "{topic}: no end");
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
                let header = m.headers().and_then(|h| {
                    h.iter()
                        .find(|h| h.key == "shardsql.txn")
                        .and_then(|h| h.value.map(text))
                });
                by_part[m.partition() as usize].push((
                    m.key().map(text),
                    m.payload().map(text),
                    header,
                ));
            }
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(p))) => at_end[p as usize] = true,
            _ => {}
        }
    }
    by_part.concat()
}

/// What one run printed: its run id, and the epoch of the checkpoint it resumed from (0: it
/// started fresh).
fn run_of(stderr: &str, what: &str) -> (String, u64) {
    let run = stderr
        .split("kafka output: transactional id ")
        .nth(1)
        .and_then(|rest| rest.split(", run ").nth(1))
        .map(|rest| rest.chars().take_while(char::is_ascii_hexdigit).collect())
        .unwrap_or_else(|| panic!("{what}: no run id on stderr:\n{stderr}"));
    let from = stderr
        .split("resuming from checkpoint ")
        .nth(1)
        .map_or(0, |rest| {
            let name = rest.split_whitespace().next().unwrap();
            let digits = name.rsplit("ckpt-").next().unwrap();
            digits
                .parse()
                .unwrap_or_else(|_| panic!("{what}: bad checkpoint name {name}"))
        });
    (run, from)
}

/// Runs `args` with checkpoints every 100 ms into `ckpt`, stops it `kills` times (after a new
/// checkpoint appeared, or at a random moment; SIGKILL, every third time SIGINT), resuming
/// each time, then lets the last run finish. Returns each run's id and the epoch it resumed from, in order.
fn kill_and_resume(
    args: &[String],
    ckpt: &Path,
    kills: usize,
    rng: &mut Rng,
    what: &str,
) -> Vec<(String, u64)> {
    let with = |resume: bool| {
        let mut a = args.to_vec();
        a.extend(["--checkpoint-dir".into(), s(ckpt)]);
        a.extend(["--checkpoint-interval".into(), "100ms".into()]);
        if resume {
            a.push("--resume".into());
        }
        a
    };
    let mut runs = Vec::new();
    for i in 0..kills {
        let before = checkpoints(ckpt).last().cloned();
        let mut child = spawn(&with(i > 0));
        if rng.below(3) > 0 {
            wait_for_checkpoint(&mut child, ckpt, before.as_ref(), what);
            std::thread::sleep(Duration::from_millis(rng.below(250) as u64));
        } else {
            std::thread::sleep(Duration::from_millis(400 + rng.below(800) as u64));
        }
        if child.try_wait().unwrap().is_some() {
            let status = child.try_wait().unwrap().unwrap();
            let err = stderr_of(child);
            assert!(status.success(), "{what}: run {i}: {status}\n{err}");
            runs.push(run_of(&err, what));
            return runs;
        }
        // Every third stop is graceful: the rows after the last checkpoint are aborted.
        let graceful = i % 3 == 1;
        if graceful {
            let sent = std::process::Command::new("kill")
                .args(["-INT", &child.id().to_string()])
                .status()
                .unwrap();
            assert!(sent.success());
            let status = wait_or_hang(&mut child, Duration::from_secs(60), what);
            let err = stderr_of(child);
            assert_eq!(status.code(), Some(130), "{what}: SIGINT: {err}");
            assert!(err.contains("were aborted"), "{what}: {err}");
            runs.push(run_of(&err, what));
        } else {
            let _ = child.kill();
            let err = stderr_of(child);
            runs.push(run_of(&err, what));
        }
        assert_checkpoints_complete(ckpt, &format!("{what}: after stop {}", i + 1));
    }
    let mut last = spawn(&with(true));
    let status = wait_or_hang(&mut last, Duration::from_secs(120), what);
    let err = stderr_of(last);
    assert!(status.success(), "{what}: the last resume: {status}\n{err}");
    runs.push(run_of(&err, what));
    runs
}

/// The messages a `read_committed` consumer sees: those of the transactions each run committed
/// (module doc). Every message must carry the header.
fn committed(messages: &[Message], runs: &[(String, u64)], what: &str) -> Vec<Message> {
    let mut ranges = BTreeMap::new();
    for (i, (run, from)) in runs.iter().enumerate() {
        let upto = runs.get(i + 1).map_or(u64::MAX, |next| next.1);
        ranges.insert(run.clone(), (*from, upto));
    }
    messages
        .iter()
        .filter(|(_, _, header)| {
            let header = header
                .as_deref()
                .unwrap_or_else(|| panic!("{what}: a message without shardsql.txn"));
            let (run, epoch) = header.split_once('.').unwrap();
            let epoch: u64 = epoch.parse().unwrap();
            let &(from, upto) = ranges
                .get(run)
                .unwrap_or_else(|| panic!("{what}: a message of unknown run {run}"));
            epoch > from && epoch <= upto
        })
        .cloned()
        .collect()
}

/// Each message as (key, value), sorted by key and by the value with its floats rounded to 4
/// significant digits (an order two runs agree on), for `same_rows`.
fn approx_rows(messages: &[Message]) -> Vec<(Option<String>, serde_json::Value)> {
    fn coarse(v: &serde_json::Value) -> String {
        match v {
            serde_json::Value::Number(n) if n.is_f64() => format!("{:.3e}", n.as_f64().unwrap()),
            serde_json::Value::Object(m) => m
                .iter()
                .map(|(k, v)| format!("{k}={}", coarse(v)))
                .collect::<Vec<_>>()
                .join(","),
            other => other.to_string(),
        }
    }
    let mut rows: Vec<_> = messages
        .iter()
        .map(|(k, v, _)| {
            let v = v.as_deref().map_or(serde_json::Value::Null, |v| {
                serde_json::from_str(v).unwrap()
            });
            (k.clone(), v)
        })
        .collect();
    rows.sort_by_cached_key(|(k, v)| (k.clone(), coarse(v)));
    rows
}

/// Whether two JSON values are equal, floats within a relative 1e-9.
fn same_value(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value::{Number, Object};
    match (a, b) {
        (Number(x), Number(y)) if x.is_f64() || y.is_f64() => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1e-300)
        }
        (Object(x), Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_value(v, w)))
        }
        _ => a == b,
    }
}

/// Per key, the values in topic order.
fn per_key(messages: &[Message]) -> BTreeMap<Option<String>, Vec<Option<String>>> {
    let mut m: BTreeMap<_, Vec<_>> = BTreeMap::new();
    for (k, v, _) in messages {
        m.entry(k.clone()).or_default().push(v.clone());
    }
    m
}

#[test]
fn checkpoint_kafka_output_is_exactly_once_across_sigkills() {
    let broker = Broker::start();
    let dir = scratch("ckpt-kafka-out");
    let csv = disordered_csv(&dir, 150_000);
    let mut rng = Rng(0x7478_6e5f_6f75);
    for (n, query, cores) in [
        (0, "queries/05_tumbling_emit_changes.sql", "2"),
        (1, "queries/04_tumbling.sql", "2"),
        (2, "queries/08_session.sql", "1"),
    ] {
        let what = format!("{query} at {cores} core(s) into a topic");
        let args = |topic: &str, tag: &str| -> Vec<String> {
            vec![
                "--query".into(),
                query.into(),
                "--input".into(),
                s(&csv),
                "--allowed-lateness".into(),
                "1s".into(),
                "--cores".into(),
                cores.into(),
                "--output".into(),
                broker.url(topic),
                "--stats".into(),
                s(&dir.join(format!("{n}-{tag}.json"))),
            ]
        };
        let reference = args(&format!("ref{n}"), "ref");
        shardsql(&reference.iter().map(String::as_str).collect::<Vec<_>>());
        let mut paced = args(&format!("out{n}"), "ckpt");
        paced.extend(["--rate".into(), "50000".into()]);
        let ckpt = dir.join(format!("{n}-ckpt"));
        let runs = kill_and_resume(&paced, &ckpt, 3 + rng.below(2), &mut rng, &what);
        assert!(
            runs.iter().skip(1).any(|r| r.1 > 0),
            "{what}: no run resumed from a checkpoint: {runs:?}"
        );
        let want = consume_all(&broker, &format!("ref{n}"));
        assert!(!want.is_empty(), "{what}: the reference wrote nothing");
        let all = consume_all(&broker, &format!("out{n}"));
        let got = committed(&all, &runs, &what);
        eprintln!(
            "{what}: runs {runs:?}; {} messages in the topic, {} committed, {} in the reference",
            all.len(),
            got.len(),
            want.len()
        );
        let (want, mut got) = (per_key(&want), per_key(&got));
        if !query.contains("emit_changes") {
            // EMIT FINAL: a key's rows (one per window) may come in any order.
            for v in got.values_mut() {
                v.sort();
            }
        }
        for (key, values) in &want {
            let mut values = values.clone();
            if !query.contains("emit_changes") {
                values.sort();
            }
            assert!(
                Some(&values) == got.get(key),
                "{what}: key {key:?}: the committed messages differ from an uninterrupted run's: \
                 {} of them, against {}",
                got.get(key).map_or(0, Vec::len),
                values.len()
            );
        }
        assert_eq!(
            want.len(),
            got.len(),
            "{what}: keys that the reference lacks"
        );
        assert_same_counters(
            &read_stats(&dir.join(format!("{n}-ref.json"))),
            &read_stats(&dir.join(format!("{n}-ckpt.json"))),
            &what,
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The committed offsets of `group` for `topic`'s partitions `0..parts`.
fn committed_offsets(broker: &Broker, group: &str, topic: &str, parts: i32) -> Vec<(i32, i64)> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &broker.addr)
        .set("group.id", group)
        .create()
        .unwrap();
    let mut tpl = rdkafka::TopicPartitionList::new();
    for p in 0..parts {
        tpl.add_partition(topic, p);
    }
    let got = consumer
        .committed_offsets(tpl, Duration::from_secs(10))
        .unwrap();
    got.elements()
        .iter()
        .map(|e| match e.offset() {
            rdkafka::Offset::Offset(o) => (e.partition(), o),
            _ => (e.partition(), -1),
        })
        .collect()
}

/// Kafka in (a consumer group) and Kafka out: each transaction also commits the group's offsets
/// at its checkpoint's cut and the checkpoint's epoch, so after a SIGKILL the group's committed
/// offsets are exactly those of the checkpoint the output committed last; the resumed run then
/// completes the output exactly. A checkpoint written whose transaction did not commit is
/// removed on resume, never resumed from.
#[test]
fn checkpoint_kafka_to_kafka_commits_the_group_offsets_in_the_transaction() {
    let broker = Broker::start();
    let dir = scratch("ckpt-kafka-kafka");
    let input = broker.url("kin");
    shardsql(&[
        "gen",
        "--records",
        "120000",
        "--disorder-ms",
        "2000",
        "--partitions",
        "2",
        "--output",
        &input,
    ]);
    let query = "queries/04_tumbling.sql";
    let args = |topic: &str, group: &str, tag: &str| -> Vec<String> {
        [
            "--query",
            query,
            "--input",
            &input,
            "--group",
            group,
            "--bounded",
            "--allowed-lateness",
            "1s",
            "--cores",
            "2",
            "--output",
            &broker.url(topic),
            "--stats",
            &s(&dir.join(format!("{tag}.json"))),
        ]
        .map(String::from)
        .to_vec()
    };
    let reference = args("kref", "gref", "ref");
    shardsql(&reference.iter().map(String::as_str).collect::<Vec<_>>());
    let what = "kafka to kafka";
    // The group's first join takes Tansu ~5 s; then wait for a few checkpoints. Where the input
    // ends first (a slow disk's fsync can hold each checkpoint for a second), again from
    // nothing into new topics, a new group and a new directory at half the rate.
    let (mut rate, mut attempt) = (30_000, 0);
    let (out, group, ckpt, paced, mut child) = loop {
        let (out, group) = (format!("kout{attempt}"), format!("gout{attempt}"));
        let ckpt = dir.join(format!("ckpt{attempt}"));
        let mut paced = args(&out, &group, "ckpt");
        paced.extend([
            "--rate".into(),
            rate.to_string(),
            "--checkpoint-dir".into(),
            s(&ckpt),
        ]);
        paced.extend(["--checkpoint-interval", "100ms"].map(String::from));
        let mut child = spawn(&paced);
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut ended = false;
        while checkpoints(&ckpt).len() < 3 {
            assert!(Instant::now() < deadline, "{what}: no checkpoints");
            if child.try_wait().unwrap().is_some() {
                ended = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if !ended {
            break (out, group, ckpt, paced, child);
        }
        let _ = child.wait();
        assert!(attempt < 3, "{what}: ended too soon at --rate {rate}");
        eprintln!("{what}: ended before 3 checkpoints at --rate {rate}: again at half the rate");
        (rate, attempt) = (rate / 2, attempt + 1);
    };
    let _ = child.kill();
    let first = stderr_of(child);
    let id = std::fs::read_to_string(ckpt.join("kafka-transactional-id")).unwrap();
    let marker = committed_offsets(&broker, id.trim(), &out, 1)[0].1;
    assert!(marker > 0, "{what}: no epoch committed: {first}");
    let kept: Vec<u64> = checkpoints(&ckpt)
        .iter()
        .map(|p| {
            p.to_string_lossy()
                .rsplit("ckpt-")
                .next()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    let newest = *kept.last().unwrap();
    // The group's offsets were committed in the same transaction as the epoch (where the
    // marker's checkpoint is still kept).
    let marker_ckpt = ckpt.join(format!("ckpt-{marker:010}/manifest.json"));
    if let Ok(text) = std::fs::read_to_string(&marker_ckpt) {
        let manifest: serde_json::Value = serde_json::from_str(&text).unwrap();
        let want: Vec<(i32, i64)> =
            serde_json::from_value(manifest["position"]["kafka"]["offsets"].clone()).unwrap();
        let mut group = committed_offsets(&broker, &group, "kin", 2);
        group.retain(|&(_, o)| o >= 0);
        assert_eq!(
            group, want,
            "{what}: the group's committed offsets are not those of checkpoint {marker}"
        );
    }
    // Checkpoint e proves epoch e - 1 committed: Tansu 0.6 reads transactional offset commits
    // late, so the resume trusts that proof over a marker that lags behind it.
    let from = (marker as u64).max(newest - 1);
    let mut resume = paced.clone();
    resume.push("--resume".into());
    let mut last = spawn(&resume);
    let status = wait_or_hang(&mut last, Duration::from_secs(120), what);
    let err = stderr_of(last);
    assert!(status.success(), "{what}: the resume: {status}\n{err}");
    assert!(
        err.contains(&format!(
            "resuming from checkpoint {}",
            s(&ckpt.join(format!("ckpt-{from:010}")))
        )),
        "{what}: did not resume from checkpoint {from} (marker {marker}, newest {newest}):\n{err}"
    );
    for e in kept.into_iter().filter(|&e| e > from) {
        assert!(
            err.contains(&format!(
                "ckpt-{e:010} was written but its Kafka transaction did not commit"
            )),
            "{what}: checkpoint {e} (not committed) was not removed:\n{err}"
        );
    }
    let runs = vec![run_of(&first, what), run_of(&err, what)];
    // Two partitions: block boundaries follow the broker's timing, so float sums may differ in
    // their last digits between any two runs (as `compare_seed` allows).
    let got = approx_rows(&committed(&consume_all(&broker, &out), &runs, what));
    let want = approx_rows(&consume_all(&broker, "kref"));
    let first_diff = want
        .iter()
        .zip(&got)
        .find(|(a, b)| a.0 != b.0 || !same_value(&a.1, &b.1));
    assert!(
        want.len() == got.len() && first_diff.is_none(),
        "{what}: the committed messages differ from an uninterrupted run's: {} against {}; \
         first difference {first_diff:?}",
        got.len(),
        want.len()
    );
    assert_same_counters(
        &read_stats(&dir.join("ref.json")),
        &read_stats(&dir.join("ckpt.json")),
        what,
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A checkpoint directory written with a file output cannot be resumed into a Kafka output
/// (the topic would lack the rows before it), and the refusal leaves its checkpoints alone.
#[test]
fn error_checkpoint_of_a_file_output_is_not_resumed_into_kafka() {
    let broker = Broker::start();
    let dir = scratch("ckpt-file-kafka");
    let csv = disordered_csv(&dir, 60_000);
    let ckpt = dir.join("ckpt");
    let mut args: Vec<String> = [
        "--query",
        "queries/03_group_by.sql",
        "--input",
        &s(&csv),
        "--output",
        &s(&dir.join("out.csv")),
        "--checkpoint-dir",
        &s(&ckpt),
        "--checkpoint-interval",
        "50ms",
        "--rate",
        "30000",
    ]
    .map(String::from)
    .to_vec();
    let mut child = spawn(&args);
    wait_for_checkpoint(&mut child, &ckpt, None, "file output");
    let _ = child.kill();
    let _ = child.wait();
    let before = checkpoints(&ckpt);
    assert!(!before.is_empty());
    args[5] = broker.url("never");
    args.push("--resume".into());
    let e = shardsql_fails(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(
        e.contains("were taken writing to a file, stdout or null"),
        "{e}"
    );
    assert_eq!(
        checkpoints(&ckpt),
        before,
        "the refusal changed the checkpoints"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
