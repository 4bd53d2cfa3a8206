//! The Kafka reader thread (`KafkaInput::run`): polls the topic's messages one at a time
//! (librdkafka's `BaseConsumer::poll`: rdkafka 0.39 has no batch call without `unsafe`),
//! frames each value into its partition's pending chunk (`source::kafka_line`) and, when a
//! chunk holds `BLOCK_ROWS` messages, when its partition reaches its end or when the source
//! goes quiet for the linger, deals it as block `b` to core `b mod N`, tagged with its
//! partition. The cores parse it (`SourceMsg::KafkaChunk`, `source::kafka_chunk`), as they
//! parse a file's chunks: parsing is spread over the cores and the reader does only what
//! one thread must (poll and frame). Under `--on-error fail` the reader parses each chunk
//! itself (`cut`) and deals the block (`SourceMsg::PartitionBlock`), so the run stops at the
//! first malformed message it reads, exactly as before.
//!
//! Measured (BENCHMARKS.md §11, GROUP BY, 1M JSON messages in 4 partitions, 2 cores): when
//! the reader parsed, it was the bottleneck (half of all samples, a third of them parsing and
//! framing) while the shards yielded, waiting for it.
//!
//! Threading: runs on the `shardsql-kafka` thread, which alone owns the `KafkaInput`; it
//! pushes to the cores' source rings (waking a parked core) and takes emptied batches back
//! from them (the reader-parsed path only).

use super::{BlockOut, KafkaDone, KafkaInput, STALL_TIMEOUT, stalled};
use crate::error::{Error, Result};
use crate::runtime::core::Control;
use crate::source::BLOCK_ROWS;
use crate::source::kafka_chunk::{KafkaChunk, message_example};
use crate::source::kafka_group::{self, Committer};
use crate::source::text::EXAMPLES_KEPT;
use rdkafka::consumer::Consumer;
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use std::time::{Duration, Instant};

