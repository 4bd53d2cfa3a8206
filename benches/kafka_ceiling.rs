//! The broker's ceiling for the Kafka benchmark (`scripts/kafka-bench.sh`): a plain consumer —
//! librdkafka with the settings shardsql's source uses, one thread — that reads every
//! partition of a topic from the start until it has seen `RECORDS` messages, discarding them,
//! and prints messages/s and MB/s. shardsql reading the same topic can go no faster than this.
//!
//!   SHARDSQL_KAFKA_BENCH=kafka://127.0.0.1:9092/trades RECORDS=2000000 \
//!     cargo bench --bench kafka_ceiling
//!
//! Without `SHARDSQL_KAFKA_BENCH` it says what it needs and exits (it needs a broker).

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use shardsql::kafka::{KafkaUrl, partition_count};
use std::time::{Duration, Instant};

fn main() {
    let Ok(address) = std::env::var("SHARDSQL_KAFKA_BENCH") else {
        eprintln!(
            "kafka_ceiling: set SHARDSQL_KAFKA_BENCH=kafka://HOST:PORT/TOPIC and RECORDS=N \
             (scripts/kafka-bench.sh starts a broker, fills a topic and sets both)"
        );
        return;
    };
    let records: u64 = std::env::var("RECORDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .expect("RECORDS=N: the messages in the topic");
    let url = KafkaUrl::parse("SHARDSQL_KAFKA_BENCH", &address).expect("a kafka:// address");
    let consumer: BaseConsumer = url
        .config(&[
            ("enable.auto.commit", "false"),
            ("enable.partition.eof", "false"),
            ("auto.offset.reset", "earliest"),
            ("group.id", "shardsql-ceiling"),
            // As a bounded run's reader (`source::kafka`); with messages waiting it changes
            // nothing.
            ("fetch.wait.max.ms", "10"),
        ])
        .create()
        .expect("a consumer");
    let partitions = partition_count("bench", &url, consumer.client())
        .expect("the broker")
        .expect("the topic exists");
    let mut assignment = TopicPartitionList::new();
    for p in 0..partitions as i32 {
        assignment
            .add_partition_offset(&url.topic, p, Offset::Beginning)
            .expect("a partition");
    }
    consumer.assign(&assignment).expect("assigned");
    let (mut seen, mut bytes) = (0u64, 0u64);
    let mut start = None;
    let deadline = Instant::now() + Duration::from_secs(600);
    while seen < records && Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                start.get_or_insert_with(Instant::now);
                seen += 1;
                bytes += m.payload_len() as u64;
            }
            Some(Err(e)) => panic!("consume failed: {e}"),
            None => {}
        }
    }
    let secs = start.map_or(0.0, |s| s.elapsed().as_secs_f64());
    println!(
        "kafka_ceiling: {seen} messages ({partitions} partitions) in {secs:.3} s: {:.2} M messages/s, {:.0} MB/s",
        seen as f64 / secs / 1e6,
        bytes as f64 / secs / 1e6
    );
    assert_eq!(seen, records, "the topic holds fewer messages than RECORDS");
}
