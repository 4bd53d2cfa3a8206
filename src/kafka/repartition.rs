//! The repartition topic: how the members of a consumer group (`--group NAME --members N`)
//! run one keyed query over a topic that is not keyed by the query's key, with the results,
//! late counts included, of one process reading every partition.
//!
//! Each member is two stages in one process, as a Kafka Streams sub-topology pair is:
//!
//! 1. **Writer** (`Writer`, on the Kafka reader thread): reads the member's share of the input
//!    topic (the group protocol assigns it) and parses it as a single process would. For each
//!    block of an input partition it applies the WHERE clause and **judges lateness** exactly as
//!    one process does (SPEC §3: against the maximum event time of every earlier record of that
//!    partition — the writer reads the whole partition, in order, so it alone can), dropping and
//!    counting late records and, for hopping and session windows, computing each record's
//!    cutoff (`Plan::CUTOFF`). It sends the rest to `<group>-repartition`, each row to the
//!    partition its GROUP BY / PARTITION BY key hashes to (the key's values, strings by their
//!    bytes: every member hashes alike), as one message per (block, destination) holding the
//!    rows and the input partition's maximum event time after the block (`kafka::wire`) — a
//!    watermark marker in every destination, even with no rows, as Flink's in-band watermarks.
//!    When its input ends (bounded, or stopped by a signal) it sends `End` for each of its input
//!    partitions to every destination.
//! 2. **Reader** (`Reader`, feeding the member's cores): reads the repartition partitions the
//!    member owns — the same partition numbers as its share of the input topic (the topics have
//!    the same partition count), so the group's assignment splits both alike. Its source
//!    partitions are the (input partition, repartition partition) pairs: each is one writer's
//!    ordered stream, whose markers give that input partition's watermark. A block is handed to
//!    the cores as already judged (`SourceMsg::Judged`): the cores do not judge lateness again
//!    (the markers never exceed the writer's watermark before any later record, so nothing
//!    passed on could be late), take the carried cutoffs, and close windows on the minimum
//!    marker over all pairs. A pair that has ended stops holding the watermark back; when
//!    every pair has ended, the input has.
//!
//! Why the results equal one process's: a record is dropped as late, or not, on the same
//! evidence one process uses; a record that is kept reaches its owner before any marker that
//! could close its window (a writer's messages to one partition stay in order, and the marker
//! after the block it came from is sent after it); so every window holds exactly one process's
//! records. Rows of EMIT CHANGES arrive per key in each input partition's order (folded per key,
//! the changelog is one process's); ROWS windows that tie on the ORDER BY value order ties by
//! arrival, which here may differ from one process's. Session windows over several input
//! partitions depend on the order in which the partitions' records meet, in one process as
//! here (a record closes its key's sessions by its own partition's watermark), so they are
//! equal only where that order is (tests: `tests/kafka_group.rs` compares tumbling, hopping
//! with a WHERE clause and EMIT CHANGES).
//!
//! - **Start**: the reader starts at each repartition partition's end, resolved before this
//!   member joins the group: no member writes until the group has formed, so nothing of this
//!   run is skipped and nothing older is read. (Tansu lists too small an end offset: the end is
//!   found by reading forward from the listed one to the end of the partition.)
//! - **Commits** (at-least-once): a member's input offsets may be committed only when the
//!   results of its records are written, and those are written by every member. So each member,
//!   once its own output is acknowledged, sends `Done` for its input partitions to every
//!   repartition partition, and commits only after it has seen `Done` for every input
//!   partition: a member that dies before that leaves every member's offsets where they were.
//! - `--late-output`: the writer, which judges lateness, writes the late records (each member
//!   its own partitions'). `--idle-timeout`: a writer's idle input partition sends `Idle` to
//!   every repartition partition, which stops holding the watermark back until its next rows.
//! - A query without a key (a global aggregate) needs one process: refused by
//!   `kafka_group::check_keyed_by`.
//!
//! Threading: `Topic::prepare` and `Tail` run on the main thread; `Writer` lives on the Kafka
//! reader thread (it is a `source::kafka::BlockOut`), `Reader` on its own reader thread. The
//! producer is librdkafka's (thread-safe, its own I/O threads).