impl KafkaInput {
    /// The reader thread: polls messages into per-partition chunks and deals chunk `b` to
    /// core `b mod N` (the shards consume in block order), for the core to parse (or, under
    /// `--on-error fail`, parses it here). Ends at the bounded end offsets, or when the run
    /// is stopped.
    pub fn run(
        mut self,
        out: &mut impl BlockOut,
        control: &Control,
        linger: Duration,
    ) -> Result<KafkaDone> {
        let parts = self.next.len();
        let mut pending: Vec<Pending> = (0..parts).map(|_| Pending::default()).collect();
        let bounded = self.is_bounded();
        // Bounded: the partitions not yet read to their end.
        let mut done = vec![false; parts];
        let mut open = parts;
        // When a message last arrived (read on the quiet paths only: no clock per message).
        let mut last_message = Instant::now();
        let mut got_message = false;
        // --idle-timeout: since when each partition has been at its end (`None`: it is not,
        // or it is idle already), and which are declared idle.
        let mut at_end_since: Vec<Option<Instant>> = vec![None; parts];
        let mut idle = vec![false; parts];
        let mut last_error: Option<KafkaError> = None;
        let mut polled = 0u32;
        // Group members: the rebalances seen (the one that gave the share was seen at the join).
        let mut changes = self.rebalances_seen;
        let result = (|| -> Result<()> {
            loop {
                if control.stop_reading() || control.aborted() || (bounded && open == 0) {
                    break;
                }
                let polled_msg = self.consumer.poll(Duration::from_millis(
                    linger.as_millis().clamp(1, 100) as u64,
                ));
                if !matches!(polled_msg, Some(Ok(_))) {
                    if got_message {
                        got_message = false;
                        last_message = Instant::now();
                    }
                    if bounded && last_message.elapsed() > STALL_TIMEOUT {
                        return Err(stalled(&self.url, &done, last_error.as_ref()));
                    }
                }
                // A group member looks at the group's rebalances when quiet (a revoked
                // member gets no message) and now and then.
                if self.group.is_some()
                    && (!matches!(polled_msg, Some(Ok(_))) || polled.is_multiple_of(1024))
                {
                    if self.consumer.context().changes() != changes {
                        changes = self.consumer.context().changes();
                        self.rebalanced(bounded)?;
                    }
                    // Offsets a checkpoint or commit barrier made safe to commit.
                    if let Some(c) = &self.commits
                        && let Some(offsets) = c.take()
                    {
                        let group = self.group.as_deref().unwrap_or_default();
                        c.commit(&self.consumer, &self.url, group, &offsets);
                    }
                }
                let (cut_all, p) = match polled_msg {
                    None => (true, None),
                    Some(Err(KafkaError::PartitionEOF(p))) => {
                        // At the partition's current end: a bounded read is complete there
                        // once it has passed the end offset listed at start.
                        let p = self.source_partition(p);
                        if bounded && p < parts && !done[p] && self.next[p] >= self.end[p] {
                            done[p] = true;
                            open -= 1;
                        }
                        if p < parts && !idle[p] && at_end_since[p].is_none() {
                            at_end_since[p] = Some(Instant::now());
                        }
                        (false, Some(p))
                    }
                    Some(Err(e)) => {
                        last_error = Some(e);
                        (false, None)
                    }
                    Some(Ok(m)) => {
                        got_message = true;
                        let p = self.source_partition(m.partition());
                        let o = m.offset();
                        if p >= parts {
                            (false, None)
                        } else {
                            self.next[p] = o + 1;
                            if idle[p] || at_end_since[p].is_some() {
                                idle[p] = false;
                                at_end_since[p] = None;
                            }
                            if self.skip_before[p] != i64::MIN {
                                if m.timestamp().to_millis().unwrap_or(i64::MIN)
                                    < self.skip_before[p]
                                {
                                    continue;
                                }
                                self.skip_before[p] = i64::MIN;
                            }
                            if let Some(v) = m.payload() {
                                let pend = &mut pending[p];
                                if pend.offsets.is_empty() {
                                    pend.since = Instant::now();
                                }
                                self.line.append_line(&mut pend.bytes, &m, v);
                                pend.offsets.push(o);
                            }
                            let full = pending[p].offsets.len() >= BLOCK_ROWS;
                            (false, full.then_some(p))
                        }
                    }
                };
                if let Some(p) = p
                    && p < parts
                {
                    self.deal(p, &mut pending[p], out, control)?;
                }
                polled += 1;
                // A partition at its end for the idle timeout is declared idle (its chunk, if
                // any, goes first).
                if let Some(timeout) = self.idle_timeout
                    && (cut_all || polled.is_multiple_of(1024))
                {
                    for p in 0..parts {
                        if at_end_since[p].is_some_and(|t| t.elapsed() >= timeout) {
                            at_end_since[p] = None;
                            idle[p] = true;
                            self.deal(p, &mut pending[p], out, control)?;
                            out.idle(p, control)?;
                        }
                    }
                }
                // A quiet source, or now and then: cut the chunks that waited the linger.
                if cut_all || polled.is_multiple_of(1024) {
                    for (p, pend) in pending.iter_mut().enumerate() {
                        if !pend.offsets.is_empty() && (cut_all || pend.since.elapsed() >= linger) {
                            self.deal(p, pend, out, control)?;
                        }
                    }
                }
                if cut_all {
                    out.fill_to_cut(control)?;
                }
            }
            for (p, pend) in pending.iter_mut().enumerate() {
                self.deal(p, pend, out, control)?;
            }
            out.end(control)
        })();
        if let Err(e) = result {
            control.stop();
            return Err(e);
        }
        Ok(KafkaDone {
            malformed: self.malformed,
            examples: self.examples,
            committer: self.group.map(|group| Committer {
                url: self.url.clone(),
                group,
                positions: self.parts.iter().copied().zip(self.next).collect(),
                member: self.consumer,
            }),
        })
    }

    /// The source partition of Kafka partition `p` (`usize::MAX` when not read here).
    #[inline]
    fn source_partition(&self, p: i32) -> usize {
        match self.local.get(p as usize) {
            Some(&i) if i != u32::MAX => i as usize,
            _ => usize::MAX,
        }
    }

