//! GROUP BY, optionally over tumbling event-time windows, with EMIT FINAL or EMIT CHANGES.
//!
//! State is one `GroupTable` per open (owner, window). EMIT FINAL folds a batch column by
//! column and emits a window's groups when the watermark passes its end (or at end of input);
//! EMIT CHANGES folds record by record and emits the group's new row after each one, so the
//! k-th row of a group is its state after its k-th record whatever the shard count. A closed
//! window's table is cleared and reused, so memory stays bounded by the open windows.

use super::Operator;
use super::group_table::GroupTable;
use super::project::project_into;
use crate::data::batch::Column;
use crate::data::{Batch, Dict};
use crate::sink::ShardOutput;
use crate::sql::{AggregatePlan, EmitMode};
use std::borrow::Cow;
use std::ops::Range;
use std::sync::Arc;

/// Window start used when the query has no window: one table per owner.
const NO_WINDOW: i64 = i64::MIN;

struct Slot {
    owner: usize,
    start: i64,
    table: GroupTable,
}

pub struct Aggregate {
    plan: AggregatePlan,
    time_column: Option<usize>,
    dict: Arc<Dict>,
    slots: Vec<Slot>,
    free: Vec<GroupTable>,
    /// Rows in the group-row layout `[keys, aggregates, window_start, window_end]`.
    group_rows: Batch,
    groups: Vec<u32>,
}

impl Aggregate {
    /// `time_column` is the input column windows are assigned by (the plan's).
    pub fn new(plan: AggregatePlan, time_column: Option<usize>, dict: Arc<Dict>) -> Aggregate {
        let group_rows = Batch::with_types(plan.group_row_types(), 0);
        Aggregate {
            time_column,
            dict,
            slots: Vec::new(),
            free: Vec::new(),
            group_rows,
            groups: Vec::new(),
            plan,
        }
    }

    fn slot(&mut self, owner: usize, start: i64) -> usize {
        if let Some(i) = self
            .slots
            .iter()
            .position(|s| s.owner == owner && s.start == start)
        {
            return i;
        }
        let table = self
            .free
            .pop()
            .unwrap_or_else(|| GroupTable::new(&self.plan.key_types, &self.plan.aggs));
        self.slots.push(Slot {
            owner,
            start,
            table,
        });
        self.slots.len() - 1
    }

    /// Appends group `g` of slot `s` to the group rows.
    fn push_group_row(&mut self, s: usize, g: usize) {
        let slot = &self.slots[s];
        let nk = slot.table.keys.len();
        let (keys, rest) = self.group_rows.columns.split_at_mut(nk);
        for (dst, src) in keys.iter_mut().zip(&slot.table.keys) {
            dst.push_from(src, g);
        }
        let (aggs, bounds) = rest.split_at_mut(slot.table.accs.len());
        for (acc, dst) in slot.table.accs.iter().zip(aggs) {
            acc.emit(g, dst);
        }
        let (start, end) = match self.plan.window {
            Some(w) => (slot.start, slot.start.saturating_add(w.size())),
            None => (0, 0),
        };
        if let [Column::Int(s), Column::Int(e)] = bounds {
            s.push(start);
            e.push(end);
        }
    }

    /// Runs HAVING and the SELECT list over the pending group rows into the output.
    fn flush_group_rows(&mut self, out: &mut ShardOutput) {
        if self.group_rows.is_empty() {
            return;
        }
        let n = self.group_rows.len();
        project_into(
            &self.plan.outputs,
            self.plan.having.as_ref(),
            &self.group_rows,
            0..n,
            &self.dict,
            &mut out.batch,
        );
        self.group_rows.clear();
        out.flush_if_full();
    }