use super::producer::{KafkaOut, Layout};
use super::wire::{self, Kind};
use super::{KafkaUrl, REQUEST_TIMEOUT, error, lookup_consumer};
use crate::data::batch::{Column, NULL_INT, NULL_STR};
use crate::data::{Batch, DataType, Dict, Field, Interner, Schema};
use crate::error::{Error, Result};
use crate::runtime::core::Control;
use crate::source::BLOCK_ROWS;
use crate::source::kafka::{BlockOut, Rings};
use crate::sql::{Plan, Routing};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// A message larger than this is split (the broker's default limit is 1 MiB).
const MESSAGE_BYTES: usize = 512 * 1024;
/// How long a member waits, after its own output, for every member to finish.
const DONE_TIMEOUT: Duration = Duration::from_secs(300);
/// A bounded run's reader fails when no message arrives for this long while input partitions
/// have not ended: their member has stopped or died.
const STALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Whether a run of `members` group members needs the repartition topic: a keyed query over
/// a topic not declared keyed by its key (`--keyed-by`).
pub fn needed(plan: &Plan, members: u32, keyed_by: Option<&[String]>) -> bool {
    members > 1 && keyed_by.is_none() && matches!(plan.routing, Routing::Hash(_))
}

/// The name Kafka Streams would give it.
pub fn topic_name(group: &str) -> String {
    format!("{group}-repartition")
}

/// The repartition topic, made ready before the member joins its group.
pub struct Topic {
    url: KafkaUrl,
    /// Per partition: where this run's messages start.
    starts: Vec<i64>,
}

impl Topic {
    /// Creates `<group>-repartition` with the input topic's partition count if it does not
    /// exist (and refuses one with another count), and finds each partition's end.
    pub fn prepare(input: &KafkaUrl, group: &str, partitions: u32) -> Result<Topic> {
        let url = KafkaUrl {
            topic: topic_name(group),
            ..input.clone()
        };
        let n = super::ensure_topic("--group", &url, partitions)?;
        if n != partitions {
            return Err(Error::Usage(format!(
                "the repartition topic {} has {n} partitions and the input topic {partitions}: \
                 they must be equal (each member owns the same partitions of both); delete it \
                 (it holds nothing a new run reads) and run again",
                url.display()
            )));
        }
        let consumer: BaseConsumer = url
            .config(&[
                ("enable.auto.commit", "false"),
                ("enable.partition.eof", "true"),
                ("group.id", &format!("{group}-repartition")),
            ])
            .create()
            .map_err(|e| error("--group", &url, "invalid client configuration", e))?;
        let mut starts = Vec::with_capacity(n as usize);
        let mut tpl = TopicPartitionList::new();
        for p in 0..n as i32 {
            let (_, high) = consumer
                .fetch_watermarks(&url.topic, p, REQUEST_TIMEOUT)
                .map_err(|e| error("--group", &url, "cannot list the end offsets", e))?;
            starts.push(high.max(0));
            tpl.add_partition_offset(&url.topic, p, Offset::Offset(high.max(0)))
                .map_err(|e| error("--group", &url, "cannot assign", e))?;
        }
        // Read forward to each partition's real end (a broker may list too small an end).
        consumer
            .assign(&tpl)
            .map_err(|e| error("--group", &url, "cannot assign", e))?;
        let mut at_end = vec![false; n as usize];
        let deadline = Instant::now() + REQUEST_TIMEOUT;
        while at_end.iter().any(|e| !e) {
            if Instant::now() > deadline {
                return Err(Error::Kafka(format!(
                    "--group: {}: the end of partitions {:?} was not reached within {} s",
                    url.display(),
                    (0..n).filter(|&p| !at_end[p as usize]).collect::<Vec<_>>(),
                    REQUEST_TIMEOUT.as_secs()
                )));
            }
            match consumer.poll(Duration::from_millis(100)) {
                Some(Ok(m)) => {
                    let p = m.partition() as usize;
                    starts[p] = starts[p].max(m.offset() + 1);
                }
                Some(Err(KafkaError::PartitionEOF(p))) => at_end[p as usize] = true,
                _ => {}
            }
        }
        Ok(Topic { url, starts })
    }
}

