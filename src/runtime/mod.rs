//! The runtime: places one core loop per shard, wires the N×N mesh of SPSC rings between
//! them, and runs them on pinned glommio executors (v1, v2) or pinned plain threads (the mutex
//! baseline, and `--runtime threads` where io_uring is unavailable).
//!
//! Modes differ in one thing only: v2 gives each shard its own operator state; v1 is v2 with
//! one shard; mutex gives every worker the same state behind one lock.

pub mod backoff;
pub mod control;
pub mod core;
pub mod restore;
pub mod router;
pub mod signals;
pub mod state;
mod stream;

use self::core::{
    Control, Core, CoreReader, CoreStats, Fault, Msg, ShardSide, SourceMsg, blocking_wait,
};
use self::state::{LockPer, State};
use crate::data::{Batch, Dict};
use crate::error::{Error, Result};
use crate::ops;
use crate::sink::{ShardOutput, Sink};
use crate::source::Input;
use crate::source::text::TextReader;
use crate::sql::{Plan, Routing};
use futures_lite::FutureExt;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Batches a ring holds: enough for readers to run well ahead of a shard (measured: EMIT
/// CHANGES at 2 shards, 20M records: 16 slots 98.7 (median of 5), 64 slots 116.9 and 256 slots
/// 117.4 M records/s (medians of 7).
const RING_SLOTS: usize = 64;

#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// One shard: the single-core baseline.
    V1,
    /// N workers sharing one locked state.
    Mutex,
    /// N shards, each owning its keys' state.
    V2,
}

#[derive(
    Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum RuntimeKind {
    /// glommio LocalExecutors pinned to CPUs (needs io_uring).
    Glommio,
    /// Plain threads pinned with core_affinity.
    Threads,
}

#[derive(Clone, Debug)]
pub struct RunConfig {
    pub mode: Mode,
    pub cores: usize,
    pub lock_per: LockPer,
    pub runtime: RuntimeKind,
    pub lateness_ms: i64,
    /// Source partitions of the input (`--partitions` for the generator; 1 for a file; a Kafka
    /// topic's partition count).
    pub partitions: u32,
    /// `--late-output`: late records go here (input columns) instead of only being counted.
    pub late_output: Option<Arc<Sink>>,
    pub fault: Option<Fault>,
    /// `--rate`: pace the input to this many records per second.
    pub rate: Option<f64>,
    /// `--linger`: a live input's block waits at most this long for more records.
    pub linger: Duration,
    /// Raised (by a signal handler) to stop the run gracefully: stop reading, drain, emit
    /// what was read, end (see `core::Control`).
    pub interrupt: Arc<AtomicBool>,
    /// Records taken by the readers so far (added per block), for a report at any moment.
    pub records_read: Arc<std::sync::atomic::AtomicU64>,
    /// `--checkpoint-dir`: take checkpoints, and the one this run resumes from.
    pub checkpoint: Option<crate::checkpoint::CheckpointConfig>,
    pub restored: Option<Arc<crate::checkpoint::Restored>>,
    /// `--range-bytes` (hidden): the byte ranges a file read by the cores themselves is
    /// scanned in (`source::ranges`; `None`: 1 MiB; 0: no ranges, one cutter thread; any
    /// other value also on one core).
    pub range_bytes: Option<u64>,
}

impl RunConfig {
    /// Shards (and cores) this run uses.
    pub fn shards(&self) -> usize {
        if self.mode == Mode::V1 {
            1
        } else {
            self.cores.max(1)
        }
    }

    /// The runtime actually used: the mutex baseline always runs on plain pinned threads.
    pub fn effective_runtime(&self) -> RuntimeKind {
        if self.mode == Mode::Mutex {
            RuntimeKind::Threads
        } else {
            self.runtime
        }
    }
}

