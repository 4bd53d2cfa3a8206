//! GROUP BY, optionally over tumbling event-time windows, with EMIT FINAL or EMIT CHANGES.
//!
//! State is one `GroupTable` per open (owner, window). EMIT FINAL folds a batch column by
//! column and emits a window's groups when the watermark passes its end (or at end of input);
//! EMIT CHANGES folds record by record and emits the group's new row after each one, so the
//! k-th row of a group is its state after its k-th record whatever the shard count; each row
//! carries its changelog op (`+I`, `+U`, `-D`; see `changelog`), decided from one visibility bit
//! per group — without HAVING as records are counted, with it by replaying the batch's rows
//! after HAVING ran over them. A
//! closed window's table is cleared and reused, so memory stays bounded by the open windows;
//! closing emits nothing under EMIT CHANGES (each key's last row is its final value).
//!
//! EMIT FINAL also runs split in two (DataFusion's Partial / Final): each reader combines its
//! block into partial states (`combine` + `drain_partials`) and sends each key's partial to
//! the key's owner, which merges them (`merge_partials`) in block order. Partials of a block
//! do not depend on the shard count, and owners merge them in block order, so the results are
//! the same for any number of shards; only ~one row per group and block crosses cores instead
//! of every record, and key skew stops mattering.

use super::Operator;
use super::changelog::{OpIds, Step};
use super::group_table::GroupTable;
use super::project::{emit_group_rows, emit_selected_group_rows, having_mask};
use crate::data::batch::Column;
use crate::data::{Batch, Dict};
use crate::runtime::router::shard_of;
use crate::sink::ShardOutput;
use crate::sql::{AggregatePlan, EmitMode, WindowSpec};
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
    runs: Vec<Run>,
    /// EMIT CHANGES: the op ids, and with HAVING each pending group row's (slot, group) and
    /// the rows the changelog keeps.
    ops: OpIds,
    pending: Vec<(u32, u32, Step)>,
    selected: Vec<u32>,
}

/// Consecutive rows that fold into one window: its start, the rows, and whether it is their
/// latest window (each record has exactly one).
type Run = (i64, Range<usize>, bool);

impl Aggregate {
    /// `time_column` is the input column windows are assigned by (the plan's).
    pub fn new(plan: AggregatePlan, time_column: Option<usize>, dict: Arc<Dict>) -> Aggregate {
        let group_rows = Batch::with_types(plan.group_row_types(), 0);
        Aggregate {
            time_column,
            slots: Vec::new(),
            free: Vec::new(),
            group_rows,
            groups: Vec::new(),
            runs: Vec::new(),
            ops: OpIds::new(&dict),
            pending: Vec::new(),
            selected: Vec::new(),
            dict,
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
        let table = self.free.pop().unwrap_or_else(|| {
            let mut t = GroupTable::new(&self.plan.key_types, &self.plan.aggs);
            t.attach_dict(&self.dict);
            t
        });
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
        emit_group_rows(&self.plan, &mut self.group_rows, &self.dict, out);
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

    /// Splits `rows` into runs of consecutive rows in one window (one run without a window).
    /// A hopping window's rows fold into each of their windows still open against their
    /// cutoff (the watermark just before them), so one row can be in several runs.
    fn window_runs(
        &mut self,
        batch: &Batch,
        rows: Range<usize>,
        cutoffs: Option<&[i64]>,
    ) -> Vec<Run> {
        let mut runs = std::mem::take(&mut self.runs);
        runs.clear();
        match (self.plan.window, self.time_column) {
            (Some(w @ WindowSpec::Tumbling { .. }), Some(tc)) => {
                let times = batch.columns[tc].as_int();
                let mut run_start = rows.start;
                while run_start < rows.end {
                    let start = w.start_of(times[run_start]);
                    let end = start.saturating_add(w.size());
                    let mut run_end = run_start + 1;
                    while run_end < rows.end && (start..end).contains(&times[run_end]) {
                        run_end += 1;
                    }
                    runs.push((start, run_start..run_end, true));
                    run_start = run_end;
                }
            }
            (Some(WindowSpec::Hopping { size, advance }), Some(tc)) => {
                let times = batch.columns[tc].as_int();
                let window = |j: i64, r: usize| {
                    let t = times[r];
                    let s = t
                        .div_euclid(advance)
                        .saturating_mul(advance)
                        .saturating_sub(j.saturating_mul(advance));
                    let end = s.saturating_add(size);
                    let cutoff = cutoffs.map_or(i64::MIN, |c| c[r]);
                    (end > t && end > cutoff).then_some(s)
                };
                let per_record = size / advance + i64::from(size % advance != 0);
                for j in 0..per_record {
                    let mut r = rows.start;
                    while r < rows.end {
                        let Some(s) = window(j, r) else {
                            r += 1;
                            continue;
                        };
                        let mut e = r + 1;
                        while e < rows.end && window(j, e) == Some(s) {
                            e += 1;
                        }
                        runs.push((s, r..e, j == 0));
                        r = e;
                    }
                }
                // Runs in row order, so each window takes its rows in arrival order (a row
                // reaching a window as its second window may precede one reaching it as its
                // first): EMIT CHANGES depends on it.
                runs.sort_by_key(|run| run.1.start);
            }
            _ => runs.push((NO_WINDOW, rows, true)),
        }
        runs
    }

    /// The rows' cutoff watermarks, in the shard layout of hopping windows.
    fn cutoffs<'a>(&self, batch: &'a Batch) -> Option<&'a [i64]> {
        self.plan.cutoff_column.map(|c| batch.columns[c].as_int())
    }

