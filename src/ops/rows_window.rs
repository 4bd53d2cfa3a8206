//! ROWS windows: `agg(x) OVER ([PARTITION BY k] ORDER BY t ROWS BETWEEN n PRECEDING AND
//! CURRENT ROW)`. COUNT/SUM/AVG keep a ring of the frame's values and a running sum (O(1) per
//! row; float sums are compensated so subtracting old values does not drift); MIN/MAX keep a
//! monotonic deque (amortised O(1)). Without PARTITION BY the plan routes everything to one
//! shard so the single global order holds.
//!
//! Order: when the ORDER BY column is the event time (an integer or timestamp column), rows
//! wait in a per-owner buffer until the watermark reaches them and are then released sorted by
//! that column, ties in arrival order (a stable sort), so out-of-order rows within the allowed
//! lateness land in place. A row below the watermark just before it is late (the rows it would
//! precede are already out): the runtime drops and counts it like a late window record. With
//! in-order input every row is released at the end of its own block, in arrival order.

use super::Operator;
use super::project::project_into;
use crate::data::batch::{Column, NULL_INT, is_null_float, null_float};
use crate::data::{Batch, DataType, Dict, Schema};
use crate::sink::ShardOutput;
use crate::sql::{AggFunc, Expr, RowsFunc, RowsPlan};
use fxhash::FxHashMap;
use std::borrow::Cow;
use std::collections::VecDeque;
use std::ops::Range;
use std::sync::Arc;

/// A float sum that can add and remove values without accumulating rounding error
/// (Neumaier's compensated summation).
#[derive(Default, Clone, Copy)]
struct CompensatedSum {
    sum: f64,
    comp: f64,
}

impl CompensatedSum {
    #[inline]
    fn add(&mut self, x: f64) {
        let t = self.sum + x;
        if self.sum.abs() >= x.abs() {
            self.comp += (self.sum - t) + x;
        } else {
            self.comp += (x - t) + self.sum;
        }
        self.sum = t;
    }

    #[inline]
    fn value(&self) -> f64 {
        self.sum + self.comp
    }
}

/// Min or max over the last `cap` values.
struct MonotonicDeque<T> {
    deque: VecDeque<(u64, T)>,
    seq: u64,
    cap: u64,
    max: bool,
}

impl<T: PartialOrd + Copy> MonotonicDeque<T> {
    fn new(cap: usize, max: bool) -> Self {
        MonotonicDeque {
            deque: VecDeque::new(),
            seq: 0,
            cap: cap as u64,
            max,
        }
    }

    /// Adds the current row's value (`None` for NULL, which takes a place in the frame but
    /// is never the answer) and returns the frame's min or max (`None`: all NULL).
    #[inline]
    fn push(&mut self, x: Option<T>) -> Option<T> {
        if let Some(x) = x {
            // Drop values the new one dominates; they can never be the answer again.
            while let Some(&(_, back)) = self.deque.back() {
                let dominated = if self.max { back <= x } else { back >= x };
                if !dominated {
                    break;
                }
                self.deque.pop_back();
            }
            self.deque.push_back((self.seq, x));
        }
        self.seq += 1;
        while self
            .deque
            .front()
            .is_some_and(|&(s, _)| s + self.cap < self.seq)
        {
            self.deque.pop_front();
        }
        self.deque.front().map(|e| e.1)
    }
}

/// One window function's state for one partition. Sums keep the frame's values in a ring
/// with NULLs as their sentinel (counted in `valid` only when not NULL), so COUNT(x), SUM and
/// AVG skip NULLs like their GROUP BY forms; COUNT(x) is an integer sum of "x is not NULL".
enum Frame {
    Count {
        seen: u64,
        cap: u64,
    },
    FloatSum {
        ring: VecDeque<f64>,
        cap: usize,
        sum: CompensatedSum,
        valid: usize,
        avg: bool,
    },
    IntSum {
        ring: VecDeque<i64>,
        cap: usize,
        sum: i64,
        valid: usize,
        avg: bool,
        /// COUNT(x): add 1 per non-NULL value instead of the value.
        count: bool,
    },
    MinMaxInt(MonotonicDeque<i64>),
    MinMaxFloat(MonotonicDeque<f64>),
}

