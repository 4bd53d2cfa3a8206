//! A core as reader: a block it read is filtered, its rows proven late within the block are
//! dropped, and the rest processed (stateless plans), pre-aggregated (EMIT FINAL) or routed
//! into one batch per owner shard, to be pushed on the outbound rings.
//!
//! Threading: runs on the core's own thread; touches no shared state but the records-read
//! counter (one relaxed add per block).

use super::{Core, Fault, Msg};
use crate::data::batch::NULL_INT;
use crate::data::{Batch, Column};
use crate::runtime::router::{Partitioner, scatter};
use crate::source::BLOCK_ROWS;
use crate::sql::{Plan, Routing, WindowSpec};
use std::sync::atomic::Ordering;
use std::time::Instant;

impl Core {
    /// Filters a block, drops the rows it proves late, and processes or routes the rest. A
    /// `judged` block (with its partition's maximum event time) drops nothing as late and
    /// brings its cutoffs.
    pub(super) fn route_block(
        &mut self,
        batch: &Batch,
        partition: Option<u32>,
        judged: Option<i64>,
    ) {
        let ingested = Instant::now();
        let plan = self.plan.clone();
        let n = batch.len();
        let block_no = self.block_no;
        self.block_no += self.n_cores as u64;
        if self.fault == Some(Fault::PanicShard)
            && self.id == 1.min(self.n_cores - 1)
            && block_no >= 4 * self.n_cores as u64
        {
            panic!(
                "injected fault: core {} panics at block {block_no}",
                self.id
            );
        }
        self.stats.read += n as u64;
        self.control
            .records_read
            .fetch_add(n as u64, Ordering::Relaxed);
        let times = plan.time_column.map(|t| batch.columns[t].as_int());
        // Whether the block's event times ascend (the common case): then its maximum is its
        // last time, and no row is late against the rows before it (`drop_late_in_block`).
        // One vectorised pass instead of a scalar maximum pass and a second order check.
        let in_order =
            judged.is_none() && times.is_some_and(|t| t.windows(2).all(|p| p[0] <= p[1]));
        let max_time = judged.unwrap_or_else(|| {
            times
                .and_then(|t| {
                    if in_order {
                        t.last().copied()
                    } else {
                        t.iter().copied().max()
                    }
                })
                .unwrap_or(i64::MIN)
        });
        // The block's smallest event time, for the disorder measure: only where records can
        // be late, found by the lateness check's own pass (free for an in-order block).
        let mut min_time = i64::MAX;

        self.sel.clear();
        match &plan.filter {
            Some(f) => {
                let mask = f.eval(batch, &self.dict);
                self.sel
                    .extend((0..n as u32).filter(|&i| mask.as_bool()[i as usize] == 1));
                self.stats.filtered += (n - self.sel.len()) as u64;
            }
            None => self.sel.extend(0..n as u32),
        }
        if judged.is_some() {
            if let (Some(Column::Int(carried)), Column::Int(c)) =
                (batch.columns.last(), &mut self.cutoffs)
                && plan.needs_cutoffs()
            {
                c.clear();
                c.extend_from_slice(carried);
            }
        } else if let (Some(w), Some(t)) = (plan.lateness_window(), times) {
            min_time = self.drop_late_in_block(w, t, batch, in_order);
            if w.needs_cutoffs() {
                self.fill_cutoffs(t);
            }
        }

        match &plan.routing {
            Routing::Local => {
                let (state, output) = self.local.as_mut().expect("local plans have local state");
                self.stats.processed += self.sel.len() as u64;
                if self.sel.len() == n {
                    state.process(batch, 0..n, self.id, output);
                } else {
                    self.scratch.clear();
                    self.scratch.gather_from(batch, &self.sel);
                    state.process(&self.scratch, 0..self.sel.len(), self.id, output);
                }
                self.stats.latency.record_since(ingested);
                return;
            }
            Routing::Single | Routing::Hash(_) => {
                let shards = self.outbound.len();
                let mut outs: Vec<Batch> = (0..shards).map(|s| self.take_buffer(s)).collect();
                let all_rows = self.sel.len() == n;
                let cutoffs = plan.needs_cutoffs().then(|| self.cutoffs.as_int());
                if let Some(combiner) = self.combiner.as_mut() {
                    // EMIT FINAL: pre-aggregate the block, send partial states to the owners.
                    if all_rows {
                        combiner.combine(batch, 0..n, 0, cutoffs);
                    } else {
                        self.scratch.clear();
                        self.scratch.gather_from(batch, &self.sel);
                        let cutoffs = cutoffs.map(|c| {
                            self.selected_cutoffs.clear();
                            self.selected_cutoffs
                                .extend(self.sel.iter().map(|&r| c[r as usize]));
                            &self.selected_cutoffs[..]
                        });
                        combiner.combine(&self.scratch, 0..self.sel.len(), 0, cutoffs);
                    }
                    combiner.drain_partials(&mut outs);
                } else {
                    let srcs: Vec<&Column> = self
                        .route_columns
                        .iter()
                        .map(|&c| {
                            if c == Plan::CUTOFF {
                                &self.cutoffs
                            } else {
                                &batch.columns[c]
                            }
                        })
                        .collect();
                    if shards == 1 {
                        for (dst, src) in outs[0].columns.iter_mut().zip(&srcs) {
                            if all_rows {
                                dst.extend_from(src, 0..n);
                            } else {
                                dst.gather_from(src, &self.sel);
                            }
                        }
                    } else if let Routing::Hash(keys) = &plan.routing {
                        let p = self
                            .partitioner
                            .get_or_insert_with(|| Partitioner::new(shards));
                        p.partition(batch, keys, &self.sel);
                        scatter(&srcs, p.lists(), &mut outs);
                    }
                }
                for (s, rows) in outs.into_iter().enumerate() {
                    self.pending[s] = Some(Msg::Block {
                        block: block_no,
                        partition: partition.unwrap_or((block_no % self.partitions as u64) as u32),
                        rows,
                        max_time,
                        min_time,
                        ingested,
                    });
                }
            }
        }
        if block_no == 0 {
            self.inject_fault();
        }
    }

