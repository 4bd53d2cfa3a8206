//! Exactly-once Kafka output under checkpoints (`--checkpoint-dir` with `--output kafka://…`):
//! each checkpoint epoch's rows go to the topic in one Kafka transaction, committed only after
//! the checkpoint that covers them is durable.
//!
//! - **The transactional id** is made once per checkpoint directory and kept in it
//!   (`DIR/kafka-transactional-id`), so a resumed run, even on another machine, fences the
//!   run it replaces: `init_transactions` aborts whatever that run left open.
//! - **Which epoch committed** travels inside the transaction: each commit also commits, for
//!   the group named by the transactional id, the offset `epoch` of the output topic's
//!   partition 0 (`send_offsets_to_transaction`; nobody consumes with that group). Kafka
//!   applies it atomically with the rows. A resumed run reads it (after fencing) and restores
//!   exactly that checkpoint: a crash between writing checkpoint `e` and committing `e` leaves
//!   `e - 1` committed, so the run resumes from `e - 1` and writes epoch `e`'s rows again, in a
//!   new transaction (the old one was aborted).
//! - **Kafka input with `--group`**: each commit also commits the input offsets at the cut,
//!   for the input's group, in the same transaction.
//! - **Every message carries a header** `shardsql.txn` = `RUN.EPOCH` (`RUN` is this process's
//!   run id, printed at start): a consumer of a broker that does not filter aborted
//!   transactions (Tansu 0.6 does not) can tell the attempts apart.
//! - The end of the input commits the last epoch's rows (its marker names an epoch with no
//!   checkpoint: a resume then says the run completed). A stopped or failed run aborts them:
//!   a resume writes them again.
//!
//! Threading: shards call `epoch` once per batch sent; `commit` runs on the checkpoint
//! coordinator while every shard holds its output (`checkpoint::barrier`), so no row is sent
//! between a commit and the next `begin`.

use super::{KafkaUrl, error};
use crate::error::{Error, Result};
use rdkafka::TopicPartitionList;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerGroupMetadata};
use rdkafka::producer::Producer;
use rdkafka::topic_partition_list::Offset;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// The header every transactional message carries.
pub const HEADER: &str = "shardsql.txn";
/// The file in a checkpoint directory that holds its transactional id.
const ID_FILE: &str = "kafka-transactional-id";
/// How long a transaction call may take.
const TIMEOUT: Duration = Duration::from_secs(60);

/// The transactional id of checkpoint directory `dir` (made and kept there on first use).
pub fn transactional_id(dir: &Path) -> Result<String> {
    let path = dir.join(ID_FILE);
    let io = |what: &str, e| Error::io(format!("--checkpoint-dir {}: {what}", dir.display()), e);
    if let Ok(text) = std::fs::read_to_string(&path) {
        let id = text.trim();
        if !id.is_empty() {
            return Ok(id.to_string());
        }
    }
    std::fs::create_dir_all(dir).map_err(|e| io("cannot create it", e))?;
    let id = format!("shardsql-{:016x}", run_id());
    let tmp = dir.join(format!(".tmp-{ID_FILE}"));
    std::fs::write(&tmp, format!("{id}\n")).map_err(|e| io("cannot write the id", e))?;
    std::fs::rename(&tmp, &path).map_err(|e| io("cannot write the id", e))?;
    Ok(id)
}

/// A number that differs between runs (the clock's nanoseconds and the process id).
fn run_id() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    fxhash::hash64(&(nanos, std::process::id()))
}

/// The transactional state of a Kafka output.
pub struct Transactions {
    pub id: String,
    /// This process's run, in every message's header.
    pub run: u64,
    url: KafkaUrl,
    /// Not subscribed: its group (the transactional id) holds the committed epoch.
    marker: BaseConsumer,
    marker_group: ConsumerGroupMetadata,
    /// The epoch whose rows the open transaction holds.
    epoch: AtomicU64,
    /// Kafka input with `--group`: its topic and group, whose offsets each commit carries.
    input: Mutex<Option<(String, ConsumerGroupMetadata)>>,
    /// A transaction is open (not yet committed for good or aborted).
    open: AtomicBool,
}

impl Transactions {
    /// The producer properties of a transactional output whose checkpoints come every
    /// `interval`.
    pub fn properties(id: &str, interval: Duration) -> Vec<(&'static str, String)> {
        let timeout = (interval * 3 + Duration::from_secs(30)).min(Duration::from_secs(900));
        vec![
            ("transactional.id", id.to_string()),
            ("transaction.timeout.ms", timeout.as_millis().to_string()),
        ]
    }

