//! Kafka: what the source (`source::kafka`), the result sink (`kafka::producer`) and
//! `shardsql gen --output kafka://…` share: the `kafka://HOST:PORT[,HOST:PORT]/TOPIC[?k=v&…]`
//! address, the librdkafka client configuration built from it, the metadata and topic
//! look-ups every one of them starts with, and the text of the errors a broker gives.
//!
//! librdkafka (the rdkafka crate, the C library built from source) runs its own I/O threads;
//! shardsql's threads only call into it. Everything here runs once, before or after a run,
//! on the thread that asks: nothing on the hot path.
//!
//! # Properties
//!
//! The query string of the address is passed to librdkafka verbatim, one `key=value` per
//! parameter (`kafka://b:9092/t?security.protocol=ssl&fetch.min.bytes=1000`): every property
//! of <https://github.com/confluentinc/librdkafka/blob/master/CONFIGURATION.md> for consumers
//! (on `--input`) or producers (on `--output`). An unknown property or a bad value is refused
//! by librdkafka before anything connects, with its own message. shardsql sets, and a
//! parameter overrides: `bootstrap.servers` (from the address); on the producer `acks=all`
//! and `enable.idempotence=true` (the at-least-once guarantee relies on them: override them
//! only knowingly); on the consumer `enable.auto.commit=false` (offsets are committed by
//! shardsql after the results are written) and `enable.partition.eof=true`; on a reading
//! consumer also `partition.assignment.strategy=range`, `session.timeout.ms=10000`,
//! `heartbeat.interval.ms=2000` and `max.poll.interval.ms=86400000` (`--group`: see
//! `source::kafka_group`).
//! The build has no TLS, SASL or compression codecs other than the built-in lz4/snappy.

pub mod producer;
pub mod repartition;
pub mod txn;
pub mod wire;

use crate::error::{Error, Result};
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use std::time::Duration;

/// How long a metadata or offset request may take before the broker is called unreachable.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// A parsed `kafka://` address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KafkaUrl {
    /// `host:port[,host:port]`, librdkafka's `bootstrap.servers`.
    pub brokers: String,
    pub topic: String,
    /// `key=value` pairs from the query string, in order.
    pub props: Vec<(String, String)>,
}

/// Whether a `--input` / `--output` value names Kafka.
pub fn is_kafka(target: &str) -> bool {
    target.starts_with("kafka://")
}

impl KafkaUrl {
    /// Parses `kafka://HOST:PORT[,HOST:PORT]/TOPIC[?key=value&…]`; `flag` names the option in
    /// errors.
    pub fn parse(flag: &str, url: &str) -> Result<KafkaUrl> {
        let bad = |why: &str| {
            Error::Usage(format!(
                "{flag} {url}: {why}; write kafka://HOST:PORT/TOPIC (several brokers: \
                 kafka://h1:9092,h2:9092/TOPIC; librdkafka properties: ?key=value&key=value)"
            ))
        };
        let rest = url
            .strip_prefix("kafka://")
            .ok_or_else(|| bad("not a kafka:// address"))?;
        let (rest, query) = match rest.split_once('?') {
            Some((r, q)) => (r, Some(q)),
            None => (rest, None),
        };
        let (brokers, topic) = rest
            .split_once('/')
            .ok_or_else(|| bad("no topic after the broker address"))?;
        if brokers.is_empty() {
            return Err(bad("no broker address"));
        }
        for b in brokers.split(',') {
            let (host, port) = b
                .rsplit_once(':')
                .ok_or_else(|| bad(&format!("broker `{b}` has no :PORT")))?;
            if host.is_empty() || port.parse::<u16>().map_or(true, |p| p == 0) {
                return Err(bad(&format!("broker `{b}` is not HOST:PORT")));
            }
        }
        // Kafka's own rule for topic names.
        if topic.is_empty()
            || topic.len() > 249
            || topic == "."
            || topic == ".."
            || !topic
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
        {
            return Err(bad(&format!(
                "`{topic}` is not a topic name (1-249 of a-z A-Z 0-9 . _ -)"
            )));
        }
        let mut props = Vec::new();
        for kv in query
            .unwrap_or_default()
            .split('&')
            .filter(|s| !s.is_empty())
        {
            let (k, v) = kv
                .split_once('=')
                .ok_or_else(|| bad(&format!("property `{kv}` is not key=value")))?;
            props.push((k.to_string(), v.to_string()));
        }
        Ok(KafkaUrl {
            brokers: brokers.to_string(),
            topic: topic.to_string(),
            props,
        })
    }

    /// A client configuration: the brokers, then `defaults`, then the address's properties
    /// (which win).
    pub fn config(&self, defaults: &[(&str, &str)]) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers);
        // Fail a request instead of retrying forever against a broker that is gone.
        c.set("socket.timeout.ms", "10000");
        for (k, v) in defaults {
            c.set(*k, *v);
        }
        for (k, v) in &self.props {
            c.set(k, v);
        }
        c
    }

    /// `kafka://brokers/topic`, without the properties (which may hold secrets), for messages.
    pub fn display(&self) -> String {
        format!("kafka://{}/{}", self.brokers, self.topic)
    }
}

