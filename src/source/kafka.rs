//! `--input kafka://HOST:PORT/TOPIC`: a topic's partitions as the run's source partitions.
//!
//! The partitions read are the topic's, or with `--group NAME --members N` this member's share
//! of them (`source::kafka_group`: the group protocol, fixed membership, `--keyed-by`); the
//! run's source partitions are the ones read, numbered 0.. in Kafka partition order. What the
//! reader produces goes to a `BlockOut`: the cores' rings (`Rings`), or, when the members
//! re-key a query through `<group>-repartition`, that topic's writer
//! (`kafka::repartition::Writer`), whose run reads the repartition topic instead.
//!
//! One reader thread owns the consumer (librdkafka's `BaseConsumer`, its partitions assigned
//! explicitly at the offsets resolved here; its loop is `source::kafka_reader`). It polls
//! messages and appends each value to its partition's pending chunk (one line per message,
//! `source::kafka_line`: a JSON object, or one CSV record, with raw CR/LF inside a value
//! replaced by spaces, JSON's legal whitespace). A chunk is dealt when it holds `BLOCK_ROWS`
//! messages, when the partition reaches its end, or when the source goes quiet for the
//! linger: chunk `b` goes to core `b mod N`, which parses it with its own chunk parser
//! (`source::kafka_chunk`) into a block holding one Kafka partition's messages in offset
//! order, tagged with it, so the shards keep that partition's own maximum event time,
//! watermark and lateness, exactly as for the generator's partitions. (Under `--on-error
//! fail` the reader parses each chunk itself with `TextReader::chunk_parser` and deals the
//! block, `SourceMsg::PartitionBlock`, so the run stops at the first malformed message read.)
//! Chunks and blocks, not messages, cross the rings; nothing is allocated or locked per
//! message except librdkafka's own message handling.
//!
//! - **Start** (`--start`): `earliest`, `latest`, `committed` (the group's offsets; a partition
//!   without one starts at its earliest), or a timestamp (ISO-8601 or epoch ms: from the
//!   first message whose timestamp is at or after it; the broker's offset look-up by time is
//!   used and, where a broker answers it wrongly, messages before that first one are also
//!   skipped here). Default: `committed` with `--group`, else `earliest`.
//! - **Bounded** (`--bounded`): each partition is read until the consumer reaches its end
//!   (librdkafka's end-of-partition event) at or past the end offset listed at start (the
//!   high watermark), and the run finishes like a file. The end of the fetch, not the listed
//!   offset, is what stops it: Tansu 0.6 lists too small an end offset (the last record
//!   batch's base offset + 1), while its fetches are right. So messages produced while a
//!   bounded run reads may be included. Without `--bounded` the run is continuous until
//!   SIGINT / SIGTERM.
//! - **Values**: `--value-format json` (default; one object per message, columns named by the
//!   sampled messages' keys, types inferred from the first messages or fixed with `--schema`)
//!   or `csv` (one record per message, no header: `--schema` names every column in order).
//!   A null value (a tombstone) is skipped. A malformed message is skipped and counted like a
//!   malformed line and reported with its partition and offset; `--on-error fail` stops.
//! - **Idle partitions** (`--idle-timeout D`, continuous runs): a partition that has been at
//!   its end for D is declared idle (`SourceMsg::PartitionIdle`, taking a block number so
//!   every shard sees it at the same point): it stops holding back the closing watermark
//!   until its next message. Off by default, as the results then depend on timing.
//! - **Metadata columns** `kafka_partition` (BIGINT), `kafka_offset` (BIGINT),
//!   `kafka_timestamp` (TIMESTAMP, the message's timestamp) and `kafka_key` (VARCHAR, NULL
//!   when absent or not UTF-8) exist when the query (or `--schema`) names them, like Flink's
//!   METADATA columns; they come first in `SELECT *`, then the value's columns.
//! - **Commits** (`--group`): the offsets after the last message read are committed, by the
//!   group member, when the run has written its results and the output acknowledged them
//!   (files flushed, Kafka deliveries acknowledged): at-least-once. A run that fails commits
//!   nothing.
//!
//! Design: one reader thread for the process's partitions (DESIGN-NOTES §8 sketches one
//! consumer per reader core). It is the simplest arrangement that keeps a partition's messages
//! on one reader, in order, and the block numbering the shards merge by; parsing is spread
//! over the cores as a file's is (`runtime::cut_input`), so the reader does only the polling
//! and framing one thread must do. What is left on it is librdkafka's cost per message (a
//! queue lock, clock reads and an event per `poll`: rdkafka 0.39 offers no batch consume
//! without `unsafe`); one consumer per core with a disjoint set of partitions, each dealing
//! its own block numbers, is the next step when a topic outruns one poller.
//!
//! Threading: `KafkaInput` is built (and, with `--group`, joins its group) on the main thread
//! and is moved to the reader thread, which alone touches it; each core's chunk parser
//! (`core_parser`) is built on the main thread and moved to its core; `Committer`, holding
//! the group member's consumer, goes back to the main thread.