    /// A group member saw a rebalance: carries on with its own partitions at its own offsets
    /// when the group gives it the same ones, or (bounded) those plus partitions that their
    /// reader finished and committed; stops the run otherwise (`kafka_group` module doc).
    /// While revoked (an eager rebalance's first half) it waits for the assignment.
    fn rebalanced(&self, bounded: bool) -> Result<()> {
        let group = self.group.as_deref().unwrap_or_default();
        let Some(now) = self.consumer.context().assigned() else {
            return Ok(());
        };
        let ours_kept = self.parts.iter().all(|p| now.contains(p));
        let extra: Vec<i32> = now
            .iter()
            .copied()
            .filter(|p| !self.parts.contains(p))
            .collect();
        if ours_kept && extra.is_empty() {
            return self.assign();
        }
        if ours_kept
            && bounded
            && kafka_group::finished_elsewhere(&self.consumer, &self.url, &extra)
        {
            eprintln!(
                "group {group}: partitions {extra:?} were read to their end by a member that \
                 finished; this member goes on with {:?}",
                self.parts
            );
            return self.assign();
        }
        Err(kafka_group::membership_changed(
            &self.url,
            group,
            &self.parts,
            Some(&now),
        ))
    }

    /// Hands partition `p`'s pending messages to `out`: as a chunk for a core to parse, or
    /// (`--on-error fail`, or a repartition writer) as the block parsed here.
    fn deal(
        &mut self,
        p: usize,
        pend: &mut Pending,
        out: &mut impl BlockOut,
        control: &Control,
    ) -> Result<()> {
        if pend.offsets.is_empty() {
            return Ok(());
        }
        if self.fail || !out.takes_chunks() {
            return self.cut(p, pend, out, control);
        }
        // The next chunk of this partition is likely as large: one allocation each.
        let (bytes, lines) = (pend.bytes.len(), pend.offsets.len());
        let chunk = KafkaChunk {
            bytes: std::mem::replace(&mut pend.bytes, Vec::with_capacity(bytes + bytes / 8)),
            offsets: std::mem::replace(&mut pend.offsets, Vec::with_capacity(lines)),
            partition: p as u32,
            kafka_partition: self.parts[p],
        };
        out.chunk(chunk, control)
    }

    /// Parses partition `p`'s pending messages (some) into a block and hands it to `out`.
    fn cut(
        &mut self,
        p: usize,
        pend: &mut Pending,
        out: &mut impl BlockOut,
        control: &Control,
    ) -> Result<()> {
        let mut b = out.batch(self.parser.schema());
        b.clear();
        let bytes = std::mem::take(&mut pend.bytes);
        self.parser.load_chunk(bytes, 1);
        let before = self.parser.malformed;
        self.parser.read_block(&mut b, usize::MAX)?;
        if self.parser.malformed > before {
            for m in self.parser.examples.drain(..) {
                let offset = pend
                    .offsets
                    .get(m.line.saturating_sub(1) as usize)
                    .copied()
                    .unwrap_or(-1);
                let kp = self.parts[p];
                if self.fail {
                    return Err(Error::Input(format!(
                        "--input {} partition {kp} offset {offset}: malformed message: {} \
                         (--on-error fail)",
                        self.url.display(),
                        m.reason
                    )));
                }
                if self.examples.len() < EXAMPLES_KEPT {
                    self.examples.push(message_example(kp, offset, &m.reason));
                }
            }
            self.malformed += self.parser.malformed - before;
        }
        pend.offsets.clear();
        if b.is_empty() {
            return Ok(());
        }
        out.block(p, b, control)
    }
}

/// One partition's messages waiting to become a block.
struct Pending {
    /// One line per message.
    bytes: Vec<u8>,
    /// The offset of each line's message.
    offsets: Vec<i64>,
    /// When the first of them arrived (the linger counts from here).
    since: Instant,
}

impl Default for Pending {
    fn default() -> Pending {
        Pending {
            bytes: Vec::new(),
            offsets: Vec::new(),
            since: Instant::now(),
        }
    }
}
