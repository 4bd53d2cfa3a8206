//! Writing rows to a Kafka topic: the `--output kafka://…` result sink and
//! `shardsql gen --output kafka://…`.
//!
//! One `KafkaOut` per run, shared by every shard (librdkafka's producer is thread-safe; each
//! `send` copies the message into librdkafka's queue, takes no lock of ours and allocates
//! nothing of ours). A shard hands over its gathered rows a batch at a time
//! (`ShardOutput`), encoded once as JSON lines; each line becomes one message.
//!
//! - Key: the GROUP BY key (plus `window_start` for a windowed aggregate) as a JSON object,
//!   e.g. `{"trader_id":"T3","window_start":"2024-03-01 12:00:00"}`; no key for a query
//!   without GROUP BY. Every GROUP BY column must be in the SELECT list (a key is made of
//!   output columns); without `window_start` there the key is the GROUP BY key alone (a
//!   warning says so).
//! - Value: the JSON row, exactly as a `.jsonl` output would hold it. EMIT CHANGES rows
//!   keep their `op` column; a `-D` row is sent as a tombstone (the key with a null value),
//!   so a compacted topic folds to the current result; `-U` rows of `--changelog retract`
//!   are not sent (an upsert topic has no use for them).
//! - Delivery: `acks=all` and `enable.idempotence=true` (no duplicates or reordering from
//!   retries). A full local queue stalls the shard (backpressure). The first failed delivery
//!   raises `failed`, on which the runtime stops reading; the run then ends with the broker's
//!   message. At the end `close` waits for every message to be acknowledged (`flush`).
//!
//! Threading: `send_rows` from any shard thread; delivery reports arrive on librdkafka's
//! polling thread (`ThreadedProducer`), which only sets an atomic and, once, a message.

use super::{KafkaUrl, error};
use crate::data::batch::Column;
use crate::data::{Batch, Dict, Schema};
use crate::error::{Error, Result};
use crate::sink::{Format, Timestamps};
use rdkafka::ClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How long `close` waits for the last messages to be acknowledged.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(60);

/// librdkafka's callbacks: delivery failures and client-wide errors (a broker gone).
#[derive(Default)]
pub struct Reports {
    failed: AtomicBool,
    first_failure: Mutex<Option<String>>,
    /// The last client-wide error (e.g. `Connect to ipv4#127.0.0.1:9092 failed`), which
    /// explains a delivery that timed out.
    last_client_error: Mutex<Option<String>>,
}

impl Reports {
    fn fail(&self, why: String) {
        self.failed.store(true, Ordering::Relaxed);
        let mut f = self.first_failure.lock().unwrap_or_else(|e| e.into_inner());
        if f.is_none() {
            let client = self
                .last_client_error
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            *f = Some(match client {
                Some(c) if !why.contains(&c) => format!("{why} (the client's last error: {c})"),
                _ => why,
            });
        }
    }
}

impl ClientContext for Reports {
    fn error(&self, error: KafkaError, reason: &str) {
        *self
            .last_client_error
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(format!("{error}: {reason}"));
    }

    fn log(&self, _: rdkafka::config::RDKafkaLogLevel, _: &str, _: &str) {}
}

impl ProducerContext for Reports {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        // Nothing is counted per message (no atomic read-modify-write per record).
        if let Err((e, _)) = result {
            // An aborted transaction (`kafka::txn`) purges what it had queued: not a failure.
            if matches!(
                e,
                KafkaError::MessageProduction(
                    RDKafkaErrorCode::PurgeQueue | RDKafkaErrorCode::PurgeInflight
                )
            ) {
                return;
            }
            self.fail(format!("a message was not delivered: {e}"));
        }
    }
}

/// How a row becomes a message.
#[derive(Clone, Debug, Default)]
pub struct Layout {
    /// Output columns making the key (empty: no key).
    pub key: Vec<usize>,
    /// The EMIT CHANGES `op` column and the dictionary ids of `-D` and `-U`.
    pub op: Option<(usize, u32, u32)>,
    /// Said on stderr before the run: a windowed aggregate without `window_start` in its
    /// SELECT list is keyed by the GROUP BY key alone.
    pub warning: Option<String>,
}

/// A topic rows are written to.
pub struct KafkaOut {
    producer: ThreadedProducer<Reports>,
    url: KafkaUrl,
    flag: &'static str,
    layout: Layout,
    /// `--checkpoint-dir`: each checkpoint epoch's rows in one transaction (`kafka::txn`).
    txn: Option<super::txn::Transactions>,
}

