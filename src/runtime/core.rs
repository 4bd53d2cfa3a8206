//! The loop every core runs. A core is a **reader** (it reads the input blocks dealt to it —
//! block `b` goes to core `b mod N` — filters them, and routes each row to its owner shard's
//! ring) and, for keyed plans, a **shard** (it consumes its N inbound rings *in block order*,
//! so the rows of any key arrive in input order whichever core read them, and runs the
//! operator). Stateless plans skip the rings: a core processes what it reads.
//!
//! Messages are whole batches; each block produces exactly one message per shard (possibly
//! empty), which also carries the block's maximum event time, so watermarks and end of input
//! travel in the same rings as the data. Emptied batches go back to their reader on a return
//! ring and are reused. A full ring leaves the message pending (backpressure): the core keeps
//! consuming its own inbound rings meanwhile, which is what guarantees progress.
//!
//! Lateness (SPEC §3) is decided exactly in two halves: the reader knows the maximum event time
//! earlier in the same block, the shard knows the maximum over all earlier blocks.
//!
//! Threading: a `Core` is built on the spawning thread and then owned by its executor thread.

use super::backoff::{Backoff, Idle};
pub use super::control::{Aborted, Control};
use super::router::Partitioner;
use super::state::State;
use crate::data::{Batch, Column, Schema};
use crate::metrics::latency::Latency;
use crate::sink::ShardOutput;
use crate::source::BLOCK_ROWS;
use crate::source::generator::Generator;
use crate::sql::Plan;
use rtrb::{Consumer, Producer};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

mod crossing;
mod route;

/// What crosses a ring from a reader to a shard.
pub enum Msg {
    /// The rows of block `block` owned by the receiving shard, and the block's max event time.
    Block {
        block: u64,
        /// The source partition the block belongs to (block `b` of a `P`-partition input is
        /// partition `b mod P`).
        partition: u32,
        rows: Batch,
        max_time: i64,
        /// The block's smallest non-NULL event time (`i64::MAX` if none, or when no record can
        /// be late): how far it lags the partition's earlier maximum is disorder seen.
        min_time: i64,
        /// When the reader took the block from the input (latency starts here).
        ingested: Instant,
    },
    /// Source partition `partition` is idle (a Kafka partition with nothing new for
    /// `--idle-timeout`): until its next block it does not hold back the closing watermark.
    /// It takes block number `block`, so every shard sees it at the same point of the input.
    Idle { block: u64, partition: u32 },
    /// The reader has no more blocks.
    End,
}

/// The partition of an idle marker that only takes a block number: a quiet source deals
/// these up to a checkpoint's (or commit barrier's) cut, so that every core can cross it.
pub const FILLER: u32 = u32::MAX;

/// What the stream parser deals to a core.
pub enum SourceMsg {
    Block(Batch),
    /// A block of one source partition (a Kafka partition), whatever its block number: the
    /// shards keep that partition's watermark and lateness.
    PartitionBlock(Batch, u32),
    /// The source partition is idle (`Msg::Idle`); `FILLER`: no partition, a block number
    /// only (a quiet input's blocks up to a barrier's cut).
    PartitionIdle(u32),
    /// A block of one source partition whose lateness was judged upstream, with the
    /// partition's maximum event time after it (a repartition topic's: `kafka::repartition`).
    /// Its rows are never late here; hopping and session windows' cutoffs are its last column.
    Judged(Batch, u32, i64),
    /// Raw records for the core to parse itself (parallel parsing of a file).
    Chunk(crate::source::chunker::Chunk),
    /// One Kafka partition's framed messages for the core to parse into that partition's
    /// block (`source::kafka_chunk`).
    KafkaChunk(crate::source::kafka_chunk::KafkaChunk),
    End,
}

/// A deliberate fault for tests that prove the differential checks can fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Fault {
    /// Shard 1 (or 0) loses the first row of block 0.
    DropRecord,
    /// Shard 1 (or 0) receives the first row of block 0 twice.
    DuplicateRecord,
    /// Core 1 (or 0) panics on reading its fifth block: the run must stop every other core
    /// and exit with the message, never hang.
    PanicShard,
}