impl Frame {
    /// Checkpoints: the frame's scalars `(i1, i2, f1, f2)` and its elements `(seq, int,
    /// float)` in order (a sum's ring, a min/max's deque), exactly as held.
    fn snapshot(&self, elems: &mut Vec<(i64, i64, f64)>) -> (i64, i64, f64, f64) {
        match self {
            Frame::Count { seen, .. } => (*seen as i64, 0, 0.0, 0.0),
            Frame::FloatSum {
                ring, sum, valid, ..
            } => {
                elems.extend(ring.iter().enumerate().map(|(i, &x)| (i as i64, 0, x)));
                (*valid as i64, 0, sum.sum, sum.comp)
            }
            Frame::IntSum {
                ring, sum, valid, ..
            } => {
                elems.extend(ring.iter().enumerate().map(|(i, &x)| (i as i64, x, 0.0)));
                (*valid as i64, *sum, 0.0, 0.0)
            }
            Frame::MinMaxInt(d) => {
                elems.extend(d.deque.iter().map(|&(q, x)| (q as i64, x, 0.0)));
                (d.seq as i64, 0, 0.0, 0.0)
            }
            Frame::MinMaxFloat(d) => {
                elems.extend(d.deque.iter().map(|&(q, x)| (q as i64, 0, x)));
                (d.seq as i64, 0, 0.0, 0.0)
            }
        }
    }

    /// Checkpoints: sets the scalars `snapshot` returned.
    fn restore_scalars(&mut self, i1: i64, i2: i64, f1: f64, f2: f64) {
        match self {
            Frame::Count { seen, .. } => *seen = i1 as u64,
            Frame::FloatSum { sum, valid, .. } => {
                *valid = i1 as usize;
                *sum = CompensatedSum { sum: f1, comp: f2 };
            }
            Frame::IntSum { sum, valid, .. } => {
                *valid = i1 as usize;
                *sum = i2;
            }
            Frame::MinMaxInt(d) => d.seq = i1 as u64,
            Frame::MinMaxFloat(d) => d.seq = i1 as u64,
        }
    }

    /// Checkpoints: appends an element `snapshot` listed.
    fn restore_elem(&mut self, seq: i64, i: i64, f: f64) {
        match self {
            Frame::Count { .. } => {}
            Frame::FloatSum { ring, .. } => ring.push_back(f),
            Frame::IntSum { ring, .. } => ring.push_back(i),
            Frame::MinMaxInt(d) => d.deque.push_back((seq as u64, i)),
            Frame::MinMaxFloat(d) => d.deque.push_back((seq as u64, f)),
        }
    }

    fn new(f: &RowsFunc) -> Frame {
        let cap = f.preceding + 1;
        let int_arg = f.arg.as_ref().is_some_and(|a| a.ty().is_integer());
        match f.func {
            AggFunc::CountStar => Frame::Count {
                seen: 0,
                cap: cap as u64,
            },
            AggFunc::Count | AggFunc::Sum | AggFunc::Avg if int_arg || f.func == AggFunc::Count => {
                Frame::IntSum {
                    ring: VecDeque::with_capacity(cap),
                    cap,
                    sum: 0,
                    valid: 0,
                    avg: f.func == AggFunc::Avg,
                    count: f.func == AggFunc::Count,
                }
            }
            AggFunc::Min | AggFunc::Max if int_arg => {
                Frame::MinMaxInt(MonotonicDeque::new(cap, f.func == AggFunc::Max))
            }
            AggFunc::Min | AggFunc::Max => {
                Frame::MinMaxFloat(MonotonicDeque::new(cap, f.func == AggFunc::Max))
            }
            // SUM / AVG of floats (the planner admits no other function over ROWS).
            _ => Frame::FloatSum {
                ring: VecDeque::with_capacity(cap),
                cap,
                sum: CompensatedSum::default(),
                valid: 0,
                avg: f.func == AggFunc::Avg,
            },
        }
    }

