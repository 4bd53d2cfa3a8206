//! Kafka end to end, against a Tansu broker each test starts (tests/common/kafka.rs; a missing
//! broker binary fails these tests with the install command). A file and the same stream in a
//! topic give the same results; results written to a topic read back the same; a malformed
//! message is counted with its partition and offset; a broker that is gone is a clear error,
//! never a hang.

mod common;
#[path = "common/kafka.rs"]
mod kafka_broker;

use common::*;
use kafka_broker::Broker;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs shardsql with a watchdog: a run that hangs fails the test instead.
fn shardsql_within(args: &[&str], limit: Duration) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_shardsql"))
        .args(args)
        .current_dir(repo())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run shardsql");
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "shardsql {} did not finish within {limit:?}:\n{}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn ok(out: &std::process::Output, what: &str) -> String {
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{what} failed:\n{err}");
    err
}

/// `shardsql gen GEN_ARGS --output OUTPUT` (a file or a topic), which must succeed within
/// `secs`; returns its messages.
fn gen_to(output: &str, gen_args: &[&str], secs: u64) -> String {
    let out = shardsql_within(
        &[&["gen"][..], gen_args, &["--output", output]].concat(),
        Duration::from_secs(secs),
    );
    ok(&out, &format!("gen to {output}"))
}

/// Reads a topic back into a table with shardsql itself (`SELECT *`, bounded).
fn read_topic(dir: &std::path::Path, url: &str, tag: &str) -> Table {
    let q = dir.join(format!("{tag}.sql"));
    std::fs::write(&q, "SELECT * FROM t").unwrap();
    let out_csv = dir.join(format!("{tag}.csv"));
    let out = shardsql_within(
        &[
            "--query",
            q.to_str().unwrap(),
            "--input",
            url,
            "--bounded",
            "--output",
            out_csv.to_str().unwrap(),
        ],
        Duration::from_secs(120),
    );
    ok(&out, &format!("reading {url}"));
    read_csv(&out_csv)
}

/// A stream in a file and the same stream in a 3-partition topic (`gen --output kafka://`)
/// give the same windowed aggregate; the results written to a topic (keyed, JSON) read back
/// as the same rows.
#[test]
fn kafka_file_and_topic_give_the_same_results_3_partitions_2_cores() {
    let broker = Broker::start();
    let dir = scratch("kafka-same");
    let file = dir.join("trades.csv");
    let gen_args = ["--records", "30000", "--seed", "7", "--partitions", "3"];
    gen_to(file.to_str().unwrap(), &gen_args, 60);
    let trades = broker.url("trades");
    let err = gen_to(&trades, &gen_args, 120);
    assert!(err.contains("30,000 messages"), "{err}");

    for query in ["queries/04_tumbling.sql", "queries/03_group_by.sql"] {
        let (expected, _) = run_query(&dir, "file", query, &["--input", file.to_str().unwrap()]);
        let results = broker.url(&format!(
            "results-{}",
            query
                .trim_start_matches("queries/")
                .trim_end_matches(".sql")
        ));
        let stats = dir.join("stats.json");
        let out = shardsql_within(
            &[
                "--query",
                query,
                "--input",
                &trades,
                "--bounded",
                "--cores",
                "2",
                "--runtime",
                "threads",
                "--output",
                &results,
                "--stats",
                stats.to_str().unwrap(),
            ],
            Duration::from_secs(120),
        );
        ok(&out, &format!("{query} over the topic"));
        let s: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&stats).unwrap()).unwrap();
        assert_eq!(s["records_in"], 30000, "{s}");
        let got = read_topic(&dir, &results, "back");
        assert_eq!(got.header, expected.header, "{query}");
        same_multiset(&expected, &got).unwrap_or_else(|e| panic!("{query}: {e}"));
    }
}

