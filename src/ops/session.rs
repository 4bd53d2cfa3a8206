//! Session windows: `WINDOW SESSION (t, INTERVAL gap)`. Per key, a record at time `t` opens
//! the window `[t, t + gap)`; windows that overlap merge into one session, whose output
//! window is `[first record, last record + gap)`. Sessions cannot be pre-aggregated per block
//! (a later record may bridge two of them), so records are routed to the key's owner, which
//! folds them in arrival order.
//!
//! Lateness: a record is late when its own window `[t, t + gap)` ended at or before the
//! watermark just before it (the row's cutoff). Before folding a record, its key's sessions
//! that ended at or before that cutoff are closed (emitted under EMIT FINAL), so a record never
//! reopens a session the watermark has closed — the result does not depend on when watermarks
//! reach the shard. EMIT CHANGES emits the record's session after each record, as an upsert
//! changelog keyed by (key, window_start, window_end) (`changelog`): a record that extends a
//! session or bridges several changes its window, so each old window that was visible is
//! withdrawn (`-D`, with that session's values before the record) before the new window's row.
//! The visibility bit lives per accumulator slot; a slot reused by a new session starts
//! invisible (`Step::Fresh`), and the pending rows are replayed in order after HAVING.

use super::Operator;
use super::aggregate::eval_args;
use super::changelog::{OpIds, Step};
use super::group_table::{Acc, GroupTable};
use super::project::{emit_group_rows, emit_selected_group_rows, having_mask};
use crate::data::batch::Column;
use crate::data::{Batch, Dict};
use crate::sink::ShardOutput;
use crate::sql::{AggregatePlan, EmitMode};
use std::ops::Range;
use std::sync::Arc;

/// One open session of one key: its first and last record times and its accumulator slot.
#[derive(Clone, Copy, Debug)]
struct Session {
    start: i64,
    last: i64,
    slot: usize,
}

/// One owner's sessions.
struct OwnerSessions {
    /// Key → key id (a group table without aggregates); holds the key values.
    keys: GroupTable,
    /// Open sessions per key id, in no particular order (a key has few open at once).
    open: Vec<Vec<Session>>,
}

pub struct Sessions {
    plan: AggregatePlan,
    time_column: usize,
    gap: i64,
    dict: Arc<Dict>,
    owners: Vec<Option<OwnerSessions>>,
    /// Accumulator slots shared by all sessions (struct of arrays), and the free ones.
    accs: Vec<Acc>,
    free: Vec<usize>,
    slots: usize,
    /// Rows in the group-row layout `[keys, aggregates, window_start, window_end]`.
    group_rows: Batch,
    /// Scratch: the sessions the current record touches.
    touching: Vec<Session>,
    /// EMIT CHANGES: the op ids, each slot's visibility, each pending group row's (slot, step)
    /// and the rows the changelog keeps.
    ops: OpIds,
    visible: Vec<bool>,
    steps: Vec<(u32, Step)>,
    selected: Vec<u32>,
}

impl Sessions {
    pub fn new(plan: AggregatePlan, time_column: usize, dict: Arc<Dict>) -> Sessions {
        let gap = plan.window.map_or(1, |w| w.size());
        Sessions {
            group_rows: Batch::with_types(plan.group_row_types(), 0),
            accs: plan
                .aggs
                .iter()
                .map(|c| {
                    let mut a = Acc::new(c);
                    a.attach_dict(&dict);
                    a
                })
                .collect(),
            free: Vec::new(),
            slots: 0,
            touching: Vec::new(),
            ops: OpIds::new(&dict),
            visible: Vec::new(),
            steps: Vec::new(),
            selected: Vec::new(),
            owners: Vec::new(),
            time_column,
            gap,
            dict,
            plan,
        }
    }

    /// Checkpoint rows: prefix (session start, last record), keys, visible, states.
    fn state_rows(&self) -> super::acc_rows::AccRows {
        super::acc_rows::AccRows::new(2, &self.plan.key_types, &self.plan.aggs, &self.dict)
    }

    fn owner(&mut self, owner: usize) -> &mut OwnerSessions {
        if self.owners.len() <= owner {
            self.owners.resize_with(owner + 1, || None);
        }
        let key_types = &self.plan.key_types;
        self.owners[owner].get_or_insert_with(|| OwnerSessions {
            keys: GroupTable::new(key_types, &[]),
            open: Vec::new(),
        })
    }

    fn new_slot(&mut self) -> usize {
        match self.free.pop() {
            Some(s) => s,
            None => {
                self.accs.iter_mut().for_each(Acc::push_group);
                self.visible.push(false);
                self.slots += 1;
                self.slots - 1
            }
        }
    }