    /// Adds `arg[row]` as the current row and appends the frame's result to `out`.
    #[inline]
    fn push(&mut self, arg: Option<&Column>, row: usize, out: &mut Column) {
        match (self, out) {
            (Frame::Count { seen, cap }, Column::Int(o)) => {
                *seen += 1;
                o.push((*seen).min(*cap) as i64);
            }
            (
                Frame::FloatSum {
                    ring,
                    cap,
                    sum,
                    valid,
                    avg,
                },
                out,
            ) => {
                let x = match arg {
                    Some(Column::Float(v)) => v[row],
                    Some(Column::Int(v)) if v[row] == NULL_INT => null_float(),
                    Some(Column::Int(v)) => v[row] as f64,
                    _ => 0.0,
                };
                if ring.len() == *cap {
                    let old = ring.pop_front().expect("full ring");
                    if !is_null_float(old) {
                        sum.add(-old);
                        *valid -= 1;
                    }
                }
                ring.push_back(x);
                if !is_null_float(x) {
                    sum.add(x);
                    *valid += 1;
                }
                let v = match (*valid, *avg) {
                    (0, _) => null_float(),
                    (n, true) => sum.value() / n as f64,
                    (_, false) => sum.value(),
                };
                if let Column::Float(o) = out {
                    o.push(v);
                }
            }
            (
                Frame::IntSum {
                    ring,
                    cap,
                    sum,
                    valid,
                    avg,
                    count,
                },
                out,
            ) => {
                let x = match arg {
                    Some(c) if *count => (!c.is_null(row)) as i64,
                    Some(Column::Int(v)) => v[row],
                    _ => 0,
                };
                if ring.len() == *cap {
                    let old = ring.pop_front().expect("full ring");
                    if old != NULL_INT {
                        *sum = sum.wrapping_sub(old);
                        *valid -= 1;
                    }
                }
                ring.push_back(x);
                if x != NULL_INT {
                    *sum = sum.wrapping_add(x);
                    *valid += 1;
                }
                match out {
                    Column::Float(o) if *valid == 0 => o.push(null_float()),
                    Column::Float(o) if *avg => o.push(*sum as f64 / *valid as f64),
                    Column::Int(o) if *valid == 0 && !*count => o.push(NULL_INT),
                    Column::Int(o) => o.push(*sum),
                    _ => {}
                }
            }
            (Frame::MinMaxInt(d), Column::Int(o)) => {
                let x = match arg {
                    Some(Column::Int(v)) => v[row],
                    _ => 0,
                };
                o.push(d.push((x != NULL_INT).then_some(x)).unwrap_or(NULL_INT));
            }
            (Frame::MinMaxFloat(d), Column::Float(o)) => {
                let x = match arg {
                    Some(Column::Float(v)) => v[row],
                    Some(Column::Int(v)) if v[row] == NULL_INT => null_float(),
                    Some(Column::Int(v)) => v[row] as f64,
                    _ => 0.0,
                };
                o.push(
                    d.push((!is_null_float(x)).then_some(x))
                        .unwrap_or(null_float()),
                );
            }
            _ => panic!("internal: ROWS frame and output column types differ"),
        }
    }
}

pub struct RowsWindow {
    plan: RowsPlan,
    dict: Arc<Dict>,
    /// The ORDER BY column when rows are released by watermark (see the module docs).
    order_time: Option<usize>,
    /// Rows waiting for the watermark, per owner, in arrival order.
    pending: Vec<Batch>,
    /// Scratch: the rows being released, sorted.
    release: Batch,
    order: Vec<u32>,
    keep: Vec<u32>,
    /// The watermark the runtime announced for after the next batch (`expect_watermark`).
    next_watermark: Option<(usize, i64)>,
    /// The state when there is no PARTITION BY.
    global: Vec<Frame>,
    partitions: FxHashMap<Box<[u64]>, Vec<Frame>>,
    key: Vec<u64>,
    /// Input columns followed by one result column per function.
    extended: Batch,
}