/// What a run did.
#[derive(Debug)]
pub struct RunReport {
    pub cores: Vec<CoreStats>,
    pub elapsed: Duration,
    pub malformed: u64,
    pub malformed_examples: Vec<crate::source::text::Malformed>,
    /// The run stopped early on `RunConfig::interrupt`: the results cover the input read.
    pub interrupted: bool,
    /// `--input kafka://… --group`: commits the positions read, once the caller knows the
    /// results are acknowledged.
    pub kafka_commit: Option<crate::source::kafka::Committer>,
    /// A repartition topic's reader, which waits for the other members before a commit.
    pub repartition_tail: Option<crate::kafka::repartition::Tail>,
    /// A group member's writer stage (`kafka::repartition`): the records it read, filtered
    /// and dropped as late (the run's own readers only saw what it passed on).
    pub upstream: Option<crate::kafka::repartition::Upstream>,
    /// A resumed run: the counters of the input its checkpoint covered.
    pub restored: Option<crate::checkpoint::Counters>,
    /// Checkpoints written by this run, and what restoring the state took (a resumed run).
    pub checkpoints: crate::checkpoint::barrier::CheckpointStats,
    pub restore_time: Duration,
    pub resumed_at_block: Option<u64>,
}

/// What the input reader thread hands back.
pub(crate) enum ReaderEnd {
    /// The stream parser (its malformed counts), or `None` when the cores parsed.
    Text(Option<Box<TextReader>>),
    Kafka(crate::source::kafka::KafkaDone),
    Repartition(crate::kafka::repartition::Tail),
}

/// The rings a reader thread deals source messages on, one per core, with their return rings,
/// and the cores' ends of them, each core with the parser `parser` gives it (cores that parse
/// the chunks dealt them).
#[allow(clippy::type_complexity)]
fn stream_rings(
    n: usize,
    mut parser: impl FnMut() -> Option<Box<TextReader>>,
) -> (
    Vec<rtrb::Producer<SourceMsg>>,
    Vec<rtrb::Consumer<Batch>>,
    Vec<CoreReader>,
) {
    let mut rings = Vec::new();
    let mut backs = Vec::new();
    let mut core_readers = Vec::new();
    for _ in 0..n {
        let (p, c) = rtrb::RingBuffer::new(RING_SLOTS);
        let (bp, bc) = rtrb::RingBuffer::new(RING_SLOTS + 4);
        rings.push(p);
        backs.push(bc);
        core_readers.push(CoreReader::Stream {
            ring: c,
            back: bp,
            parser: parser(),
            spare: None,
        });
    }
    (rings, backs, core_readers)
}