impl Topic {
    pub fn name(&self) -> String {
        self.url.display()
    }
}

/// Counts of the writer stage (a member's own input), for the run's report.
#[derive(Clone, Copy, Debug, Default)]
pub struct Upstream {
    pub read: u64,
    pub filtered: u64,
    pub late_dropped: u64,
}

/// Stage 1: judges and re-keys a member's input blocks into the repartition topic.
pub struct Writer {
    out: KafkaOut,
    plan: Arc<Plan>,
    dict: Arc<Dict>,
    lateness_ms: i64,
    /// Per input column (+ the cutoff column last, when the query needs cutoffs): sent or not.
    present: Vec<bool>,
    /// Source partition -> the input topic's Kafka partition.
    kafka_parts: Vec<i32>,
    /// Per source partition: the maximum event time so far.
    part_max: Vec<i64>,
    partitions: u32,
    keys: KeyHasher,
    sel: Vec<u32>,
    by_dest: Vec<Vec<u32>>,
    cutoffs: Vec<i64>,
    msg: Vec<u8>,
    spare: Option<Batch>,
    /// `--late-output`: where the records judged late go (all input columns).
    late: Option<crate::sink::ShardOutput>,
    late_rows: Vec<u32>,
    pub counts: Upstream,
}

impl Writer {
    /// A writer for the input partitions `kafka_parts` (source partition `i` is
    /// `kafka_parts[i]`), sending the columns the query reads.
    pub fn open(
        topic: &Topic,
        plan: Arc<Plan>,
        dict: Arc<Dict>,
        lateness_ms: i64,
        kafka_parts: &[i32],
        late: Option<Arc<crate::sink::Sink>>,
    ) -> Result<Writer> {
        let partitions = topic.starts.len() as u32;
        let (out, _) = KafkaOut::open("--group", &topic.url, partitions, Layout::default())?;
        let mut present = plan.reads_columns(false);
        if plan.needs_cutoffs() {
            present.push(true);
        }
        Ok(Writer {
            out,
            lateness_ms,
            present,
            kafka_parts: kafka_parts.to_vec(),
            part_max: vec![i64::MIN; kafka_parts.len()],
            partitions,
            keys: KeyHasher::default(),
            sel: Vec::new(),
            by_dest: (0..partitions).map(|_| Vec::new()).collect(),
            cutoffs: Vec::new(),
            msg: Vec::new(),
            spare: None,
            late: late.map(crate::sink::ShardOutput::new),
            late_rows: Vec::new(),
            counts: Upstream::default(),
            plan,
            dict,
        })
    }

    /// Selects the rows of `b` that pass the WHERE clause and are not late, advancing the
    /// partition's maximum event time over every row (filtered ones too, as one process does)
    /// and filling the cutoffs of hopping and session windows.
    fn judge(&mut self, p: usize, b: &Batch) {
        let n = b.len();
        self.sel.clear();
        match &self.plan.filter {
            Some(f) => {
                let mask = f.eval(b, &self.dict);
                let mask = mask.as_bool();
                self.sel
                    .extend((0..n as u32).filter(|&i| mask[i as usize] == 1));
                self.counts.filtered += (n - self.sel.len()) as u64;
            }
            None => self.sel.extend(0..n as u32),
        }
        let Some(t) = self.plan.time_column else {
            return;
        };
        let times = b.columns[t].as_int();
        let before = self.part_max[p];
        let block_max = times.iter().copied().max().unwrap_or(i64::MIN);
        self.part_max[p] = before.max(block_max);
        let Some(w) = self.plan.lateness_window() else {
            return;
        };
        let lateness = self.lateness_ms;
        let cutoffs = self.plan.needs_cutoffs();
        if cutoffs {
            self.cutoffs.clear();
            self.cutoffs.resize(n, i64::MIN);
        }
        let mut running = before;
        let mut next = 0usize;
        let kept_before = self.sel.len();
        let cut = &mut self.cutoffs;
        let keep_late = self.late.is_some();
        let late_rows = &mut self.late_rows;
        late_rows.clear();
        self.sel.retain(|&r| {
            let r = r as usize;
            while next < r {
                running = running.max(times[next]);
                next += 1;
            }
            let watermark = running.saturating_sub(lateness);
            if cutoffs {
                cut[r] = if running == i64::MIN {
                    i64::MIN
                } else {
                    watermark
                };
            }
            let keep =
                times[r] != NULL_INT && (running == i64::MIN || w.end_of(times[r]) > watermark);
            if !keep && keep_late {
                late_rows.push(r as u32);
            }
            keep
        });
        self.counts.late_dropped += (kept_before - self.sel.len()) as u64;
        if let Some(late) = self.late.as_mut()
            && !self.late_rows.is_empty()
        {
            late.batch.gather_from(b, &self.late_rows);
            late.flush_if_full();
        }
    }