    /// Emits and frees the owner's windows for which `closes(start)` holds, oldest first.
    /// Returns how many windows were emitted (EMIT FINAL) on closing.
    fn close_windows(
        &mut self,
        owner: usize,
        closes: impl Fn(i64) -> bool,
        out: &mut ShardOutput,
    ) -> usize {
        let mut closing: Vec<usize> = (0..self.slots.len())
            .filter(|&i| self.slots[i].owner == owner && closes(self.slots[i].start))
            .collect();
        if closing.is_empty() {
            return 0;
        }
        let emitted = if self.plan.emit == EmitMode::Final {
            closing.len()
        } else {
            0
        };
        closing.sort_by_key(|&i| self.slots[i].start);
        if self.plan.emit == EmitMode::Final {
            for &s in &closing {
                for g in 0..self.slots[s].table.len() {
                    self.push_group_row(s, g);
                    if self.group_rows.len() >= 4096 {
                        self.flush_group_rows(out);
                    }
                }
            }
            self.flush_group_rows(out);
        }
        closing.sort_unstable_by(|a, b| b.cmp(a));
        for s in closing {
            let mut slot = self.slots.swap_remove(s);
            slot.table.clear();
            self.free.push(slot.table);
        }
        emitted
    }

    fn fold(
        &mut self,
        batch: &Batch,
        rows: Range<usize>,
        owner: usize,
        start: i64,
        out: &mut ShardOutput,
    ) {
        let s = self.slot(owner, start);
        let key_cols: Vec<&Column> = self.plan.keys.iter().map(|&k| &batch.columns[k]).collect();
        let args: Vec<Option<Cow<Column>>> = self
            .plan
            .aggs
            .iter()
            .map(|a| match &a.arg {
                None => None,
                Some(crate::sql::Expr::Column { index, .. }) => {
                    Some(Cow::Borrowed(&batch.columns[*index]))
                }
                Some(e) => Some(Cow::Owned(e.eval(batch, &self.dict))),
            })
            .collect();
        let arg_ref = |i: usize| args[i].as_deref();
        match self.plan.emit {
            EmitMode::Final => {
                let table = &mut self.slots[s].table;
                self.groups.clear();
                for r in rows.clone() {
                    let g = table.group_of(&key_cols, r);
                    self.groups.push(g);
                }
                for (i, acc) in table.accs.iter_mut().enumerate() {
                    acc.update_batch(&self.groups, arg_ref(i), rows.clone());
                }
            }
            EmitMode::Changes => {
                for r in rows {
                    let table = &mut self.slots[s].table;
                    let g = table.group_of(&key_cols, r) as usize;
                    for (i, acc) in table.accs.iter_mut().enumerate() {
                        acc.update(g, arg_ref(i), r);
                    }
                    self.push_group_row(s, g);
                    if self.group_rows.len() >= 4096 {
                        self.flush_group_rows(out);
                    }
                }
                self.flush_group_rows(out);
            }
        }
    }
}

impl Operator for Aggregate {
    fn process(&mut self, batch: &Batch, rows: Range<usize>, owner: usize, out: &mut ShardOutput) {
        let (Some(w), Some(tc)) = (self.plan.window, self.time_column) else {
            self.fold(batch, rows, owner, NO_WINDOW, out);
            return;
        };
        // Runs of consecutive rows in one window share a table lookup.
        let times = batch.columns[tc].as_int();
        let mut run_start = rows.start;
        while run_start < rows.end {
            let start = w.start_of(times[run_start]);
            let mut run_end = run_start + 1;
            while run_end < rows.end && w.start_of(times[run_end]) == start {
                run_end += 1;
            }
            self.fold(batch, run_start..run_end, owner, start, out);
            run_start = run_end;
        }
    }

    fn watermark(&mut self, wm: i64, owner: usize, out: &mut ShardOutput) -> usize {
        match self.plan.window {
            Some(w) => self.close_windows(owner, |start| start.saturating_add(w.size()) <= wm, out),
            None => 0,
        }
    }

    fn finish(&mut self, owner: usize, out: &mut ShardOutput) {
        self.close_windows(owner, |_| true, out);
    }
}
