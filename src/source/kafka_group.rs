//! `--group NAME --members N`: several processes share a topic's partitions through Kafka's
//! consumer-group protocol, and `--keyed-by COLUMNS` says when their outputs together are one
//! process's output.
//!
//! - **Joining** (`join`): the member subscribes to the topic with `group.id = NAME` (range
//!   assignor, eager rebalancing) and polls until the group's assignment gives it a share that
//!   only a group of N members gives: between ⌊P/N⌋ and ⌈P/N⌉ of the topic's P partitions. A
//!   member that starts first is handed every partition, then a share as the others join; it
//!   reads nothing until its share is final. Fewer than ⌊P/N⌋ means more than N members: an
//!   error. A topic with fewer partitions than members, a group that does not form within
//!   `JOIN_TIMEOUT`, a broker that is gone: clear errors, never a hang.
//! - **Fixed membership**: until checkpoints exist no state moves between processes, so the
//!   members of a group are fixed for a run. The rebalance callback only records what the
//!   group decided (`GroupContext`); the reader thread looks at it on its quiet polls and
//!   every 1024 polls and, when the assignment changed (a member joined, left or was timed
//!   out), stops the run with an error saying so (`membership_changed`): the rows written
//!   before are right (a closed window's row is final), the rest is not written. The one
//!   change a bounded run accepts: the partitions of a member that read them to their end and
//!   committed them (`--bounded` members that finish first leave the group) come back to the
//!   others, which do not read them again.
//! - **Keyed topics** (`check_keyed_by`): each member reads only its partitions, so a keyed
//!   query is re-keyed across the members through `<group>-repartition`
//!   (`kafka::repartition`), unless `--keyed-by` declares that every group of the query lives
//!   in one partition (a GROUP BY / PARTITION BY whose columns include the topic's key, e.g. a
//!   topic filled with `shardsql gen --key trader_id`): then each member's results are those
//!   of its partitions and no repartition topic is needed. A query without a key (a global
//!   aggregate) is refused: it needs one process.
//!
//! Tansu 0.6 (the test broker) runs JoinGroup / SyncGroup / Heartbeat / LeaveGroup for
//! librdkafka's range assignor with eager rebalancing (`tests/kafka_group.rs`); it holds a new
//! group's first join for about half of `session.timeout.ms` (10 s here: a 5 s join), and it
//! answers ListGroups / DescribeGroups with no group, so a member cannot count the group's
//! members and infers their number from its share, as above.
//!
//! The `Committer` commits a finished run's offsets as the group member that read them.
//!
//! Threading: the context's callbacks run inside `poll`, on the thread that polls (the main
//! thread while joining, then the Kafka reader thread); the reader only loads a counter per
//! check, and the mutex is taken at a rebalance only.

use crate::error::{Error, Result};
use crate::kafka::{KafkaUrl, REQUEST_TIMEOUT, error, lookup_consumer};
use crate::sql::{Plan, Routing};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// How long a member waits for the group to give it its share.
pub const JOIN_TIMEOUT: Duration = Duration::from_secs(90);

/// The reading consumer's context: records the group's rebalances (the rebalance callback
/// does not assign; the reader assigns its own partitions at its own offsets).
#[derive(Default)]
pub struct GroupContext {
    /// Rebalance events so far (assignments and revocations).
    changes: AtomicU32,
    /// The latest assignment, sorted; `None` after a revocation (or before the first).
    assigned: Mutex<Option<Vec<i32>>>,
    /// Every assignment while joining, with the `changes` count just after it: a share can
    /// be followed within one poll by the next rebalance (a bounded member with nothing to
    /// read joins, finishes and leaves at once), and `join` must still see it.
    joining: Mutex<Vec<(u32, Vec<i32>)>>,
    /// A rebalance error librdkafka reported, for messages.
    failed: Mutex<Option<String>>,
}

impl ClientContext for GroupContext {}