use crate::data::{Batch, DataType, Dict, Field, Schema};
use crate::error::{Error, Result};
use crate::kafka::{KafkaUrl, REQUEST_TIMEOUT, error, lookup_consumer, partition_count};
use crate::runtime::core::{Control, SourceMsg};
use crate::sink::Format;
use crate::source::BLOCK_ROWS;
use crate::source::kafka_chunk::KafkaChunk;
pub use crate::source::kafka_group::Committer;
use crate::source::kafka_group::{self, GroupContext, Reader};
use crate::source::kafka_line::{LineFormat, META, names};
use crate::source::text::{Malformed, OnError, TextReader};
use rdkafka::consumer::Consumer;
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The reader thread's loop (`KafkaInput::run`).
#[path = "kafka_reader.rs"]
mod reader;

/// Messages sampled to infer the columns.
const SAMPLE_MESSAGES: usize = 1000;
/// A bounded run fails when no message arrives for this long while partitions are unfinished.
const STALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Where reading starts (`--start`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    Earliest,
    Latest,
    Committed,
    /// Epoch milliseconds.
    Timestamp(i64),
}

impl Start {
    /// `earliest`, `latest`, `committed`, or a timestamp (ISO-8601 or epoch ms).
    pub fn parse(s: &str) -> Result<Start, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "earliest" => Ok(Start::Earliest),
            "latest" => Ok(Start::Latest),
            "committed" => Ok(Start::Committed),
            t => {
                if let Ok(ms) = t.parse::<i64>() {
                    return Ok(Start::Timestamp(ms));
                }
                crate::data::time::parse_iso(s.trim().as_bytes())
                    .map(Start::Timestamp)
                    .ok_or_else(|| {
                        format!(
                            "`{s}` is not a start position: use earliest, latest, committed, \
                             an ISO-8601 time (2024-03-01T12:00:00Z) or epoch milliseconds"
                        )
                    })
            }
        }
    }
}

/// The value format of a topic's messages (`--value-format`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ValueFormat {
    #[default]
    Json,
    Csv,
}

/// What `--input kafka://…` asks for.
pub struct KafkaSpec<'a> {
    pub url: &'a str,
    pub group: Option<&'a str>,
    pub start: Option<Start>,
    pub bounded: bool,
    pub format: ValueFormat,
    pub fixed: Option<&'a Schema>,
    pub on_error: OnError,
    /// The query text: the metadata columns it names exist.
    pub query: &'a str,
    /// `--idle-timeout`: a continuous run declares a partition idle after this long at its
    /// end.
    pub idle_timeout: Option<Duration>,
}