impl KafkaOut {
    /// Connects to `url` (creating the topic with `partitions` partitions if it does not
    /// exist) and returns the producer and the topic's partition count.
    pub fn open(
        flag: &'static str,
        url: &KafkaUrl,
        partitions: u32,
        layout: Layout,
    ) -> Result<(KafkaOut, u32)> {
        KafkaOut::open_with(flag, url, partitions, layout, None)
    }

    /// `open`, transactional (`kafka::txn`) with `txn` = (transactional id, checkpoint
    /// interval): fences the id's earlier run and opens the first transaction.
    pub fn open_with(
        flag: &'static str,
        url: &KafkaUrl,
        partitions: u32,
        layout: Layout,
        txn: Option<(&str, Duration)>,
    ) -> Result<(KafkaOut, u32)> {
        let n = super::ensure_topic(flag, url, partitions)?;
        let mut config = url.config(&[
            ("acks", "all"),
            ("enable.idempotence", "true"),
            // A broker that is gone fails the run after this, not after librdkafka's
            // default of five minutes.
            ("message.timeout.ms", "30000"),
            ("linger.ms", "5"),
            // The Java client's partitioner: a key lands where Kafka Streams, ksqlDB and
            // Flink would put it.
            ("partitioner", "murmur2_random"),
        ]);
        if let Some((id, interval)) = txn {
            for (k, v) in super::txn::Transactions::properties(id, interval) {
                // The address's own properties win (they were set last).
                if !url.props.iter().any(|(p, _)| p == k) {
                    config.set(k, v);
                }
            }
        }
        let producer: ThreadedProducer<Reports> = config
            .create_with_context(Reports::default())
            .map_err(|e| error(flag, url, "invalid producer configuration", e))?;
        let txn = match txn {
            Some((id, _)) => Some(super::txn::Transactions::start(id, url, &producer)?),
            None => None,
        };
        Ok((
            KafkaOut {
                producer,
                url: url.clone(),
                flag,
                layout,
                txn,
            },
            n,
        ))
    }

    /// The transactions of a checkpointed output.
    pub fn transactions(&self) -> Option<&super::txn::Transactions> {
        self.txn.as_ref()
    }

    /// Commits the open transaction as checkpoint epoch `epoch` and opens the next
    /// (`kafka::txn`).
    pub fn commit_epoch(&self, epoch: u64, input_offsets: Option<&[(i32, i64)]>) -> Result<()> {
        match &self.txn {
            Some(t) => t.commit(&self.producer, epoch, input_offsets, true),
            None => Ok(()),
        }
    }

    /// A stopped or failed run: its open transaction is aborted (a resume writes it again).
    pub fn abandon(&self) {
        if let Some(t) = &self.txn {
            t.abort(&self.producer);
        }
    }

    /// Waits until every message sent so far is acknowledged (`FLUSH_TIMEOUT` at most);
    /// whether they all were, without a delivery failure (which `close` reports).
    pub fn acknowledge(&self) -> bool {
        self.producer.flush(FLUSH_TIMEOUT).is_ok() && !self.failed()
    }

    /// Whether a delivery has failed: nothing more should be produced.
    pub fn failed(&self) -> bool {
        self.producer.context().failed.load(Ordering::Relaxed)
    }

    /// Sends one message (`partition`: `None` lets the key decide), waiting while librdkafka's
    /// queue is full. Returns false once the run has failed.
    #[inline]
    pub fn send(&self, key: Option<&[u8]>, value: Option<&[u8]>, partition: Option<i32>) -> bool {
        self.send_with(key, value, partition, None)
    }