impl RowsWindow {
    pub fn new(plan: RowsPlan, input: &Schema, dict: Arc<Dict>) -> RowsWindow {
        let types: Vec<DataType> = input
            .fields
            .iter()
            .map(|f| f.ty)
            .chain(plan.funcs.iter().map(|f| f.ty))
            .collect();
        let input_types: Vec<DataType> = input.fields.iter().map(|f| f.ty).collect();
        RowsWindow {
            order_time: input.fields[plan.order_by]
                .ty
                .is_integer()
                .then_some(plan.order_by),
            pending: Vec::new(),
            release: Batch::with_types(input_types, 0),
            order: Vec::new(),
            keep: Vec::new(),
            next_watermark: None,
            global: plan.funcs.iter().map(Frame::new).collect(),
            partitions: FxHashMap::default(),
            key: Vec::new(),
            extended: Batch::with_types(types, 0),
            dict,
            plan,
        }
    }
}

impl RowsWindow {
    fn pending(&mut self, owner: usize) -> &mut Batch {
        if self.pending.len() <= owner {
            let types: Vec<DataType> = self.release.columns.iter().map(column_type).collect();
            self.pending
                .resize_with(owner + 1, || Batch::with_types(types.iter().copied(), 0));
        }
        &mut self.pending[owner]
    }

    /// Releases `owner`'s buffered rows with order value at or below `wm` (all of them with
    /// `None`), sorted, ties in arrival order.
    fn release(&mut self, owner: usize, wm: Option<i64>, out: &mut ShardOutput) {
        let Some(t) = self.order_time else { return };
        if self.pending.len() <= owner || self.pending[owner].is_empty() {
            return;
        }
        let mut pending = std::mem::take(&mut self.pending[owner]);
        let times = pending.columns[t].as_int();
        let ready = |x: i64| wm.is_none_or(|wm| x <= wm);
        let sorted = times.windows(2).all(|p| p[0] <= p[1]);
        if sorted && times.iter().all(|&x| ready(x)) {
            // The in-order case: everything goes, as it is.
            let n = pending.len();
            self.compute(&pending, 0..n, out);
            pending.clear();
        } else {
            self.order.clear();
            self.keep.clear();
            for (i, &x) in times.iter().enumerate() {
                if ready(x) {
                    self.order.push(i as u32);
                } else {
                    self.keep.push(i as u32);
                }
            }
            if !sorted {
                self.order.sort_by_key(|&i| times[i as usize]);
            }
            let mut release = std::mem::take(&mut self.release);
            release.clear();
            release.gather_from(&pending, &self.order);
            let n = release.len();
            self.compute(&release, 0..n, out);
            self.release = release;
            let mut rest = Batch::with_types(pending.columns.iter().map(column_type), 0);
            rest.gather_from(&pending, &self.keep);
            pending = rest;
        }
        self.pending[owner] = pending;
    }

    /// Computes the window functions over `batch[rows]` in that order and emits the rows.
    fn compute(&mut self, batch: &Batch, rows: Range<usize>, out: &mut ShardOutput) {
        let n_in = batch.columns.len();
        self.extended.clear();
        for (dst, src) in self.extended.columns[..n_in].iter_mut().zip(&batch.columns) {
            dst.extend_from(src, rows.clone());
        }
        let args: Vec<Option<Cow<Column>>> = self
            .plan
            .funcs
            .iter()
            .map(|f| match &f.arg {
                None => None,
                Some(Expr::Column { index, .. }) => Some(Cow::Borrowed(&batch.columns[*index])),
                Some(e) => Some(Cow::Owned(e.eval(batch, &self.dict))),
            })
            .collect();
        let results = &mut self.extended.columns[n_in..];
        for row in rows {
            let frames = if self.plan.partition_by.is_empty() {
                &mut self.global
            } else {
                self.key.clear();
                self.key.extend(
                    self.plan
                        .partition_by
                        .iter()
                        .map(|&c| batch.columns[c].key_at(row)),
                );
                if !self.partitions.contains_key(&self.key[..]) {
                    let fresh = self.plan.funcs.iter().map(Frame::new).collect();
                    self.partitions
                        .insert(self.key.clone().into_boxed_slice(), fresh);
                }
                self.partitions
                    .get_mut(&self.key[..])
                    .expect("inserted above")
            };
            for ((frame, arg), res) in frames.iter_mut().zip(&args).zip(results.iter_mut()) {
                frame.push(arg.as_deref(), row, res);
            }
        }
        let n = self.extended.len();
        project_into(
            &self.plan.outputs,
            None,
            &self.extended,
            0..n,
            &self.dict,
            &mut out.batch,
        );
        out.flush_if_full();
    }
}