impl ConsumerContext for GroupContext {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        let mut assigned = self.assigned.lock().unwrap_or_else(|e| e.into_inner());
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                let mut parts: Vec<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
                parts.sort_unstable();
                let change = self.changes.load(Ordering::Acquire) + 1;
                let mut joining = self.joining.lock().unwrap_or_else(|e| e.into_inner());
                if joining.len() < 1024 {
                    joining.push((change, parts.clone()));
                }
                *assigned = Some(parts);
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                let _ = consumer.unassign();
                *assigned = None;
            }
            e => {
                let _ = consumer.unassign();
                *assigned = None;
                *self.failed.lock().unwrap_or_else(|e| e.into_inner()) =
                    Some(rdkafka::types::RDKafkaErrorCode::from(e).to_string());
            }
        }
        self.changes.fetch_add(1, Ordering::Release);
    }
}

impl GroupContext {
    /// Rebalance events so far.
    pub fn changes(&self) -> u32 {
        self.changes.load(Ordering::Acquire)
    }

    /// The latest assignment (`None` while revoked).
    pub fn assigned(&self) -> Option<Vec<i32>> {
        self.assigned
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// A reading consumer: a group member, or (without `--group`) one assigned explicitly whose
/// context is never called.
pub type Reader = BaseConsumer<GroupContext>;

/// Checks a group name: Kafka accepts any non-empty string, shardsql the characters of a
/// topic name, so that a typo or a shell accident is an error, not a new group.
pub fn check_group_name(group: &str) -> Result<()> {
    if group.is_empty()
        || group.len() > 249
        || !group
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
    {
        return Err(Error::Usage(format!(
            "--group `{group}` is not a group name (1-249 of a-z A-Z 0-9 . _ -)"
        )));
    }
    Ok(())
}

/// Joins `group` as one of `members` members and waits for this member's share of the
/// topic's `partitions` partitions (module doc). Returns the member's consumer (nothing
/// assigned yet), its partitions, sorted, and the rebalance count at which the group gave
/// them (a later rebalance is the reader's to judge: `finished_elsewhere`).
pub fn join(
    url: &KafkaUrl,
    group: &str,
    members: u32,
    partitions: u32,
    config: rdkafka::ClientConfig,
    bounded: bool,
) -> Result<(Reader, Vec<i32>, u32)> {
    let flag = "--input";
    check_group_name(group)?;
    if members == 0 {
        return Err(Error::Usage("--members must be at least 1".into()));
    }
    if partitions < members {
        return Err(Error::Usage(format!(
            "--members {members}: {} has {partitions} partition{}; each member of group \
             `{group}` needs at least one (recreate the topic with more partitions, e.g. \
             `shardsql gen --partitions {members} --output {}`, or run fewer members)",
            url.display(),
            if partitions == 1 { "" } else { "s" },
            url.display()
        )));
    }
    if url.props.iter().any(|(k, v)| {
        k == "partition.assignment.strategy" && v.to_ascii_lowercase().contains("cooperative")
    }) {
        return Err(Error::Usage(format!(
            "{flag} {}: partition.assignment.strategy: a cooperative assignor moves partitions \
             between running members, which needs checkpoints; use range or roundrobin",
            url.display()
        )));
    }
    let consumer: Reader = config
        .create_with_context(GroupContext::default())
        .map_err(|e| error(flag, url, "invalid consumer configuration", e))?;
    // Bounded members: what the group had committed before this run, to tell the partitions
    // a member of this run finished and committed (`finished_in_this_run`).
    let committed_before = if bounded {
        committed(&consumer, url, partitions)
    } else {
        None
    };
    let mut checked_finished = Instant::now();
    consumer
        .subscribe(&[&url.topic])
        .map_err(|e| error(flag, url, &format!("cannot join group `{group}`"), e))?;
    let (low, high) = (partitions / members, partitions.div_ceil(members));
    let started = Instant::now();
    let mut last_error = None;
    let mut last = None;
    loop {
        // Nothing is assigned while joining: no message arrives, only errors.
        if let Some(Err(e)) = consumer.poll(Duration::from_millis(100)) {
            last_error = Some(e.to_string());
        }
        let ctx = consumer.context();
        if let Some(e) = ctx.failed.lock().unwrap_or_else(|e| e.into_inner()).take() {
            last_error = Some(e);
        }
        let seen = std::mem::take(&mut *ctx.joining.lock().unwrap_or_else(|e| e.into_inner()));
        for (change, parts) in seen {
            let n = parts.len() as u32;
            if n < low {
                return Err(Error::Kafka(format!(
                    "{flag} {}: group `{group}` has more than --members {members} members: this \
                     member's share is {n} of {partitions} partitions ({parts:?}); start exactly \
                     {members} processes with --group {group} --members {members}, or change \
                     --members",
                    url.display()
                )));
            }
            if n <= high {
                return Ok((consumer, parts, change));
            }
            last = Some(parts);
        }
        // A bounded member whose partner read its share, committed it and left before this
        // member's first share arrived is handed every partition: the unfinished ones are
        // its share.
        if let (Some(before), Some(all)) = (&committed_before, &last)
            && checked_finished.elapsed() > Duration::from_secs(1)
        {
            checked_finished = Instant::now();
            let finished = finished_in_this_run(&consumer, url, partitions, before);
            let rest: Vec<i32> = all
                .iter()
                .copied()
                .filter(|p| !finished.contains(p))
                .collect();
            let n = rest.len() as u32;
            if !finished.is_empty() && (low..=high).contains(&n) {
                eprintln!(
                    "group {group}: partitions {finished:?} were read to their end by a member \
                     that finished; this member goes on with {rest:?}"
                );
                let seen = consumer.context().changes();
                return Ok((consumer, rest, seen));
            }
        }
        if started.elapsed() > JOIN_TIMEOUT {
            return Err(Error::Kafka(format!(
                "{flag} {}: group `{group}` did not form within {} s: {}{} (start {members} \
                 processes with --group {group} --members {members})",
                url.display(),
                JOIN_TIMEOUT.as_secs(),
                match &last {
                    Some(p) => format!(
                        "this member is assigned {} of {partitions} partitions, more than the \
                         {high} a group of {members} gives it: fewer members have joined",
                        p.len()
                    ),
                    None => "no assignment came from the broker".to_string(),
                },
                last_error.map_or(String::new(), |e| format!("; last error: {e}"))
            )));
        }
    }
}

/// What commits a finished run's positions (`--group`), on the main thread once the results
/// are acknowledged.
pub struct Committer {
    pub(crate) url: KafkaUrl,
    pub(crate) group: String,
    /// (Kafka partition, next offset) for each partition read.
    pub(crate) positions: Vec<(i32, i64)>,
    /// The group member that read them: it commits (a broker may refuse a commit from outside
    /// the group's current generation), and leaves the group when dropped, after the commit.
    pub(crate) member: Reader,
}

impl std::fmt::Debug for Committer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Committer")
            .field("group", &self.group)
            .field("positions", &self.positions)
            .finish()
    }
}

