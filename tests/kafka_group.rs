//! Consumer groups end to end, against a Tansu broker each test starts: two processes in one
//! group (`--group G --members 2`) share a topic and give, together, what one process gives —
//! on a topic keyed by the query's key (`--keyed-by`), and on one keyed by another column,
//! re-keyed through the repartition topic (late counts included); a member that leaves
//! mid-run stops the other with a message; what a group cannot run is refused before joining.

mod common;
#[path = "common/kafka.rs"]
mod kafka_broker;

use common::*;
use kafka_broker::Broker;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const WINDOWED: &str = "SELECT trader_id, symbol, COUNT(*) AS n, SUM(quantity) AS q, window_start \
     FROM market_data GROUP BY trader_id, symbol WINDOW TUMBLING (trade_time, INTERVAL '1' SECOND)";

/// Starts shardsql with stderr to `dir/<tag>.err`.
fn spawn(dir: &Path, tag: &str, args: &[&str]) -> Child {
    let err = std::fs::File::create(dir.join(format!("{tag}.err"))).unwrap();
    Command::new(env!("CARGO_BIN_EXE_shardsql"))
        .args(args)
        .current_dir(repo())
        .stdout(Stdio::null())
        .stderr(err)
        .spawn()
        .expect("run shardsql")
}

fn stderr_of(dir: &Path, tag: &str) -> String {
    std::fs::read_to_string(dir.join(format!("{tag}.err"))).unwrap_or_default()
}

/// Waits for `child` up to `limit`; kills it and panics past that.
fn wait(child: &mut Child, limit: Duration, what: &str) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Rows (headers excluded) in the CSV outputs `dir/<tag>.csv` of `tags`, together.
fn rows_written(dir: &Path, tags: &[&str]) -> usize {
    tags.iter()
        .map(|t| {
            std::fs::read_to_string(dir.join(format!("{t}.csv")))
                .map(|s| s.lines().count().saturating_sub(1))
                .unwrap_or(0)
        })
        .sum()
}

/// The offsets `group` has committed for partitions 0..`partitions` of the topic `url`
/// (`None`: nothing committed), asked without joining the group (Tansu 0.6 does not always
/// let a group form again soon after its members left).
fn committed_offsets(url: &str, group: &str, partitions: i32) -> Vec<Option<i64>> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let (brokers, topic) = url.trim_start_matches("kafka://").split_once('/').unwrap();
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", group)
        .create()
        .unwrap();
    let mut tpl = rdkafka::TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition(topic, p);
    }
    let committed = consumer
        .committed_offsets(tpl, Duration::from_secs(10))
        .unwrap();
    committed
        .elements()
        .iter()
        .map(|e| match e.offset() {
            rdkafka::Offset::Offset(o) => Some(o),
            _ => None,
        })
        .collect()
}