/// Where a core's blocks come from.
pub enum CoreReader {
    Generator {
        generator: Arc<Generator>,
        next: u64,
        stride: u64,
        spare: Option<Batch>,
    },
    Preloaded {
        blocks: Arc<Vec<Batch>>,
        next: usize,
        stride: usize,
    },
    Stream {
        ring: Consumer<SourceMsg>,
        back: Producer<Batch>,
        /// Parallel parsing: this core's parser for the chunks dealt to it, and its batch.
        parser: Option<Box<crate::source::text::TextReader>>,
        spare: Option<Batch>,
    },
    /// A regular file whose byte ranges this core reads and parses itself (`source::ranges`).
    Ranges {
        reader: Box<crate::source::ranges::RangeReader>,
        spare: Option<Batch>,
    },
}

enum Read {
    /// A block, and its source partition when the source says (else block `b` belongs to
    /// partition `b mod P`), and for a judged block (`SourceMsg::Judged`) its partition's
    /// maximum event time.
    Block(BlockRef, Option<u32>, Option<i64>),
    /// A source partition went idle (`Msg::Idle`).
    Idle(u32),
    NotReady,
    Exhausted,
    /// The input is bad and `--on-error fail` says stop.
    Failed(crate::error::Error),
}

/// An empty batch for a core's parser to parse a chunk into: the spare one, or a new one.
fn block_batch(spare: &mut Option<Batch>, parser: &crate::source::text::TextReader) -> Batch {
    let mut b = spare
        .take()
        .unwrap_or_else(|| Batch::new(parser.schema(), BLOCK_ROWS));
    b.clear();
    b
}

enum BlockRef {
    Owned(Batch),
    Shared(Arc<Vec<Batch>>, usize),
}

impl BlockRef {
    fn batch(&self) -> &Batch {
        match self {
            BlockRef::Owned(b) => b,
            BlockRef::Shared(v, i) => &v[*i],
        }
    }
}

impl CoreReader {
    fn next(&mut self) -> Read {
        match self {
            CoreReader::Generator {
                generator,
                next,
                stride,
                spare,
            } => {
                let start = *next * BLOCK_ROWS as u64;
                if start >= generator.config().records {
                    return Read::Exhausted;
                }
                let mut b = spare
                    .take()
                    .unwrap_or_else(|| Batch::new(&Schema::market_data(), BLOCK_ROWS));
                b.clear();
                generator.fill(start, BLOCK_ROWS, &mut b);
                *next += *stride;
                Read::Block(BlockRef::Owned(b), None, None)
            }
            CoreReader::Preloaded {
                blocks,
                next,
                stride,
            } => {
                if *next >= blocks.len() {
                    return Read::Exhausted;
                }
                let i = *next;
                *next += *stride;
                Read::Block(BlockRef::Shared(blocks.clone(), i), None, None)
            }
            CoreReader::Stream {
                ring,
                parser,
                spare,
                ..
            } => match ring.pop() {
                Ok(SourceMsg::Block(b)) => Read::Block(BlockRef::Owned(b), None, None),
                Ok(SourceMsg::PartitionBlock(b, p)) => {
                    Read::Block(BlockRef::Owned(b), Some(p), None)
                }
                Ok(SourceMsg::Judged(b, p, max_time)) => {
                    Read::Block(BlockRef::Owned(b), Some(p), Some(max_time))
                }
                Ok(SourceMsg::PartitionIdle(p)) => Read::Idle(p),
                Ok(SourceMsg::Chunk(chunk)) => {
                    let parser = parser.as_mut().expect("chunks are dealt with a parser");
                    parser.load_chunk(chunk.bytes, chunk.first_line);
                    let mut b = block_batch(spare, parser);
                    match parser.read_block(&mut b, usize::MAX) {
                        Ok(_) => Read::Block(BlockRef::Owned(b), None, None),
                        Err(e) => Read::Failed(e),
                    }
                }
                Ok(SourceMsg::KafkaChunk(chunk)) => {
                    let parser = parser.as_mut().expect("chunks are dealt with a parser");
                    let mut b = block_batch(spare, parser);
                    let p = chunk.partition;
                    match chunk.parse(parser, &mut b) {
                        Ok(()) => Read::Block(BlockRef::Owned(b), Some(p), None),
                        Err(e) => Read::Failed(e),
                    }
                }
                Ok(SourceMsg::End) => Read::Exhausted,
                Err(_) => Read::NotReady,
            },
            CoreReader::Ranges { reader, spare } => {
                use crate::source::ranges::Step;
                let mut b = spare
                    .take()
                    .unwrap_or_else(|| Batch::new(reader.schema(), BLOCK_ROWS));
                b.clear();
                match reader.next_block(&mut b) {
                    Ok(Step::Block) => Read::Block(BlockRef::Owned(b), None, None),
                    Ok(Step::Exhausted) => {
                        *spare = Some(b);
                        Read::Exhausted
                    }
                    Err(e) => Read::Failed(e),
                }
            }
        }
    }