/// A librdkafka error in words, for `flag` and `url`.
pub fn error(flag: &str, url: &KafkaUrl, what: &str, e: impl std::fmt::Display) -> Error {
    Error::Kafka(format!("{flag} {}: {what}: {e}", url.display()))
}

/// A consumer used for look-ups only (metadata, offsets, commits).
pub fn lookup_consumer(flag: &str, url: &KafkaUrl, group: Option<&str>) -> Result<BaseConsumer> {
    let mut cfg = url.config(&[("enable.auto.commit", "false")]);
    if let Some(g) = group {
        cfg.set("group.id", g);
    }
    cfg.create()
        .map_err(|e| error(flag, url, "invalid client configuration", e))
}

/// The topic's partition count, or a clear error: the broker unreachable (after
/// `REQUEST_TIMEOUT`), the topic missing (`Ok(None)`), or another broker error.
pub fn partition_count(
    flag: &str,
    url: &KafkaUrl,
    client: &rdkafka::client::Client<impl rdkafka::ClientContext>,
) -> Result<Option<u32>> {
    let md = client
        .fetch_metadata(Some(&url.topic), REQUEST_TIMEOUT)
        .map_err(|e| {
            error(
                flag,
                url,
                &format!(
                    "cannot reach the broker within {} s",
                    REQUEST_TIMEOUT.as_secs()
                ),
                e,
            )
        })?;
    let Some(t) = md.topics().iter().find(|t| t.name() == url.topic) else {
        return Ok(None);
    };
    match t.error() {
        None => {}
        Some(rdkafka::types::RDKafkaRespErr::RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) => {
            return Ok(None);
        }
        Some(e) => {
            return Err(error(
                flag,
                url,
                "the broker refused the topic's metadata",
                rdkafka::types::RDKafkaErrorCode::from(e),
            ));
        }
    }
    let n = t.partitions().len() as u32;
    Ok((n > 0).then_some(n))
}

/// Creates `url.topic` with `partitions` partitions unless it exists; returns its partition
/// count.
pub fn ensure_topic(flag: &str, url: &KafkaUrl, partitions: u32) -> Result<u32> {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    let consumer = lookup_consumer(flag, url, None)?;
    if let Some(n) = partition_count(flag, url, consumer.client())? {
        return Ok(n);
    }
    let admin: AdminClient<rdkafka::client::DefaultClientContext> = url
        .config(&[])
        .create()
        .map_err(|e| error(flag, url, "invalid client configuration", e))?;
    let topic = NewTopic::new(&url.topic, partitions as i32, TopicReplication::Fixed(1));
    let opts = AdminOptions::new()
        .request_timeout(Some(REQUEST_TIMEOUT))
        .operation_timeout(Some(REQUEST_TIMEOUT));
    let results = futures_lite::future::block_on(admin.create_topics([&topic], &opts))
        .map_err(|e| error(flag, url, "cannot create the topic", e))?;
    for r in results {
        match r {
            Ok(_) => {}
            Err((_, rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((_, e)) => return Err(error(flag, url, "cannot create the topic", e)),
        }
    }
    // The broker may take a moment to serve the new topic's metadata.
    let deadline = std::time::Instant::now() + REQUEST_TIMEOUT;
    loop {
        if let Some(n) = partition_count(flag, url, consumer.client())? {
            return Ok(n);
        }
        if std::time::Instant::now() > deadline {
            return Err(Error::Kafka(format!(
                "{flag} {}: the topic was created but the broker does not list it",
                url.display()
            )));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_with_brokers_topic_and_properties() {
        let u = KafkaUrl::parse("--input", "kafka://h1:9092,h2:9093/trades?a.b=1&c=x=y").unwrap();
        assert_eq!(u.brokers, "h1:9092,h2:9093");
        assert_eq!(u.topic, "trades");
        assert_eq!(
            u.props,
            [("a.b".into(), "1".into()), ("c".into(), "x=y".into())]
        );
        assert_eq!(u.display(), "kafka://h1:9092,h2:9093/trades");
    }

    #[test]
    fn error_bad_urls_say_what_is_wrong() {
        for (url, says) in [
            ("kafka://h:9092", "no topic"),
            ("kafka:///t", "no broker"),
            ("kafka://h/t", "no :PORT"),
            ("kafka://h:x/t", "not HOST:PORT"),
            ("kafka://h:9092/", "not a topic name"),
            ("kafka://h:9092/a b", "not a topic name"),
            ("kafka://h:9092/t?novalue", "not key=value"),
        ] {
            let e = KafkaUrl::parse("--input", url).unwrap_err().to_string();
            assert!(e.contains(says), "{url}: {e}");
            assert!(e.contains("kafka://HOST:PORT/TOPIC"), "{url}: {e}");
        }
    }
}