/// A topic opened for reading: the consumer assigned at the start offsets, the parser, and
/// per partition where it ends (bounded) and what was read.
pub struct KafkaInput {
    url: KafkaUrl,
    group: Option<String>,
    consumer: Reader,
    /// The Kafka partitions read (all the topic's, or this group member's share), sorted:
    /// source partition `i` is Kafka partition `parts[i]`.
    parts: Vec<i32>,
    /// Kafka partition -> source partition (`u32::MAX`: not read here).
    local: Vec<u32>,
    /// The topic's partition count.
    topic_partitions: u32,
    /// The group's rebalances this member has seen (the last one gave it its share).
    rebalances_seen: u32,
    parser: TextReader,
    line: LineFormat,
    fail: bool,
    /// Per source partition: the next offset to read.
    next: Vec<i64>,
    /// Per partition: the end offset (exclusive) of a bounded run; `i64::MAX` when continuous.
    end: Vec<i64>,
    /// `--start TIME`: per partition, messages before the first one at or after TIME are
    /// skipped here too (a broker that cannot look offsets up by time, Tansu 0.6 among them,
    /// answers offset 0); `i64::MIN` once a partition has reached it (or without a time).
    skip_before: Vec<i64>,
    /// `--idle-timeout` (continuous runs only).
    idle_timeout: Option<Duration>,
    /// `--group`: offsets to commit as the run goes on (after each checkpoint or commit
    /// barrier), taken by the reader thread.
    pub(super) commits: Option<Arc<super::kafka_group::CommitRequests>>,
    pub malformed: u64,
    pub examples: Vec<Malformed>,
}

/// The end of a reader thread: what was malformed, and what to commit.
pub struct KafkaDone {
    pub malformed: u64,
    pub examples: Vec<Malformed>,
    pub committer: Option<Committer>,
}

