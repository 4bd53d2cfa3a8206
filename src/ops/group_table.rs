//! The group table: key → dense group index, plus one struct-of-arrays accumulator column per
//! aggregate. Keys are the 64-bit forms of the key columns (string ids, integers, float bits),
//! so lookups hash integers only. Accumulators merge exactly (`merge_from`), which is what
//! lets partial states from several cores combine into one.

use crate::data::DataType;
use crate::data::batch::Column;
use crate::sql::{AggCall, AggFunc};
use fxhash::FxHashMap;

/// Key → group index, specialised by key width so the common cases hash one integer.
enum KeyIndex {
    /// No GROUP BY: one global group.
    Global,
    /// Small non-negative keys (dictionary ids, small integers): the keys' bits, concatenated,
    /// index a flat array of group ids. It widens as larger keys appear while the array stays
    /// within `DENSE_MAX_BITS`; past that the table switches to hashing.
    Dense {
        slots: Vec<u32>,
        bits: Vec<u32>,
    },
    One(FxHashMap<u64, u32>),
    Two(FxHashMap<(u64, u64), u32>),
    Many(FxHashMap<Box<[u64]>, u32>),
}

/// The dense index's limit: 2^16 slots (256 KiB) keeps it cache-resident.
const DENSE_MAX_BITS: u32 = 16;
const EMPTY: u32 = u32::MAX;

/// Bits needed to hold `k` (at least 1).
fn bits_for(k: u64) -> u32 {
    (64 - k.leading_zeros()).max(1)
}

/// One aggregate's state for every group.
#[derive(Debug)]
pub enum Acc {
    Count(Vec<i64>),
    SumInt(Vec<i64>),
    SumFloat(Vec<f64>),
    Avg { sum: Vec<f64>, n: Vec<i64> },
    MinInt(Vec<i64>),
    MaxInt(Vec<i64>),
    MinFloat(Vec<f64>),
    MaxFloat(Vec<f64>),
}

impl Acc {
    pub fn new(call: &AggCall) -> Acc {
        let int_arg = call.arg.as_ref().is_some_and(|a| a.ty().is_integer());
        match call.func {
            AggFunc::CountStar | AggFunc::Count => Acc::Count(Vec::new()),
            AggFunc::Sum if int_arg => Acc::SumInt(Vec::new()),
            AggFunc::Sum => Acc::SumFloat(Vec::new()),
            AggFunc::Avg => Acc::Avg {
                sum: Vec::new(),
                n: Vec::new(),
            },
            AggFunc::Min if int_arg => Acc::MinInt(Vec::new()),
            AggFunc::Max if int_arg => Acc::MaxInt(Vec::new()),
            AggFunc::Min => Acc::MinFloat(Vec::new()),
            AggFunc::Max => Acc::MaxFloat(Vec::new()),
        }
    }

    /// Adds the initial state of one new group.
    fn push_group(&mut self) {
        match self {
            Acc::Count(v) | Acc::SumInt(v) => v.push(0),
            Acc::SumFloat(v) => v.push(0.0),
            Acc::Avg { sum, n } => {
                sum.push(0.0);
                n.push(0);
            }
            Acc::MinInt(v) => v.push(i64::MAX),
            Acc::MaxInt(v) => v.push(i64::MIN),
            Acc::MinFloat(v) => v.push(f64::INFINITY),
            Acc::MaxFloat(v) => v.push(f64::NEG_INFINITY),
        }
    }

    /// Puts group `g` back to the identity state (as `push_group` creates it).
    fn reset(&mut self, g: usize) {
        match self {
            Acc::Count(v) | Acc::SumInt(v) => v[g] = 0,
            Acc::SumFloat(v) => v[g] = 0.0,
            Acc::Avg { sum, n } => {
                sum[g] = 0.0;
                n[g] = 0;
            }
            Acc::MinInt(v) => v[g] = i64::MAX,
            Acc::MaxInt(v) => v[g] = i64::MIN,
            Acc::MinFloat(v) => v[g] = f64::INFINITY,
            Acc::MaxFloat(v) => v[g] = f64::NEG_INFINITY,
        }
    }

    fn clear(&mut self) {
        match self {
            Acc::Count(v) | Acc::SumInt(v) | Acc::MinInt(v) | Acc::MaxInt(v) => v.clear(),
            Acc::SumFloat(v) | Acc::MinFloat(v) | Acc::MaxFloat(v) => v.clear(),
            Acc::Avg { sum, n } => {
                sum.clear();
                n.clear();
            }
        }
    }