    fn free_slot(&mut self, slot: usize) {
        self.accs.iter_mut().for_each(|a| a.reset(slot));
        self.free.push(slot);
    }

    /// Appends session `s` of key `key` (owner `owner`) to the group rows; under EMIT CHANGES
    /// with its changelog step.
    fn push_row(&mut self, owner: usize, key: usize, s: Session, step: Step) {
        let keys = &self.owners[owner].as_ref().expect("owner exists").keys.keys;
        let nk = keys.len();
        let (key_cols, rest) = self.group_rows.columns.split_at_mut(nk);
        for (dst, src) in key_cols.iter_mut().zip(keys) {
            dst.push_from(src, key);
        }
        let (aggs, bounds) = rest.split_at_mut(self.accs.len());
        for (acc, dst) in self.accs.iter().zip(aggs) {
            acc.emit(s.slot, dst);
        }
        match bounds {
            [Column::Int(start), Column::Int(end)] => {
                start.push(s.start);
                end.push(s.last.saturating_add(self.gap));
            }
            [Column::Int(start), Column::Int(end), Column::Str(op)] => {
                start.push(s.start);
                end.push(s.last.saturating_add(self.gap));
                op.push(self.ops.delete); // decided in `flush`
                self.steps.push((s.slot as u32, step));
            }
            _ => panic!("internal: unexpected group row layout"),
        }
    }

    /// Runs HAVING and the SELECT list over the pending group rows into the output. Under EMIT
    /// CHANGES, first replays them in order to decide each row's op (or drop it).
    fn flush(&mut self, out: &mut ShardOutput) {
        if self.plan.emit == EmitMode::Final {
            emit_group_rows(&self.plan, &mut self.group_rows, &self.dict, out);
            return;
        }
        if self.group_rows.is_empty() {
            return;
        }
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
        for (row, &(slot, step)) in self.steps.iter().enumerate() {
            let (now, next_now) = (mask[row] == 1, mask.get(row + 1) == Some(&1));
            let visible = &mut self.visible[slot as usize];
            if let Some(op) = self.ops.apply(step, visible, now, next_now) {
                ops[row] = op;
                self.selected.push(row as u32);
            }
        }
        self.steps.clear();
        emit_selected_group_rows(
            &self.plan,
            &mut self.group_rows,
            &self.selected,
            &self.dict,
            out,
        );
    }

    /// Closes key `key`'s sessions that ended at or before `wm` (emitting them under EMIT
    /// FINAL); returns how many closed.
    fn close_key(&mut self, owner: usize, key: usize, wm: i64) -> usize {
        let gap = self.gap;
        let open = &mut self.owner(owner).open[key];
        let mut closed = Vec::new();
        open.retain(|s| {
            let ends = s.last.saturating_add(gap) <= wm;
            if ends {
                closed.push(*s);
            }
            !ends
        });
        for s in &closed {
            if self.plan.emit == EmitMode::Final {
                self.push_row(owner, key, *s, Step::Update);
            }
            self.free_slot(s.slot);
        }
        closed.len()
    }

    fn close_all(&mut self, owner: usize, wm: i64, out: &mut ShardOutput) -> usize {
        let keys = self
            .owners
            .get(owner)
            .and_then(Option::as_ref)
            .map_or(0, |o| o.open.len());
        let mut closed = 0;
        for key in 0..keys {
            closed += self.close_key(owner, key, wm);
            if self.group_rows.len() >= 4096 {
                self.flush(out);
            }
        }
        self.flush(out);
        closed
    }