    fn recycle(&mut self, block: BlockRef) {
        if let BlockRef::Owned(b) = block {
            match self {
                CoreReader::Generator { spare, .. } => *spare = Some(b),
                CoreReader::Stream {
                    parser: Some(_),
                    spare,
                    ..
                } => *spare = Some(b),
                CoreReader::Stream { back, .. } => {
                    let _ = back.push(b);
                }
                CoreReader::Ranges { spare, .. } => *spare = Some(b),
                CoreReader::Preloaded { .. } => {}
            }
        }
    }
}

/// Per-core counters, summed into the run's stats.
#[derive(Clone, Debug, Default)]
pub struct CoreStats {
    /// When this core emitted its last result (executor teardown is not measured).
    pub finished_at: Option<std::time::Instant>,
    pub id: usize,
    /// Records this core read from the input.
    pub read: u64,
    /// Records removed by WHERE.
    pub filtered: u64,
    /// Late records dropped (by this core as reader or as shard).
    pub late_dropped: u64,
    /// The most a record's event time lagged behind the maximum event time before it in its
    /// partition (ms; this core's blocks as reader, every block as shard): the allowed lateness
    /// that would have kept every record. Tracked per block, only where records can be late.
    pub max_lag_ms: i64,
    /// Records this core's operator processed (its shard's load).
    pub processed: u64,
    pub rows_out: u64,
    /// Parallel parsing: the malformed records this core's parser skipped, first few by line.
    pub malformed: u64,
    pub malformed_examples: Vec<crate::source::text::Malformed>,
    /// Per batch: ingestion to results leaving the shard.
    pub latency: Latency,
    /// EMIT FINAL: the watermark passing a window's end to its emission.
    pub window_latency: Latency,
}

/// The consuming half of a core.
pub struct ShardSide {
    pub inputs: Vec<Consumer<Msg>>,
    pub backs: Vec<Producer<Batch>>,
    pub state: State,
    pub output: ShardOutput,
    pub next_block: u64,
    /// The maximum event time seen so far in each source partition (`i64::MIN`: none yet).
    pub part_max: Vec<i64>,
    /// Source partitions declared idle (`Msg::Idle`) since their last block: they do not hold
    /// back the closing watermark.
    pub part_idle: Vec<bool>,
    pub finished: bool,
}

impl ShardSide {
    /// The watermark windows close on: the minimum over partitions that are not idle, once
    /// every one of them has been seen; when every partition is idle, the furthest any has
    /// reached (nothing holds it back: as Flink's watermark valve, so the result does not
    /// depend on the order in which the partitions went idle).
    fn closing_watermark(&self, lateness: i64) -> Option<i64> {
        let active = self
            .part_max
            .iter()
            .zip(&self.part_idle)
            .filter(|(_, idle)| !**idle)
            .map(|(m, _)| *m)
            .min();
        let min = match active {
            Some(m) => m,
            None => self.part_max.iter().copied().max()?,
        };
        (min != i64::MIN).then(|| min.saturating_sub(lateness))
    }