pub fn host_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Runs `plan` over `input` into `sink`.
pub fn run(
    cfg: &RunConfig,
    plan: Arc<Plan>,
    input: Input,
    sink: Arc<Sink>,
    dict: Arc<Dict>,
) -> Result<RunReport> {
    let n = cfg.shards();
    let consumers = match plan.routing {
        Routing::Local => 0,
        Routing::Single => 1,
        Routing::Hash(_) => n,
    };
    let control = Arc::new(Control {
        interrupt: cfg.interrupt.clone(),
        records_read: cfg.records_read.clone(),
        sink: Some(sink.clone()),
        threads: (0..n).map(|_| std::sync::OnceLock::new()).collect(),
        parked: (0..n)
            .map(|_| std::sync::atomic::AtomicBool::new(false))
            .collect(),
        ..Control::default()
    });
    // EMIT FINAL aggregates pre-aggregate on the reading core (v1, v2). The mutex baseline keeps
    // the seed's design — every record updates the shared state — so it routes records.
    // Late records are kept whole for --late-output, so they are routed, not pre-aggregated.
    let pre_aggregate = cfg.mode != Mode::Mutex
        && cfg.late_output.is_none()
        && matches!(&plan.body, crate::sql::Body::Aggregate(a) if a.can_pre_aggregate());

    // The mesh: ring[r][s] carries reader r's rows for shard s; back[s][r] returns buffers.
    let mut to_shard: Vec<Vec<rtrb::Producer<Msg>>> = (0..n).map(|_| Vec::new()).collect();
    let mut from_reader: Vec<Vec<rtrb::Consumer<Msg>>> =
        (0..consumers).map(|_| Vec::new()).collect();
    let mut back_to_reader: Vec<Vec<rtrb::Producer<Batch>>> =
        (0..consumers).map(|_| Vec::new()).collect();
    let mut returned: Vec<Vec<rtrb::Consumer<Batch>>> = (0..n).map(|_| Vec::new()).collect();
    for r in 0..n {
        for s in 0..consumers {
            let (p, c) = rtrb::RingBuffer::new(RING_SLOTS);
            to_shard[r].push(p);
            from_reader[s].push(c);
            let (p, c) = rtrb::RingBuffer::new(RING_SLOTS + 4);
            back_to_reader[s].push(p);
            returned[r].push(c);
        }
    }

    // Routed records carry only the columns the shard's operator reads.
    let (shard_plan, route_columns) = if plan.routing == Routing::Local || pre_aggregate {
        (plan.clone(), (0..plan.input.len()).collect())
    } else {
        let (p, cols) = plan.for_shards(cfg.late_output.is_some());
        (Arc::new(p), cols)
    };
    let shared =
        (cfg.mode == Mode::Mutex).then(|| Arc::new(Mutex::new(ops::build(&shard_plan, &dict))));
    let new_state = || match &shared {
        Some(op) if plan.routing != Routing::Local => State::Shared {
            op: op.clone(),
            per: cfg.lock_per,
        },
        _ => State::Owned(ops::build(&shard_plan, &dict)),
    };

    // Checkpoints: the parts that cross each cut are the readers and the shards.
    let position_kind = match &input {
        Input::Stream(_) => crate::checkpoint::barrier::PositionKind::File,
        Input::Kafka(_) => crate::checkpoint::barrier::PositionKind::Kafka,
        _ => crate::checkpoint::barrier::PositionKind::Block,
    };
    let first_epoch = match (&cfg.restored, &cfg.checkpoint) {
        (Some(r), _) => r.manifest.epoch + 1,
        (None, Some(c)) => c.first_epoch,
        (None, None) => 1,
    };
    if let Some(t) = sink.transactions() {
        t.set_epoch(first_epoch);
    }
    let barrier = cfg.checkpoint.as_ref().map(|_| {
        let shards = if plan.routing == Routing::Local {
            0
        } else {
            consumers
        };
        Arc::new(crate::checkpoint::barrier::Barrier::new(
            n,
            n + shards,
            n,
            first_epoch,
            position_kind,
        ))
    });
    let first_block = cfg
        .restored
        .as_ref()
        .map_or(0, |r| r.manifest.position.block());
    // The shards' states, restored from the checkpoint before any core starts.
    let restoring = Instant::now();
    let mut states: Vec<State> = Vec::new();
    if plan.routing != Routing::Local {
        states = (0..consumers).map(|_| new_state()).collect();
        if let Some(r) = &cfg.restored {
            restore::restore(&r.sections, &mut states, &dict, host_cpus())?;
        }
    }
    let restore_time = restoring.elapsed();
    let mut states: Vec<Option<State>> = states.into_iter().map(Some).collect();

    // Readers.
    let mut parser = None;
    // The Kafka reader wakes the cores it deals to (`Control::wake`).
    let kafka = matches!(input, Input::Kafka(_));
    // A regular file (not live): a graceful stop cuts at the cores
    // (`Core::stream_stops_at_cut`).
    let mut file_chunks = false;
    // The cores parse the input and read it themselves (`source::ranges`): their malformed
    // counts are the run's.
    let mut cores_parsed = false;
    let mut readers: Vec<CoreReader> = match input {
        Input::Generator(g) => (0..n)
            .map(|c| CoreReader::Generator {
                generator: g.clone(),
                next: first_block_of(c, n, first_block),
                stride: n as u64,
                spare: None,
            })
            .collect(),
        Input::Preloaded(blocks) => (0..n)
            .map(|c| CoreReader::Preloaded {
                blocks: blocks.clone(),
                next: first_block_of(c, n, first_block) as usize,
                stride: n,
            })
            .collect(),
        Input::Stream(reader) if stream::ranged(cfg, n, &reader) => {
            // A regular file on several cores: each core reads and parses its own blocks
            // (`source::ranges`); no reader thread. A gzipped one goes to the cutter.
            match crate::source::ranges::RangeFile::open(&reader, cfg.range_bytes)? {
                Some(file) => {
                    cores_parsed = true;
                    let file = Arc::new(file);
                    (0..n)
                        .map(|c| CoreReader::Ranges {
                            reader: Box::new(crate::source::ranges::RangeReader::new(
                                file.clone(),
                                c as u64,
                                n as u64,
                                reader.chunk_parser(),
                            )),
                            spare: None,
                        })
                        .collect()
                }
                None => stream::stream_readers(
                    cfg,
                    n,
                    reader,
                    &control,
                    &barrier,
                    &mut parser,
                    &mut file_chunks,
                )?,
            }
        }
        Input::Stream(reader) => stream::stream_readers(
            cfg,
            n,
            reader,
            &control,
            &barrier,
            &mut parser,
            &mut file_chunks,
        )?,
        Input::Repartition(input) => {
            let (rings, backs, core_readers) = stream_rings(n, || None);
            let control = control.clone();
            parser = Some(
                std::thread::Builder::new()
                    .name("shardsql-repart".into())
                    .spawn(move || {
                        let mut out = crate::source::kafka::Rings::new(rings, backs);
                        let end = input.run(&mut out, &control);
                        if end.is_err() {
                            // The cores wait for input that will not come: stop them.
                            control.stop();
                        }
                        end.map(ReaderEnd::Repartition)
                    })
                    .map_err(|e| Error::io("cannot start the repartition reader thread", e))?,
            );
            core_readers
        }
        Input::Kafka(input) => {
            // One reader thread polls the topic and deals chunks of framed messages tagged
            // with their Kafka partition, which the cores parse (under `--on-error fail` the
            // reader parses and deals blocks: `source::kafka_reader`).
            let parsing = input.core_parser().is_some();
            let (rings, backs, core_readers) =
                stream_rings(n, || input.core_parser().map(Box::new));
            let control = control.clone();
            let linger = cfg.linger;
            let checkpointed = barrier.clone().map(|b| (b, input.offsets()));
            parser = Some(
                std::thread::Builder::new()
                    .name("shardsql-kafka".into())
                    .spawn(move || {
                        let mut out = crate::source::kafka::Rings::new(rings, backs);
                        if parsing {
                            out = out.parsing_cores();
                        }
                        if let Some((b, offsets)) = checkpointed {
                            out = out.checkpointed(b, first_block, offsets);
                        }
                        input.run(&mut out, &control, linger).map(ReaderEnd::Kafka)
                    })
                    .map_err(|e| Error::io("cannot start the Kafka reader thread", e))?,
            );
            core_readers
        }
    };

    let mut handles = Vec::new();
    let host = host_cpus();
    let mut start_error = None;
    for (id, reader) in readers.drain(..).enumerate().rev() {
        let mut core = Core::new(
            id,
            n,
            plan.clone(),
            dict.clone(),
            cfg.lateness_ms,
            reader,
            control.clone(),
            cfg.fault,
        );
        core.rate = cfg.rate;
        core.start_at(first_block_of(id, n, first_block), first_block);
        core.barrier = barrier.clone();
        core.woken_by_reader = kafka;
        core.stream_stops_at_cut = file_chunks;
        core.late = cfg
            .late_output
            .as_ref()
            .map(|s| ShardOutput::new(s.clone()));
        core.shard_late = cfg
            .late_output
            .as_ref()
            .map(|s| ShardOutput::new(s.clone()));
        core.partitions = cfg.partitions.max(1);
        core.shard_plan = shard_plan.clone();
        core.route_types = shard_plan.input.fields.iter().map(|f| f.ty).collect();
        core.route_columns = route_columns.clone();
        core.shard_scratch = Batch::new(&shard_plan.input, 0);
        if pre_aggregate
            && plan.routing != Routing::Local
            && let crate::sql::Body::Aggregate(a) = &plan.body
        {
            core.route_types = a.partial_types();
            core.combiner = Some(ops::aggregate::Aggregate::new(
                a.clone(),
                plan.time_column,
                dict.clone(),
            ));
        }
        core.outbound = std::mem::take(&mut to_shard[id]);
        core.returns = std::mem::take(&mut returned[id]);
        if plan.routing == Routing::Local {
            core.local = Some((new_state(), ShardOutput::new(sink.clone())));
        } else if id < consumers {
            let state = states[id].take().expect("one state per consumer");
            let parts = cfg.partitions.max(1) as usize;
            let watermarks = cfg
                .restored
                .as_ref()
                .map(|r| (&r.manifest.part_max, &r.manifest.part_idle))
                .filter(|(m, i)| m.len() == parts && i.len() == parts);
            core.shard = Some(ShardSide {
                inputs: from_reader.pop().expect("one input set per consumer"),
                backs: back_to_reader.pop().expect("one return set per consumer"),
                state,
                output: ShardOutput::new(sink.clone()),
                next_block: first_block,
                part_max: watermarks.map_or_else(|| vec![i64::MIN; parts], |w| w.0.clone()),
                part_idle: watermarks.map_or_else(|| vec![false; parts], |w| w.1.clone()),
                finished: false,
            });
        }
        match spawn_core(cfg.effective_runtime(), id % host, core, control.clone()) {
            Ok(h) => handles.push(h),
            Err(e) => {
                control.stop();
                start_error = Some(e);
                break;
            }
        }
    }
    // The clock starts once every executor is up and waiting.
    while start_error.is_none() && control.ready.load(Ordering::Acquire) < n && !control.aborted() {
        std::thread::sleep(Duration::from_micros(50));
    }
    let start = Instant::now();
    control.start.set(start).expect("the run starts once");
    control.go.store(true, Ordering::Release);
    let checkpoints_done = Arc::new(AtomicBool::new(false));
    let coordinator = match (&cfg.checkpoint, &barrier) {
        (Some(c), Some(b)) if start_error.is_none() => {
            let coordinator = crate::checkpoint::barrier::Coordinator {
                barrier: b.clone(),
                cfg: c.clone(),
                sink: sink.clone(),
                late: cfg.late_output.clone(),
                done: checkpoints_done.clone(),
                base: cfg
                    .restored
                    .as_ref()
                    .map(|r| r.manifest.counters.clone())
                    .unwrap_or_default(),
            };
            let control = control.clone();
            Some(
                std::thread::Builder::new()
                    .name("shardsql-checkpoint".into())
                    .spawn(move || {
                        let r = coordinator.run();
                        if let Err(e) = &r {
                            control.fail(Error::Runtime(format!("checkpoint failed: {e}")));
                        }
                        r
                    })
                    .map_err(|e| Error::io("cannot start the checkpoint thread", e))?,
            )
        }
        _ => None,
    };

    let mut cores = Vec::new();
    let mut failure: Option<Error> = start_error;
    for h in handles {
        match join(h) {
            Ok(stats) => cores.push(stats),
            Err(CoreFailure::Aborted) => {}
            Err(CoreFailure::Panicked(msg)) => {
                failure.get_or_insert(Error::Internal(format!("a shard failed: {msg}")));
            }
            Err(CoreFailure::Start(cause)) => {
                failure.get_or_insert(Error::Runtime(glommio_help(&cause)));
            }
        }
    }
    checkpoints_done.store(true, Ordering::Release);
    let checkpoints = match coordinator.map(|c| c.join()) {
        Some(Ok(Ok(k))) => k,
        Some(Ok(Err(e))) => {
            failure.get_or_insert(e);
            Default::default()
        }
        Some(Err(_)) => {
            failure.get_or_insert(Error::Internal("the checkpoint thread panicked".into()));
            Default::default()
        }
        None => Default::default(),
    };
    let end = cores
        .iter()
        .filter_map(|c| c.finished_at)
        .max()
        .unwrap_or_else(Instant::now);
    let mut report = RunReport {
        cores,
        elapsed: end.saturating_duration_since(start),
        malformed: 0,
        malformed_examples: Vec::new(),
        interrupted: cfg.interrupt.load(Ordering::Relaxed),
        kafka_commit: None,
        repartition_tail: None,
        upstream: None,
        restored: cfg.restored.as_ref().map(|r| r.manifest.counters.clone()),
        checkpoints,
        restore_time,
        resumed_at_block: cfg.restored.as_ref().map(|r| r.manifest.position.block()),
    };
    if failure.is_none() {
        failure = control.take_failure();
    }
    if let Some(e) = failure {
        sink.abandon();
        // A failed core is the cause: report it, never a reader's "stopped" that followed it.
        // The stream parser is not joined: it may be blocked reading stdin.
        return Err(e);
    }
    if let Some(p) = parser {
        match p.join() {
            Ok(Ok(ReaderEnd::Repartition(tail))) => {
                report.repartition_tail = Some(tail);
            }
            Ok(Ok(ReaderEnd::Kafka(done))) => {
                // The reader's counts (`--on-error fail`) or the cores' (they parsed).
                report.malformed =
                    done.malformed + report.cores.iter().map(|c| c.malformed).sum::<u64>();
                let mut examples = done.examples;
                examples.extend(
                    report
                        .cores
                        .iter()
                        .flat_map(|c| c.malformed_examples.iter().cloned()),
                );
                examples.sort_by_key(crate::source::kafka_chunk::example_position);
                examples.truncate(crate::source::text::EXAMPLES_KEPT);
                report.malformed_examples = examples;
                report.kafka_commit = done.committer;
            }
            Ok(Ok(ReaderEnd::Text(Some(reader)))) => {
                report.malformed = reader.malformed;
                report.malformed_examples = reader.examples.clone();
            }
            Ok(Ok(ReaderEnd::Text(None))) => cores_malformed(&mut report),
            Ok(Err(e)) => {
                sink.abandon();
                return Err(e);
            }
            Err(_) => {
                sink.abandon();
                return Err(Error::Internal("the input reader thread panicked".into()));
            }
        }
    }
    if cores_parsed {
        cores_malformed(&mut report);
    }
    if report.interrupted {
        // A stopped run's rows after its last checkpoint are not committed: a resume writes
        // them again (transactional output only).
        sink.abandon();
    }
    sink.close()?;
    if let Some(late) = &cfg.late_output {
        late.close()?;
    }
    report.cores.sort_by_key(|c| c.id);
    Ok(report)
}

