//! The checkpoint barrier: agreeing on the cut block `B` while the run goes on, collecting
//! each part's snapshot as it crosses `B`, and the coordinator thread that requests
//! checkpoints and writes them.
//!
//! Protocol for epoch `e` (the coordinator raises `epoch` to `e`):
//! 1. **The cut.** Each reading core publishes its next block number (`fetch_max` into
//!    `cut`) and waits until all have; then `cut` is final, and no block at or past it was
//!    read before. A file's cutter thread records where each block it deals starts
//!    (`positions`), so the coordinator knows the cut's byte offset and line.
//! 2. **Crossing.** A reader crosses when its next block is at or past `B` (it has read all
//!    of its blocks below `B`); a shard when its next block is `B` (it has consumed every block
//!    below `B`, in order). Each hands over its part (counters, a shard's state section, the
//!    watermark state) and holds its further output in memory (`ShardOutput::hold`).
//! 3. **Sealing.** Once every part has crossed, the coordinator records the output files'
//!    lengths (exactly the rows of blocks below `B`), releases the holds (`sealed`), syncs the
//!    files and writes the checkpoint.
//!
//! A checkpoint in flight when the input ends or the run stops is abandoned (`ending`): the
//! run's final output covers everything anyway.
//!
//! Threading: atomics read once per block or idle turn by cores; `parts` is locked once per
//! part per checkpoint.

use super::{CheckpointConfig, Counters, Manifest, Position};
use crate::error::Result;
use crate::sink::Sink;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the parts of the epoch in flight handed over.
#[derive(Default)]
pub struct Parts {
    pub sections: Vec<Option<Vec<u8>>>,
    pub counters: Counters,
    pub part_max: Option<Vec<i64>>,
    pub part_idle: Option<Vec<bool>>,
}

#[derive(Default)]
pub struct Barrier {
    /// The epoch requested (0: none yet).
    pub epoch: AtomicU64,
    /// Readers that have published their next block for `epoch`.
    pub published: AtomicUsize,
    /// The cut block of `epoch` (final once `cut_epoch == epoch`).
    pub cut: AtomicU64,
    pub cut_epoch: AtomicU64,
    /// Parts that have crossed for `epoch`, and what they handed over.
    pub arrived: AtomicUsize,
    pub parts: Mutex<Parts>,
    /// The latest epoch whose output lengths are recorded (holds up to it are released), and
    /// the latest abandoned.
    pub sealed: AtomicU64,
    pub abandoned: AtomicU64,
    /// The input has ended or the run is stopping: no further checkpoint.
    pub ending: AtomicBool,
    /// Readers (cores) that publish, and parts expected per checkpoint.
    pub readers: usize,
    pub expected: usize,
    /// State sections per checkpoint (one per core).
    pub shards: usize,
    /// A file input: where the latest blocks dealt start, (block, byte, line), oldest first,
    /// and the end once the cutter has dealt everything (`None`: the input is the generator
    /// or preloaded, whose position is the block number).
    pub positions: Option<Mutex<std::collections::VecDeque<(u64, u64, u64)>>>,
    /// A Kafka input: the offsets where the blocks dealt end.
    pub kafka: Option<Mutex<KafkaPositions>>,
}

/// Where a Kafka input is after each block dealt: the offsets before the oldest block kept,
/// and per block dealt since, its Kafka partition and the offset after it.
#[derive(Default)]
pub struct KafkaPositions {
    base: Vec<(i32, i64)>,
    blocks: std::collections::VecDeque<(u64, i32, i64)>,
    /// Blocks dealt so far (idle markers take a block number too).
    dealt: u64,
}

/// What the input's position is measured in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PositionKind {
    Block,
    File,
    Kafka,
}

/// Block starts a file's cutter remembers: more than the rings can hold undelivered.
const POSITIONS_KEPT: usize = 1 << 14;

impl Barrier {
    pub fn new(
        readers: usize,
        expected: usize,
        shards: usize,
        first_epoch: u64,
        kind: PositionKind,
    ) -> Barrier {
        let b = Barrier {
            readers,
            expected,
            shards,
            positions: (kind == PositionKind::File).then(Default::default),
            kafka: (kind == PositionKind::Kafka).then(Default::default),
            ..Barrier::default()
        };
        b.epoch.store(first_epoch - 1, Ordering::Relaxed);
        b.sealed.store(first_epoch - 1, Ordering::Relaxed);
        b.abandoned.store(first_epoch - 1, Ordering::Relaxed);
        b.cut_epoch.store(first_epoch - 1, Ordering::Relaxed);
        b
    }

    /// The epoch in flight that this part (which crossed up to `crossed`) has not crossed, if
    /// any.
    #[inline]
    pub fn pending(&self, crossed: u64) -> Option<u64> {
        let e = self.epoch.load(Ordering::Acquire);
        (e > crossed).then_some(e)
    }