impl KafkaInput {
    /// Connects, resolves the start (and, bounded, end) offsets, samples the first messages
    /// for the columns, and assigns the reading consumer. Every broker problem is a clear
    /// error within `REQUEST_TIMEOUT` (a few of them in sequence at most).
    pub fn open(spec: &KafkaSpec, dict: Arc<Dict>) -> Result<KafkaInput> {
        let flag = "--input";
        let url = KafkaUrl::parse(flag, spec.url)?;
        let start = match (spec.start, spec.group) {
            (Some(Start::Committed), None) => {
                return Err(Error::Usage(
                    "--start committed needs --group NAME (the consumer group whose offsets \
                     to start from)"
                        .into(),
                ));
            }
            (Some(s), _) => s,
            (None, Some(_)) => Start::Committed,
            (None, None) => Start::Earliest,
        };
        let look = lookup_consumer(flag, &url, spec.group)?;
        let Some(n) = partition_count(flag, &url, look.client())? else {
            return Err(Error::Kafka(format!(
                "{flag} {}: the topic does not exist (create it, or fill it with \
                 `shardsql gen --output {}`)",
                url.display(),
                url.display()
            )));
        };
        // The partitions read: the topic's (a group member narrows them in `join`).
        let parts: Vec<i32> = (0..n as i32).collect();
        let mut local = vec![u32::MAX; n as usize];
        for (i, &p) in parts.iter().enumerate() {
            local[p as usize] = i as u32;
        }
        let mut next = Vec::with_capacity(parts.len());
        let mut end = Vec::with_capacity(parts.len());
        for &p in &parts {
            let (low, high) = look
                .fetch_watermarks(&url.topic, p, REQUEST_TIMEOUT)
                .map_err(|e| {
                    error(
                        flag,
                        &url,
                        &format!("cannot read partition {p}'s offsets"),
                        e,
                    )
                })?;
            next.push(match start {
                Start::Latest => high,
                _ => low,
            });
            end.push(if spec.bounded { high } else { i64::MAX });
        }
        let mut tpl = TopicPartitionList::new();
        match start {
            Start::Committed => {
                for &p in &parts {
                    let _ = tpl.add_partition(&url.topic, p);
                }
                let got = look.committed_offsets(tpl, REQUEST_TIMEOUT).map_err(|e| {
                    error(flag, &url, "cannot read the group's committed offsets", e)
                })?;
                for e in got.elements() {
                    if let Offset::Offset(o) = e.offset()
                        && let Some(&i) = local.get(e.partition() as usize)
                        && i != u32::MAX
                    {
                        next[i as usize] = o;
                    }
                }
            }
            Start::Timestamp(ms) => {
                for &p in &parts {
                    let _ = tpl.add_partition_offset(&url.topic, p, Offset::Offset(ms));
                }
                let got = look
                    .offsets_for_times(tpl, REQUEST_TIMEOUT)
                    .map_err(|e| error(flag, &url, "cannot look up the offsets for --start", e))?;
                for e in got.elements() {
                    let Some(&i) = local.get(e.partition() as usize) else {
                        continue;
                    };
                    if i == u32::MAX {
                        continue;
                    }
                    let p = i as usize;
                    match e.offset() {
                        Offset::Offset(o) => next[p] = o,
                        // No message at or after the time: start at the end.
                        _ => {
                            next[p] = look
                                .fetch_watermarks(&url.topic, e.partition(), REQUEST_TIMEOUT)
                                .map(|(_, h)| h)
                                .unwrap_or(next[p])
                        }
                    }
                }
            }
            Start::Earliest | Start::Latest => {}
        }
        drop(look);

        let fixed_names = |w: &str| {
            spec.fixed
                .is_some_and(|s| s.fields.iter().any(|f| f.name.eq_ignore_ascii_case(w)))
        };
        let meta = META.map(|(name, _)| names(spec.query, name) || fixed_names(name));
        // The metadata columns' types are fixed; the user's --schema fixes the others.
        let mut fields: Vec<Field> = META
            .iter()
            .zip(meta)
            .filter(|(_, on)| *on)
            .map(|((name, ty), _)| match ty {
                DataType::Timestamp => {
                    Field::timestamp(*name, crate::data::time::EpochUnit::Millis)
                }
                ty => Field::new(*name, *ty),
            })
            .collect();
        if let Some(s) = spec.fixed {
            fields.extend(
                s.fields
                    .iter()
                    .filter(|f| !META.iter().any(|(m, _)| f.name.eq_ignore_ascii_case(m)))
                    .cloned(),
            );
        }
        let fixed = Schema::new(fields);
        let csv_header = match spec.format {
            ValueFormat::Csv if spec.fixed.is_none() => {
                return Err(Error::Usage(format!(
                    "{flag} {}: CSV messages carry no header: name every column of a message, \
                     in order, with --schema name:type,...",
                    url.display()
                )));
            }
            ValueFormat::Csv => Some(fixed.names().collect::<Vec<_>>().join(",")),
            ValueFormat::Json => None,
        };

        let line = LineFormat {
            json: spec.format == ValueFormat::Json,
            meta,
        };
        let mut sample = Vec::new();
        if let Some(h) = &csv_header {
            sample.extend_from_slice(h.as_bytes());
            sample.push(b'\n');
        }
        let from = match start {
            Start::Timestamp(ms) => ms,
            _ => i64::MIN,
        };
        let skip_before = vec![from; parts.len()];
        let sampled = sample_messages(
            &url,
            &parts,
            &next,
            &end,
            &skip_before,
            line,
            spec.bounded,
            &mut sample,
        )?;
        if sampled == 0 && spec.format == ValueFormat::Json {
            if spec.fixed.is_none() {
                return Err(Error::Input(format!(
                    "{flag} {}: the topic holds no message to infer the columns from{}; name \
                     them with --schema name:type,...",
                    url.display(),
                    if spec.bounded {
                        " (between the start and end offsets)"
                    } else {
                        " yet"
                    }
                )));
            }
            // The columns' names, for the JSON reader: one object of NULLs.
            sample.push(b'{');
            for (i, f) in fixed.fields.iter().enumerate() {
                if i > 0 {
                    sample.push(b',');
                }
                serde_json::to_writer(&mut sample, &f.name).expect("write to a Vec");
                sample.extend_from_slice(b":null");
            }
            sample.extend_from_slice(b"}\n");
        }
        let format = match spec.format {
            ValueFormat::Json => Format::JsonLines,
            ValueFormat::Csv => Format::Csv,
        };
        // The reader reports malformed messages itself (with partition and offset), and stops
        // on one under --on-error fail: its parser skips and counts.
        let sampler = TextReader::from_reader(
            Box::new(std::io::Cursor::new(sample)),
            &url.display(),
            format,
            (!fixed.fields.is_empty()).then_some(&fixed),
            dict,
            OnError::Skip,
        )?;
        if let Some(g) = spec.group {
            kafka_group::check_group_name(g)?;
        }
        let consumer = reading_config(&url, spec.group, spec.bounded)
            .create_with_context(GroupContext::default())
            .map_err(|e| error(flag, &url, "invalid consumer configuration", e))?;
        let input = KafkaInput {
            consumer,
            parts,
            local,
            topic_partitions: n,
            rebalances_seen: 0,
            url,
            group: spec.group.map(str::to_string),
            parser: sampler.chunk_parser(),
            line,
            fail: spec.on_error == OnError::Fail,
            next,
            end,
            skip_before,
            idle_timeout: spec.idle_timeout.filter(|_| !spec.bounded),
            commits: None,
            malformed: 0,
            examples: Vec::new(),
        };
        if spec.group.is_none() {
            input.assign()?;
        }
        Ok(input)
    }