fn column_type(c: &Column) -> DataType {
    match c {
        Column::Int(_) => DataType::Int,
        Column::Float(_) => DataType::Float,
        Column::Str(_) => DataType::Str,
        Column::Bool(_) => DataType::Bool,
    }
}

/// Checkpoint tables: frame scalars, frame elements, rows waiting for the watermark.
const FRAMES: u8 = 1;
const ELEMS: u8 = 2;
const PENDING: u8 = 3;

impl RowsWindow {
    /// The PARTITION BY columns' types.
    fn key_types(&self) -> Vec<DataType> {
        self.plan
            .partition_by
            .iter()
            .map(|&c| column_type(&self.release.columns[c]))
            .collect()
    }

    /// `[keys, function, then the frame's (i1, i2, f1, f2) or an element's (seq, int, float)]`.
    fn frame_types(&self, scalars: bool) -> Vec<DataType> {
        let mut t = self.key_types();
        t.extend([DataType::Int, DataType::Int, DataType::Int, DataType::Float]);
        if scalars {
            t.push(DataType::Float);
        }
        t
    }

    fn pending_types(&self) -> Vec<DataType> {
        self.release.columns.iter().map(column_type).collect()
    }
}

/// Appends the key whose 64-bit forms are `key` to `cols` (typed as the PARTITION BY
/// columns).
fn push_key(cols: &mut [Column], key: &[u64]) {
    for (c, &k) in cols.iter_mut().zip(key) {
        match c {
            Column::Int(v) => v.push(k as i64),
            Column::Float(v) => v.push(f64::from_bits(k)),
            Column::Str(v) => v.push(k as u32),
            Column::Bool(v) => v.push(k as u8),
        }
    }
}

impl Operator for RowsWindow {
    fn snapshot(&self, owner: usize, out: &mut crate::checkpoint::state::StateWriter) {
        let nk = self.plan.partition_by.len();
        let mut frames = Batch::with_types(self.frame_types(true), 0);
        let mut elems = Batch::with_types(self.frame_types(false), 0);
        let mut list = Vec::new();
        let global = [(&[][..], &self.global)];
        let all: Box<dyn Iterator<Item = (&[u64], &Vec<Frame>)>> = if nk == 0 {
            Box::new(global.into_iter())
        } else {
            Box::new(self.partitions.iter().map(|(k, f)| (&k[..], f)))
        };
        for (key, fs) in all {
            for (func, frame) in fs.iter().enumerate() {
                list.clear();
                let (i1, i2, f1, f2) = frame.snapshot(&mut list);
                push_key(&mut frames.columns[..nk], key);
                if let [
                    Column::Int(f),
                    Column::Int(a),
                    Column::Int(b),
                    Column::Float(c),
                    Column::Float(d),
                ] = &mut frames.columns[nk..]
                {
                    f.push(func as i64);
                    a.push(i1);
                    b.push(i2);
                    c.push(f1);
                    d.push(f2);
                }
                for &(q, i, x) in &list {
                    push_key(&mut elems.columns[..nk], key);
                    if let [
                        Column::Int(f),
                        Column::Int(a),
                        Column::Int(b),
                        Column::Float(c),
                    ] = &mut elems.columns[nk..]
                    {
                        f.push(func as i64);
                        a.push(q);
                        b.push(i);
                        c.push(x);
                    }
                }
            }
        }
        out.table(FRAMES, &frames);
        out.table(ELEMS, &elems);
        if let Some(p) = self.pending.get(owner) {
            out.table(PENDING, p);
        }
    }