    /// Each selected row's destination partition.
    fn route(&mut self, b: &Batch) {
        let Routing::Hash(keys) = &self.plan.routing else {
            unreachable!("a repartition topic is used for keyed plans only")
        };
        self.keys
            .destinations(b, keys, &self.sel, &self.dict, &mut self.by_dest);
    }

    /// Sends one message to every repartition partition.
    fn send_all(&mut self, kind: Kind, source: i32) -> Result<()> {
        for dest in 0..self.partitions as i32 {
            wire::encode(&mut self.msg, kind, source, i64::MIN, None, &self.dict);
            self.send(dest)?;
        }
        Ok(())
    }

    fn send(&mut self, dest: i32) -> Result<()> {
        if !self.out.send(None, Some(&self.msg), Some(dest)) {
            return Err(self.out.close().err().unwrap_or_else(|| {
                Error::Kafka("the repartition topic refused a message".into())
            }));
        }
        Ok(())
    }

    /// Sends the selected rows of `b` to their destinations, each destination's rows in as
    /// few messages as fit `MESSAGE_BYTES`; only the last message of a destination carries the
    /// partition's new maximum (an earlier one carries the old: a marker must follow every
    /// row it could close a window on).
    fn send_rows(&mut self, p: usize, b: &Batch, max_before: i64) -> Result<()> {
        let source = self.kafka_parts[p];
        let max_after = self.part_max[p];
        for dest in 0..self.partitions as usize {
            let rows = std::mem::take(&mut self.by_dest[dest]);
            let mut from = 0;
            loop {
                let mut len = rows.len() - from;
                loop {
                    let last = from + len == rows.len();
                    wire::encode(
                        &mut self.msg,
                        Kind::Rows,
                        source,
                        if last { max_after } else { max_before },
                        Some((b, &self.present, &rows[from..from + len])),
                        &self.dict,
                    );
                    if self.msg.len() <= MESSAGE_BYTES || len <= 1 {
                        break;
                    }
                    len = len.div_ceil(2);
                }
                self.send(dest as i32)?;
                from += len;
                if from >= rows.len() {
                    break;
                }
            }
            self.by_dest[dest] = rows;
        }
        Ok(())
    }

    /// Once this member's output is acknowledged: `Done` for its input partitions to every
    /// repartition partition, acknowledged.
    pub fn done(&mut self) -> Result<()> {
        for p in self.kafka_parts.clone() {
            self.send_all(Kind::Done, p)?;
        }
        self.out.close()
    }
}

impl BlockOut for Writer {
    fn batch(&mut self, schema: &Schema) -> Batch {
        self.spare
            .take()
            .unwrap_or_else(|| Batch::new(schema, BLOCK_ROWS))
    }

    fn block(&mut self, p: usize, mut b: Batch, control: &Control) -> Result<()> {
        if control.aborted() {
            return Err(Error::Internal("stopped: the run failed".into()));
        }
        self.counts.read += b.len() as u64;
        control
            .records_read
            .fetch_add(b.len() as u64, Ordering::Relaxed);
        let max_before = self.part_max[p];
        self.judge(p, &b);
        self.route(&b);
        let cutoffs = self.plan.needs_cutoffs();
        if cutoffs {
            b.columns
                .push(Column::Int(std::mem::take(&mut self.cutoffs)));
        }
        let sent = self.send_rows(p, &b, max_before);
        if cutoffs && let Some(Column::Int(c)) = b.columns.pop() {
            self.cutoffs = c;
        }
        self.spare = Some(b);
        sent
    }