/// The topic's partitions are the source partitions: with disorder, a query over a topic
/// filled without --key drops exactly the late records the generator with --partitions 3
/// drops (each partition keeps its own watermark), and gives the same rows.
#[test]
fn kafka_partitions_are_source_partitions_with_disorder_3_partitions() {
    let broker = Broker::start();
    let dir = scratch("kafka-parts");
    let gen_args = [
        "--records",
        "40000",
        "--seed",
        "3",
        "--partitions",
        "3",
        "--disorder-ms",
        "200",
    ];
    let topic = broker.url("disordered");
    gen_to(&topic, &gen_args, 120);
    let q = dir.join("q.sql");
    std::fs::write(
        &q,
        "SELECT symbol, COUNT(*) AS n, window_start FROM market_data GROUP BY symbol \
         WINDOW TUMBLING (trade_time, INTERVAL '1' SECOND)",
    )
    .unwrap();
    let q = q.to_str().unwrap();
    let late_file = dir.join("late.csv");
    let late_file = late_file.to_str().unwrap();
    let (expected, s1) = run_query(
        &dir,
        "gen",
        q,
        &[&gen_args[..], &["--late-output", late_file]].concat(),
    );
    let expected_late = read_csv(std::path::Path::new(late_file));
    for cores in ["1", "2"] {
        // The late records go to a topic of their own, keyed by the query's key.
        let late_topic = broker.url(&format!("late-{cores}"));
        let (got, s2) = run_query(
            &dir,
            "topic",
            q,
            &[
                "--input",
                &topic,
                "--bounded",
                "--cores",
                cores,
                "--late-output",
                &late_topic,
            ],
        );
        assert!(s1["late_dropped"].as_u64().unwrap() > 0, "{s1}");
        assert_eq!(s1["late_dropped"], s2["late_dropped"], "{s1}\n{s2}");
        same_multiset(&expected, &got).unwrap_or_else(|e| panic!("{cores} cores: {e}"));
        let late = read_topic(&dir, &late_topic, &format!("late-{cores}"));
        same_multiset(&expected_late, &late)
            .unwrap_or_else(|e| panic!("late records, {cores} cores: {e}"));
        for (_, key, value) in consume_all(&broker, &format!("late-{cores}")) {
            let value: serde_json::Value = serde_json::from_str(&value.unwrap()).unwrap();
            let key: serde_json::Value = serde_json::from_str(&key.unwrap()).unwrap();
            assert_eq!(key, serde_json::json!({ "symbol": value["symbol"] }));
        }
    }
}

/// A message that is not JSON is skipped, counted, and reported with its partition and
/// offset; the metadata columns say where each row came from; `--on-error fail` stops.
#[test]
fn kafka_malformed_message_is_counted_with_partition_and_offset() {
    use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
    let broker = Broker::start();
    broker.create_topic("mixed", 2);
    let dir = scratch("kafka-bad");
    let producer: ThreadedProducer<DefaultProducerContext> = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &broker.addr)
        .create()
        .unwrap();
    let msgs: [(i32, &str, &str); 5] = [
        (0, "a", r#"{"k":"x","v":1}"#),
        (0, "b", r#"{"k":"y","v":2}"#),
        (1, "c", r#"{"k":"x","v":10}"#),
        (1, "d", "this is not json"),
        (1, "e", "{\"k\":\"z\",\n\"v\":100}\n"),
    ];
    for (p, key, value) in msgs {
        producer
            .send(BaseRecord::to("mixed").partition(p).key(key).payload(value))
            .unwrap();
    }
    producer.flush(Duration::from_secs(10)).unwrap();

    let q = dir.join("q.sql");
    std::fs::write(
        &q,
        "SELECT kafka_partition, kafka_offset, kafka_key, k, v FROM t",
    )
    .unwrap();
    let out_csv = dir.join("out.csv");
    let stats = dir.join("stats.json");
    let url = broker.url("mixed");
    let out = shardsql_within(
        &[
            "--query",
            q.to_str().unwrap(),
            "--input",
            &url,
            "--bounded",
            "--output",
            out_csv.to_str().unwrap(),
            "--stats",
            stats.to_str().unwrap(),
        ],
        Duration::from_secs(60),
    );
    let err = ok(&out, "reading a topic with a malformed message");
    assert!(
        err.contains("kafka partition 1 offset 1: not a JSON object"),
        "{err}"
    );
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&stats).unwrap()).unwrap();
    assert_eq!(s["malformed"], 1, "{s}");
    let mut rows = read_csv(&out_csv).rows;
    rows.sort();
    let want: Vec<Vec<String>> = [
        ["0", "0", "a", "x", "1"],
        ["0", "1", "b", "y", "2"],
        ["1", "0", "c", "x", "10"],
        ["1", "2", "e", "z", "100"],
    ]
    .iter()
    .map(|r| r.iter().map(|s| s.to_string()).collect())
    .collect();
    assert_eq!(rows, want);

    let out = shardsql_within(
        &[
            "--query",
            q.to_str().unwrap(),
            "--input",
            &url,
            "--bounded",
            "--on-error",
            "fail",
            "--output",
            out_csv.to_str().unwrap(),
        ],
        Duration::from_secs(60),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("partition 1 offset 1: malformed message") && err.contains("--on-error fail"),
        "{err}"
    );
}