impl Committer {
    pub fn commit(&self) -> Result<()> {
        let tpl = offset_list(&self.url.topic, &self.positions)
            .map_err(|e| error("--input", &self.url, "bad offset", e))?;
        let failed = |e| {
            error(
                "--input",
                &self.url,
                &format!("cannot commit the offsets of group `{}`", self.group),
                e,
            )
        };
        if self.member.commit(&tpl, CommitMode::Sync).is_ok() {
            return Ok(());
        }
        // The group may be rebalancing after another member finished: commit from outside.
        let consumer = lookup_consumer("--input", &self.url, Some(&self.group))?;
        consumer.commit(&tpl, CommitMode::Sync).map_err(failed)
    }
}

/// Offsets to commit while a run goes on: the checkpoint coordinator posts the offsets of each
/// barrier's cut once the output before it is durable (`--checkpoint-dir`) or written and
/// acknowledged (a stateless query's commit barriers), and the reader thread, which alone uses
/// the group member's consumer, commits them on its next quiet poll or every 1024 polls.
///
/// Threading: posted by the coordinator thread, taken by the reader thread; the lock is taken
/// once per barrier, and the reader reads one flag per check.
#[derive(Default, Debug)]
pub struct CommitRequests {
    posted: std::sync::atomic::AtomicBool,
    offsets: std::sync::Mutex<Vec<(i32, i64)>>,
    /// Commits made, and the first one that failed (a warning: the next one may succeed, and
    /// the end of the run commits again).
    pub made: std::sync::atomic::AtomicU64,
    warned: std::sync::atomic::AtomicBool,
}