    /// `--group`: the requests through which offsets are committed while the run goes on
    /// (`None` without a group).
    pub fn commit_requests(&mut self) -> Option<Arc<super::kafka_group::CommitRequests>> {
        self.group.as_ref()?;
        Some(self.commits.get_or_insert_with(Default::default).clone())
    }

    /// `--group`: the member's group metadata (a transactional output commits the group's
    /// offsets with its rows).
    pub fn group_metadata(&self) -> Option<rdkafka::consumer::ConsumerGroupMetadata> {
        self.group.as_ref()?;
        self.consumer.group_metadata()
    }

    /// Per Kafka partition read, the next offset to read.
    pub fn offsets(&self) -> Vec<(i32, i64)> {
        self.parts
            .iter()
            .copied()
            .zip(self.next.iter().copied())
            .collect()
    }

    /// A resumed run (`--resume`): reads each partition from the checkpoint's offset, whatever
    /// `--start` says. Run after `join`, before the run.
    pub fn resume_at(&mut self, offsets: &[(i32, i64)]) -> Result<()> {
        for (i, &p) in self.parts.iter().enumerate() {
            let Some(&(_, o)) = offsets.iter().find(|e| e.0 == p) else {
                return Err(Error::Usage(format!(
                    "--resume: the checkpoint holds no offset for partition {p} of {}: it was \
                     taken over other partitions; start fresh with another --checkpoint-dir",
                    self.url.display()
                )));
            };
            self.next[i] = o;
            self.skip_before[i] = i64::MIN;
        }
        self.assign()
    }

    /// `--group`: joins the group as one of `members` members, waits for this member's share
    /// of the partitions (`kafka_group::join`) and reads only those from here on. Called once,
    /// after the query is checked, before the run.
    pub fn join(&mut self, members: u32) -> Result<()> {
        let Some(group) = self.group.clone() else {
            return self.assign();
        };
        let (consumer, share, rebalances_seen) = kafka_group::join(
            &self.url,
            &group,
            members,
            self.topic_partitions,
            reading_config(&self.url, Some(&group), self.is_bounded()),
            self.is_bounded(),
        )?;
        self.rebalances_seen = rebalances_seen;
        self.consumer = consumer;
        let keep: Vec<usize> = share
            .iter()
            .map(|&p| self.local[p as usize] as usize)
            .collect();
        let pick = |v: &[i64]| keep.iter().map(|&i| v[i]).collect::<Vec<i64>>();
        self.next = pick(&self.next);
        self.end = pick(&self.end);
        self.skip_before = pick(&self.skip_before);
        self.local = vec![u32::MAX; self.topic_partitions as usize];
        for (i, &p) in share.iter().enumerate() {
            self.local[p as usize] = i as u32;
        }
        self.parts = share;
        self.assign()
    }

    /// The columns a query over the topic sees.
    pub fn schema(&self) -> &Schema {
        self.parser.schema()
    }

    /// Parse only the columns the query reads (`TextReader::set_projection`).
    pub fn set_projection(&mut self, reads: Vec<bool>) {
        self.parser.set_projection(reads);
    }

    /// A core's parser for the chunks the reader deals it (`SourceMsg::KafkaChunk`), or
    /// `None` under `--on-error fail`, where the reader parses and deals blocks. Call after
    /// `set_projection`.
    pub fn core_parser(&self) -> Option<TextReader> {
        (!self.fail).then(|| self.parser.chunk_parser())
    }

    /// The partitions read (the topic's, or this group member's share): the run's source
    /// partitions.
    pub fn partitions(&self) -> u32 {
        self.next.len() as u32
    }

    /// The Kafka partitions read, sorted.
    pub fn kafka_partitions(&self) -> &[i32] {
        &self.parts
    }

    /// The topic's partition count.
    pub fn topic_partitions(&self) -> u32 {
        self.topic_partitions
    }