    fn idle(&mut self, p: usize, _: &Control) -> Result<()> {
        self.send_all(Kind::Idle, self.kafka_parts[p])
    }

    fn end(&mut self, _: &Control) -> Result<()> {
        // Late records are written before the end: the run closes their sink after it.
        if let Some(late) = self.late.as_mut() {
            late.finish();
        }
        for p in self.kafka_parts.clone() {
            self.send_all(Kind::End, p)?;
        }
        self.out.close()
    }
}

/// Where a key's rows go: a hash of the key's values that every member computes alike
/// (strings by their bytes, cached per dictionary id: a process's ids are its own).
#[derive(Default)]
struct KeyHasher {
    /// Per string id: its hash (0: not computed yet).
    string_hashes: Vec<u64>,
    hashes: Vec<u64>,
}

impl KeyHasher {
    /// Puts each row of `sel` in `by_dest[d]`, `d` its key's destination among
    /// `by_dest.len()` partitions.
    fn destinations(
        &mut self,
        b: &Batch,
        keys: &[usize],
        sel: &[u32],
        dict: &Dict,
        by_dest: &mut [Vec<u32>],
    ) {
        fn mix(h: &mut u64, v: u64) {
            *h = (h.rotate_left(26) ^ v).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
        self.hashes.clear();
        self.hashes.resize(b.len(), 0x51_7C_C1_B7_27_22_0A_95);
        let hashes = &mut self.hashes;
        for &k in keys {
            match &b.columns[k] {
                Column::Int(v) => sel
                    .iter()
                    .for_each(|&r| mix(&mut hashes[r as usize], v[r as usize] as u64)),
                Column::Float(v) => sel
                    .iter()
                    .for_each(|&r| mix(&mut hashes[r as usize], v[r as usize].to_bits())),
                Column::Bool(v) => sel
                    .iter()
                    .for_each(|&r| mix(&mut hashes[r as usize], v[r as usize] as u64)),
                Column::Str(v) => {
                    for &r in sel {
                        let id = v[r as usize];
                        let hv = if id == NULL_STR {
                            u64::MAX
                        } else {
                            let i = id as usize;
                            if i >= self.string_hashes.len() {
                                self.string_hashes.resize(i + 1, 0);
                            }
                            if self.string_hashes[i] == 0 {
                                self.string_hashes[i] = fxhash::hash64(dict.get(id).as_bytes()) | 1;
                            }
                            self.string_hashes[i]
                        };
                        mix(&mut hashes[r as usize], hv);
                    }
                }
            }
        }
        by_dest.iter_mut().for_each(Vec::clear);
        let parts = by_dest.len() as u64;
        for &r in sel {
            // A final avalanche, then the high bits spread over the partitions (Lemire).
            let h = hashes[r as usize];
            let h = (h ^ (h >> 29)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            let dest = (((h >> 32) * parts) >> 32) as usize;
            by_dest[dest].push(r);
        }
    }
}

/// Stage 2: reads the member's repartition partitions and hands the cores judged blocks.
pub struct Reader {
    url: KafkaUrl,
    consumer: BaseConsumer,
    /// The repartition partitions read here, sorted (the member's share of the input's).
    owned: Vec<i32>,
    /// The input topic's partition count (every one of them writes to every partition).
    sources: u32,
    /// The decoded blocks' layout: the query's input (+ the cutoff column).
    schema: Schema,
    types: Vec<DataType>,
    interner: Interner,
    /// Raised when the writer stage fails: the reader stops too.
    writer_failed: Arc<AtomicBool>,
    /// A bounded run: every input partition ends, so a long silence is a member gone.
    bounded: bool,
}

/// The reader's end: its consumer, which goes on to wait for the other members' `Done`.
pub struct Tail {
    url: KafkaUrl,
    consumer: BaseConsumer,
    sources: u32,
    done: Vec<bool>,
}

impl Reader {
    /// A reader of `owned` from where this run's messages start, for batches of `plan`'s
    /// input (+ the cutoff column).
    pub fn open(
        topic: &Topic,
        owned: &[i32],
        plan: &Plan,
        dict: Arc<Dict>,
        writer_failed: Arc<AtomicBool>,
        bounded: bool,
    ) -> Result<Reader> {
        let url = topic.url.clone();
        let consumer = lookup_consumer("--group", &url, Some(&format!("{}-reader", url.topic)))?;
        let mut tpl = TopicPartitionList::new();
        for &p in owned {
            tpl.add_partition_offset(&url.topic, p, Offset::Offset(topic.starts[p as usize]))
                .map_err(|e| error("--group", &url, "cannot assign", e))?;
        }
        consumer
            .assign(&tpl)
            .map_err(|e| error("--group", &url, "cannot assign", e))?;
        let mut schema = plan.input.clone();
        if plan.needs_cutoffs() {
            schema.fields.push(Field::new("cutoff", DataType::Int));
        }
        let types = schema.fields.iter().map(|f| f.ty).collect();
        Ok(Reader {
            url,
            consumer,
            owned: owned.to_vec(),
            sources: topic.starts.len() as u32,
            schema,
            types,
            interner: Interner::new(dict),
            writer_failed,
            bounded,
        })
    }

    /// The run's source partitions: one per (input partition, owned partition).
    pub fn source_partitions(&self) -> u32 {
        self.sources * self.owned.len() as u32
    }

    pub fn name(&self) -> String {
        self.url.display()
    }

    /// Reads until every (input partition, owned partition) pair has ended.
    pub fn run(mut self, out: &mut Rings, control: &Control) -> Result<Tail> {
        let owned_n = self.owned.len();
        let pairs = self.sources as usize * owned_n;
        let mut ended = vec![false; pairs];
        let mut open = pairs;
        let mut last_max = vec![i64::MIN; pairs];
        let mut done = vec![false; self.sources as usize];
        // A batch a marker without rows did not use.
        let mut spare: Option<Batch> = None;
        let mut last_message = Instant::now();
        let mut said_waiting = false;
        while open > 0 {
            if control.stop_reading() && !said_waiting {
                said_waiting = true;
                eprintln!(
                    "shardsql: stopped reading; the other members' records still flow to this \
                     member through {} until they stop too (stop every member); a second \
                     signal exits at once, committing nothing",
                    self.url.display()
                );
            }
            if control.aborted() {
                return Err(Error::Internal("stopped: the run failed".into()));
            }
            if self.writer_failed.load(Ordering::Relaxed) {
                return Err(Error::Internal(
                    "stopped: this member's writer stage failed".into(),
                ));
            }
            let m = match self.consumer.poll(Duration::from_millis(100)) {
                Some(Ok(m)) => m,
                _ => {
                    if self.bounded && last_message.elapsed() > STALL_TIMEOUT {
                        let waiting: Vec<u32> = (0..self.sources)
                            .filter(|&p| (0..owned_n).any(|r| !ended[p as usize * owned_n + r]))
                            .collect();
                        return Err(Error::Kafka(format!(
                            "{}: nothing from the members reading input partitions \
                             {waiting:?} for {} s: a member has stopped or died; this member \
                             stops too, without committing (start every member again)",
                            self.url.display(),
                            STALL_TIMEOUT.as_secs()
                        )));
                    }
                    continue;
                }
            };
            last_message = Instant::now();
            let Ok(r) = self.owned.binary_search(&m.partition()) else {
                continue;
            };
            let mut batch = spare.take().unwrap_or_else(|| out.batch(&self.schema));
            batch.clear();
            let bad = |why: String| {
                Error::Kafka(format!(
                    "{} partition {} offset {}: {why}",
                    self.url.display(),
                    m.partition(),
                    m.offset()
                ))
            };
            let h = wire::decode(
                m.payload().unwrap_or_default(),
                &self.types,
                &mut self.interner,
                &mut batch,
            )
            .map_err(bad)?;
            if h.source < 0 || h.source as u32 >= self.sources {
                return Err(bad(format!(
                    "a message from input partition {} of {}",
                    h.source, self.sources
                )));
            }
            let pair = h.source as usize * owned_n + r;
            match h.kind {
                Kind::Rows => {
                    if ended[pair] {
                        return Err(bad(format!(
                            "rows from input partition {} after its end (two runs writing?)",
                            h.source
                        )));
                    }
                    if batch.is_empty() && h.max_time <= last_max[pair] {
                        spare = Some(batch);
                        continue;
                    }
                    last_max[pair] = last_max[pair].max(h.max_time);
                    out.judged(pair, batch, h.max_time, control)?;
                }
                Kind::End => {
                    spare = Some(batch);
                    if !ended[pair] {
                        ended[pair] = true;
                        open -= 1;
                        // An ended pair no longer holds the closing watermark back.
                        out.idle(pair, control)?;
                    }
                }
                Kind::Done => {
                    spare = Some(batch);
                    done[h.source as usize] = true;
                }
                Kind::Idle => {
                    spare = Some(batch);
                    if !ended[pair] {
                        out.idle(pair, control)?;
                    }
                }
            }
        }
        out.end(control)?;
        Ok(Tail {
            url: self.url,
            consumer: self.consumer,
            sources: self.sources,
            done,
        })
    }
}

impl std::fmt::Debug for Tail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tail")
            .field("topic", &self.url.topic)
            .field("done", &self.done)
            .finish()
    }
}