impl CommitRequests {
    /// Asks for `offsets` (Kafka partition, next offset) to be committed; replaces a request
    /// not yet taken (the later offsets cover it).
    pub fn post(&self, offsets: Vec<(i32, i64)>) {
        *self.offsets.lock().unwrap_or_else(|e| e.into_inner()) = offsets;
        self.posted.store(true, Ordering::Release);
    }

    /// The offsets posted since the last take, if any.
    #[inline]
    pub fn take(&self) -> Option<Vec<(i32, i64)>> {
        if !self.posted.load(Ordering::Acquire) {
            return None;
        }
        self.posted.store(false, Ordering::Release);
        Some(std::mem::take(
            &mut *self.offsets.lock().unwrap_or_else(|e| e.into_inner()),
        ))
    }

    /// Commits `offsets` from the group member `member` (on the reader thread). A failure is
    /// a warning, printed once: what was committed stays, and later commits carry on.
    pub fn commit(&self, member: &Reader, url: &KafkaUrl, group: &str, offsets: &[(i32, i64)]) {
        let Ok(tpl) = offset_list(&url.topic, offsets) else {
            return;
        };
        match member.commit(&tpl, CommitMode::Sync) {
            Ok(()) => {
                self.made.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) if !self.warned.swap(true, Ordering::Relaxed) => eprintln!(
                "warning: {} group `{group}`: cannot commit the offsets read so far ({e}); \
                 the run goes on and commits again later",
                url.display()
            ),
            Err(_) => {}
        }
    }
}

/// `offsets` (Kafka partition, next offset) of `topic` as a list to commit.
fn offset_list(
    topic: &str,
    offsets: &[(i32, i64)],
) -> std::result::Result<TopicPartitionList, rdkafka::error::KafkaError> {
    let mut tpl = TopicPartitionList::new();
    for &(p, o) in offsets {
        tpl.add_partition_offset(topic, p, Offset::Offset(o))?;
    }
    Ok(tpl)
}

/// The error of a member whose group changed mid-run.
pub fn membership_changed(url: &KafkaUrl, group: &str, ours: &[i32], now: Option<&[i32]>) -> Error {
    Error::Kafka(format!(
        "{} group `{group}`: a member joined or left mid-run (this member read partitions \
         {ours:?}; the group now assigns it {}). A group's membership is fixed for a run until \
         checkpoints exist: the rows written so far are complete, the rest was not written; \
         stop every member and start them again together (offsets were not committed)",
        url.display(),
        now.map_or("none yet".to_string(), |p| format!("{p:?}"))
    ))
}

/// The group's committed offsets of the topic's partitions (`None` if the broker does not
/// answer).
fn committed(consumer: &Reader, url: &KafkaUrl, partitions: u32) -> Option<Vec<Offset>> {
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions as i32 {
        tpl.add_partition(&url.topic, p);
    }
    let got = consumer.committed_offsets(tpl, REQUEST_TIMEOUT).ok()?;
    Some(got.elements().iter().map(|e| e.offset()).collect())
}