    /// `send`, with headers.
    #[inline]
    fn send_with(
        &self,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        partition: Option<i32>,
        headers: Option<OwnedHeaders>,
    ) -> bool {
        let mut record: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(&self.url.topic);
        if let Some(h) = headers {
            record = record.headers(h);
        }
        if let Some(k) = key {
            record = record.key(k);
        }
        if let Some(v) = value {
            record = record.payload(v);
        }
        if let Some(p) = partition {
            record = record.partition(p);
        }
        loop {
            match self.producer.send(record) {
                Ok(()) => return true,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    if self.failed() {
                        return false;
                    }
                    record = r;
                    // The polling thread drains delivery reports; wait for room.
                    std::thread::sleep(Duration::from_micros(500));
                }
                Err((e, _)) => {
                    self.producer
                        .context()
                        .fail(format!("a message could not be queued: {e}"));
                    return false;
                }
            }
        }
    }

    /// Sends every row of `batch` (encoded as JSON lines into `buf`, keys into `key`, both
    /// scratch buffers the caller keeps): one message per row.
    pub fn send_rows(
        &self,
        batch: &Batch,
        schema: &Schema,
        dict: &Dict,
        times: Timestamps,
        buf: &mut Vec<u8>,
        key: &mut Vec<u8>,
    ) {
        if self.failed() {
            return;
        }
        buf.clear();
        crate::sink::encode(batch, Format::JsonLines, schema, dict, times, buf);
        // A transaction's rows carry its run and epoch (`kafka::txn`), read once a batch.
        let tag = self
            .txn
            .as_ref()
            .map(|t| format!("{:016x}.{}", t.run, t.epoch()));
        let mut start = 0;
        for (row, end) in memchr::memchr_iter(b'\n', buf).enumerate() {
            let value = &buf[start..end];
            start = end + 1;
            let mut tombstone = false;
            if let Some((c, delete, retract)) = self.layout.op
                && let Column::Str(ops) = &batch.columns[c]
            {
                if ops[row] == retract {
                    continue;
                }
                tombstone = ops[row] == delete;
            }
            let k = if self.layout.key.is_empty() {
                None
            } else {
                key.clear();
                crate::sink::encode_json_object(
                    batch,
                    row,
                    &self.layout.key,
                    schema,
                    dict,
                    times,
                    key,
                );
                Some(&key[..])
            };
            let headers = tag.as_ref().map(|tag| {
                OwnedHeaders::new_with_capacity(1).insert(Header {
                    key: super::txn::HEADER,
                    value: Some(tag.as_bytes()),
                })
            });
            if !self.send_with(k, (!tombstone).then_some(value), None, headers) {
                return;
            }
        }
    }

    /// Waits until every message is acknowledged; the first delivery failure, with the
    /// broker's message, is the error.
    pub fn close(&self) -> Result<()> {
        if let Some(t) = &self.txn {
            if self.failed() {
                t.abort(&self.producer);
            } else if t.is_open() {
                // The input's end: the last epoch's rows commit (its marker names no
                // checkpoint).
                t.commit(&self.producer, t.epoch(), None, false)?;
            }
        }
        let flushed = self.producer.flush(FLUSH_TIMEOUT);
        let reports = self.producer.context();
        if let Some(why) = reports
            .first_failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            return Err(Error::Kafka(format!(
                "{} {}: {why}",
                self.flag,
                self.url.display()
            )));
        }
        flushed.map_err(|e| {
            let last = reports
                .last_client_error
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone()
                .map_or(String::new(), |c| {
                    format!(" (the client's last error: {c})")
                });
            error(
                self.flag,
                &self.url,
                &format!(
                    "{} messages not acknowledged within {} s{last}",
                    self.producer.in_flight_count(),
                    FLUSH_TIMEOUT.as_secs()
                ),
                e,
            )
        })
    }
}

/// The message key of a query's result rows: its GROUP BY columns (and `window_start` for a
/// windowed aggregate) as they appear in the output, and the `op` column of EMIT CHANGES.
/// A key column missing from the SELECT list is an error: the key could not be written.
pub fn layout_of(plan: &crate::sql::Plan, dict: &Dict) -> Result<Layout> {
    use crate::sql::{Body, Expr};
    let Body::Aggregate(a) = &plan.body else {
        return Ok(Layout::default());
    };
    let find = |group_col: usize| {
        a.outputs
            .iter()
            .position(|e| matches!(e, Expr::Column { index, .. } if *index == group_col))
    };
    let mut key = Vec::new();
    let nk = a.keys.len();
    let na = a.aggs.len();
    for k in 0..nk {
        match find(k) {
            Some(j) => key.push(j),
            None => {
                return Err(Error::Usage(format!(
                    "--output kafka://: the message key is the GROUP BY key, but `{}` is not \
                     in the SELECT list; select it (as is, not inside an expression)",
                    plan.input.fields[a.keys[k]].name
                )));
            }
        }
    }
    let mut warning = None;
    if a.window.is_some() {
        match find(nk + na) {
            Some(j) => key.push(j),
            None => {
                warning = Some(
                    "--output kafka://: window_start is not in the SELECT list, so the message \
                     key is the GROUP BY key alone and the rows of one key's windows share it \
                     (a compacted topic keeps the last window only); select window_start to \
                     key each window"
                        .to_string(),
                );
            }
        }
    }
    let op = a.op_column().and_then(|c| {
        let j = find(c)?;
        let ids = crate::ops::changelog::OpIds::new(dict);
        Some((j, ids.delete, ids.retract))
    });
    Ok(Layout { key, op, warning })
}