    fn args<'a>(&self, batch: &'a Batch) -> Vec<Option<Cow<'a, Column>>> {
        eval_args(&self.plan.aggs, batch, &self.dict)
    }

    /// Folds `batch[rows]` into the owner's window tables, column by column (EMIT FINAL, and
    /// the readers' pre-aggregation). `cutoffs` (hopping windows) are the rows' watermarks.
    pub fn combine(
        &mut self,
        batch: &Batch,
        rows: Range<usize>,
        owner: usize,
        cutoffs: Option<&[i64]>,
    ) {
        let key_cols: Vec<&Column> = self.plan.keys.iter().map(|&k| &batch.columns[k]).collect();
        let args = self.args(batch);
        let runs = self.window_runs(batch, rows, cutoffs);
        for (start, run, primary) in &runs {
            let s = self.slot(owner, *start);
            let table = &mut self.slots[s].table;
            table.group_ids(&key_cols, run.clone(), &mut self.groups);
            table.count_records(&self.groups, *primary);
            for (i, acc) in table.accs.iter_mut().enumerate() {
                acc.update_batch(&self.groups, args[i].as_deref(), run.clone());
            }
        }
        self.runs = runs;
    }

    /// EMIT CHANGES: folds the rows and appends, for each, its group's row right after it —
    /// keys copied from the row, each aggregate's value from one typed loop.
    fn fold_changes(
        &mut self,
        batch: &Batch,
        rows: Range<usize>,
        owner: usize,
        out: &mut ShardOutput,
    ) {
        let key_cols: Vec<&Column> = self.plan.keys.iter().map(|&k| &batch.columns[k]).collect();
        let args = self.args(batch);
        let cutoffs = self.cutoffs(batch);
        let runs = self.window_runs(batch, rows, cutoffs);
        let nk = self.plan.keys.len();
        let na = self.plan.aggs.len();
        let size = self.plan.window.map_or(0, |w| w.size());
        // Every row qualifies and an update is one row: ops are decided as records are counted.
        let upsert_all = self.plan.having.is_none() && !self.plan.retract;
        for (start, run, primary) in &runs {
            let s = self.slot(owner, *start);
            let table = &mut self.slots[s].table;
            table.group_ids(&key_cols, run.clone(), &mut self.groups);
            let op_col = &mut self.group_rows.columns[nk + na + 2];
            match op_col {
                Column::Str(ops) if upsert_all => table.count_records_and_ops(
                    &self.groups,
                    *primary,
                    (self.ops.insert, self.ops.update),
                    ops,
                ),
                _ => table.count_records(&self.groups, *primary),
            }
            let (ws, we) = if *start == NO_WINDOW {
                (0, 0)
            } else {
                (*start, start.saturating_add(size))
            };
            if self.plan.retract {
                Self::fold_retract(
                    table,
                    s as u32,
                    &self.groups,
                    &key_cols,
                    &args,
                    run.clone(),
                    (ws, we, self.ops.delete),
                    &mut self.group_rows,
                    &mut self.pending,
                );
                continue;
            }
            let cols = &mut self.group_rows.columns;
            for (dst, src) in cols[..nk].iter_mut().zip(&key_cols) {
                dst.extend_from(src, run.clone());
            }
            for (i, acc) in table.accs.iter_mut().enumerate() {
                acc.update_and_emit(
                    &self.groups,
                    args[i].as_deref(),
                    run.clone(),
                    &mut cols[nk + i],
                );
            }
            if let [Column::Int(a), Column::Int(b), Column::Str(ops)] = &mut cols[nk + na..] {
                a.extend(std::iter::repeat_n(ws, run.len()));
                b.extend(std::iter::repeat_n(we, run.len()));
                // Without HAVING every row qualifies: its op came with the record counts (a
                // key's first row inserts, the later ones update).
                if !upsert_all {
                    // Decided after HAVING runs over the batch (`flush_changes`).
                    ops.extend(std::iter::repeat_n(self.ops.delete, run.len()));
                    self.pending
                        .extend(self.groups.iter().map(|&g| (s as u32, g, Step::Update)));
                }
            }
        }
        self.runs = runs;
        if upsert_all {
            self.flush_group_rows(out);
        } else {
            self.flush_changes(out);
        }
    }

    /// The retract form of EMIT CHANGES (`changelog`), record by record: each row's group
    /// before the record (`Step::Retract`), then after it (`Step::Update`), decided in
    /// `flush_changes`. `bounds`: the window's start and end, and the placeholder op.
    #[allow(clippy::too_many_arguments)]
    fn fold_retract(
        table: &mut GroupTable,
        slot: u32,
        groups: &[u32],
        key_cols: &[&Column],
        args: &[Option<Cow<'_, Column>>],
        run: Range<usize>,
        bounds: (i64, i64, u32),
        group_rows: &mut Batch,
        pending: &mut Vec<(u32, u32, Step)>,
    ) {
        let nk = key_cols.len();
        let na = table.accs.len();
        let cols = &mut group_rows.columns;
        for (k, &g) in groups.iter().enumerate() {
            let (r, g) = (run.start + k, g as usize);
            for step in [Step::Retract, Step::Update] {
                if step == Step::Update {
                    for (i, acc) in table.accs.iter_mut().enumerate() {
                        acc.update(g, args[i].as_deref(), r);
                    }
                }
                for (dst, src) in cols[..nk].iter_mut().zip(key_cols) {
                    dst.push_from(src, r);
                }
                for (acc, dst) in table.accs.iter().zip(&mut cols[nk..nk + na]) {
                    acc.emit(g, dst);
                }
                if let [Column::Int(a), Column::Int(b), Column::Str(ops)] = &mut cols[nk + na..] {
                    a.push(bounds.0);
                    b.push(bounds.1);
                    ops.push(bounds.2);
                }
                pending.push((slot, g as u32, step));
            }
        }
    }

    /// EMIT CHANGES with HAVING (or in the retract form): replays the pending group rows in
    /// order, each deciding its op from HAVING and its key's visibility, and emits the rows
    /// that change the changelog.
    fn flush_changes(&mut self, out: &mut ShardOutput) {
        let mask = having_mask(&self.plan, &self.group_rows, &self.dict);
        let mask = mask.as_bool();
        let op_col = self
            .plan
            .op_column()
            .expect("EMIT CHANGES has an op column");
        let Column::Str(ops) = &mut self.group_rows.columns[op_col] else {
            panic!("internal: the op column is not VARCHAR");
        };
        self.selected.clear();
        for (row, &(s, g, step)) in self.pending.iter().enumerate() {
            let (now, next_now) = (mask[row] == 1, mask.get(row + 1) == Some(&1));
            let visible = &mut self.slots[s as usize].table.visible[g as usize];
            if let Some(op) = self.ops.apply(step, visible, now, next_now) {
                ops[row] = op;
                self.selected.push(row as u32);
            }
        }
        self.pending.clear();
        emit_selected_group_rows(
            &self.plan,
            &mut self.group_rows,
            &self.selected,
            &self.dict,
            out,
        );
    }

    /// Moves every open group into partial rows (layout `AggregatePlan::partial_types`), each
    /// into the batch of the shard that owns its key, and empties the tables. A reader calls
    /// this after combining a block.
    pub fn drain_partials(&mut self, outs: &mut [Batch]) {
        let nk = self.plan.keys.len();
        let shards = outs.len();
        let mut i = 0;
        while i < self.slots.len() {
            let slot = &mut self.slots[i];
            let t = &mut slot.table;
            let keys: Vec<&Column> = t.keys.iter().collect();
            let mut touched = false;
            for g in 0..t.len() {
                // Only groups this block touched; the others carry nothing new.
                if t.records[g] == 0 {
                    continue;
                }
                touched = true;
                let owner = if shards == 1 {
                    0
                } else {
                    shard_of(column_hash(&keys, g), shards)
                };
                let cols = &mut outs[owner].columns;
                for (dst, src) in cols[..nk].iter_mut().zip(&t.keys) {
                    dst.push_from(src, g);
                }
                if let [Column::Int(start), Column::Int(records), ..] = &mut cols[nk..] {
                    start.push(slot.start);
                    records.push(t.primary[g]);
                }
                let mut c = nk + 2;
                for acc in &t.accs {
                    c += acc.emit_state(g, &mut cols[c..]);
                }
            }
            // Keep the groups (and their index) for the next block, so a block does not pay
            // for re-creating them: reset their states instead. A window this block did not
            // touch is over for this reader, and a table grown past a few blocks' worth of
            // groups is dropped, so memory stays bounded.
            if !touched || t.len() > 2 * crate::source::BLOCK_ROWS {
                let mut slot = self.slots.swap_remove(i);
                slot.table.clear();
                self.free.push(slot.table);
            } else {
                for g in 0..t.len() {
                    if t.records[g] != 0 {
                        t.reset_group(g);
                    }
                }
                i += 1;
            }
        }
    }

    /// Merges partial rows (from `drain_partials`) into the owner's tables. A row whose window
    /// ended at or before `watermark` is late: dropped and counted. Returns (records merged,
    /// records dropped late).
    pub fn merge_partials(
        &mut self,
        batch: &Batch,
        owner: usize,
        watermark: Option<i64>,
    ) -> (u64, u64) {
        let nk = self.plan.keys.len();
        let key_cols: Vec<&Column> = batch.columns[..nk].iter().collect();
        let starts = batch.columns[nk].as_int();
        let records = batch.columns[nk + 1].as_int();
        let (mut merged, mut late) = (0u64, 0u64);
        let mut cached: Option<(i64, usize)> = None;
        for r in 0..batch.len() {
            let start = starts[r];
            if let (Some(w), Some(wm)) = (self.plan.window, watermark)
                && start.saturating_add(w.size()) <= wm
            {
                late += records[r] as u64;
                continue;
            }
            let s = match cached {
                Some((st, s)) if st == start => s,
                _ => {
                    let s = self.slot(owner, start);
                    cached = Some((start, s));
                    s
                }
            };
            let table = &mut self.slots[s].table;
            let g = table.group_of(&key_cols, r) as usize;
            table.records[g] += records[r];
            let mut c = nk + 2;
            for acc in table.accs.iter_mut() {
                c += acc.merge_state(g, &batch.columns[c..], r);
            }
            merged += records[r] as u64;
        }
        (merged, late)
    }
}