    /// The final cut of epoch `e`, once agreed.
    #[inline]
    pub fn final_cut(&self, e: u64) -> Option<u64> {
        (self.cut_epoch.load(Ordering::Acquire) == e).then(|| self.cut.load(Ordering::Acquire))
    }

    /// The agreed cut of the epoch in flight, until it is sealed or abandoned.
    pub fn pending_cut(&self) -> Option<u64> {
        let e = self.epoch.load(Ordering::Acquire);
        if self.released(e) {
            return None;
        }
        self.final_cut(e)
    }

    /// A reading core's next block is `block`: publishes it for epoch `e` (once) and returns
    /// the final cut when every reader has published.
    pub fn publish(&self, e: u64, block: u64, published: &mut u64) -> Option<u64> {
        if *published < e {
            *published = e;
            self.cut.fetch_max(block, Ordering::AcqRel);
            if self.published.fetch_add(1, Ordering::AcqRel) + 1 == self.readers {
                self.cut_epoch.store(e, Ordering::Release);
            }
        }
        self.final_cut(e)
    }

    /// A file's cutter deals block `block`, which starts at `byte` and `line` (or, after the
    /// last block, the input's end).
    pub fn dealing(&self, block: u64, byte: u64, line: u64) {
        if let Some(p) = &self.positions {
            let mut p = p.lock().unwrap_or_else(|p| p.into_inner());
            if p.len() == POSITIONS_KEPT {
                p.pop_front();
            }
            p.push_back((block, byte, line));
        }
    }

    /// A Kafka reader starts at block `block` with these offsets.
    pub fn kafka_start(&self, block: u64, offsets: Vec<(i32, i64)>) {
        if let Some(k) = &self.kafka {
            let mut k = k.lock().unwrap_or_else(|p| p.into_inner());
            k.base = offsets;
            k.dealt = block;
        }
    }

    /// A Kafka reader dealt block `block` (of Kafka partition `partition`, ending before
    /// offset `next`; `None` for an idle marker).
    pub fn kafka_dealt(&self, block: u64, end: Option<(i32, i64)>) {
        if let Some(k) = &self.kafka {
            let mut k = k.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((p, next)) = end {
                if k.blocks.len() == POSITIONS_KEPT
                    && let Some((_, op, on)) = k.blocks.pop_front()
                    && let Some(e) = k.base.iter_mut().find(|e| e.0 == op)
                {
                    e.1 = on;
                }
                k.blocks.push_back((block, p, next));
            }
            k.dealt = block + 1;
        }
    }

    /// Where block `cut` starts: `None` while the reader has not dealt the blocks before it.
    fn position(&self, cut: u64) -> Option<Position> {
        if let Some(k) = &self.kafka {
            let k = k.lock().unwrap_or_else(|p| p.into_inner());
            if k.dealt < cut {
                return None;
            }
            let mut offsets = k.base.clone();
            for &(b, p, next) in &k.blocks {
                if b < cut
                    && let Some(e) = offsets.iter_mut().find(|e| e.0 == p)
                {
                    e.1 = e.1.max(next);
                }
            }
            return Some(Position::Kafka {
                block: cut,
                offsets,
            });
        }
        let Some(p) = &self.positions else {
            return Some(Position::Block { block: cut });
        };
        let p = p.lock().unwrap_or_else(|p| p.into_inner());
        p.iter()
            .find(|&&(b, ..)| b == cut)
            .map(|&(block, byte, line)| Position::File { block, byte, line })
    }

    /// A part crossed epoch `e`'s cut: hands over what it has.
    pub fn arrive(&self, hand_over: impl FnOnce(&mut Parts)) {
        hand_over(&mut self.parts.lock().unwrap_or_else(|p| p.into_inner()));
        self.arrived.fetch_add(1, Ordering::AcqRel);
    }

    /// Whether output held since epoch `e` may be written (sealed or abandoned).
    #[inline]
    pub fn released(&self, e: u64) -> bool {
        self.sealed.load(Ordering::Acquire) >= e || self.abandoned.load(Ordering::Acquire) >= e
    }
}

/// What the checkpoints of a run cost: how many, and the last one's size and times.
#[derive(Clone, Copy, Debug, Default)]
pub struct CheckpointStats {
    pub written: u64,
    /// The last checkpoint: state bytes, from its request until every part had crossed, and
    /// until it was durable.
    pub bytes: u64,
    pub crossed: Duration,
    pub durable: Duration,
}

/// The coordinator thread: requests a checkpoint every interval, seals it once every part has
/// crossed, writes it. Ends when `done` is raised (after the cores have ended).
pub struct Coordinator {
    pub barrier: Arc<Barrier>,
    pub cfg: CheckpointConfig,
    pub sink: Arc<Sink>,
    pub late: Option<Arc<Sink>>,
    pub done: Arc<AtomicBool>,
    /// The counters and output lengths the run started from (a resumed run's).
    pub base: Counters,
}