impl Tail {
    /// Waits until every input partition's member has said `Done` (its output is
    /// acknowledged): then this member's offsets may be committed.
    pub fn wait_for_members(mut self) -> Result<()> {
        let deadline = Instant::now() + DONE_TIMEOUT;
        while self.done.iter().any(|d| !d) {
            if Instant::now() > deadline {
                let missing: Vec<usize> = (0..self.sources as usize)
                    .filter(|&p| !self.done[p])
                    .collect();
                return Err(Error::Kafka(format!(
                    "{}: the members reading input partitions {missing:?} did not finish their \
                     output within {} s; this member's offsets are not committed (its results \
                     are written)",
                    self.url.display(),
                    DONE_TIMEOUT.as_secs()
                )));
            }
            if let Some(Ok(m)) = self.consumer.poll(Duration::from_millis(100))
                && let Ok(h) = wire::header(m.payload().unwrap_or_default())
                && h.kind == Kind::Done
                && h.source >= 0
                && (h.source as u32) < self.sources
            {
                self.done[h.source as usize] = true;
            }
        }
        Ok(())
    }
}

/// A member's writer stage, running on its own thread while the run reads the repartition
/// topic.
pub struct Stage1 {
    handle: std::thread::JoinHandle<(Result<crate::source::kafka::KafkaDone>, Writer)>,
    control: Arc<Control>,
    /// Raised when the writer fails (the reader then stops the run).
    failed: Arc<AtomicBool>,
}