/// Each aggregate's argument over `batch`: borrowed when it is a plain column.
pub(super) fn eval_args<'a>(
    aggs: &[crate::sql::AggCall],
    batch: &'a Batch,
    dict: &Dict,
) -> Vec<Option<Cow<'a, Column>>> {
    aggs.iter()
        .map(|a| match &a.arg {
            None => None,
            Some(crate::sql::Expr::Column { index, .. }) => {
                Some(Cow::Borrowed(&batch.columns[*index]))
            }
            Some(e) => Some(Cow::Owned(e.eval(batch, dict))),
        })
        .collect()
}

/// FxHash of key columns at `row`, as `router::key_hash` computes it over a batch.
fn column_hash(cols: &[&Column], row: usize) -> u64 {
    let mut h = 0u64;
    for c in cols {
        h = crate::runtime::router::fx_combine(h, c.key_at(row));
    }
    h
}

impl Aggregate {
    /// Checkpoint rows: prefix (window start, records, primary), keys, visible, states.
    fn state_rows(&self) -> super::acc_rows::AccRows {
        super::acc_rows::AccRows::new(3, &self.plan.key_types, &self.plan.aggs, &self.dict)
    }
}

impl Operator for Aggregate {
    fn snapshot(&self, owner: usize, out: &mut crate::checkpoint::state::StateWriter) {
        let layout = self.state_rows();
        let (mut groups, mut distinct) = (layout.groups(), Vec::new());
        for slot in self.slots.iter().filter(|s| s.owner == owner) {
            let t = &slot.table;
            for g in 0..t.len() {
                let prefix = [slot.start, t.records[g], t.primary[g]];
                layout.push(
                    &mut groups,
                    &mut distinct,
                    &prefix,
                    &t.keys,
                    g,
                    t.visible[g],
                    t.accs.iter(),
                    g,
                );
            }
        }
        layout.write(&groups, &distinct, out);
    }