impl Coordinator {
    pub fn run(self) -> Result<CheckpointStats> {
        let r = self.checkpoints();
        if r.is_err() {
            // No part may wait for a seal that will not come.
            self.barrier.abandoned.store(u64::MAX, Ordering::Release);
        }
        r
    }

    fn checkpoints(&self) -> Result<CheckpointStats> {
        let b = &self.barrier;
        // A transactional Kafka output (`kafka::txn`) commits an epoch's rows once its
        // checkpoint is durable, and the holds last until the next transaction is open.
        let transactional = self.sink.transactions().is_some();
        let mut written = CheckpointStats::default();
        let mut next = Instant::now() + self.cfg.interval;
        loop {
            // Wait for the interval, or the end of the run.
            while Instant::now() < next {
                if self.done.load(Ordering::Acquire) {
                    return Ok(written);
                }
                std::thread::sleep(Duration::from_millis(1).min(self.cfg.interval));
            }
            if b.ending.load(Ordering::Acquire) {
                // Nothing more to checkpoint: wait for the end.
                next = Instant::now() + Duration::from_millis(5);
                continue;
            }
            let e = b.epoch.load(Ordering::Acquire) + 1;
            *b.parts.lock().unwrap_or_else(|p| p.into_inner()) = Parts {
                sections: vec![None; b.shards],
                ..Parts::default()
            };
            b.published.store(0, Ordering::Release);
            b.cut.store(0, Ordering::Release);
            b.arrived.store(0, Ordering::Release);
            let requested = Instant::now();
            b.epoch.store(e, Ordering::Release);
            // Wait for every part and the cut's position, or abandon.
            let mut position = None;
            loop {
                if b.arrived.load(Ordering::Acquire) == b.expected {
                    position = b.position(b.cut.load(Ordering::Acquire));
                    if position.is_some() {
                        break;
                    }
                }
                if b.ending.load(Ordering::Acquire) || self.done.load(Ordering::Acquire) {
                    b.abandoned.store(e, Ordering::Release);
                    break;
                }
                std::thread::sleep(Duration::from_micros(200));
            }
            if b.abandoned.load(Ordering::Acquire) >= e {
                next = Instant::now() + self.cfg.interval;
                continue;
            }
            let crossed = requested.elapsed();
            let position = position.unwrap_or(Position::Block {
                block: b.cut.load(Ordering::Acquire),
            });
            if !self.cfg.write {
                // A commit barrier: the rows before the cut are all handed to the sink and
                // the parts hold the rest, so once the sink has them acknowledged, the
                // offsets at the cut may be committed.
                let acknowledged =
                    self.sink.acknowledge() && self.late.as_ref().is_none_or(|l| l.acknowledge());
                b.sealed.store(e, Ordering::Release);
                if acknowledged
                    && let (Some(c), Position::Kafka { offsets, .. }) =
                        (&self.cfg.commits, position)
                {
                    c.post(offsets);
                }
                written.written += 1;
                next = Instant::now() + self.cfg.interval;
                continue;
            }
            let output_bytes = self.sink.bytes_written();
            let late_bytes = self.late.as_ref().and_then(|l| l.bytes_written());
            if !transactional {
                b.sealed.store(e, Ordering::Release);
            }
            self.sink.sync()?;
            if let Some(l) = &self.late {
                l.sync()?;
            }
            let parts = std::mem::take(&mut *b.parts.lock().unwrap_or_else(|p| p.into_inner()));
            let mut counters = self.base.clone();
            counters.add(&parts.counters);
            let input_offsets = match &position {
                Position::Kafka { offsets, .. } => Some(offsets.clone()),
                _ => None,
            };
            let manifest = Manifest {
                format: super::FORMAT,
                epoch: e,
                fingerprint: self.cfg.fingerprint.clone(),
                position,
                counters,
                part_max: parts.part_max.unwrap_or_default(),
                part_idle: parts.part_idle.unwrap_or_default(),
                output_bytes,
                late_bytes,
                sections: Vec::new(),
                state_crc: 0,
                kafka_transactional_id: self.sink.transactions().map(|t| t.id.clone()),
            };
            let sections: Vec<Vec<u8>> = parts
                .sections
                .into_iter()
                .map(Option::unwrap_or_default)
                .collect();
            super::write(&self.cfg.dir, manifest, &sections)?;
            if transactional {
                self.sink.commit_epoch(e, input_offsets.as_deref())?;
                b.sealed.store(e, Ordering::Release);
            } else if let (Some(c), Some(offsets)) = (&self.cfg.commits, input_offsets) {
                // Durable: what it covers need not be read again (the group's offsets are
                // for monitoring and for a run started without the checkpoints).
                c.post(offsets);
            }
            written = CheckpointStats {
                written: written.written + 1,
                bytes: sections.iter().map(|s| s.len() as u64).sum(),
                crossed,
                durable: requested.elapsed(),
            };
            next = Instant::now() + self.cfg.interval;
        }
    }
}