    /// `closing_watermark` once partition `p` has seen `max_time` too.
    fn closing_watermark_after(&self, p: usize, max_time: i64, lateness: i64) -> Option<i64> {
        let min = (0..self.part_max.len())
            .filter(|&i| i == p || !self.part_idle[i])
            .map(|i| {
                if i == p {
                    self.part_max[i].max(max_time)
                } else {
                    self.part_max[i]
                }
            })
            .min()?;
        (min != i64::MIN).then(|| min.saturating_sub(lateness))
    }
}

pub struct Core {
    pub id: usize,
    pub n_cores: usize,
    pub plan: Arc<Plan>,
    pub dict: Arc<crate::data::Dict>,
    pub lateness_ms: i64,
    /// Source partitions of the input (watermarks are kept per partition).
    pub partitions: u32,
    pub reader: CoreReader,
    /// Outbound rings and their return rings, one per consuming shard (none for `Local`).
    pub outbound: Vec<Producer<Msg>>,
    pub returns: Vec<Consumer<Batch>>,
    /// The local operator for `Local` plans, or the shard side for keyed plans.
    pub local: Option<(State, ShardOutput)>,
    pub shard: Option<ShardSide>,
    pub control: Arc<Control>,
    pub fault: Option<Fault>,
    /// `--rate`: records per second over the whole run, shared by the readers.
    pub rate: Option<f64>,
    /// The input's reader thread wakes this core when it deals to it (Kafka): idle, it parks
    /// soon instead of yielding (`Backoff::woken`). Nothing wakes a core waiting for room in
    /// a full outbound ring: it sleeps its timer (40 µs growing to 640 µs), as any core did
    /// after its yields.
    pub woken_by_reader: bool,
    /// A regular file's chunks or blocks dealt by its reader thread: on a graceful stop the
    /// cores agree a cut as generator readers do, rather than reading everything already dealt
    /// (which, paced by `--rate`, may be most of the file). A live input's are all read: what
    /// was written before the stop counts.
    pub stream_stops_at_cut: bool,
    /// EMIT FINAL aggregates: the reader's pre-aggregation, which sends partial states
    /// instead of records (None: records are routed).
    pub combiner: Option<crate::ops::aggregate::Aggregate>,
    /// Column types of the batches this core sends (the input's, or the partial layout).
    pub route_types: Vec<crate::data::DataType>,
    /// Input columns sent to shards when records are routed (those the operator reads).
    pub route_columns: Vec<usize>,
    /// The plan over the routed layout, which the shard side runs (`Plan::for_shards`).
    pub shard_plan: Arc<Plan>,
    /// Scratch in the routed layout, for the rows a shard keeps when some are late.
    pub shard_scratch: Batch,
    pending: Vec<Option<Msg>>,
    exhausted: bool,
    /// This reader has published its next block number for a graceful stop (see `Control`).
    published: bool,
    /// The input block number of the next block this core reads.
    block_no: u64,
    sel: Vec<u32>,
    /// Routes a block's rows to their owner shards (made once the shard count is known).
    partitioner: Option<Partitioner>,
    scratch: Batch,
    /// `--late-output`: where this core writes the late records it drops as reader, and as
    /// shard (two outputs: a checkpoint's cut holds each role's from its own crossing).
    pub late: Option<ShardOutput>,
    pub shard_late: Option<ShardOutput>,
    /// Checkpoints (`checkpoint::barrier`), and the epochs this core has published for and
    /// crossed as reader and as shard; the epoch its outputs are held since (0: none).
    pub barrier: Option<Arc<crate::checkpoint::barrier::Barrier>>,
    published_epoch: u64,
    reader_crossed: u64,
    shard_crossed: u64,
    held: u64,
    /// Late records this core dropped as reader (the rest of `stats.late_dropped`, as shard).
    reader_late: u64,
    /// The input block a resumed run starts at (`--rate` paces from it).
    pub first_block: u64,
    /// Hopping and session windows: each row's cutoff, the watermark from the rows before it
    /// in its block (`Plan::CUTOFF`), and the same for the selected rows.
    cutoffs: Column,
    selected_cutoffs: Vec<i64>,
    stats: CoreStats,
}

