//! End-to-end latency of a Kafka input below saturation (`scripts/kafka-latency.sh`): from a
//! message's Kafka timestamp to its result row written by the sink.
//!
//! It starts a continuous shardsql run (`SHARDSQL_BIN`) reading the topic and writing CSV to
//! its stdout (a pipe: the sink's write returning is its acknowledgement), then produces
//! market_data-shaped JSON messages at `RATE` per second for `SECONDS` (librdkafka producer,
//! its default `linger.ms` 5: the producer's own batching counts as latency, as it would for
//! any producer); each message's Kafka timestamp is its CreateTime, stamped by the producer
//! when it is handed over, and its event times are that moment too. Every output line is
//! stamped with the wall clock when it is read from the pipe (one stamp per `read`), and its
//! latency is that stamp minus the Kafka timestamp the row carries (column `TS_COLUMN`: the
//! `kafka_timestamp` metadata column, or an aggregate of it such as `MAX(kafka_timestamp)`,
//! the newest message the row counts). The Kafka timestamp is in whole milliseconds, so each
//! latency is over-stated by 0–1 ms. Rows of the first `WARMUP` seconds are left out. After
//! the last message it waits a second, stops the run with SIGINT and prints HDR percentiles
//! (hdrhistogram, µs recorded, ms printed).
//!
//!   SHARDSQL_KAFKA_LATENCY=kafka://127.0.0.1:9092/lat SHARDSQL_BIN=target/release/shardsql \
//!     QUERY=q.sql RATE=10000 SECONDS=10 CORES=2 cargo bench --bench kafka_latency
//!
//! Without `SHARDSQL_KAFKA_LATENCY` it says what it needs and exits (it needs a broker).

use hdrhistogram::Histogram;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use std::io::BufRead;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const SCHEMA: &str = "trade_id:bigint,trader_id:varchar,symbol:varchar,price:double,\
                      quantity:bigint,value:double,trade_time:timestamp,event_time:timestamp";
const SYMBOLS: [&str; 10] = [
    "AAPL", "GOOGL", "MSFT", "AMZN", "TSLA", "META", "NVDA", "NFLX", "AMD", "INTC",
];

fn env(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_micros() as u64
}