    pub fn is_bounded(&self) -> bool {
        self.end.iter().all(|&e| e != i64::MAX)
    }

    /// The topic, for messages.
    pub fn name(&self) -> String {
        self.url.display()
    }

    pub fn url(&self) -> &KafkaUrl {
        &self.url
    }

    fn assign(&self) -> Result<()> {
        let mut tpl = TopicPartitionList::new();
        for (&p, &o) in self.parts.iter().zip(&self.next) {
            tpl.add_partition_offset(&self.url.topic, p, Offset::Offset(o))
                .map_err(|e| error("--input", &self.url, "bad start offset", e))?;
        }
        self.consumer
            .assign(&tpl)
            .map_err(|e| error("--input", &self.url, "cannot assign the partitions", e))
    }
}

/// Where the reader's messages go: the cores' rings (`Rings`), or a repartition topic
/// (`kafka::repartition::Writer`). Called on the reader thread, a chunk or block at a time.
pub trait BlockOut {
    /// Whether it takes chunks of framed messages for the cores to parse (else the reader
    /// parses them into blocks).
    fn takes_chunks(&self) -> bool {
        false
    }
    /// A chunk of one source partition's framed messages (only when `takes_chunks`).
    fn chunk(&mut self, _chunk: KafkaChunk, _control: &Control) -> Result<()> {
        unreachable!("chunks go only where they are taken")
    }
    /// An empty batch to parse the next block into (the parser's `schema`).
    fn batch(&mut self, schema: &Schema) -> Batch;
    /// Source partition `p`'s next block (not empty), in offset order.
    fn block(&mut self, p: usize, b: Batch, control: &Control) -> Result<()>;
    /// Source partition `p` is idle (`--idle-timeout`).
    fn idle(&mut self, p: usize, control: &Control) -> Result<()>;
    /// The input has ended (bounded, or stopped).
    fn end(&mut self, control: &Control) -> Result<()>;
    /// A quiet source: deals fillers (block numbers only) up to a barrier's pending cut, so
    /// that a checkpoint or commit barrier is not held back until the next message.
    fn fill_to_cut(&mut self, _control: &Control) -> Result<()> {
        Ok(())
    }
}

/// The cores' rings: block `b` goes to core `b mod N` (which is woken if parked), tagged
/// with its source partition.
pub struct Rings {
    rings: Vec<rtrb::Producer<SourceMsg>>,
    backs: Vec<rtrb::Consumer<Batch>>,
    block: usize,
    backoff: crate::runtime::backoff::Backoff,
    /// The cores parse chunks (they were given parsers).
    chunks: bool,
    /// Checkpoints: where each block dealt ends (`checkpoint::barrier`).
    barrier: Option<Arc<crate::checkpoint::barrier::Barrier>>,
}

impl Rings {
    pub fn new(rings: Vec<rtrb::Producer<SourceMsg>>, backs: Vec<rtrb::Consumer<Batch>>) -> Rings {
        Rings {
            rings,
            backs,
            block: 0,
            backoff: Default::default(),
            chunks: false,
            barrier: None,
        }
    }

    /// Checkpoints: a resumed run's first block is `block`; the positions of the blocks dealt
    /// go to `barrier`, starting from `offsets`.
    pub fn checkpointed(
        mut self,
        barrier: Arc<crate::checkpoint::barrier::Barrier>,
        block: u64,
        offsets: Vec<(i32, i64)>,
    ) -> Rings {
        barrier.kafka_start(block, offsets);
        self.block = block as usize;
        self.barrier = Some(barrier);
        self
    }

    /// Rings to cores that parse the chunks dealt them (`KafkaInput::core_parser`).
    pub fn parsing_cores(mut self) -> Rings {
        self.chunks = true;
        self
    }

    /// A block judged upstream (`SourceMsg::Judged`), with its partition's maximum event time.
    pub fn judged(&mut self, p: usize, b: Batch, max_time: i64, control: &Control) -> Result<()> {
        self.push(SourceMsg::Judged(b, p as u32, max_time), control)
    }

    fn push(&mut self, msg: SourceMsg, control: &Control) -> Result<()> {
        let c = self.block % self.rings.len();
        crate::runtime::push_source(&mut self.rings[c], msg, &mut self.backoff, control, &|| {
            false
        })?;
        control.wake(c);
        self.block += 1;
        Ok(())
    }
}

