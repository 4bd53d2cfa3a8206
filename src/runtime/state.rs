//! Where a shard's operator state lives: owned outright by the shard (v1, v2), or one state
//! behind one `Arc<Mutex<..>>` shared by every worker (the mutex baseline), locked per record
//! or per batch. Only this differs between the modes; reading, routing and ordering are the
//! same, so the results are too.

use crate::data::Batch;
use crate::ops::Operator;
use crate::sink::ShardOutput;
use std::ops::Range;
use std::sync::{Arc, Mutex, MutexGuard};

/// How often the mutex baseline takes its lock.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum LockPer {
    Record,
    Batch,
}

pub enum State {
    Owned(Box<dyn Operator>),
    Shared {
        op: Arc<Mutex<Box<dyn Operator>>>,
        per: LockPer,
    },
}

fn lock(op: &Mutex<Box<dyn Operator>>) -> MutexGuard<'_, Box<dyn Operator>> {
    // A panic in another worker poisons the lock; that worker's failure is reported, and the
    // state is still consistent per call, so keep going to shut down cleanly.
    op.lock().unwrap_or_else(|e| e.into_inner())
}

impl State {
    pub fn process(
        &mut self,
        batch: &Batch,
        rows: Range<usize>,
        owner: usize,
        out: &mut ShardOutput,
    ) {
        match self {
            State::Owned(op) => op.process(batch, rows, owner, out),
            State::Shared {
                op,
                per: LockPer::Batch,
            } => lock(op).process(batch, rows, owner, out),
            State::Shared {
                op,
                per: LockPer::Record,
            } => {
                for r in rows {
                    lock(op).process(batch, r..r + 1, owner, out);
                }
            }
        }
    }

    /// Announces the watermark after the next `process` call's rows. Not under a per-record
    /// lock: there the batch arrives one row at a time, and the announcement is about all of it.
    pub fn expect_watermark(&mut self, wm: i64, owner: usize) {
        match self {
            State::Owned(op) => op.expect_watermark(wm, owner),
            State::Shared {
                op,
                per: LockPer::Batch,
            } => lock(op).expect_watermark(wm, owner),
            State::Shared {
                per: LockPer::Record,
                ..
            } => {}
        }
    }

    /// Returns how many windows the watermark closed.
    pub fn watermark(&mut self, wm: i64, owner: usize, out: &mut ShardOutput) -> usize {
        match self {
            State::Owned(op) => op.watermark(wm, owner, out),
            State::Shared { op, .. } => lock(op).watermark(wm, owner, out),
        }
    }

    /// Merges pre-aggregated partial rows; returns (records merged, records dropped late).
    pub fn merge_partials(
        &mut self,
        batch: &Batch,
        owner: usize,
        watermark: Option<i64>,
    ) -> (u64, u64) {
        match self {
            State::Owned(op) => op.merge_partials(batch, owner, watermark),
            State::Shared { op, .. } => lock(op).merge_partials(batch, owner, watermark),
        }
    }

    pub fn finish(&mut self, owner: usize, out: &mut ShardOutput) {
        match self {
            State::Owned(op) => op.finish(owner, out),
            State::Shared { op, .. } => lock(op).finish(owner, out),
        }
    }

    /// Checkpoints: `owner`'s state as a snapshot section.
    pub fn snapshot(&self, owner: usize, out: &mut crate::checkpoint::state::StateWriter) {
        match self {
            State::Owned(op) => op.snapshot(owner, out),
            State::Shared { op, .. } => lock(op).snapshot(owner, out),
        }
    }

    /// Checkpoints: the layout of the operator's snapshot table `tag`.
    pub fn state_table(&self, tag: u8) -> Option<crate::checkpoint::state::StateTable> {
        match self {
            State::Owned(op) => op.state_table(tag),
            State::Shared { op, .. } => lock(op).state_table(tag),
        }
    }

    /// Checkpoints: adds rows of snapshot table `tag`, all of `owner`'s keys, to the state.
    pub fn restore(&mut self, tag: u8, rows: &Batch, owner: usize) -> crate::error::Result<()> {
        match self {
            State::Owned(op) => op.restore(tag, rows, owner),
            State::Shared { op, .. } => lock(op).restore(tag, rows, owner),
        }
    }
}