    fn state_table(&self, tag: u8) -> Option<crate::checkpoint::state::StateTable> {
        let (types, keys) = match tag {
            PENDING => (self.pending_types(), self.plan.partition_by.clone()),
            FRAMES | ELEMS => (
                self.frame_types(tag == FRAMES),
                (0..self.plan.partition_by.len()).collect(),
            ),
            _ => return None,
        };
        Some(crate::checkpoint::state::StateTable { types, keys })
    }

    fn restore(&mut self, tag: u8, b: &Batch, owner: usize) -> crate::error::Result<()> {
        use crate::checkpoint::state::corrupt;
        if tag == PENDING {
            self.pending(owner).extend_from(b, 0..b.len());
            return Ok(());
        }
        if tag != FRAMES && tag != ELEMS {
            return Err(corrupt(&format!("a ROWS state table tagged {tag}")));
        }
        let nk = self.plan.partition_by.len();
        let keys: Vec<&Column> = b.columns[..nk].iter().collect();
        let funcs = self.plan.funcs.len();
        for r in 0..b.len() {
            let func = b.columns[nk].as_int()[r] as usize;
            if func >= funcs {
                return Err(corrupt(
                    "a ROWS frame of a function the query does not have",
                ));
            }
            let frames = if nk == 0 {
                &mut self.global
            } else {
                let key: Box<[u64]> = keys.iter().map(|c| c.key_at(r)).collect();
                let plan = &self.plan;
                self.partitions
                    .entry(key)
                    .or_insert_with(|| plan.funcs.iter().map(Frame::new).collect())
            };
            let (i1, i2) = (b.columns[nk + 1].as_int()[r], b.columns[nk + 2].as_int()[r]);
            let f1 = b.columns[nk + 3].as_float()[r];
            if tag == FRAMES {
                frames[func].restore_scalars(i1, i2, f1, b.columns[nk + 4].as_float()[r]);
            } else {
                frames[func].restore_elem(i1, i2, f1);
            }
        }
        Ok(())
    }

    fn process(&mut self, batch: &Batch, rows: Range<usize>, owner: usize, out: &mut ShardOutput) {
        let Some(t) = self.order_time else {
            return self.compute(batch, rows, out);
        };
        // In-order input: nothing waits and the watermark after this batch covers it, so the
        // rows go straight through (what buffering would release, without the copy).
        if let Some((o, wm)) = self.next_watermark.take()
            && o == owner
            && self.pending.get(owner).is_none_or(Batch::is_empty)
        {
            let times = &batch.columns[t].as_int()[rows.clone()];
            if times.windows(2).all(|p| p[0] <= p[1]) && times.last().is_none_or(|&x| x <= wm) {
                return self.compute(batch, rows, out);
            }
        }
        self.pending(owner).extend_from(batch, rows);
    }

    fn expect_watermark(&mut self, wm: i64, owner: usize) {
        self.next_watermark = Some((owner, wm));
    }

    fn watermark(&mut self, wm: i64, owner: usize, out: &mut ShardOutput) -> usize {
        self.release(owner, Some(wm), out);
        0
    }

    fn finish(&mut self, owner: usize, out: &mut ShardOutput) {
        self.release(owner, None, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotonic_deque_matches_a_scan() {
        let xs = [5i64, 1, 4, 4, 9, 2, 2, 7, 0, 3];
        for cap in 1..5 {
            let mut d = MonotonicDeque::new(cap, true);
            for (i, &x) in xs.iter().enumerate() {
                let lo = (i + 1).saturating_sub(cap);
                assert_eq!(
                    d.push(Some(x)),
                    xs[lo..=i].iter().max().copied(),
                    "cap {cap} at {i}"
                );
            }
        }
    }

    #[test]
    fn compensated_sum_survives_add_and_remove() {
        let mut s = CompensatedSum::default();
        s.add(1e16);
        s.add(1.0);
        s.add(-1e16);
        assert_eq!(s.value(), 1.0);
    }
}