    fn state_table(&self, tag: u8) -> Option<crate::checkpoint::state::StateTable> {
        self.state_rows().table(tag)
    }

    fn restore(&mut self, tag: u8, rows: &Batch, owner: usize) -> crate::error::Result<()> {
        let layout = self.state_rows();
        let this = std::cell::RefCell::new(self);
        layout.read(
            tag,
            rows,
            |r| {
                let mut me = this.borrow_mut();
                let s = me.slot(owner, r.prefix(0));
                let t = &mut me.slots[s].table;
                let g = t.group_of(&r.keys(), r.row) as usize;
                t.records[g] = r.prefix(1);
                t.primary[g] = r.prefix(2);
                t.visible[g] = r.visible();
                r.restore_accs(t.accs.iter_mut(), g);
            },
            |a, r| {
                let mut me = this.borrow_mut();
                let s = me.slot(owner, r.prefix(0));
                let t = &mut me.slots[s].table;
                let g = t.group_of(&r.keys(), r.row) as usize;
                let nk = r.keys().len();
                t.accs[a].restore_distinct(g, &r.batch.columns[3 + nk], r.row);
            },
        )
    }

    fn process(&mut self, batch: &Batch, rows: Range<usize>, owner: usize, out: &mut ShardOutput) {
        match self.plan.emit {
            EmitMode::Final => {
                let cutoffs = self.cutoffs(batch);
                self.combine(batch, rows, owner, cutoffs)
            }
            EmitMode::Changes => self.fold_changes(batch, rows, owner, out),
        }
    }

    fn merge_partials(
        &mut self,
        batch: &Batch,
        owner: usize,
        watermark: Option<i64>,
    ) -> (u64, u64) {
        Aggregate::merge_partials(self, batch, owner, watermark)
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