/// Starts a group member's two stages: the writer on its thread (reading `input`), and the
/// reader the run is given.
#[allow(clippy::too_many_arguments)]
pub fn start(
    topic: &Topic,
    input: crate::source::kafka::KafkaInput,
    plan: Arc<Plan>,
    dict: Arc<Dict>,
    lateness_ms: i64,
    interrupt: Arc<AtomicBool>,
    records_read: Arc<std::sync::atomic::AtomicU64>,
    sink: Arc<crate::sink::Sink>,
    late_output: Option<Arc<crate::sink::Sink>>,
    linger: Duration,
) -> Result<(Reader, Stage1)> {
    let owned = input.kafka_partitions().to_vec();
    let mut writer = Writer::open(
        topic,
        plan.clone(),
        dict.clone(),
        lateness_ms,
        &owned,
        late_output,
    )?;
    let writer_failed = Arc::new(AtomicBool::new(false));
    let reader = Reader::open(
        topic,
        &owned,
        &plan,
        dict,
        writer_failed.clone(),
        input.is_bounded(),
    )?;
    let failed = writer_failed.clone();
    // The writer stops on a signal or a failed output, as a run's reader does.
    let control = Arc::new(Control {
        interrupt,
        records_read,
        sink: Some(sink),
        ..Control::default()
    });
    let handle = std::thread::Builder::new()
        .name("shardsql-kafka".into())
        .spawn({
            let control = control.clone();
            move || {
                let done = input.run(&mut writer, &control, linger);
                if done.is_err() {
                    failed.store(true, Ordering::Relaxed);
                }
                (done, writer)
            }
        })
        .map_err(|e| Error::io("cannot start the Kafka reader thread", e))?;
    Ok((
        reader,
        Stage1 {
            handle,
            control,
            failed: writer_failed,
        },
    ))
}

