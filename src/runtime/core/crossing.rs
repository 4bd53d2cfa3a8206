//! Checkpoints, the core's side (`checkpoint::barrier` has the protocol): a reader takes part
//! in agreeing on a cut and crosses it once its next block is at or past it; a shard crosses
//! once every block below it is consumed. Each hands its part to the barrier and holds its
//! outputs until the coordinator has recorded their lengths.
//!
//! Threading: runs on the core's own thread; touches the barrier's atomics once per block or
//! idle turn, its mutex once per checkpoint.

use super::{Core, CoreReader};
use std::sync::atomic::Ordering;
use std::time::Duration;

impl Core {
    /// Checkpoints: writes the outputs held since a cut once the coordinator has recorded
    /// the lengths (or abandoned the checkpoint). At the end of the run (`wait`) it waits for
    /// that (the held rows belong after the recorded lengths); false if the run was aborted.
    pub(super) fn release_held(&mut self, wait: bool) -> bool {
        let Some(b) = self.barrier.clone() else {
            return true;
        };
        while !b.released(self.held) {
            if !wait {
                return true;
            }
            if self.control.aborted() {
                return false;
            }
            std::thread::sleep(Duration::from_micros(100));
        }
        self.held = 0;
        if let Some(s) = self.shard.as_mut() {
            s.output.release();
        }
        if let Some((_, out)) = self.local.as_mut() {
            out.release();
        }
        for late in [self.late.as_mut(), self.shard_late.as_mut()]
            .into_iter()
            .flatten()
        {
            late.release();
        }
        true
    }

    /// Checkpoints, reader role: takes part in agreeing on epoch `e`'s cut, and crosses it
    /// once this reader's next block is at or past it. Returns false while this reader must
    /// wait for the cut (cores that read their own blocks).
    pub(super) fn reader_checkpoint(
        &mut self,
        b: &crate::checkpoint::barrier::Barrier,
        e: u64,
    ) -> bool {
        if b.abandoned.load(Ordering::Acquire) >= e {
            self.reader_crossed = e;
            return true;
        }
        let Some(cut) = b.publish(e, self.block_no, &mut self.published_epoch) else {
            return self.exhausted;
        };
        if self.block_no >= cut {
            self.cross_reader(b, e);
        }
        true
    }

    /// This reader has read all its blocks below epoch `e`'s cut: hands over its counters
    /// (and a stateless plan's output position) and holds its outputs from here.
    fn cross_reader(&mut self, b: &crate::checkpoint::barrier::Barrier, e: u64) {
        self.reader_crossed = e;
        let mut c = crate::checkpoint::Counters {
            read: self.stats.read,
            filtered: self.stats.filtered,
            late_dropped: self.reader_late,
            max_lag_ms: self.stats.max_lag_ms,
            ..Default::default()
        };
        if let CoreReader::Stream {
            parser: Some(p), ..
        } = &self.reader
        {
            c.malformed = p.malformed;
            c.malformed_examples = p
                .examples
                .iter()
                .map(|m| (m.line, m.reason.clone()))
                .collect();
        }
        if let Some((_, out)) = self.local.as_mut() {
            // A stateless plan: its rows are this reader's.
            c.processed = self.stats.processed;
            out.hold_from(e);
            c.rows_out = out.rows;
            self.held = e;
        }
        if let Some(late) = self.late.as_mut() {
            late.hold_from(e);
            self.held = e;
        }
        b.arrive(|p| p.counters.add(&c));
    }

    /// Checkpoints, shard role: crosses epoch `e`'s cut once every block below it is
    /// consumed: hands over the state, the watermark state and the counters, and holds the
    /// outputs from here.
    pub(super) fn shard_checkpoint(&mut self) {
        let Some(b) = self.barrier.clone() else {
            return;
        };
        let Some(e) = b.pending(self.shard_crossed) else {
            return;
        };
        if b.abandoned.load(Ordering::Acquire) >= e {
            self.shard_crossed = e;
            return;
        }
        let Some(cut) = b.final_cut(e) else {
            return;
        };
        let Some(shard) = self.shard.as_mut() else {
            return;
        };
        if shard.next_block < cut || shard.finished {
            return;
        }
        self.shard_crossed = e;
        let mut w = crate::checkpoint::state::StateWriter::new(&self.dict);
        shard.state.snapshot(self.id, &mut w);
        shard.output.hold_from(e);
        if let Some(late) = self.shard_late.as_mut() {
            late.hold_from(e);
        }
        self.held = e;
        let c = crate::checkpoint::Counters {
            processed: self.stats.processed,
            late_dropped: self.stats.late_dropped - self.reader_late,
            rows_out: shard.output.rows,
            max_lag_ms: self.stats.max_lag_ms,
            ..Default::default()
        };
        let id = self.id;
        let (part_max, part_idle) = (shard.part_max.clone(), shard.part_idle.clone());
        b.arrive(|p| {
            p.counters.add(&c);
            p.sections[id] = Some(w.bytes);
            if id == 0 {
                p.part_max = Some(part_max);
                p.part_idle = Some(part_idle);
            }
        });
    }
}