fn main() {
    let Ok(url) = std::env::var("SHARDSQL_KAFKA_LATENCY") else {
        eprintln!(
            "kafka_latency: set SHARDSQL_KAFKA_LATENCY=kafka://HOST:PORT/TOPIC (an empty topic), \
             SHARDSQL_BIN, QUERY, RATE, SECONDS, CORES (scripts/kafka-latency.sh does)"
        );
        return;
    };
    let bin = env("SHARDSQL_BIN", "target/release/shardsql");
    let query = env("QUERY", "queries/01_passthrough.sql");
    let rate: f64 = env("RATE", "10000")
        .parse()
        .expect("RATE: records per second");
    let seconds: f64 = env("SECONDS", "10").parse().expect("SECONDS");
    let warmup: f64 = env("WARMUP", "2").parse().expect("WARMUP");
    let cores = env("CORES", "2");
    let ts_column = env("TS_COLUMN", "kafka_timestamp");
    let linger = env("LINGER", "5");
    let address = url.strip_prefix("kafka://").expect("a kafka:// address");
    let (broker, topic) = address.split_once('/').expect("kafka://HOST:PORT/TOPIC");
    // The reader's librdkafka properties (`?fetch.wait.max.ms=…`) are not the topic's name.
    let topic = topic.split('?').next().unwrap_or(topic);

    let mut child = Command::new(&bin)
        .args(["--query", &query, "--input", &url, "--cores", &cores])
        .args(["--schema", SCHEMA, "--start", "latest", "--linger", &linger])
        .args([
            "--output",
            "-",
            "--timestamps",
            "epoch-ms",
            "--runtime",
            "threads",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("shardsql starts");
    let stdout = child.stdout.take().expect("a pipe");
    // Rows whose Kafka timestamp is at or after this (µs) are measured.
    let measure_from = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(u64::MAX));
    let from = measure_from.clone();
    let column = ts_column.clone();
    let reader = std::thread::spawn(move || {
        let mut hist = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).expect("bounds");
        let mut input = std::io::BufReader::with_capacity(1 << 20, stdout);
        let mut at = None;
        let (mut rows, mut partial) = (0u64, Vec::new());
        loop {
            let buf = match input.fill_buf() {
                Ok([]) | Err(_) => break,
                Ok(b) => b,
            };
            let arrived = now_us();
            let n = buf.len();
            let mut data = std::mem::take(&mut partial);
            data.extend_from_slice(buf);
            input.consume(n);
            let mut lines = data.split(|&b| b == b'\n').peekable();
            while let Some(line) = lines.next() {
                if lines.peek().is_none() {
                    partial = line.to_vec(); // not ended yet
                    break;
                }
                let fields: Vec<&[u8]> = line.split(|&b| b == b',').collect();
                let Some(i) = at else {
                    at = fields.iter().position(|f| *f == column.as_bytes());
                    assert!(at.is_some(), "no column {column} in {line:?}");
                    continue;
                };
                let Some(ts) = std::str::from_utf8(fields[i])
                    .ok()
                    .and_then(|t| t.parse::<u64>().ok())
                else {
                    continue;
                };
                if ts * 1000 >= from.load(std::sync::atomic::Ordering::Relaxed) {
                    hist.saturating_record(arrived.saturating_sub(ts * 1000).max(1));
                    rows += 1;
                }
            }
        }
        (hist, rows)
    });

    // The run is up once it has assigned its partitions at the end: give it a moment.
    std::thread::sleep(Duration::from_secs(3));
    let producer: ThreadedProducer<DefaultProducerContext> = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", broker)
        .create()
        .expect("a producer");
    let start = Instant::now();
    measure_from.store(
        now_us() + (warmup * 1e6) as u64,
        std::sync::atomic::Ordering::Relaxed,
    );
    let total = (rate * seconds) as u64;
    let mut sent = 0u64;
    let mut value = String::new();
    while sent < total {
        let due = ((start.elapsed().as_secs_f64() * rate) as u64).min(total);
        while sent < due {
            let ms = now_us() / 1000;
            let i = sent;
            value.clear();
            use std::fmt::Write;
            let price = 100.0 + (i % 997) as f64 / 10.0;
            let quantity = 1 + i % 1000;
            write!(
                value,
                "{{\"trade_id\":{i},\"trader_id\":\"TRADER_{:04}\",\"symbol\":\"{}\",\
                 \"price\":{price},\"quantity\":{quantity},\"value\":{},\
                 \"trade_time\":{ms},\"event_time\":{ms}}}",
                i % 20,
                SYMBOLS[(i % 10) as usize],
                price * quantity as f64
            )
            .expect("write to a String");
            let record = BaseRecord::<(), str>::to(topic).payload(&value);
            match producer.send(record) {
                Ok(()) => sent += 1,
                Err((_, _)) => {
                    std::thread::sleep(Duration::from_millis(1));
                    continue;
                }
            }
        }
        std::thread::sleep(Duration::from_micros(500));
    }
    producer
        .flush(Duration::from_secs(30))
        .expect("every message delivered");
    let produced_in = start.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_secs(1));
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let out = child.wait_with_output().expect("shardsql ends");
    let (hist, rows) = reader.join().expect("the reader");
    let ms = |q: f64| hist.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "kafka_latency: {query} cores {cores} rate {rate:.0}/s ({:.0} produced/s over {produced_in:.1} s), \
         {rows} rows measured: p50 {:.1} ms  p90 {:.1}  p99 {:.1}  p99.9 {:.1}  max {:.1}",
        total as f64 / produced_in,
        ms(0.5),
        ms(0.9),
        ms(0.99),
        ms(0.999),
        hist.max() as f64 / 1000.0
    );
    if rows == 0 {
        eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    }
}