    /// Folds `arg[row]` into group `g`.
    #[inline]
    pub fn update(&mut self, g: usize, arg: Option<&Column>, row: usize) {
        let f = |c: Option<&Column>| match c {
            Some(Column::Float(v)) => v[row],
            Some(Column::Int(v)) => v[row] as f64,
            _ => 0.0,
        };
        let i = |c: Option<&Column>| match c {
            Some(Column::Int(v)) => v[row],
            _ => 0,
        };
        match self {
            Acc::Count(v) => v[g] += 1,
            Acc::SumInt(v) => v[g] = v[g].wrapping_add(i(arg)),
            Acc::SumFloat(v) => v[g] += f(arg),
            Acc::Avg { sum, n } => {
                sum[g] += f(arg);
                n[g] += 1;
            }
            Acc::MinInt(v) => v[g] = v[g].min(i(arg)),
            Acc::MaxInt(v) => v[g] = v[g].max(i(arg)),
            Acc::MinFloat(v) => v[g] = v[g].min(f(arg)),
            Acc::MaxFloat(v) => v[g] = v[g].max(f(arg)),
        }
    }

    /// Folds every row of `rows` (with group ids `groups`) in one typed loop.
    pub fn update_batch(
        &mut self,
        groups: &[u32],
        arg: Option<&Column>,
        rows: std::ops::Range<usize>,
    ) {
        macro_rules! fold {
            ($v:expr, $vals:expr, $op:expr) => {
                for (&g, x) in groups.iter().zip(&$vals[rows.clone()]) {
                    let s = &mut $v[g as usize];
                    *s = $op(*s, *x);
                }
            };
        }
        match (self, arg) {
            (Acc::Count(v), _) => groups.iter().for_each(|&g| v[g as usize] += 1),
            (Acc::SumInt(v), Some(Column::Int(a))) => fold!(v, a, i64::wrapping_add),
            (Acc::SumFloat(v), Some(Column::Float(a))) => fold!(v, a, |s: f64, x: f64| s + x),
            (Acc::MinInt(v), Some(Column::Int(a))) => fold!(v, a, i64::min),
            (Acc::MaxInt(v), Some(Column::Int(a))) => fold!(v, a, i64::max),
            (Acc::MinFloat(v), Some(Column::Float(a))) => fold!(v, a, f64::min),
            (Acc::MaxFloat(v), Some(Column::Float(a))) => fold!(v, a, f64::max),
            (Acc::Avg { sum, n }, Some(Column::Float(a))) => {
                for (&g, x) in groups.iter().zip(&a[rows.clone()]) {
                    sum[g as usize] += *x;
                    n[g as usize] += 1;
                }
            }
            (acc, arg) => {
                for (k, &g) in groups.iter().enumerate() {
                    acc.update(g as usize, arg, rows.start + k);
                }
            }
        }
    }

    /// Folds each row of `rows` into its group and appends the group's new result after each
    /// one (EMIT CHANGES), one typed loop per accumulator: each group's updates still happen in
    /// row order, so every appended value is the group's state right after that row.
    pub fn update_and_emit(
        &mut self,
        groups: &[u32],
        arg: Option<&Column>,
        rows: std::ops::Range<usize>,
        out: &mut Column,
    ) {
        macro_rules! fold {
            ($v:expr, $vals:expr, $o:expr, $op:expr) => {
                for (&g, x) in groups.iter().zip(&$vals[rows.clone()]) {
                    let s = &mut $v[g as usize];
                    *s = $op(*s, *x);
                    $o.push(*s);
                }
            };
        }
        match (self, arg, out) {
            (Acc::Count(v), _, Column::Int(o)) => {
                for &g in groups {
                    v[g as usize] += 1;
                    o.push(v[g as usize]);
                }
            }
            (Acc::SumInt(v), Some(Column::Int(a)), Column::Int(o)) => {
                fold!(v, a, o, i64::wrapping_add)
            }
            (Acc::SumFloat(v), Some(Column::Float(a)), Column::Float(o)) => {
                fold!(v, a, o, |s: f64, x: f64| s + x)
            }
            (Acc::MinInt(v), Some(Column::Int(a)), Column::Int(o)) => fold!(v, a, o, i64::min),
            (Acc::MaxInt(v), Some(Column::Int(a)), Column::Int(o)) => fold!(v, a, o, i64::max),
            (Acc::MinFloat(v), Some(Column::Float(a)), Column::Float(o)) => {
                fold!(v, a, o, f64::min)
            }
            (Acc::MaxFloat(v), Some(Column::Float(a)), Column::Float(o)) => {
                fold!(v, a, o, f64::max)
            }
            (Acc::Avg { sum, n }, Some(Column::Float(a)), Column::Float(o)) => {
                for (&g, x) in groups.iter().zip(&a[rows.clone()]) {
                    let g = g as usize;
                    sum[g] += *x;
                    n[g] += 1;
                    o.push(sum[g] / n[g] as f64);
                }
            }
            (acc, arg, out) => {
                for (k, &g) in groups.iter().enumerate() {
                    acc.update(g as usize, arg, rows.start + k);
                    acc.emit(g as usize, out);
                }
            }
        }
    }