/// The partitions whose committed offset changed since `before` and reaches their end now:
/// read to their end and committed by a member of this run.
fn finished_in_this_run(
    consumer: &Reader,
    url: &KafkaUrl,
    partitions: u32,
    before: &[Offset],
) -> Vec<i32> {
    let Some(now) = committed(consumer, url, partitions) else {
        return Vec::new();
    };
    (0..partitions as i32)
        .filter(|&p| {
            let (b, n) = (before.get(p as usize), now[p as usize]);
            let Offset::Offset(o) = n else {
                return false;
            };
            b != Some(&n)
                && consumer
                    .fetch_watermarks(&url.topic, p, REQUEST_TIMEOUT)
                    .is_ok_and(|(_, high)| o >= high)
        })
        .collect()
}

/// Bounded runs: whether the partitions `extra`, handed to this member by a rebalance, were
/// read to their end by the member that left (its committed offsets reach their end offsets
/// now), so the others need not read them.
pub fn finished_elsewhere(consumer: &Reader, url: &KafkaUrl, extra: &[i32]) -> bool {
    let mut tpl = TopicPartitionList::new();
    for &p in extra {
        tpl.add_partition(&url.topic, p);
    }
    let Ok(got) = consumer.committed_offsets(tpl, REQUEST_TIMEOUT) else {
        return false;
    };
    got.elements().iter().all(|e| {
        let Offset::Offset(o) = e.offset() else {
            return false;
        };
        consumer
            .fetch_watermarks(&url.topic, e.partition(), REQUEST_TIMEOUT)
            .is_ok_and(|(_, high)| o >= high)
    })
}

/// Refuses what a group of `members` members cannot run: a query without a key (it needs
/// every partition in one process), and a `--keyed-by` (the assertion that every group lives
/// in one partition, so no repartition topic is needed) whose columns are not among the
/// query's key columns.
pub fn check_keyed_by(
    plan: &Plan,
    topic: &str,
    group: &str,
    members: u32,
    keyed_by: Option<&[String]>,
) -> Result<()> {
    if let Some(cols) = keyed_by {
        for c in cols {
            if !plan
                .input
                .fields
                .iter()
                .any(|f| f.name.eq_ignore_ascii_case(c))
            {
                return Err(Error::Usage(format!(
                    "--keyed-by {c}: {topic} has no column `{c}` (columns: {})",
                    plan.input.names().collect::<Vec<_>>().join(", ")
                )));
            }
        }
    }
    if members <= 1 {
        return Ok(());
    }
    let keys = match &plan.routing {
        Routing::Local => return Ok(()),
        Routing::Single => {
            return Err(Error::Usage(format!(
                "--members {members}: the query has no key (a global aggregate or a global \
                 order) and needs every partition in one process: run one member of group \
                 `{group}`"
            )));
        }
        Routing::Hash(cols) => cols
            .iter()
            .map(|&c| plan.input.fields[c].name.clone())
            .collect::<Vec<_>>(),
    };
    let Some(declared) = keyed_by else {
        // Re-keyed through the repartition topic (`kafka::repartition`).
        return Ok(());
    };
    if let Some(c) = declared
        .iter()
        .find(|c| !keys.iter().any(|k| k.eq_ignore_ascii_case(c)))
    {
        return Err(Error::Usage(format!(
            "--keyed-by {}: the query groups by ({}), which does not include `{c}`: one of \
             its groups can span partitions, and each of the {members} members of group \
             `{group}` reads only its own; drop --keyed-by to re-key the records through the \
             topic {}",
            declared.join(","),
            keys.join(", "),
            crate::kafka::repartition::topic_name(group)
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_group_names_are_checked() {
        assert!(check_group_name("shardsql-trades_1.a").is_ok());
        for bad in ["", "a b", "a/b", &"x".repeat(250)] {
            let e = check_group_name(bad).unwrap_err().to_string();
            assert!(e.contains("is not a group name"), "{bad}: {e}");
        }
    }
}