impl BlockOut for Rings {
    fn takes_chunks(&self) -> bool {
        self.chunks
    }

    fn chunk(&mut self, chunk: KafkaChunk, control: &Control) -> Result<()> {
        let end = chunk
            .offsets
            .last()
            .map(|&o| (chunk.kafka_partition, o + 1));
        let block = self.block as u64;
        self.push(SourceMsg::KafkaChunk(chunk), control)?;
        if let Some(b) = &self.barrier {
            b.kafka_dealt(block, end);
        }
        Ok(())
    }

    fn batch(&mut self, schema: &Schema) -> Batch {
        let c = self.block % self.rings.len();
        self.backs[c]
            .pop()
            .unwrap_or_else(|_| Batch::new(schema, BLOCK_ROWS))
    }

    fn block(&mut self, p: usize, b: Batch, control: &Control) -> Result<()> {
        self.push(SourceMsg::PartitionBlock(b, p as u32), control)
    }

    fn idle(&mut self, p: usize, control: &Control) -> Result<()> {
        let block = self.block as u64;
        self.push(SourceMsg::PartitionIdle(p as u32), control)?;
        if let Some(b) = &self.barrier {
            b.kafka_dealt(block, None);
        }
        Ok(())
    }

    fn fill_to_cut(&mut self, control: &Control) -> Result<()> {
        let Some(b) = self.barrier.clone() else {
            return Ok(());
        };
        while let Some(cut) = b.pending_cut()
            && cut > self.block as u64
        {
            let block = self.block as u64;
            self.push(
                SourceMsg::PartitionIdle(crate::runtime::core::FILLER),
                control,
            )?;
            b.kafka_dealt(block, None);
        }
        Ok(())
    }

    fn end(&mut self, control: &Control) -> Result<()> {
        for (c, ring) in self.rings.iter_mut().enumerate() {
            crate::runtime::push_source(ring, SourceMsg::End, &mut self.backoff, control, &|| {
                false
            })?;
            control.wake(c);
        }
        Ok(())
    }
}

/// Reads up to `SAMPLE_MESSAGES` values from the start offsets with a consumer of its
/// own (the reading consumer starts over), appending them as lines to `out`. JSON lines
/// that are not objects are left out (the first sampled line names the columns). Stops
/// early at the bounded end or when nothing arrives for a while.
#[allow(clippy::too_many_arguments)]
fn sample_messages(
    url: &KafkaUrl,
    parts: &[i32],
    next: &[i64],
    end: &[i64],
    skip_before: &[i64],
    format: LineFormat,
    bounded: bool,
    out: &mut Vec<u8>,
) -> Result<usize> {
    let consumer: rdkafka::consumer::BaseConsumer = reading_config(url, None, bounded)
        .create()
        .map_err(|e| error("--input", url, "invalid consumer configuration", e))?;
    let mut tpl = TopicPartitionList::new();
    let mut done = vec![false; next.len()];
    let mut at = next.to_vec();
    let mut skip_before = skip_before.to_vec();
    let local = |kp: i32| parts.iter().position(|&p| p == kp).unwrap_or(usize::MAX);
    for (&p, &o) in parts.iter().zip(next) {
        tpl.add_partition_offset(&url.topic, p, Offset::Offset(o))
            .map_err(|e| error("--input", url, "bad start offset", e))?;
    }
    consumer
        .assign(&tpl)
        .map_err(|e| error("--input", url, "cannot assign the partitions", e))?;
    // A continuous run over a quiet topic starts after a short wait; a bounded one waits
    // for the messages it knows are there.
    let quiet = if bounded {
        STALL_TIMEOUT
    } else {
        Duration::from_secs(2)
    };
    let mut last = Instant::now();
    let mut n = 0;
    let mut line = Vec::new();
    while n < SAMPLE_MESSAGES && !done.iter().all(|&d| d) {
        match consumer.poll(Duration::from_millis(100)) {
            None => {
                if last.elapsed() > quiet {
                    if bounded {
                        return Err(stalled(url, &done, None));
                    }
                    break;
                }
            }
            Some(Err(KafkaError::PartitionEOF(p))) => {
                let p = local(p);
                if p < done.len() && at[p] >= end[p] {
                    done[p] = true;
                }
            }
            Some(Err(_)) => {}
            Some(Ok(m)) => {
                last = Instant::now();
                let p = local(m.partition());
                if p >= at.len() {
                    continue;
                }
                at[p] = m.offset() + 1;
                if skip_before[p] != i64::MIN {
                    if m.timestamp().to_millis().unwrap_or(i64::MIN) < skip_before[p] {
                        continue;
                    }
                    skip_before[p] = i64::MIN;
                }
                let Some(v) = m.payload() else { continue };
                line.clear();
                format.append_line(&mut line, &m, v);
                if format.json
                    && serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&line)
                        .is_err()
                {
                    continue;
                }
                out.extend_from_slice(&line);
                n += 1;
            }
        }
    }
    Ok(n)
}