impl Stage1 {
    /// Joins the writer once the run has ended: the run's report gets the writer's counts,
    /// malformed messages and commit, and the other members this member's `Done`. A failed
    /// writer is the cause of a failed run.
    pub fn finish(
        self,
        run: Result<crate::runtime::RunReport>,
    ) -> Result<crate::runtime::RunReport> {
        // The writer failing first is the cause of a failed run (the reader stopped for it).
        let writer_first = self.failed.load(Ordering::Relaxed);
        if run.is_err() {
            self.control.stop();
        }
        let (done, mut writer) = self
            .handle
            .join()
            .map_err(|_| Error::Internal("the Kafka reader thread panicked".into()))?;
        let (done, mut report) = match (done, run) {
            (Err(e), Err(_)) if writer_first => return Err(e),
            (_, Err(e)) | (Err(e), Ok(_)) => return Err(e),
            (Ok(done), Ok(report)) => (done, report),
        };
        report.upstream = Some(writer.counts);
        report.malformed = done.malformed;
        report.malformed_examples = done.examples;
        report.kafka_commit = done.committer;
        writer.done()?;
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The share of rows each of `parts` partitions gets for `keys` distinct keys.
    fn spread(batch: &Batch, dict: &Dict, parts: usize) -> Vec<usize> {
        let mut by_dest = vec![Vec::new(); parts];
        let sel: Vec<u32> = (0..batch.len() as u32).collect();
        KeyHasher::default().destinations(batch, &[0], &sel, dict, &mut by_dest);
        by_dest.iter().map(Vec::len).collect()
    }

    #[test]
    fn keys_spread_evenly_and_alike_in_every_process() {
        // 4,000 distinct strings and integers over 4 and 7 partitions: each within 10% of
        // an even share.
        let d1 = Dict::new();
        let mut i1 = Interner::new(d1.clone());
        let strings = Batch {
            columns: vec![Column::Str(
                (0..4000).map(|k| i1.intern(&format!("T{k}"))).collect(),
            )],
        };
        let ints = Batch {
            columns: vec![Column::Int((0..4000).map(|k| k * 1000).collect())],
        };
        for b in [&strings, &ints] {
            for parts in [4, 7] {
                let even = 4000 / parts;
                for n in spread(b, &d1, parts) {
                    assert!(n.abs_diff(even) < even / 10, "{n} vs {even}");
                }
            }
        }
        // Another process interns the same strings in another order: same destinations.
        let d2 = Dict::new();
        let mut i2 = Interner::new(d2.clone());
        let reversed = Batch {
            columns: vec![Column::Str(
                (0..4000)
                    .rev()
                    .map(|k| i2.intern(&format!("T{k}")))
                    .collect(),
            )],
        };
        let dest = |b: &Batch, d: &Dict| {
            let mut by_dest = vec![Vec::new(); 4];
            let sel: Vec<u32> = (0..4000).collect();
            KeyHasher::default().destinations(b, &[0], &sel, d, &mut by_dest);
            let mut of = vec![0; 4000];
            for (p, rows) in by_dest.iter().enumerate() {
                rows.iter().for_each(|&r| of[r as usize] = p);
            }
            of
        };
        let mut back = dest(&reversed, &d2);
        back.reverse();
        assert_eq!(dest(&strings, &d1), back);
    }
}