/// Sends SIGINT to every member; each must stop within a minute with status 130.
fn interrupt_all<const N: usize>(dir: &Path, members: [(&mut Child, &str); N]) {
    for (c, _) in &members {
        let sent = Command::new("kill")
            .args(["-INT", &c.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
    }
    for (c, tag) in members {
        let s = wait(c, Duration::from_secs(60), tag);
        assert_eq!(s.code(), Some(130), "{tag}:\n{}", stderr_of(dir, tag));
    }
}

/// Writes `records` generated records (JSON) into `topic`, created with 4 partitions.
fn gen_into(topic: &str, records: &str) {
    let out = Command::new(env!("CARGO_BIN_EXE_shardsql"))
        .args([
            "gen",
            "--records",
            records,
            "--partitions",
            "4",
            "--output",
            topic,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Fills `topic` with `records` generated records (4 partitions, keyed by trader_id,
/// 200 ms of disorder).
fn fill_keyed(topic: &str, records: &str) {
    let out = Command::new(env!("CARGO_BIN_EXE_shardsql"))
        .args([
            "gen",
            "--records",
            records,
            "--seed",
            "11",
            "--partitions",
            "4",
        ])
        .args([
            "--disorder-ms",
            "200",
            "--key",
            "trader_id",
            "--output",
            topic,
        ])
        .current_dir(repo())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "gen: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `q` on two members of `group` (1 core each, `extra` flags, late records to `late`),
/// waits for both, and returns their rows together and each member's stats.
fn two_members(
    dir: &Path,
    topic: &str,
    q: &str,
    group: &str,
    extra: &[&str],
    late: [&Path; 2],
) -> (Table, [serde_json::Value; 2]) {
    let member = |tag: &str, late: &Path| {
        let out = dir.join(format!("{group}-{tag}.csv"));
        let stats = dir.join(format!("{group}-{tag}.json"));
        let mut args = vec![
            "--query",
            q,
            "--input",
            topic,
            "--bounded",
            "--cores",
            "1",
            "--group",
            group,
            "--members",
            "2",
            "--output",
            out.to_str().unwrap(),
            "--stats",
            stats.to_str().unwrap(),
            "--late-output",
            late.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        spawn(dir, &format!("{group}-{tag}"), &args)
    };
    let mut a = member("a", late[0]);
    let mut b = member("b", late[1]);
    let sa = wait(&mut a, Duration::from_secs(180), "member a");
    let sb = wait(&mut b, Duration::from_secs(180), "member b");
    let ea = stderr_of(dir, &format!("{group}-a"));
    let eb = stderr_of(dir, &format!("{group}-b"));
    assert!(sa.success(), "member a:\n{ea}");
    assert!(sb.success(), "member b:\n{eb}");
    let mut together = read_csv(&dir.join(format!("{group}-a.csv")));
    together
        .rows
        .extend(read_csv(&dir.join(format!("{group}-b.csv"))).rows);
    let stats = |tag: &str| -> serde_json::Value {
        serde_json::from_str(
            &std::fs::read_to_string(dir.join(format!("{group}-{tag}.json"))).unwrap(),
        )
        .unwrap()
    };
    (together, [stats("a"), stats("b")])
}

/// The counts two members report together equal one process's.
fn same_counts(members: &[serde_json::Value; 2], one: &serde_json::Value, what: &str) {
    for k in ["records_in", "late_dropped", "filtered", "rows_out"] {
        let sum = members[0][k].as_u64().unwrap() + members[1][k].as_u64().unwrap();
        assert_eq!(sum, one[k].as_u64().unwrap(), "{what}: {k}");
    }
}

#[test]
fn kafka_group_repartition_two_members_equal_one_process_topic_keyed_by_another_column() {
    let broker = Broker::start();
    let dir = scratch("kafka-group-repartition");
    // Keyed by trader_id, 200 ms of disorder; the queries group by symbol.
    let topic = broker.url("by-trader");
    fill_keyed(&topic, "30000");
    let queries = [
        (
            "tumbling",
            "SELECT symbol, COUNT(*) AS n, SUM(quantity) AS q, MIN(price) AS lo, window_start \
             FROM market_data GROUP BY symbol \
             WINDOW TUMBLING (trade_time, INTERVAL '500' MILLISECOND)",
            "0",
        ),
        (
            "hopping-where",
            "SELECT symbol, trader_id, COUNT(*) AS n, AVG(price) AS p, window_start, window_end \
             FROM market_data WHERE quantity > 300 GROUP BY symbol, trader_id \
             WINDOW HOPPING (trade_time, INTERVAL '100' MILLISECOND, INTERVAL '25' MILLISECOND)",
            "10",
        ),
        (
            "changes",
            "SELECT symbol, COUNT(*) AS n, SUM(quantity) AS q, window_start FROM market_data \
             GROUP BY symbol WINDOW TUMBLING (trade_time, INTERVAL '200' MILLISECOND) \
             EMIT CHANGES",
            "20",
        ),
    ];
    for (i, (name, sql, lateness)) in queries.iter().enumerate() {
        let q = dir.join(format!("{name}.sql"));
        std::fs::write(&q, sql).unwrap();
        let q = q.to_str().unwrap();
        let late = dir.join(format!("{name}-late.csv"));
        let (expected, one) = run_query(
            &dir,
            name,
            q,
            &[
                "--input",
                &topic,
                "--bounded",
                "--cores",
                "2",
                "--allowed-lateness",
                lateness,
                "--late-output",
                late.to_str().unwrap(),
            ],
        );
        assert!(one["late_dropped"].as_u64().unwrap() > 0, "{name}: {one}");
        assert!(!expected.rows.is_empty(), "{name}");
        let group = format!("rk{i}");
        if i == 2 {
            // A repartition topic holding older messages (not even shardsql's): a run starts
            // where they end and never reads them.
            gen_into(&broker.url(&format!("{group}-repartition")), "300");
        }
        let late_a = dir.join(format!("{group}-late-a.csv"));
        let late_b = dir.join(format!("{group}-late-b.csv"));
        let (together, stats) = two_members(
            &dir,
            &topic,
            q,
            &group,
            &["--allowed-lateness", lateness],
            [&late_a, &late_b],
        );
        // Each member writes the late records of its own partitions.
        let mut late_together = read_csv(&late_a);
        late_together.rows.extend(read_csv(&late_b).rows);
        assert_eq!(
            late_together.rows.len() as u64,
            one["late_dropped"].as_u64().unwrap()
        );
        same_multiset(&read_csv(&late), &late_together)
            .unwrap_or_else(|e| panic!("{name}: late records: {e}"));
        let (expected, together) = if name == &"changes" {
            // A changelog: folded per (symbol, window_start), as a compacted topic would.
            let fold = |t: &Table| fold_changelog(t, &[1, 4]).unwrap().0;
            (fold(&expected), fold(&together))
        } else {
            (expected, together)
        };
        same_multiset(&expected, &together).unwrap_or_else(|e| panic!("{name}: {e}"));
        same_counts(&stats, &one, name);
        let e = stderr_of(&dir, &format!("{group}-a"));
        assert!(e.contains(&format!("{group}-repartition")), "{e}");
    }
}

#[test]
fn kafka_group_two_members_equal_one_process_keyed_topic_4_partitions_2x1_vs_1x2_cores() {
    let broker = Broker::start();
    let dir = scratch("kafka-group-2x1");
    let topic = broker.url("keyed");
    fill_keyed(&topic, "40000");
    let q = dir.join("q.sql");
    std::fs::write(&q, WINDOWED).unwrap();
    let q = q.to_str().unwrap();
    let (expected, one) = run_query(
        &dir,
        "one",
        q,
        &["--input", &topic, "--bounded", "--cores", "2"],
    );
    assert!(one["late_dropped"].as_u64().unwrap() > 0, "{one}");

    let member = |tag: &str| {
        let out = dir.join(format!("{tag}.csv"));
        let stats = dir.join(format!("{tag}.json"));
        spawn(
            &dir,
            tag,
            &[
                "--query",
                q,
                "--input",
                &topic,
                "--bounded",
                "--cores",
                "1",
                "--group",
                "g2",
                "--members",
                "2",
                "--keyed-by",
                "trader_id",
                "--output",
                out.to_str().unwrap(),
                "--stats",
                stats.to_str().unwrap(),
            ],
        )
    };
    let mut a = member("a");
    let mut b = member("b");
    let sa = wait(&mut a, Duration::from_secs(180), "member a");
    let sb = wait(&mut b, Duration::from_secs(180), "member b");
    let (ea, eb) = (stderr_of(&dir, "a"), stderr_of(&dir, "b"));
    assert!(sa.success(), "member a:\n{ea}");
    assert!(sb.success(), "member b:\n{eb}");
    // Each reads two partitions, together all four.
    let mut parts = Vec::new();
    for e in [&ea, &eb] {
        let line = e
            .lines()
            .find(|l| l.starts_with("group g2: this member reads partitions"))
            .unwrap_or_else(|| panic!("no share in:\n{e}"));
        let list = &line[line.find('[').unwrap() + 1..line.find(']').unwrap()];
        let got: Vec<i32> = list.split(", ").map(|p| p.parse().unwrap()).collect();
        assert_eq!(got.len(), 2, "{line}");
        parts.extend(got);
    }
    parts.sort();
    assert_eq!(parts, [0, 1, 2, 3]);

    let mut together = read_csv(&dir.join("a.csv"));
    together.rows.extend(read_csv(&dir.join("b.csv")).rows);
    same_multiset(&expected, &together).unwrap();
    let stat = |tag: &str, k: &str| {
        let s: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join(format!("{tag}.json"))).unwrap(),
        )
        .unwrap();
        s[k].as_u64().unwrap()
    };
    for k in ["late_dropped", "records_in"] {
        assert_eq!(stat("a", k) + stat("b", k), one[k].as_u64().unwrap(), "{k}");
    }
}

#[test]
fn kafka_group_member_leaving_mid_run_stops_the_other_with_a_message() {
    let broker = Broker::start();
    let dir = scratch("kafka-group-leave");
    let topic = broker.url("keyed");
    fill_keyed(&topic, "2000");
    let q = dir.join("q.sql");
    std::fs::write(&q, WINDOWED).unwrap();
    let q = q.to_str().unwrap();
    let member = |tag: &str| {
        let out = dir.join(format!("{tag}.csv"));
        spawn(
            &dir,
            tag,
            &[
                "--query",
                q,
                "--input",
                &topic,
                "--group",
                "live",
                "--members",
                "2",
                "--keyed-by",
                "trader_id",
                "--runtime",
                "threads",
                "--output",
                out.to_str().unwrap(),
            ],
        )
    };
    let mut a = member("a");
    let mut b = member("b");
    // Both have their share and read.
    let start = Instant::now();
    while !(stderr_of(&dir, "a").contains("this member reads")
        && stderr_of(&dir, "b").contains("this member reads"))
    {
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "no shares:\n{}\n{}",
            stderr_of(&dir, "a"),
            stderr_of(&dir, "b")
        );
        assert!(
            a.try_wait().unwrap().is_none(),
            "a: {}",
            stderr_of(&dir, "a")
        );
        assert!(
            b.try_wait().unwrap().is_none(),
            "b: {}",
            stderr_of(&dir, "b")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(2));
    let kill = Command::new("kill")
        .args(["-INT", &b.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let sb = wait(&mut b, Duration::from_secs(30), "member b after SIGINT");
    assert_eq!(sb.code(), Some(130), "b: {}", stderr_of(&dir, "b"));
    let sa = wait(&mut a, Duration::from_secs(90), "member a after b left");
    let ea = stderr_of(&dir, "a");
    assert!(!sa.success(), "a went on:\n{ea}");
    assert!(
        ea.contains("group `live`: a member joined or left mid-run"),
        "{ea}"
    );
    // The output is there and holds its header: written and flushed.
    let out = std::fs::read_to_string(dir.join("a.csv")).unwrap();
    assert!(
        out.starts_with("trader_id,symbol,n,q,window_start"),
        "{out}"
    );
}

/// A bounded member that finishes first leaves the group; the other sees its partitions come
/// back, finds them committed to their end, and goes on with its own (partitions 2 and 3 are
/// empty, 0 and 1 are read at a paced rate, 10 s).
#[test]
fn kafka_group_bounded_member_finishing_first_lets_the_other_finish_4_partitions() {
    let broker = Broker::start();
    let dir = scratch("kafka-group-finish");
    broker.create_topic("half", 4);
    let topic = broker.url("half");
    const RECORDS: u64 = 400_000;
    let q = dir.join("q.sql");
    std::fs::write(&q, "SELECT v FROM t").unwrap();
    let q = q.to_str().unwrap();
    // More messages than the rings hold, so the paced reader is still polling when the other
    // member leaves.
    {
        use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
        let producer: ThreadedProducer<DefaultProducerContext> = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", &broker.addr)
            .set("queue.buffering.max.messages", "1000000")
            .create()
            .unwrap();
        let mut value = String::new();
        for i in 0..RECORDS {
            value.clear();
            value.push_str(&format!("{{\"v\":{i}}}"));
            producer
                .send(
                    BaseRecord::<(), _>::to("half")
                        .partition((i % 2) as i32)
                        .payload(&value),
                )
                .unwrap();
        }
        producer.flush(Duration::from_secs(30)).unwrap();
    }
    let member = |tag: &str| {
        let out = dir.join(format!("{tag}.csv"));
        let stats = dir.join(format!("{tag}.json"));
        spawn(
            &dir,
            tag,
            &[
                "--query",
                q,
                "--input",
                &topic,
                "--bounded",
                "--cores",
                "1",
                "--rate",
                "40000",
                "--group",
                "half",
                "--members",
                "2",
                "--output",
                out.to_str().unwrap(),
                "--stats",
                stats.to_str().unwrap(),
            ],
        )
    };
    let mut a = member("a");
    let mut b = member("b");
    let sa = wait(&mut a, Duration::from_secs(120), "member a");
    let sb = wait(&mut b, Duration::from_secs(120), "member b");
    let (ea, eb) = (stderr_of(&dir, "a"), stderr_of(&dir, "b"));
    assert!(sa.success() && sb.success(), "a:\n{ea}\nb:\n{eb}");
    let reader = if ea.contains("reads partitions [0, 1]") {
        &ea
    } else {
        &eb
    };
    assert!(
        reader.contains(
            "group half: partitions [2, 3] were read to their end by a member that finished; \
             this member goes on with [0, 1]"
        ),
        "a:\n{ea}\nb:\n{eb}"
    );
    let records = |tag: &str| {
        let s: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join(format!("{tag}.json"))).unwrap(),
        )
        .unwrap();
        s["records_in"].as_u64().unwrap()
    };
    assert_eq!(records("a") + records("b"), RECORDS);
}

#[test]
fn error_kafka_group_query_key_must_include_the_topic_key() {
    let broker = Broker::start();
    let dir = scratch("kafka-group-errors");
    let topic = broker.url("keyed");
    fill_keyed(&topic, "200");
    let q = dir.join("q.sql");
    let by_symbol = "SELECT symbol, COUNT(*) AS n FROM market_data GROUP BY symbol";
    std::fs::write(&q, by_symbol).unwrap();
    let q = q.to_str().unwrap();
    let base = [
        "--query",
        q,
        "--input",
        &topic,
        "--bounded",
        "--group",
        "e",
        "--members",
        "2",
    ];
    let e = shardsql_fails(&[&base[..], &["--keyed-by", "trader_id"]].concat());
    assert!(
        e.contains(
            "--keyed-by trader_id: the query groups by (symbol), which does not include `trader_id`"
        ),
        "{e}"
    );
    assert!(e.contains("drop --keyed-by to re-key"), "{e}");
    // A global aggregate needs one process: refused before joining.
    let global = dir.join("global.sql");
    std::fs::write(&global, "SELECT COUNT(*) AS n FROM market_data").unwrap();
    let mut args = base.to_vec();
    args[1] = global.to_str().unwrap();
    let e = shardsql_fails(&args);
    assert!(e.contains("the query has no key"), "{e}");
    let e = shardsql_fails(&[&base[..], &["--keyed-by", "nope"]].concat());
    assert!(
        e.contains("--keyed-by nope:") && e.contains("has no column"),
        "{e}"
    );
    let e = shardsql_fails(&[
        "--query",
        q,
        "--input",
        &topic,
        "--bounded",
        "--group",
        "e",
        "--members",
        "5",
        "--keyed-by",
        "symbol",
    ]);
    assert!(
        e.contains("--members 5:") && e.contains("has 4 partitions"),
        "{e}"
    );
    let e = shardsql_fails(&["--query", q, "--input", &topic, "--group", "a b"]);
    assert!(e.contains("is not a group name"), "{e}");
    let e = shardsql_fails(&["--query", q, "--input", &topic, "--members", "2"]);
    assert!(e.contains("--members applies to a consumer group"), "{e}");
}

/// Two continuous members re-keying through the repartition topic: rows appear as messages
/// arrive, Ctrl-C stops both (each ends once the other's records have reached it), and both
/// commit: a later run of the group reads only newer messages.
#[test]
fn kafka_group_repartition_continuous_members_emit_live_stop_on_sigint_and_commit() {
    let broker = Broker::start();
    let dir = scratch("kafka-group-repartition-live");
    let topic = broker.url("live-by-trader");
    let fill = |records: &str, seed: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_shardsql"))
            .args([
                "gen",
                "--records",
                records,
                "--seed",
                seed,
                "--partitions",
                "4",
            ])
            .args(["--key", "trader_id", "--output", &topic])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    fill("200", "1");
    let q = dir.join("q.sql");
    std::fs::write(
        &q,
        "SELECT symbol, COUNT(*) AS n, SUM(quantity) AS q FROM market_data GROUP BY symbol \
         EMIT CHANGES",
    )
    .unwrap();
    let member = |tag: &str| {
        spawn(
            &dir,
            tag,
            &[
                "--query",
                q.to_str().unwrap(),
                "--input",
                &topic,
                "--cores",
                "1",
                "--group",
                "live",
                "--members",
                "2",
                "--output",
                dir.join(format!("{tag}.csv")).to_str().unwrap(),
            ],
        )
    };
    let mut a = member("a");
    let mut b = member("b");
    // One changelog row per record, over both members' outputs (each with a header).
    let rows = || rows_written(&dir, &["a", "b"]);
    let wait_for = |n: usize| {
        let start = Instant::now();
        while rows() < n {
            assert!(
                start.elapsed() < Duration::from_secs(90),
                "{} rows, not {n}:\n{}\n{}",
                rows(),
                stderr_of(&dir, "a"),
                stderr_of(&dir, "b")
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    wait_for(200);
    fill("50", "2");
    wait_for(250);
    interrupt_all(&dir, [(&mut a, "a"), (&mut b, "b")]);
    assert_eq!(rows(), 250);
    let last = |t: &str| {
        let mut last: std::collections::BTreeMap<String, u64> = Default::default();
        for r in read_csv(&dir.join(format!("{t}.csv"))).rows {
            last.insert(r[1].clone(), r[2].parse().unwrap());
        }
        last
    };
    let (la, lb) = (last("a"), last("b"));
    assert!(la.keys().all(|k| !lb.contains_key(k)), "{la:?} {lb:?}");
    assert_eq!(la.values().chain(lb.values()).sum::<u64>(), 250);

    // Both members committed what they read: the group's offsets cover all 250 messages.
    let committed = committed_offsets(&topic, "live", 4);
    let total: i64 = committed
        .iter()
        .enumerate()
        .map(|(p, o)| o.unwrap_or_else(|| panic!("partition {p}: no committed offset")))
        .sum();
    assert_eq!(total, 250);
}

/// `--idle-timeout` through the repartition topic: a member's quiet input partitions go idle
/// in every member's view, so windows close on the busy partition's event time while the run
/// is live, whichever member's partitions went idle first.
#[test]
fn kafka_group_repartition_idle_partitions_let_windows_close_live() {
    let broker = Broker::start();
    let dir = scratch("kafka-group-repartition-idle");
    let topic = broker.url("one-busy");
    // 3,000 records: one block, all in partition 0 of 4.
    gen_into(&topic, "3000");
    let q = dir.join("q.sql");
    std::fs::write(
        &q,
        "SELECT symbol, COUNT(*) AS n, window_start FROM market_data GROUP BY symbol \
         WINDOW TUMBLING (trade_time, INTERVAL '10' MILLISECOND)",
    )
    .unwrap();
    let q = q.to_str().unwrap();
    let (expected, _) = run_query(&dir, "one", q, &["--input", &topic, "--bounded"]);
    let member = |tag: &str| {
        spawn(
            &dir,
            tag,
            &[
                "--query",
                q,
                "--input",
                &topic,
                "--cores",
                "1",
                "--group",
                "idle",
                "--members",
                "2",
                "--idle-timeout",
                "500",
                "--output",
                dir.join(format!("{tag}.csv")).to_str().unwrap(),
            ],
        )
    };
    let mut a = member("a");
    let mut b = member("b");
    let rows = || rows_written(&dir, &["a", "b"]);
    // Every window but the last closes before any signal (the last waits for later times).
    let start = Instant::now();
    while rows() + 10 < expected.rows.len() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{} rows of {} while live:\n{}\n{}",
            rows(),
            expected.rows.len(),
            stderr_of(&dir, "a"),
            stderr_of(&dir, "b")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    interrupt_all(&dir, [(&mut a, "a"), (&mut b, "b")]);
    let mut together = read_csv(&dir.join("a.csv"));
    together.rows.extend(read_csv(&dir.join("b.csv")).rows);
    same_multiset(&expected, &together).unwrap();
}

/// A member killed mid-run (SIGKILL: no goodbye to the group) through the repartition topic:
/// the other stops with an error instead of waiting forever or finishing with part of the
/// results, and neither commits, so starting the group again reads everything again
/// (at-least-once).
#[test]
fn kafka_group_repartition_member_killed_stops_the_other_and_nothing_is_committed() {
    let broker = Broker::start();
    let dir = scratch("kafka-group-repartition-kill");
    let topic = broker.url("by-trader");
    fill_keyed(&topic, "40000");
    let q = dir.join("q.sql");
    std::fs::write(
        &q,
        "SELECT symbol, COUNT(*) AS n, window_start FROM market_data GROUP BY symbol \
         WINDOW TUMBLING (trade_time, INTERVAL '100' MILLISECOND)",
    )
    .unwrap();
    let member = |tag: &str| {
        spawn(
            &dir,
            tag,
            &[
                "--query",
                q.to_str().unwrap(),
                "--input",
                &topic,
                "--bounded",
                "--cores",
                "1",
                "--group",
                "k",
                "--members",
                "2",
                "--output",
                dir.join(format!("{tag}.csv")).to_str().unwrap(),
            ],
        )
    };
    let mut a = member("a");
    let mut b = member("b");
    let start = Instant::now();
    while !(stderr_of(&dir, "a").contains("re-keyed") && stderr_of(&dir, "b").contains("re-keyed"))
    {
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "no group:\n{}\n{}",
            stderr_of(&dir, "a"),
            stderr_of(&dir, "b")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = b.kill();
    let _ = b.wait();
    let sa = wait(
        &mut a,
        Duration::from_secs(90),
        "member a after b was killed",
    );
    let ea = stderr_of(&dir, "a");
    assert!(!sa.success(), "a finished:\n{ea}");
    assert!(
        ea.contains("a member joined or left mid-run")
            || ea.contains("a member has stopped or died"),
        "{ea}"
    );
    // Nothing committed: the group starts over from the beginning.
    for (p, o) in committed_offsets(&topic, "k", 4).iter().enumerate() {
        assert_eq!(*o, None, "partition {p} committed");
    }
}