/// A broker that is gone: the run fails within its timeouts with a message that says so,
/// never hangs or panics. Before the run (nothing answers), and during it (deliveries time
/// out).
#[test]
fn error_kafka_broker_gone_fails_clearly() {
    let mut broker = Broker::start();
    let url = broker.url("gone");
    broker.kill();
    let out = shardsql_within(
        &["gen", "--records", "10", "--output", &url],
        Duration::from_secs(60),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("cannot reach the broker"), "{err}");
    assert!(!err.contains("panicked"), "{err}");

    let broker = Broker::start();
    broker.create_topic("slow", 1);
    let url = format!("{}?message.timeout.ms=3000", broker.url("slow"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_shardsql"))
        .args(["gen", "--records", "100000000", "--output", &url])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    drop(broker);
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(90) {
            let _ = child.kill();
            panic!("gen kept running after the broker died");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("not delivered") || err.contains("not acknowledged"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

/// User errors about Kafka flags and addresses name the flag.
#[test]
fn error_kafka_flags_and_addresses() {
    let e = shardsql_fails(&[
        "--query",
        "queries/01_passthrough.sql",
        "--input",
        "kafka://localhost/t",
    ]);
    assert!(e.contains("no :PORT"), "{e}");
    let e = shardsql_fails(&["--query", "queries/01_passthrough.sql", "--bounded"]);
    assert!(e.contains("--bounded applies to a Kafka input"), "{e}");
    let e = shardsql_fails(&["gen", "--key", "trader_id", "--records", "1"]);
    assert!(e.contains("--key applies to a Kafka output"), "{e}");
    let dir = scratch("kafka-late-ckpt");
    let e = shardsql_fails(&[
        "--query",
        "queries/04_tumbling.sql",
        "--checkpoint-dir",
        dir.join("ckpt").to_str().unwrap(),
        "--late-output",
        "kafka://127.0.0.1:1/late",
    ]);
    assert!(
        e.contains("--late-output kafka://… cannot be checkpointed"),
        "{e}"
    );
    let e = shardsql_fails(&[
        "--query",
        "queries/01_passthrough.sql",
        "--input",
        "kafka://127.0.0.1:1/t?no.such.property=1",
    ]);
    assert!(
        e.contains("No such configuration property") && e.contains("no.such.property"),
        "{e}"
    );
    // Nothing listens on port 1: a clear error after the request timeout, not a hang.
    let e = shardsql_fails(&[
        "--query",
        "queries/01_passthrough.sql",
        "--input",
        "kafka://127.0.0.1:1/t",
    ]);
    assert!(e.contains("cannot reach the broker within 10 s"), "{e}");
}

/// A topic that does not exist is named as such.
#[test]
fn error_kafka_missing_topic() {
    let broker = Broker::start();
    let e = shardsql_fails(&[
        "--query",
        "queries/01_passthrough.sql",
        "--input",
        &broker.url("nosuch"),
        "--bounded",
    ]);
    assert!(e.contains("the topic does not exist"), "{e}");
}

/// A GROUP BY without a window over a topic read continuously would never emit: refused
/// with the ways out.
#[test]
fn error_kafka_unbounded_final_aggregate_is_refused() {
    let broker = Broker::start();
    let topic = broker.url("few");
    let out = shardsql_within(
        &["gen", "--records", "100", "--output", &topic],
        Duration::from_secs(60),
    );
    ok(&out, "gen");
    let e = shardsql_fails(&["--query", "queries/03_group_by.sql", "--input", &topic]);
    assert!(e.contains("add --bounded"), "{e}");
    assert!(e.contains("EMIT CHANGES"), "{e}");
    // `explain` plans against the topic's columns, read from its first messages.
    let out = shardsql_within(
        &[
            "explain",
            "--query",
            "queries/03_group_by.sql",
            "--input",
            &topic,
        ],
        Duration::from_secs(60),
    );
    ok(&out, "explain");
    let plan = String::from_utf8_lossy(&out.stdout);
    assert!(
        plan.contains("Aggregate group by [trader_id, symbol]"),
        "{plan}"
    );
    let q = scratch("kafka-explain").join("q.sql");
    std::fs::write(&q, "SELECT kafka_offset, no_such_column FROM t").unwrap();
    let e = shardsql_fails(&["explain", "--query", q.to_str().unwrap(), "--input", &topic]);
    assert!(e.contains("no_such_column"), "{e}");
}

/// Every message of `topic` in partition and offset order: (partition, key, value; `None` for
/// a tombstone).
fn consume_all(broker: &Broker, topic: &str) -> Vec<(i32, Option<String>, Option<String>)> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::message::Message;
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &broker.addr)
        .set("group.id", "test-reader")
        .set("enable.partition.eof", "true")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let md = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .unwrap();
    let parts = md.topics()[0].partitions().len();
    assert!(parts > 0, "{topic} has no partitions");
    let mut tpl = rdkafka::TopicPartitionList::new();
    for p in 0..parts as i32 {
        tpl.add_partition_offset(topic, p, rdkafka::Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let mut at_end = vec![false; parts];
    let mut out = Vec::new();
    let start = Instant::now();
    while !at_end.iter().all(|&e| e) {
        assert!(start.elapsed() < Duration::from_secs(60), "{topic}: no end");
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => out.push((
                m.partition(),
                m.key().map(|k| String::from_utf8_lossy(k).into_owned()),
                m.payload().map(|v| String::from_utf8_lossy(v).into_owned()),
            )),
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(p))) => at_end[p as usize] = true,
            _ => {}
        }
    }
    out
}

/// EMIT CHANGES to a topic is an upsert changelog: each message is keyed by the GROUP BY key,
/// a `-D` is a tombstone, and the last message of each key is the folded result.
#[test]
fn kafka_emit_changes_is_an_upsert_topic_with_tombstones_2_cores() {
    let broker = Broker::start();
    let dir = scratch("kafka-changes");
    let file = dir.join("trades.csv");
    let out = shardsql_within(
        &[
            "gen",
            "--records",
            "20000",
            "--seed",
            "11",
            "--output",
            file.to_str().unwrap(),
        ],
        Duration::from_secs(60),
    );
    ok(&out, "gen");
    let q = dir.join("q.sql");
    // Every symbol but AAPL is withdrawn (-D) once it has 1,500 trades.
    std::fs::write(
        &q,
        "SELECT symbol, COUNT(*) AS n, MAX(price) AS hi FROM market_data GROUP BY symbol \
         HAVING COUNT(*) < 1500 OR symbol = 'AAPL' EMIT CHANGES",
    )
    .unwrap();
    let q = q.to_str().unwrap();
    let (changelog, _) = run_query(&dir, "file", q, &["--input", file.to_str().unwrap()]);
    let (folded, counts) = fold_changelog(&changelog, &[1]).unwrap();
    assert!(counts.delete > 0 && !folded.rows.is_empty(), "{counts:?}");

    let topic = broker.url("changes");
    let out = shardsql_within(
        &[
            "--query",
            q,
            "--input",
            file.to_str().unwrap(),
            "--cores",
            "2",
            "--output",
            &topic,
        ],
        Duration::from_secs(120),
    );
    ok(&out, "EMIT CHANGES into a topic");
    let messages = consume_all(&broker, "changes");
    assert_eq!(messages.len(), changelog.rows.len());
    let tombstones = messages.iter().filter(|m| m.2.is_none()).count();
    assert_eq!(tombstones, counts.delete);
    let mut last = std::collections::BTreeMap::new();
    for (_, key, value) in &messages {
        let key = key.clone().expect("every message has a key");
        let k: serde_json::Value = serde_json::from_str(&key).unwrap();
        assert_eq!(k.as_object().unwrap().len(), 1, "{key}");
        last.insert(k["symbol"].as_str().unwrap().to_string(), value.clone());
    }
    let mut visible = Vec::new();
    for (symbol, value) in last {
        if let Some(v) = value {
            let v: serde_json::Value = serde_json::from_str(&v).unwrap();
            assert_eq!(v["symbol"], symbol.as_str());
            visible.push(vec![
                symbol,
                v["n"].to_string(),
                v["hi"].as_f64().unwrap().to_string(),
            ]);
        }
    }
    let got = Table {
        header: folded.header.clone(),
        rows: visible,
    };
    same_multiset(&folded, &got).unwrap();
}

/// With --group the offsets read are committed after the results are written: the next
/// bounded run of the group starts after them; --start TIME starts at the first message at or
/// after TIME.
#[test]
fn kafka_group_commits_and_resumes_after_the_committed_offsets() {
    let broker = Broker::start();
    let dir = scratch("kafka-group");
    let topic = broker.url("resume");
    let fill = |records: &str, seed: &str| {
        gen_to(&topic, &["--records", records, "--seed", seed], 60);
    };
    let read = |tag: &str| {
        let (_, stats) = run_query(
            &dir,
            tag,
            "queries/01_passthrough.sql",
            &["--input", &topic, "--bounded", "--group", "g1"],
        );
        stats["records_in"].as_u64().unwrap()
    };
    fill("1000", "1");
    assert_eq!(read("first"), 1000);
    std::thread::sleep(Duration::from_millis(20));
    let between = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
        .to_string();
    std::thread::sleep(Duration::from_millis(20));
    fill("300", "2");
    assert_eq!(read("second"), 300);
    // --start TIME: from the first message at or after it (no group).
    let (_, stats) = run_query(
        &dir,
        "since",
        "queries/01_passthrough.sql",
        &["--input", &topic, "--bounded", "--start", &between],
    );
    assert_eq!(stats["records_in"], 300);
    // Another group starts from the earliest offsets.
    let (_, stats) = run_query(
        &dir,
        "other",
        "queries/01_passthrough.sql",
        &["--input", &topic, "--bounded", "--group", "g2"],
    );
    assert_eq!(stats["records_in"], 1300);
}

/// CSV values: one record per message, columns named by --schema; a bad field is a malformed
/// message; without --schema the error says what to do.
#[test]
fn kafka_csv_values_need_and_follow_the_schema() {
    use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
    let broker = Broker::start();
    broker.create_topic("csv", 2);
    let dir = scratch("kafka-csv");
    let producer: ThreadedProducer<DefaultProducerContext> = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &broker.addr)
        .create()
        .unwrap();
    for (p, value) in [(0, "1,x\n"), (1, "2,\"y,z\""), (1, "three,w"), (0, "4,v")] {
        producer
            .send(BaseRecord::<(), str>::to("csv").partition(p).payload(value))
            .unwrap();
    }
    producer.flush(Duration::from_secs(10)).unwrap();
    let url = broker.url("csv");
    let q = dir.join("q.sql");
    std::fs::write(&q, "SELECT kafka_partition, a, b FROM t").unwrap();
    let q = q.to_str().unwrap();
    let e = shardsql_fails(&["--query", q, "--input", &url, "--value-format", "csv"]);
    assert!(e.contains("CSV messages carry no header"), "{e}");
    let e = shardsql_fails(&[
        "explain",
        "--query",
        q,
        "--input",
        &url,
        "--value-format",
        "csv",
    ]);
    assert!(e.contains("CSV messages carry no header"), "{e}");
    let out = shardsql_within(
        &[
            "explain",
            "--query",
            q,
            "--input",
            &url,
            "--value-format",
            "csv",
            "--schema",
            "a:bigint,b:varchar",
        ],
        Duration::from_secs(60),
    );
    ok(&out, "explain");
    let plan = String::from_utf8_lossy(&out.stdout);
    assert!(plan.contains("Sink: kafka_partition, a, b"), "{plan}");
    let (t, stats) = run_query(
        &dir,
        "csv",
        q,
        &[
            "--input",
            &url,
            "--bounded",
            "--value-format",
            "csv",
            "--schema",
            "a:bigint,b:varchar",
        ],
    );
    assert_eq!(stats["malformed"], 1, "{stats}");
    let mut rows = t.rows;
    rows.sort();
    assert_eq!(
        rows,
        [["0", "1", "x"], ["0", "4", "v"], ["1", "2", "y,z"]]
            .iter()
            .map(|r| r.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .collect::<Vec<_>>()
    );
}

/// Without --bounded the run is continuous: EMIT CHANGES rows arrive while messages are
/// produced, SIGINT stops it (exit 130) after emitting everything read, and the group's
/// offsets are committed at that stop, so the next run starts after them.
#[test]
fn kafka_continuous_run_emits_as_messages_arrive_and_commits_on_sigint() {
    let broker = Broker::start();
    let dir = scratch("kafka-live");
    let topic = broker.url("live");
    let fill = |records: &str, seed: &str| {
        gen_to(&topic, &["--records", records, "--seed", seed], 60);
    };
    fill("100", "1");
    let out_csv = dir.join("live.csv");
    let mut child = Command::new(env!("CARGO_BIN_EXE_shardsql"))
        .args(["--query", "queries/05_tumbling_emit_changes.sql"])
        .args(["--input", &topic, "--group", "live", "--runtime", "threads"])
        .args(["--output", out_csv.to_str().unwrap()])
        .current_dir(repo())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = || {
        std::fs::read_to_string(&out_csv)
            .map(|s| s.lines().count())
            .unwrap_or(0)
    };
    let wait_for = |n: usize| {
        let start = Instant::now();
        while lines() < n {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "{} lines, not {n}",
                lines()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    wait_for(101); // the header and one row per record
    fill("50", "2");
    wait_for(151);
    let ok_kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok_kill.success());
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no stop on SIGINT"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(err.contains("after reading 150 records"), "{err}");
    assert_eq!(lines(), 151);

    fill("7", "3");
    let (_, stats) = run_query(
        &dir,
        "after",
        "queries/01_passthrough.sql",
        &["--input", &topic, "--bounded", "--group", "live"],
    );
    assert_eq!(stats["records_in"], 7, "{stats}");
}

/// `gen --key COL`: every message is keyed by the column's value, and one key's messages all
/// land in one partition (the key's hash picks it), in the generator's order.
#[test]
fn kafka_gen_with_key_keeps_each_key_in_one_partition_4_partitions() {
    let broker = Broker::start();
    let topic = broker.url("keyed");
    let out = shardsql_within(
        &[
            "gen",
            "--records",
            "2000",
            "--partitions",
            "4",
            "--key",
            "trader_id",
            "--output",
            &topic,
        ],
        Duration::from_secs(60),
    );
    ok(&out, "gen --key");
    let messages = consume_all(&broker, "keyed");
    assert_eq!(messages.len(), 2000);
    let mut home = std::collections::HashMap::new();
    let mut last_id = std::collections::HashMap::new();
    for (p, key, value) in &messages {
        let key = key.clone().expect("keyed");
        let v: serde_json::Value = serde_json::from_str(value.as_deref().unwrap()).unwrap();
        assert_eq!(v["trader_id"], key.as_str());
        assert_eq!(
            *home.entry(key.clone()).or_insert(*p),
            *p,
            "{key} in two partitions"
        );
        let id = v["trade_id"].as_i64().unwrap();
        let prev = last_id.insert(key.clone(), id);
        assert!(prev.is_none_or(|prev| prev < id), "{key}: out of order");
    }
    let used: std::collections::HashSet<_> = home.values().collect();
    assert!(used.len() > 1, "all keys in one partition: {home:?}");
    let e = shardsql_fails(&["gen", "--records", "1", "--key", "nope", "--output", &topic]);
    assert!(
        e.contains("--key nope: market_data has no such column"),
        "{e}"
    );
}

/// The five seed queries over a one-partition topic give what they give over the same stream
/// in a file, at 1 and 3 shards (ROWS windows and EMIT CHANGES included: one partition keeps
/// the file's order).
#[test]
fn kafka_seed_queries_match_the_file_1_partition_1_and_3_cores() {
    let broker = Broker::start();
    let dir = scratch("kafka-seed");
    let file = dir.join("trades.csv");
    let gen_args = ["--records", "12000", "--seed", "5", "--disorder-ms", "300"];
    gen_to(file.to_str().unwrap(), &gen_args, 60);
    let topic = broker.url("seed");
    gen_to(&topic, &gen_args, 60);
    for query in SEED_QUERIES {
        let (expected, s0) = run_query(&dir, "file", query, &["--input", file.to_str().unwrap()]);
        for cores in ["1", "3"] {
            let (got, s) = run_query(
                &dir,
                "topic",
                query,
                &["--input", &topic, "--bounded", "--cores", cores],
            );
            assert_eq!(s["records_in"], s0["records_in"], "{query}");
            assert_eq!(s["late_dropped"], s0["late_dropped"], "{query}");
            compare_seed(query, &expected, &got)
                .unwrap_or_else(|e| panic!("{query} at {cores} cores: {e}"));
        }
    }
}

/// `--idle-timeout`: a partition with nothing to read stops holding back the watermark, so a
/// continuous run closes windows on the other partition's event time; without it nothing
/// closes until the run stops.
#[test]
fn kafka_idle_partition_stops_holding_back_windows_2_partitions() {
    let broker = Broker::start();
    let dir = scratch("kafka-idle");
    let topic = broker.url("idle");
    // 4,000 records are one block: all in partition 0; partition 1 stays empty. They span
    // 4 s of event time, so 1-second windows 0, 1 and 2 can close.
    let out = shardsql_within(
        &[
            "gen",
            "--records",
            "4000",
            "--partitions",
            "2",
            "--output",
            &topic,
        ],
        Duration::from_secs(60),
    );
    ok(&out, "gen");
    let q = dir.join("q.sql");
    std::fs::write(
        &q,
        "SELECT symbol, COUNT(*) AS n, window_start FROM market_data GROUP BY symbol \
         WINDOW TUMBLING (trade_time, INTERVAL '1' SECOND)",
    )
    .unwrap();
    for idle in [false, true] {
        let out_csv = dir.join(format!("idle-{idle}.csv"));
        let mut args = vec![
            "--query",
            q.to_str().unwrap(),
            "--input",
            &topic,
            "--runtime",
            "threads",
            "--output",
            out_csv.to_str().unwrap(),
        ];
        if idle {
            args.extend(["--idle-timeout", "200ms"]);
        }
        let mut child = Command::new(env!("CARGO_BIN_EXE_shardsql"))
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let rows = || {
            std::fs::read_to_string(&out_csv)
                .map(|s| s.lines().count().saturating_sub(1))
                .unwrap_or(0)
        };
        let start = Instant::now();
        if idle {
            while rows() < 30 {
                assert!(
                    start.elapsed() < Duration::from_secs(30),
                    "windows did not close"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        } else {
            std::thread::sleep(Duration::from_secs(3));
        }
        // Three windows of ten symbols each closed (or, without idleness, none).
        assert_eq!(rows(), if idle { 30 } else { 0 }, "idle {idle}");
        let _ = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status();
        while child.try_wait().unwrap().is_none() {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "no stop on SIGINT"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(130));
        // The stop flushes the last window.
        assert_eq!(rows(), 40, "idle {idle}");
    }
    let e = shardsql_fails(&[
        "--query",
        q.to_str().unwrap(),
        "--input",
        &topic,
        "--bounded",
        "--idle-timeout",
        "1s",
    ]);
    assert!(
        e.contains("--idle-timeout applies to a continuous run"),
        "{e}"
    );
}

/// A continuous stateless query in a group commits its offsets as it goes (every
/// `--commit-interval`, also while the topic is quiet), each commit covering only rows
/// already written: after a SIGKILL mid-stream, every offset below the committed one is in
/// the output, and the next run reads exactly from there (at-least-once, nothing skipped).
#[test]
fn kafka_stateless_run_commits_as_it_goes_and_a_sigkill_skips_nothing() {
    let broker = Broker::start();
    let dir = scratch("kafka-commits");
    broker.create_topic("commits", 2);
    let topic = broker.url("commits");
    let fill = |records: &str, seed: &str| {
        gen_to(
            &topic,
            &["--records", records, "--seed", seed, "--partitions", "2"],
            60,
        );
    };
    fill("9000", "1");
    let q = dir.join("q.sql");
    std::fs::write(&q, "SELECT kafka_partition, kafka_offset, trade_id FROM t").unwrap();
    let q = q.to_str().unwrap();
    let out1 = dir.join("out1.csv");
    let mut child = Command::new(env!("CARGO_BIN_EXE_shardsql"))
        .args([
            "--query", q, "--input", &topic, "--group", "commits", "--cores", "2",
        ])
        .args([
            "--commit-interval",
            "200ms",
            "--output",
            out1.to_str().unwrap(),
        ])
        .current_dir(repo())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // (partition, offset) of each whole output line.
    let offsets_in = |path: &std::path::Path| -> Vec<(i32, i64)> {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let whole = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
        whole
            .lines()
            .skip(1)
            .map(|l| {
                let mut f = l.split(',');
                let p = f.next().unwrap().parse().unwrap();
                (p, f.next().unwrap().parse().unwrap())
            })
            .collect()
    };
    let wait_for = |n: usize| {
        let start = Instant::now();
        while offsets_in(&out1).len() < n {
            assert!(start.elapsed() < Duration::from_secs(60), "rows < {n}");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    wait_for(9000);
    // Quiet: the commit barriers go on without new messages.
    std::thread::sleep(Duration::from_millis(1500));
    let committed = || committed_offsets(&broker, "commits", "commits", 2);
    let quiet = committed();
    assert_eq!(
        quiet.iter().sum::<i64>(),
        9000,
        "committed while quiet: {quiet:?}"
    );
    // A SIGKILL while messages stream in.
    let more = std::thread::spawn({
        let topic = topic.clone();
        move || {
            gen_to(
                &topic,
                &["--records", "200000", "--seed", "2", "--partitions", "2"],
                120,
            )
        }
    });
    wait_for(30_000);
    signal(&child, "KILL");
    let _ = child.wait();
    more.join().unwrap();
    let at_kill = committed();
    let written: std::collections::HashSet<(i32, i64)> = offsets_in(&out1).into_iter().collect();
    for (p, &c) in at_kill.iter().enumerate() {
        assert!(
            c >= quiet[p],
            "commits went back: {quiet:?} then {at_kill:?}"
        );
        for o in 0..c {
            assert!(
                written.contains(&(p as i32, o)),
                "partition {p} offset {o} committed ({c}) but not written before the kill"
            );
        }
    }
    // The next run reads exactly what follows the committed offsets.
    let out2 = dir.join("out2.csv");
    let out = shardsql_within(
        &[
            "--query",
            q,
            "--input",
            &topic,
            "--group",
            "commits",
            "--bounded",
            "--output",
            out2.to_str().unwrap(),
        ],
        Duration::from_secs(120),
    );
    ok(&out, "the run after the kill");
    let mut second = offsets_in(&out2);
    second.sort_unstable();
    // Per partition, the offsets from the committed one on, each once, and with what the
    // commits cover, every message of the topic (209,000).
    for p in 0..2 {
        let got: Vec<i64> = second.iter().filter(|e| e.0 == p).map(|e| e.1).collect();
        let from = at_kill[p as usize];
        assert_eq!(got.first(), Some(&from), "partition {p}");
        assert!(
            got.windows(2).all(|w| w[1] == w[0] + 1),
            "partition {p}: not every offset once"
        );
    }
    assert_eq!(second.len() as i64 + at_kill.iter().sum::<i64>(), 209_000);
}

/// Group `group`'s committed offsets of `topic`'s first `partitions` partitions (0: none).
fn committed_offsets(broker: &Broker, group: &str, topic: &str, partitions: i32) -> Vec<i64> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let c: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &broker.addr)
        .set("group.id", group)
        .create()
        .unwrap();
    let mut tpl = rdkafka::TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition(topic, p);
    }
    let got = c.committed_offsets(tpl, Duration::from_secs(10)).unwrap();
    got.elements()
        .iter()
        .map(|e| match e.offset() {
            rdkafka::Offset::Offset(o) => o,
            _ => 0,
        })
        .collect()
}

/// A continuous stateful run with checkpoints commits its group's offsets with each durable
/// checkpoint, and a quiet topic does not hold checkpoints back (the reader deals fillers up
/// to the cut): the offsets of everything read get committed without another message.
#[test]
fn kafka_checkpoints_of_a_quiet_topic_commit_the_group_offsets() {
    let broker = Broker::start();
    let dir = scratch("kafka-ckpt-commits");
    broker.create_topic("quiet", 2);
    let topic = broker.url("quiet");
    gen_to(&topic, &["--records", "9000", "--partitions", "2"], 60);
    let ckpt = dir.join("ckpt");
    let mut child = Command::new(env!("CARGO_BIN_EXE_shardsql"))
        .args(["--query", "queries/05_tumbling_emit_changes.sql"])
        .args(["--input", &topic, "--group", "quiet", "--cores", "2"])
        .args(["--checkpoint-dir", ckpt.to_str().unwrap()])
        .args(["--checkpoint-interval", "200ms"])
        .args(["--output", dir.join("out.csv").to_str().unwrap()])
        .current_dir(repo())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        let c = committed_offsets(&broker, "quiet", "quiet", 2);
        if c.iter().sum::<i64>() == 9000 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "committed {c:?}, not all 9,000 offsets"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    signal(&child, "INT");
    wait_or_hang(&mut child, Duration::from_secs(30), "SIGINT");
    let err = stderr_of(child);
    assert!(err.contains("after reading 9,000 records"), "{err}");
}