/// The error of a bounded read that stopped getting messages.
fn stalled(url: &KafkaUrl, done: &[bool], last: Option<&KafkaError>) -> Error {
    let open: Vec<String> = done
        .iter()
        .enumerate()
        .filter(|(_, d)| !**d)
        .map(|(p, _)| p.to_string())
        .collect();
    Error::Kafka(format!(
        "--input {}: no message from the broker for {} s while partitions {} are not read to \
         their end offsets{}",
        url.display(),
        STALL_TIMEOUT.as_secs(),
        open.join(", "),
        last.map_or(String::new(), |e| format!(" (last error: {e})"))
    ))
}

/// A reading consumer's configuration: no automatic commits, end-of-partition events on; a
/// group member uses the range assignor (eager rebalancing: `kafka_group`). A bounded run
/// knows a partition is finished only from the end-of-partition event, which comes with the
/// first fetch that finds nothing new, and a broker holds such a fetch for
/// `fetch.wait.max.ms` (librdkafka's default 500 ms; Tansu 0.6 holds it that long): bounded,
/// 10 ms, so a run ends about 10 ms after its last message instead of half a second (measured:
/// 1M messages, GROUP BY, 2 cores, 1.33–1.37 s -> 0.78–0.86 s, BENCHMARKS.md §11). Fetches
/// that find messages return at once either way. A continuous run keeps the default (fewer
/// empty fetches on a quiet topic). The URL's properties override all of these.
fn reading_config(url: &KafkaUrl, group: Option<&str>, bounded: bool) -> rdkafka::ClientConfig {
    let mut defaults = vec![
        ("enable.auto.commit", "false"),
        ("enable.partition.eof", "true"),
        ("auto.offset.reset", "earliest"),
        ("partition.assignment.strategy", "range"),
        // A member that is gone is noticed within 10 s (librdkafka's default is 45 s); Tansu
        // 0.6 also holds a new group's first join for half the session timeout.
        ("session.timeout.ms", "10000"),
        ("heartbeat.interval.ms", "2000"),
        // A member stops polling its input once it has read it (its offsets wait for the
        // output, and with a repartition topic for the other members): it must stay in the
        // group meanwhile, not leave after librdkafka's default 5 min without a poll. A
        // member that dies is still noticed by the session timeout.
        ("max.poll.interval.ms", "86400000"),
    ];
    if bounded {
        defaults.push(("fetch.wait.max.ms", "10"));
    }
    let mut cfg = url.config(&defaults);
    // librdkafka wants a group id even for assigned partitions; without --group one that
    // never commits (and never subscribes).
    cfg.set("group.id", group.unwrap_or("shardsql-reader"));
    cfg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_positions_parse() {
        assert_eq!(Start::parse("earliest"), Ok(Start::Earliest));
        assert_eq!(Start::parse("LATEST"), Ok(Start::Latest));
        assert_eq!(Start::parse("committed"), Ok(Start::Committed));
        assert_eq!(
            Start::parse("1700000000000"),
            Ok(Start::Timestamp(1_700_000_000_000))
        );
        assert!(matches!(
            Start::parse("2024-03-01T12:00:00Z"),
            Ok(Start::Timestamp(1_709_294_400_000))
        ));
        assert!(Start::parse("yesterday").unwrap_err().contains("earliest"));
    }
}