/// The cores parsed the input: the run's malformed records are their counts, and their first
/// examples by line (a resumed run's checkpoint's first).
fn cores_malformed(report: &mut RunReport) {
    let base = report.restored.clone().unwrap_or_default();
    report.malformed = report.cores.iter().map(|c| c.malformed).sum::<u64>() + base.malformed;
    let mut examples: Vec<_> = report
        .cores
        .iter()
        .flat_map(|c| c.malformed_examples.iter().cloned())
        .chain(
            base.malformed_examples
                .into_iter()
                .map(|(line, reason)| crate::source::text::Malformed { line, reason }),
        )
        .collect();
    examples.sort_by_key(|m| m.line);
    examples.truncate(crate::source::text::EXAMPLES_KEPT);
    report.malformed_examples = examples;
}

enum CoreFailure {
    Aborted,
    Panicked(String),
    /// The executor could not be built (glommio: io_uring or locked memory).
    Start(String),
}

fn join(
    h: std::thread::JoinHandle<Result<CoreStats, CoreFailure>>,
) -> Result<CoreStats, CoreFailure> {
    h.join()
        .unwrap_or_else(|p| Err(CoreFailure::Panicked(panic_message(p))))
}

fn panic_message(p: Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

fn outcome(
    r: std::thread::Result<Result<CoreStats, core::Aborted>>,
    control: &Control,
    id: usize,
) -> Result<CoreStats, CoreFailure> {
    match r {
        Ok(Ok(stats)) => Ok(stats),
        Ok(Err(core::Aborted)) => Err(CoreFailure::Aborted),
        Err(p) => {
            // Every other core sees the abort at its next idle turn and returns.
            control.stop();
            Err(CoreFailure::Panicked(format!(
                "shard {id}: {}",
                panic_message(p)
            )))
        }
    }
}

/// Starts core `core` on its own thread pinned to `cpu`: inside a glommio executor built on
/// that thread (so a failed start is reported through `control`, never waited on), or on the
/// plain thread.
fn spawn_core(
    kind: RuntimeKind,
    cpu: usize,
    core: Core,
    control: Arc<Control>,
) -> Result<std::thread::JoinHandle<Result<CoreStats, CoreFailure>>> {
    let id = core.id;
    let name = format!("shardsql-shard-{id}");
    std::thread::Builder::new()
        .name(name.clone())
        .spawn(move || match kind {
            RuntimeKind::Glommio => {
                let executor = glommio::LocalExecutorBuilder::new(glommio::Placement::Fixed(cpu))
                    .name(&name)
                    .io_memory(256 << 10)
                    .ring_depth(32)
                    .make();
                match executor {
                    Ok(ex) => ex.run(async move {
                        let r = AssertUnwindSafe(core.run(blocking_wait))
                            .catch_unwind()
                            .await;
                        outcome(r, &control, id)
                    }),
                    Err(e) => {
                        control.stop();
                        Err(CoreFailure::Start(e.to_string()))
                    }
                }
            }
            RuntimeKind::Threads => {
                core_affinity::set_for_current(core_affinity::CoreId { id: cpu });
                let r = std::panic::catch_unwind(AssertUnwindSafe(|| {
                    futures_lite::future::block_on(core.run(blocking_wait))
                }));
                outcome(r, &control, id)
            }
        })
        .map_err(|e| Error::io("cannot start a shard thread", e))
}

/// Explains a failed glommio start and how to get past it.
fn glommio_help(cause: &str) -> String {
    format!(
        "cannot start the glommio runtime: {cause}\n\
         glommio needs io_uring (Linux 5.8+, not blocked by seccomp — Docker's default profile blocks it) \
         and enough locked memory (`ulimit -l`).\n\
         fix: raise the limit (`ulimit -l unlimited`, or run the container with --ulimit memlock=-1 and \
         --security-opt seccomp=unconfined), or run on plain pinned threads with `--runtime threads` \
         (same shard loop, same results)"
    )
}

/// Hands a core its next input, waiting (with backoff) while its ring is full: backpressure
/// from the cores reaches the input here. Fails once the run is aborted. `unread` says, while
/// waiting, that no core will read it (past a graceful stop's cut): it is dropped.
pub(crate) fn push_source(
    ring: &mut rtrb::Producer<SourceMsg>,
    mut msg: SourceMsg,
    backoff: &mut backoff::Backoff,
    control: &Control,
    unread: &dyn Fn() -> bool,
) -> Result<()> {
    loop {
        match ring.push(msg) {
            Ok(()) => {
                backoff.reset();
                return Ok(());
            }
            Err(rtrb::PushError::Full(m)) => {
                if control.aborted() {
                    return Err(Error::Internal("stopped: a shard failed".into()));
                }
                if unread() {
                    return Ok(());
                }
                msg = m;
                core::idle_blocking(backoff.next_idle());
            }
        }
    }
}

/// The first input block at or after `first` that core `core` of `n` reads (block `b` is core
/// `b mod n`'s).
fn first_block_of(core: usize, n: usize, first: u64) -> u64 {
    let n = n as u64;
    first + (core as u64 + n - first % n) % n
}