    /// Combines group `src_g` of `other` (same variant) into group `g`: exact for counts,
    /// integer sums, min and max; float sums add partial sums.
    pub fn merge_from(&mut self, g: usize, other: &Acc, src_g: usize) {
        match (self, other) {
            (Acc::Count(a), Acc::Count(b)) | (Acc::SumInt(a), Acc::SumInt(b)) => {
                a[g] = a[g].wrapping_add(b[src_g])
            }
            (Acc::SumFloat(a), Acc::SumFloat(b)) => a[g] += b[src_g],
            (Acc::Avg { sum, n }, Acc::Avg { sum: s2, n: n2 }) => {
                sum[g] += s2[src_g];
                n[g] += n2[src_g];
            }
            (Acc::MinInt(a), Acc::MinInt(b)) => a[g] = a[g].min(b[src_g]),
            (Acc::MaxInt(a), Acc::MaxInt(b)) => a[g] = a[g].max(b[src_g]),
            (Acc::MinFloat(a), Acc::MinFloat(b)) => a[g] = a[g].min(b[src_g]),
            (Acc::MaxFloat(a), Acc::MaxFloat(b)) => a[g] = a[g].max(b[src_g]),
            _ => panic!("internal: merging different accumulator kinds"),
        }
    }

    /// The columns of this accumulator's partial state (what `emit_state` writes).
    pub fn state_types(call: &AggCall) -> Vec<DataType> {
        let int_arg = call.arg.as_ref().is_some_and(|a| a.ty().is_integer());
        match call.func {
            AggFunc::CountStar | AggFunc::Count => vec![DataType::Int],
            AggFunc::Avg => vec![DataType::Float, DataType::Int],
            AggFunc::Sum | AggFunc::Min | AggFunc::Max if int_arg => vec![DataType::Int],
            _ => vec![DataType::Float],
        }
    }

    /// Appends group `g`'s partial state to `cols`; returns how many columns it used.
    pub fn emit_state(&self, g: usize, cols: &mut [Column]) -> usize {
        match (self, cols) {
            (
                Acc::Count(v) | Acc::SumInt(v) | Acc::MinInt(v) | Acc::MaxInt(v),
                [Column::Int(o), ..],
            ) => o.push(v[g]),
            (Acc::SumFloat(v) | Acc::MinFloat(v) | Acc::MaxFloat(v), [Column::Float(o), ..]) => {
                o.push(v[g])
            }
            (Acc::Avg { sum, n }, [Column::Float(s), Column::Int(c), ..]) => {
                s.push(sum[g]);
                c.push(n[g]);
                return 2;
            }
            _ => panic!("internal: partial state columns do not match the accumulator"),
        }
        1
    }

    /// Merges the partial state at `cols[..][row]` into group `g`; returns the columns used.
    pub fn merge_state(&mut self, g: usize, cols: &[Column], row: usize) -> usize {
        match (self, cols) {
            (Acc::Count(v) | Acc::SumInt(v), [Column::Int(o), ..]) => {
                v[g] = v[g].wrapping_add(o[row])
            }
            (Acc::MinInt(v), [Column::Int(o), ..]) => v[g] = v[g].min(o[row]),
            (Acc::MaxInt(v), [Column::Int(o), ..]) => v[g] = v[g].max(o[row]),
            (Acc::SumFloat(v), [Column::Float(o), ..]) => v[g] += o[row],
            (Acc::MinFloat(v), [Column::Float(o), ..]) => v[g] = v[g].min(o[row]),
            (Acc::MaxFloat(v), [Column::Float(o), ..]) => v[g] = v[g].max(o[row]),
            (Acc::Avg { sum, n }, [Column::Float(s), Column::Int(c), ..]) => {
                sum[g] += s[row];
                n[g] += c[row];
                return 2;
            }
            _ => panic!("internal: partial state columns do not match the accumulator"),
        }
        1
    }