    /// Sets each row's cutoff: the maximum event time of the rows before it in this block,
    /// minus the allowed lateness (`i64::MIN` for the first row). The shard raises it to the
    /// watermark of the earlier blocks.
    fn fill_cutoffs(&mut self, times: &[i64]) {
        let Column::Int(c) = &mut self.cutoffs else {
            unreachable!("cutoffs are integers")
        };
        c.clear();
        let mut prefix_max = i64::MIN;
        for &t in times {
            c.push(if prefix_max == i64::MIN {
                i64::MIN
            } else {
                prefix_max.saturating_sub(self.lateness_ms)
            });
            prefix_max = prefix_max.max(t);
        }
    }

    /// Drops rows whose window ended at or before the maximum event time seen earlier in this
    /// block (minus the allowed lateness). The shard checks earlier blocks. Returns the block's
    /// smallest non-NULL event time (`i64::MAX` if none) and records its in-block disorder.
    /// `in_order`: the times ascend (found by the caller).
    fn drop_late_in_block(
        &mut self,
        w: WindowSpec,
        times: &[i64],
        batch: &Batch,
        in_order: bool,
    ) -> i64 {
        let lateness = self.lateness_ms;
        // Fast path: in an in-order block no row can be late against the rows before it. (A
        // NULL event time is the smallest integer, so it would sort first; such a row has no
        // window and is always late.)
        if in_order && times.first() != Some(&NULL_INT) {
            return times.first().copied().unwrap_or(i64::MAX);
        }
        let mut prefix_max = i64::MIN;
        let mut lag = 0i64;
        let mut min_time = i64::MAX;
        for &t in times {
            if t != NULL_INT {
                if prefix_max != i64::MIN {
                    lag = lag.max(prefix_max.saturating_sub(t));
                }
                prefix_max = prefix_max.max(t);
                min_time = min_time.min(t);
            }
        }
        self.stats.max_lag_ms = self.stats.max_lag_ms.max(lag);
        prefix_max = i64::MIN;
        let mut next_row = 0usize;
        let before = self.sel.len();
        let mut late_rows = Vec::new();
        let keep_late = self.late.is_some();
        self.sel.retain(|&r| {
            let ri = r as usize;
            while next_row < ri {
                prefix_max = prefix_max.max(times[next_row]);
                next_row += 1;
            }
            let keep = times[ri] != NULL_INT
                && (prefix_max == i64::MIN
                    || w.end_of(times[ri]) > prefix_max.saturating_sub(lateness));
            if !keep && keep_late {
                late_rows.push(r);
            }
            keep
        });
        self.stats.late_dropped += (before - self.sel.len()) as u64;
        self.reader_late += (before - self.sel.len()) as u64;
        if let Some(late) = self.late.as_mut()
            && !late_rows.is_empty()
        {
            late.batch.gather_from(batch, &late_rows);
            late.flush_if_full();
        }
        min_time
    }

    fn take_buffer(&mut self, shard: usize) -> Batch {
        let mut b = match self.returns[shard].pop() {
            Ok(b) => b,
            Err(_) => Batch::with_types(
                self.route_types.iter().copied(),
                BLOCK_ROWS / self.outbound.len().max(1) + 64,
            ),
        };
        b.clear();
        b
    }
}