    /// Folds row `r` (time `t`) of key `key` into its session, merging the sessions it
    /// bridges; returns the session and whether it is new. Under EMIT CHANGES, first appends
    /// the withdrawal of each touched session whose window changes.
    fn fold(
        &mut self,
        owner: usize,
        key: usize,
        t: i64,
        args: &[Option<&Column>],
        r: usize,
    ) -> (Session, bool) {
        let gap = self.gap;
        // The sessions this record touches leave the key's list for the reused scratch
        // vector (no allocation per record); the merged session goes back in.
        let mut touching = std::mem::take(&mut self.touching);
        touching.clear();
        self.owner(owner).open[key].retain(|s| {
            let touches = t < s.last.saturating_add(gap) && s.start < t.saturating_add(gap);
            if touches {
                touching.push(*s);
            }
            !touches
        });
        if self.plan.emit == EmitMode::Changes {
            let start = touching.iter().fold(t, |m, s| m.min(s.start));
            let last = touching.iter().fold(t, |m, s| m.max(s.last));
            for s in &touching {
                // Sessions are disjoint, so with two or more touched every window changes.
                if (s.start, s.last) != (start, last) {
                    self.push_row(owner, key, *s, Step::Withdraw);
                } else if self.plan.retract {
                    // The one session, its window unchanged: its row before the record,
                    // followed by its new row (pushed by `process`).
                    self.push_row(owner, key, *s, Step::Retract);
                }
            }
        }
        let fresh = touching.is_empty();
        let mut session = match touching.pop() {
            Some(s) => s,
            None => Session {
                start: t,
                last: t,
                slot: self.new_slot(),
            },
        };
        for &other in &touching {
            for acc in &mut self.accs {
                acc.merge_groups(session.slot, other.slot);
            }
            session.start = session.start.min(other.start);
            session.last = session.last.max(other.last);
            self.free_slot(other.slot);
        }
        session.start = session.start.min(t);
        session.last = session.last.max(t);
        for (acc, arg) in self.accs.iter_mut().zip(args) {
            acc.update(session.slot, *arg, r);
        }
        self.owner(owner).open[key].push(session);
        self.touching = touching;
        (session, fresh)
    }
}

impl Operator for Sessions {
    fn snapshot(&self, owner: usize, out: &mut crate::checkpoint::state::StateWriter) {
        let layout = self.state_rows();
        let (mut groups, mut distinct) = (layout.groups(), Vec::new());
        if let Some(Some(o)) = self.owners.get(owner) {
            for (key, open) in o.open.iter().enumerate() {
                for s in open {
                    layout.push(
                        &mut groups,
                        &mut distinct,
                        &[s.start, s.last],
                        &o.keys.keys,
                        key,
                        self.visible[s.slot],
                        self.accs.iter(),
                        s.slot,
                    );
                }
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
                let slot = me.new_slot();
                me.visible[slot] = r.visible();
                r.restore_accs(me.accs.iter_mut(), slot);
                let o = me.owner(owner);
                let key = o.keys.group_of(&r.keys(), r.row) as usize;
                if o.open.len() <= key {
                    o.open.resize_with(key + 1, Vec::new);
                }
                o.open[key].push(Session {
                    start: r.prefix(0),
                    last: r.prefix(1),
                    slot,
                });
            },
            |a, r| {
                let mut me = this.borrow_mut();
                let (start, last) = (r.prefix(0), r.prefix(1));
                let o = me.owner(owner);
                let key = o.keys.group_of(&r.keys(), r.row) as usize;
                let slot = o.open.get(key).and_then(|open| {
                    open.iter()
                        .find(|s| (s.start, s.last) == (start, last))
                        .map(|s| s.slot)
                });
                if let Some(slot) = slot {
                    let nk = r.keys().len();
                    me.accs[a].restore_distinct(slot, &r.batch.columns[2 + nk], r.row);
                }
            },
        )
    }

    fn process(&mut self, batch: &Batch, rows: Range<usize>, owner: usize, out: &mut ShardOutput) {
        let key_cols: Vec<&Column> = self.plan.keys.iter().map(|&k| &batch.columns[k]).collect();
        let args = eval_args(&self.plan.aggs, batch, &self.dict);
        let args: Vec<Option<&Column>> = args.iter().map(|a| a.as_deref()).collect();
        let times = batch.columns[self.time_column].as_int();
        let cutoffs = self.plan.cutoff_column.map(|c| batch.columns[c].as_int());
        for r in rows {
            let state = self.owner(owner);
            let key = state.keys.group_of(&key_cols, r) as usize;
            if state.open.len() <= key {
                state.open.resize_with(key + 1, Vec::new);
            }
            if let Some(c) = cutoffs {
                self.close_key(owner, key, c[r]);
            }
            let (session, fresh) = self.fold(owner, key, times[r], &args, r);
            if self.plan.emit == EmitMode::Changes {
                let step = if fresh { Step::Fresh } else { Step::Update };
                self.push_row(owner, key, session, step);
            }
            if self.group_rows.len() >= 4096 {
                self.flush(out);
            }
        }
        self.flush(out);
    }

    fn watermark(&mut self, wm: i64, owner: usize, out: &mut ShardOutput) -> usize {
        let closed = self.close_all(owner, wm, out);
        if self.plan.emit == EmitMode::Final {
            closed
        } else {
            0
        }
    }

    fn finish(&mut self, owner: usize, out: &mut ShardOutput) {
        self.close_all(owner, i64::MAX, out);
    }
}