    /// Appends group `g`'s result to `out` (a column of the call's result type).
    #[inline]
    pub fn emit(&self, g: usize, out: &mut Column) {
        match (self, out) {
            (Acc::Count(v) | Acc::SumInt(v) | Acc::MinInt(v) | Acc::MaxInt(v), Column::Int(o)) => {
                o.push(v[g])
            }
            (Acc::SumFloat(v) | Acc::MinFloat(v) | Acc::MaxFloat(v), Column::Float(o)) => {
                o.push(v[g])
            }
            (Acc::Avg { sum, n }, Column::Float(o)) => o.push(sum[g] / n[g] as f64),
            _ => panic!("internal: accumulator and output column types differ"),
        }
    }
}

/// Groups of one window (or of the whole stream) for one owner.
pub struct GroupTable {
    index: KeyIndex,
    /// Key values per group, in first-seen order.
    pub keys: Vec<Column>,
    pub accs: Vec<Acc>,
    /// Records folded into each group (partials carry it, so late partials count records).
    pub records: Vec<i64>,
    groups: u32,
    scratch: Vec<u64>,
}

impl GroupTable {
    pub fn new(key_types: &[DataType], aggs: &[AggCall]) -> GroupTable {
        let index = match key_types.len() {
            0 => KeyIndex::Global,
            n if n <= 4 => KeyIndex::Dense {
                slots: vec![EMPTY; 1 << n],
                bits: vec![1; n],
            },
            _ => KeyIndex::Many(FxHashMap::default()),
        };
        GroupTable {
            index,
            keys: key_types
                .iter()
                .map(|&t| Column::with_capacity(t, 0))
                .collect(),
            accs: aggs.iter().map(Acc::new).collect(),
            records: Vec::new(),
            groups: 0,
            scratch: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.groups as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Empties the table, keeping its memory for the next window.
    pub fn clear(&mut self) {
        match &mut self.index {
            KeyIndex::Global => {}
            KeyIndex::Dense { slots, bits } => {
                // Reset only the slots in use: O(groups), not O(slots).
                for g in 0..self.groups as usize {
                    let mut idx = 0usize;
                    for (c, b) in self.keys.iter().zip(bits.iter()) {
                        idx = (idx << b) | c.key_at(g) as usize;
                    }
                    slots[idx] = EMPTY;
                }
            }
            KeyIndex::One(m) => m.clear(),
            KeyIndex::Two(m) => m.clear(),
            KeyIndex::Many(m) => m.clear(),
        }
        self.keys.iter_mut().for_each(Column::clear);
        self.accs.iter_mut().for_each(Acc::clear);
        self.records.clear();
        self.groups = 0;
    }

    fn new_group(&mut self, key_cols: &[&Column], row: usize) -> u32 {
        let g = self.groups;
        self.groups += 1;
        for (dst, src) in self.keys.iter_mut().zip(key_cols) {
            dst.push_from(src, row);
        }
        self.accs.iter_mut().for_each(Acc::push_group);
        self.records.push(0);
        g
    }

    /// Puts group `g`'s accumulators and record count back to identity, keeping the group (its
    /// key and index entry) for the next block.
    pub fn reset_group(&mut self, g: usize) {
        self.accs.iter_mut().for_each(|a| a.reset(g));
        self.records[g] = 0;
    }

    /// Counts one record for each group id in `groups`.
    pub fn count_records(&mut self, groups: &[u32]) {
        for &g in groups {
            self.records[g as usize] += 1;
        }
    }

    /// Group ids of `rows`, appended to `out` (cleared first).
    pub fn group_ids(
        &mut self,
        key_cols: &[&Column],
        rows: std::ops::Range<usize>,
        out: &mut Vec<u32>,
    ) {
        out.clear();
        // The common case, two dictionary-id keys in a dense index, without per-row dispatch.
        if let ([Column::Str(a), Column::Str(b)], KeyIndex::Dense { bits, .. }) =
            (key_cols, &self.index)
        {
            let (ba, bb) = (bits[0], bits[1]);
            for r in rows.clone() {
                let (ka, kb) = (a[r], b[r]);
                if (ka >> ba) == 0
                    && (kb >> bb) == 0
                    && let KeyIndex::Dense { slots, .. } = &self.index
                {
                    let g = slots[((ka as usize) << bb) | kb as usize];
                    if g != EMPTY {
                        out.push(g);
                        continue;
                    }
                }
                // New group or a wider key: the general path (which may re-layout the index).
                let g = self.group_of(key_cols, r);
                out.push(g);
                if !matches!(&self.index, KeyIndex::Dense { bits, .. } if bits[0] == ba && bits[1] == bb)
                {
                    for r2 in r + 1..rows.end {
                        out.push(self.group_of(key_cols, r2));
                    }
                    return;
                }
            }
            return;
        }
        out.extend(rows.map(|r| self.group_of(key_cols, r)));
    }

    /// Rebuilds the index after the dense layout changed or gave up, from the stored keys.
    fn reindex(&mut self, new: KeyIndex) {
        self.index = new;
        let keys: Vec<Column> = std::mem::take(&mut self.keys);
        let refs: Vec<&Column> = keys.iter().collect();
        for g in 0..self.groups {
            self.insert_existing(&refs, g as usize, g);
        }
        self.keys = keys;
    }

    /// Records that row `row` of `key_cols` is group `g` (the group exists already).
    fn insert_existing(&mut self, key_cols: &[&Column], row: usize, g: u32) {
        match &mut self.index {
            KeyIndex::Global => {}
            KeyIndex::Dense { slots, bits } => {
                let mut idx = 0usize;
                for (c, b) in key_cols.iter().zip(bits.iter()) {
                    idx = (idx << b) | c.key_at(row) as usize;
                }
                slots[idx] = g;
            }
            KeyIndex::One(m) => {
                m.insert(key_cols[0].key_at(row), g);
            }
            KeyIndex::Two(m) => {
                m.insert((key_cols[0].key_at(row), key_cols[1].key_at(row)), g);
            }
            KeyIndex::Many(m) => {
                m.insert(key_cols.iter().map(|c| c.key_at(row)).collect(), g);
            }
        }
    }

    /// The group of `row` (columns `key_cols`), created on first sight.
    #[inline]
    pub fn group_of(&mut self, key_cols: &[&Column], row: usize) -> u32 {
        if let KeyIndex::Dense { slots, bits } = &mut self.index {
            let mut idx = 0usize;
            let mut fits = true;
            for (c, b) in key_cols.iter().zip(bits.iter()) {
                let k = c.key_at(row);
                fits &= (k >> b) == 0;
                idx = (idx << b) | (k as usize & ((1usize << b) - 1));
            }
            if fits {
                let g = slots[idx];
                if g != EMPTY {
                    return g;
                }
                let g = self.groups;
                slots[idx] = g;
                return self.new_group(key_cols, row);
            }
            // A key too wide for the current layout: widen, or switch to hashing.
            let wanted: Vec<u32> = key_cols
                .iter()
                .zip(bits.iter())
                .map(|(c, &b)| b.max(bits_for(c.key_at(row)) + 1))
                .collect();
            let total: u32 = wanted.iter().sum();
            let next = if total <= DENSE_MAX_BITS {
                KeyIndex::Dense {
                    slots: vec![EMPTY; 1 << total],
                    bits: wanted,
                }
            } else {
                match key_cols.len() {
                    1 => KeyIndex::One(FxHashMap::default()),
                    2 => KeyIndex::Two(FxHashMap::default()),
                    _ => KeyIndex::Many(FxHashMap::default()),
                }
            };
            self.reindex(next);
            return self.group_of(key_cols, row);
        }
        match &mut self.index {
            KeyIndex::Dense { .. } => unreachable!("handled above"),
            KeyIndex::Global => {
                if self.groups == 0 {
                    self.new_group(key_cols, row);
                }
                0
            }
            KeyIndex::One(m) => {
                let k = key_cols[0].key_at(row);
                match m.get(&k) {
                    Some(&g) => g,
                    None => {
                        let g = self.groups;
                        m.insert(k, g);
                        self.new_group(key_cols, row)
                    }
                }
            }
            KeyIndex::Two(m) => {
                let k = (key_cols[0].key_at(row), key_cols[1].key_at(row));
                match m.get(&k) {
                    Some(&g) => g,
                    None => {
                        let g = self.groups;
                        m.insert(k, g);
                        self.new_group(key_cols, row)
                    }
                }
            }
            KeyIndex::Many(m) => {
                self.scratch.clear();
                self.scratch.extend(key_cols.iter().map(|c| c.key_at(row)));
                match m.get(&self.scratch[..]) {
                    Some(&g) => g,
                    None => {
                        let g = self.groups;
                        m.insert(self.scratch.clone().into_boxed_slice(), g);
                        self.new_group(key_cols, row)
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::Expr;

    fn call(func: AggFunc, ty: DataType) -> AggCall {
        AggCall {
            func,
            arg: Some(Expr::Column { index: 0, ty }),
            ty: func.result_type(Some(ty)),
        }
    }

    #[test]
    fn the_dense_index_widens_then_falls_back_to_hashing_without_losing_groups() {
        let mut t = GroupTable::new(
            &[DataType::Int, DataType::Int],
            &[call(AggFunc::CountStar, DataType::Int)],
        );
        let a = Column::Int(vec![0, 1, 5, 0, 300, 1, -7, 5, 1 << 40, 300, -7, 0]);
        let b = Column::Int(vec![0, 1, 2, 0, 3, 1, 4, 2, 5, 3, 4, 0]);
        let mut ids = Vec::new();
        t.group_ids(&[&a, &b], 0..12, &mut ids);
        assert_eq!(ids, vec![0, 1, 2, 0, 3, 1, 4, 2, 5, 3, 4, 0]);
        assert_eq!(t.len(), 6);
        t.clear();
        t.group_ids(&[&a, &b], 4..6, &mut ids);
        assert_eq!(ids, vec![0, 1]);
    }

    #[test]
    fn dense_string_keys_match_the_general_path() {
        let keys_a = Column::Str((0..5000u32).map(|i| (i * 7919) % 97).collect());
        let keys_b = Column::Str((0..5000u32).map(|i| (i * 104729) % 13).collect());
        let (mut fast, mut slow) = (Vec::new(), Vec::new());
        let mut t1 = GroupTable::new(&[DataType::Str, DataType::Str], &[]);
        t1.group_ids(&[&keys_a, &keys_b], 0..5000, &mut fast);
        let mut t2 = GroupTable::new(&[DataType::Str, DataType::Str], &[]);
        for r in 0..5000 {
            slow.push(t2.group_of(&[&keys_a, &keys_b], r));
        }
        assert_eq!(fast, slow);
    }

    #[test]
    fn groups_are_dense_in_first_seen_order() {
        let mut t = GroupTable::new(&[DataType::Str], &[call(AggFunc::CountStar, DataType::Int)]);
        let keys = Column::Str(vec![7, 3, 7, 9, 3]);
        let g: Vec<u32> = (0..5).map(|r| t.group_of(&[&keys], r)).collect();
        assert_eq!(g, vec![0, 1, 0, 2, 1]);
        assert_eq!(t.keys[0].as_str_ids(), &[7, 3, 9]);
        assert_eq!(t.len(), 3);
    }

    #[test]
    fn merging_partials_equals_folding_everything_in_one() {
        let vals = Column::Float(vec![1.5, -2.0, 8.25, 0.5, 3.0, -7.5]);
        for func in [
            AggFunc::Count,
            AggFunc::Sum,
            AggFunc::Avg,
            AggFunc::Min,
            AggFunc::Max,
        ] {
            let c = call(func, DataType::Float);
            let mut whole = Acc::new(&c);
            whole.push_group();
            whole.update_batch(&[0; 6], Some(&vals), 0..6);
            let (mut a, mut b) = (Acc::new(&c), Acc::new(&c));
            a.push_group();
            b.push_group();
            a.update_batch(&[0; 2], Some(&vals), 0..2);
            b.update_batch(&[0; 4], Some(&vals), 2..6);
            a.merge_from(0, &b, 0);
            let (mut x, mut y) = (Column::Float(vec![]), Column::Float(vec![]));
            if c.ty == DataType::Int {
                x = Column::Int(vec![]);
                y = Column::Int(vec![]);
            }
            whole.emit(0, &mut x);
            a.emit(0, &mut y);
            assert_eq!(x, y, "{func:?}");
        }
    }
}