    /// After the producer is made: fences an earlier run with this id (aborting what it left
    /// open) and opens the first transaction.
    pub fn start(
        id: &str,
        url: &KafkaUrl,
        producer: &impl Producer<super::producer::Reports>,
    ) -> Result<Transactions> {
        let flag = "--output";
        producer.init_transactions(TIMEOUT).map_err(|e| {
            error(
                flag,
                url,
                "cannot start transactions (init_transactions)",
                e,
            )
        })?;
        let marker = super::lookup_consumer(flag, url, Some(id))?;
        let marker_group = marker.group_metadata().ok_or_else(|| {
            Error::Kafka(format!(
                "{flag} {}: no group metadata for `{id}`",
                url.display()
            ))
        })?;
        let t = Transactions {
            id: id.to_string(),
            run: run_id(),
            url: url.clone(),
            marker,
            marker_group,
            epoch: AtomicU64::new(1),
            input: Mutex::new(None),
            open: AtomicBool::new(true),
        };
        producer
            .begin_transaction()
            .map_err(|e| error(flag, url, "cannot begin a transaction", e))?;
        Ok(t)
    }

    /// The epoch the last committed transaction carried (`None`: none committed yet).
    pub fn committed_epoch(&self) -> Result<Option<u64>> {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition(&self.url.topic, 0);
        let got = self
            .marker
            .committed_offsets(tpl, super::REQUEST_TIMEOUT)
            .map_err(|e| {
                error(
                    "--output",
                    &self.url,
                    &format!("cannot read the committed epoch (group `{}`)", self.id),
                    e,
                )
            })?;
        Ok(got.elements().first().and_then(|e| match e.offset() {
            Offset::Offset(o) if o > 0 => Some(o as u64),
            _ => None,
        }))
    }

    /// The epoch of the open transaction's rows (set once, before the run).
    pub fn set_epoch(&self, epoch: u64) {
        self.epoch.store(epoch, Ordering::Release);
    }

    #[inline]
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Kafka input with `--group`: each commit carries the group's offsets.
    pub fn set_input_group(&self, topic: &str, group: ConsumerGroupMetadata) {
        *self.input.lock().unwrap_or_else(|p| p.into_inner()) = Some((topic.to_string(), group));
    }

    /// Whether a transaction is open.
    pub fn is_open(&self) -> bool {
        self.open.load(Ordering::Acquire)
    }

    /// Commits the open transaction as epoch `epoch` (with the input's offsets at its cut, if
    /// any) and opens the next. `next`: whether to open one.
    pub fn commit(
        &self,
        producer: &impl Producer<super::producer::Reports>,
        epoch: u64,
        input_offsets: Option<&[(i32, i64)]>,
        next: bool,
    ) -> Result<()> {
        let fail = |what: &str, e| {
            error(
                "--output",
                &self.url,
                &format!("transaction of epoch {epoch}: {what}"),
                e,
            )
        };
        let mut marker = TopicPartitionList::new();
        marker
            .add_partition_offset(&self.url.topic, 0, Offset::Offset(epoch as i64))
            .map_err(|e| fail("bad marker", e))?;
        producer
            .send_offsets_to_transaction(&marker, &self.marker_group, TIMEOUT)
            .map_err(|e| fail("cannot commit the epoch marker", e))?;
        if let (Some(offsets), Some((topic, group))) = (
            input_offsets,
            &*self.input.lock().unwrap_or_else(|p| p.into_inner()),
        ) {
            let mut tpl = TopicPartitionList::new();
            for &(p, o) in offsets {
                tpl.add_partition_offset(topic, p, Offset::Offset(o))
                    .map_err(|e| fail("bad offset", e))?;
            }
            producer
                .send_offsets_to_transaction(&tpl, group, TIMEOUT)
                .map_err(|e| fail("cannot commit the input offsets", e))?;
        }
        self.open.store(false, Ordering::Release);
        producer
            .commit_transaction(TIMEOUT)
            .map_err(|e| fail("cannot commit", e))?;
        if next {
            self.open.store(true, Ordering::Release);
            self.epoch.store(epoch + 1, Ordering::Release);
            producer
                .begin_transaction()
                .map_err(|e| fail("cannot begin the next transaction", e))?;
        }
        Ok(())
    }

    /// Aborts the open transaction (a stopped or failed run); best effort: a resumed run's
    /// `init_transactions` aborts it anyway.
    pub fn abort(&self, producer: &impl Producer<super::producer::Reports>) {
        if self.open.swap(false, Ordering::AcqRel) {
            let _ = producer.abort_transaction(TIMEOUT);
        }
    }
}