impl Core {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: usize,
        n_cores: usize,
        plan: Arc<Plan>,
        dict: Arc<crate::data::Dict>,
        lateness_ms: i64,
        reader: CoreReader,
        control: Arc<Control>,
        fault: Option<Fault>,
    ) -> Core {
        let scratch = Batch::new(&plan.input, 0);
        let route_types = plan.input.fields.iter().map(|f| f.ty).collect();
        let route_columns = (0..plan.input.len()).collect();
        let shard_plan = plan.clone();
        Core {
            id,
            n_cores,
            plan,
            dict,
            lateness_ms,
            partitions: 1,
            reader,
            outbound: Vec::new(),
            returns: Vec::new(),
            local: None,
            shard: None,
            control,
            fault,
            rate: None,
            woken_by_reader: false,
            stream_stops_at_cut: false,
            combiner: None,
            route_types,
            route_columns,
            shard_scratch: scratch.clone(),
            shard_plan,
            pending: Vec::new(),
            exhausted: false,
            published: false,
            block_no: id as u64,
            sel: Vec::new(),
            partitioner: None,
            scratch,
            late: None,
            shard_late: None,
            barrier: None,
            published_epoch: 0,
            reader_crossed: 0,
            shard_crossed: 0,
            held: 0,
            reader_late: 0,
            first_block: 0,
            cutoffs: Column::Int(Vec::new()),
            selected_cutoffs: Vec::new(),
            stats: CoreStats {
                id,
                ..CoreStats::default()
            },
        }
    }

    /// A resumed run: this core's first block is `block`, the run's is `first`.
    pub fn start_at(&mut self, block: u64, first: u64) {
        self.block_no = block;
        self.first_block = first;
    }

    /// Runs until this core has read all its blocks and, as a shard, seen end of input.
    /// `wait` implements the idle strategy for the runtime in use.
    pub async fn run<F, Fut>(mut self, mut wait: F) -> Result<CoreStats, Aborted>
    where
        F: FnMut(Idle) -> Fut,
        Fut: Future<Output = ()>,
    {
        self.pending = (0..self.outbound.len()).map(|_| None).collect();
        let _ = self.control.threads[self.id].set(std::thread::current());
        let mut backoff = if self.woken_by_reader {
            Backoff::woken()
        } else {
            Backoff::default()
        };
        self.control.ready.fetch_add(1, Ordering::AcqRel);
        while !self.control.go.load(Ordering::Acquire) {
            if self.control.aborted() {
                return Err(Aborted);
            }
            wait(backoff.next_idle()).await;
        }
        backoff.reset();
        // Output is flushed once per idle spell: rows of a slow stream leave at once, while a
        // busy run keeps its large writes.
        let mut flushed = false;
        loop {
            if self.held != 0 {
                self.release_held(false);
            }
            let mut progress = self.reader_step();
            if self.shard.is_some() {
                progress |= self.shard_step();
            }
            let reader_done = self.exhausted && self.pending.iter().all(Option::is_none);
            let shard_done = self.shard.as_ref().is_none_or(|s| s.finished);
            if reader_done && shard_done {
                break;
            }
            // Checked every turn, not only when idle: a busy core (a generator, a stateless
            // plan) must still stop when another fails.
            if self.control.aborted() {
                return Err(Aborted);
            }
            if progress {
                backoff.reset();
                flushed = false;
            } else {
                let idle = backoff.next_idle();
                if !flushed && matches!(idle, Idle::Sleep(_)) {
                    self.flush_idle();
                    flushed = true;
                }
                match idle {
                    Idle::Sleep(d) if self.shard.is_some() || self.woken_by_reader => self.park(d),
                    idle => wait(idle).await,
                }
            }
        }
        if self.held != 0 && !self.release_held(true) {
            return Err(Aborted);
        }
        if let Some((state, output)) = self.local.as_mut() {
            state.finish(self.id, output);
            output.finish();
            self.stats.rows_out = output.rows;
        }
        if let Some(s) = &self.shard {
            self.stats.rows_out = s.output.rows;
        }
        for late in [self.late.as_mut(), self.shard_late.as_mut()]
            .into_iter()
            .flatten()
        {
            late.finish();
        }
        let parser = match &self.reader {
            CoreReader::Stream {
                parser: Some(p), ..
            } => Some(&**p),
            CoreReader::Ranges { reader, .. } => Some(reader.parser()),
            _ => None,
        };
        if let Some(p) = parser {
            self.stats.malformed = p.malformed;
            self.stats.malformed_examples = p.examples.clone();
        }
        self.stats.finished_at = Some(std::time::Instant::now());
        Ok(self.stats)
    }

    /// Writes and flushes every output this core holds.
    fn flush_idle(&mut self) {
        if let Some(s) = self.shard.as_mut() {
            s.output.flush_idle();
        }
        if let Some((_, out)) = self.local.as_mut() {
            out.flush_idle();
        }
        for late in [self.late.as_mut(), self.shard_late.as_mut()]
            .into_iter()
            .flatten()
        {
            late.flush_idle();
        }
    }

    /// Parks this core for at most `d` unless its next input block has already arrived; a
    /// reader pushing to it unparks it (`Control::wake`).
    fn park(&mut self, d: Duration) {
        let flag = &self.control.parked[self.id];
        flag.store(true, Ordering::Relaxed);
        std::sync::atomic::fence(Ordering::SeqCst);
        let ready = self.shard.as_ref().is_some_and(|s| {
            let r = (s.next_block % self.n_cores as u64) as usize;
            !s.inputs[r].is_empty()
        }) || matches!(&self.reader, CoreReader::Stream { ring, .. } if !ring.is_empty());
        if !ready {
            std::thread::park_timeout(d);
        }
        flag.store(false, Ordering::Relaxed);
    }

    fn push_pending(&mut self) -> bool {
        let mut progress = false;
        for (s, (slot, ring)) in self
            .pending
            .iter_mut()
            .zip(self.outbound.iter_mut())
            .enumerate()
        {
            if let Some(msg) = slot.take() {
                match ring.push(msg) {
                    Ok(()) => {
                        progress = true;
                        self.control.wake(s);
                    }
                    Err(rtrb::PushError::Full(msg)) => *slot = Some(msg),
                }
            }
        }
        progress
    }

    /// Publishes this reader's next block number towards the graceful-stop cut (once).
    fn publish(&mut self) {
        if !self.published {
            self.published = true;
            self.control.cut.fetch_max(self.block_no, Ordering::AcqRel);
            self.control.published.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// Ends this reader's input: end-of-input markers to every shard.
    fn end_input(&mut self) -> bool {
        self.exhausted = true;
        // No checkpoint can complete past the end of a reader's input (or a graceful stop's
        // cut): the one in flight is abandoned, and the held outputs are released.
        if let Some(b) = &self.barrier {
            b.ending.store(true, Ordering::Release);
        }
        self.pending.iter_mut().for_each(|p| *p = Some(Msg::End));
        self.push_pending()
    }

    fn reader_step(&mut self) -> bool {
        let mut progress = self.push_pending();
        // A stream's parser thread stops reading itself (its cores read what it dealt them).
        let stream = matches!(self.reader, CoreReader::Stream { .. }) && !self.stream_stops_at_cut;
        if !stream && !self.published && self.control.stop_reading() {
            self.publish();
        }
        if let Some(b) = self.barrier.clone()
            && let Some(e) = b.pending(self.reader_crossed)
            && !self.reader_checkpoint(&b, e)
        {
            return progress; // waiting for the other readers to agree on the cut
        }
        if self.pending.iter().any(Option::is_some) || self.exhausted {
            return progress;
        }
        if self.published {
            if self.control.published.load(Ordering::Acquire) < self.n_cores {
                return progress; // wait until every reader has published
            }
            if self.block_no >= self.control.cut.load(Ordering::Acquire) {
                return self.end_input() || progress;
            }
        }
        if let (Some(rate), Some(start)) = (self.rate, self.control.start.get()) {
            let due = *start
                + Duration::from_secs_f64(
                    (self.block_no - self.first_block) as f64 * BLOCK_ROWS as f64 / rate,
                );
            if Instant::now() < due {
                return progress;
            }
        }
        match self.reader.next() {
            Read::NotReady => {}
            Read::Failed(e) => {
                self.control.fail(e);
            }
            Read::Exhausted => {
                // Readers that have run out take part in a later graceful stop's cut too.
                if !stream {
                    self.publish();
                }
                progress |= self.end_input();
            }
            Read::Block(block, partition, judged) => {
                self.route_block(block.batch(), partition, judged);
                self.reader.recycle(block);
                progress = true;
                self.push_pending();
            }
            Read::Idle(partition) => {
                // A block number of its own, to every shard (none for a stateless plan).
                let block = self.block_no;
                self.block_no += self.n_cores as u64;
                for p in &mut self.pending {
                    *p = Some(Msg::Idle { block, partition });
                }
                progress = true;
                self.push_pending();
            }
        }
        progress
    }

    fn inject_fault(&mut self) {
        let Some(fault) = self.fault.filter(|&f| f != Fault::PanicShard) else {
            return;
        };
        if self.pending.is_empty() {
            return; // a stateless plan routes nothing
        }
        let victim = 1.min(self.pending.len() - 1);
        if let Some(Msg::Block { rows, .. }) = &mut self.pending[victim]
            && !rows.is_empty()
        {
            let copy = rows.clone();
            let n = rows.len();
            rows.clear();
            match fault {
                Fault::DropRecord => rows.extend_from(&copy, 1..n),
                Fault::DuplicateRecord => {
                    rows.extend_from(&copy, 0..1);
                    rows.extend_from(&copy, 0..n);
                }
                Fault::PanicShard => unreachable!("filtered above"),
            }
        }
    }

    /// Consumes inbound messages in block order: block `b` comes from reader `b mod N`.
    fn shard_step(&mut self) -> bool {
        let id = self.id;
        let n_cores = self.n_cores as u64;
        let plan = self.shard_plan.clone();
        let lateness = self.lateness_ms;
        let partial = self.combiner.is_some();
        let cutoff_column = plan.cutoff_column();
        let mut progress = false;
        for _ in 0..16 {
            if self.barrier.is_some() {
                self.shard_checkpoint();
            }
            let Some(shard) = self.shard.as_mut() else {
                return false;
            };
            if shard.finished {
                break;
            }
            let r = (shard.next_block % n_cores) as usize;
            let msg = match shard.inputs[r].pop() {
                Ok(m) => m,
                Err(_) => break,
            };
            progress = true;
            match msg {
                Msg::End => {
                    shard.state.finish(id, &mut shard.output);
                    shard.output.finish();
                    shard.finished = true;
                    break;
                }
                Msg::Idle { block, partition } => {
                    debug_assert_eq!(block, shard.next_block, "blocks must arrive in order");
                    if partition == FILLER {
                        shard.next_block += 1;
                        continue;
                    }
                    shard.part_idle[partition as usize] = true;
                    if plan.time_column.is_some()
                        && let Some(wm) = shard.closing_watermark(lateness)
                    {
                        shard.state.watermark(wm, id, &mut shard.output);
                    }
                    shard.next_block += 1;
                }
                Msg::Block {
                    block,
                    partition,
                    mut rows,
                    max_time,
                    min_time,
                    ingested,
                } => {
                    debug_assert_eq!(block, shard.next_block, "blocks must arrive in order");
                    // A block of an idle partition makes it active again.
                    shard.part_idle[partition as usize] = false;
                    let mut n = rows.len();
                    // Lateness is judged against the block's own partition.
                    let part_max = shard.part_max[partition as usize];
                    if part_max != i64::MIN && min_time != i64::MAX {
                        self.stats.max_lag_ms =
                            self.stats.max_lag_ms.max(part_max.saturating_sub(min_time));
                    }
                    let watermark = part_max.saturating_sub(lateness);
                    if let Some(c) = cutoff_column
                        && part_max != i64::MIN
                        && let Column::Int(cutoffs) = &mut rows.columns[c]
                    {
                        cutoffs.iter_mut().for_each(|x| *x = (*x).max(watermark));
                    }
                    let late_rows = match (plan.lateness_window(), plan.time_column) {
                        _ if partial => 0,
                        (Some(w), Some(t)) if part_max != i64::MIN => {
                            let times = rows.columns[t].as_int();
                            let open = w.first_open_time(watermark);
                            let late = times.iter().filter(|&&x| x < open).count();
                            if late > 0 {
                                self.sel.clear();
                                self.sel
                                    .extend((0..n as u32).filter(|&i| times[i as usize] >= open));
                                self.shard_scratch.clear();
                                self.shard_scratch.gather_from(&rows, &self.sel);
                                if let Some(out) = self.shard_late.as_mut() {
                                    // The routed layout is the whole input (+ a cutoff column).
                                    let late_rows: Vec<u32> = (0..n as u32)
                                        .filter(|&i| times[i as usize] < open)
                                        .collect();
                                    for (dst, src) in
                                        out.batch.columns.iter_mut().zip(&rows.columns)
                                    {
                                        dst.gather_from(src, &late_rows);
                                    }
                                    out.flush_if_full();
                                }
                            }
                            late
                        }
                        _ => 0,
                    };
                    self.stats.late_dropped += late_rows as u64;
                    let input = if late_rows > 0 {
                        &self.shard_scratch
                    } else {
                        &rows
                    };
                    n -= late_rows;
                    if partial {
                        let wm = (part_max != i64::MIN).then_some(watermark);
                        let (merged, late) = shard.state.merge_partials(&rows, id, wm);
                        self.stats.processed += merged;
                        self.stats.late_dropped += late;
                    } else {
                        self.stats.processed += n as u64;
                        if plan.time_column.is_some()
                            && let Some(wm) = shard.closing_watermark_after(
                                partition as usize,
                                max_time,
                                lateness,
                            )
                        {
                            shard.state.expect_watermark(wm, id);
                        }
                        shard.state.process(input, 0..n, id, &mut shard.output);
                    }
                    self.stats.latency.record_since(ingested);
                    let part = &mut shard.part_max[partition as usize];
                    *part = (*part).max(max_time);
                    if plan.time_column.is_some()
                        && let Some(wm) = shard.closing_watermark(lateness)
                        && shard.state.watermark(wm, id, &mut shard.output) > 0
                    {
                        self.stats.window_latency.record_since(ingested);
                    }
                    shard.next_block += 1;
                    let _ = shard.backs[r].push(rows);
                }
            }
        }
        progress
    }
}

/// The idle strategy on a plain thread.
pub fn idle_blocking(idle: Idle) {
    match idle {
        Idle::Spin => std::hint::spin_loop(),
        Idle::Yield => std::thread::yield_now(),
        Idle::Sleep(d) => std::thread::sleep(d),
    }
}

/// `idle_blocking` in the shape the core loop awaits. Both runtimes use it: a glommio
/// executor here runs exactly one task (this loop), so blocking its thread for a few
/// microseconds starves nothing, while glommio's own timer (`glommio::timer::sleep`) was
/// measured to oversleep by about a millisecond per wake-up, which halved throughput on short
/// runs (1M records, `queries/01_passthrough.sql`, 2 shards, single runs: 42 vs 100–143 M/s).
pub fn blocking_wait(idle: Idle) -> std::future::Ready<()> {
    idle_blocking(idle);
    std::future::ready(())
}
