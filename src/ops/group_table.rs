//! The group table: key → dense group index, plus one struct-of-arrays accumulator column per
//! aggregate. Keys are the 64-bit forms of the key columns (string ids, integers, float bits),
//! so lookups hash integers only. Accumulators merge exactly (`merge_from`), which is what
//! lets partial states from several cores combine into one.

use crate::data::batch::{Column, null_float};
use crate::data::{DataType, Dict};
use crate::sql::{AggCall, AggFunc};
use fxhash::{FxHashMap, FxHashSet};
use std::sync::Arc;

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

/// What an accumulator computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    CountStar,
    Count,
    Sum,
    Avg,
    Min,
    Max,
    /// Variance / standard deviation: Welford's running mean and sum of squared deviations,
    /// merged exactly with Chan's formula.
    Var {
        sample: bool,
        sqrt: bool,
    },
    Distinct,
}

/// One aggregate's state for every group (struct of arrays). `n` counts the non-NULL inputs
/// of each group (all records for COUNT(*)); a group with none gives NULL (0 for counts).
/// Integer SUM/MIN/MAX keep `i`, float ones and AVG keep `f`, variance keeps the mean in `f`
/// and the squared deviations in `m2`, COUNT(DISTINCT) keeps one set of value keys per group.
#[derive(Debug)]
pub struct Acc {
    kind: Kind,
    int: bool,
    /// MIN / MAX of strings: `i` holds dictionary ids, compared by their text.
    is_str: bool,
    text: Option<Arc<Dict>>,
    n: Vec<i64>,
    i: Vec<i64>,
    f: Vec<f64>,
    m2: Vec<f64>,
    sets: Vec<FxHashSet<u64>>,
}

impl Acc {
    pub fn new(call: &AggCall) -> Acc {
        let int = call.arg.as_ref().is_some_and(|a| a.ty().is_integer());
        let is_str = matches!(call.func, AggFunc::Min | AggFunc::Max)
            && call.arg.as_ref().is_some_and(|a| a.ty() == DataType::Str);
        let kind = match call.func {
            AggFunc::CountStar => Kind::CountStar,
            AggFunc::Count => Kind::Count,
            AggFunc::CountDistinct => Kind::Distinct,
            AggFunc::Sum => Kind::Sum,
            AggFunc::Avg => Kind::Avg,
            AggFunc::Min => Kind::Min,
            AggFunc::Max => Kind::Max,
            AggFunc::StddevSamp => Kind::Var {
                sample: true,
                sqrt: true,
            },
            AggFunc::StddevPop => Kind::Var {
                sample: false,
                sqrt: true,
            },
            AggFunc::VarSamp => Kind::Var {
                sample: true,
                sqrt: false,
            },
            AggFunc::VarPop => Kind::Var {
                sample: false,
                sqrt: false,
            },
        };
        Acc {
            kind,
            int: (int || is_str) && matches!(kind, Kind::Sum | Kind::Min | Kind::Max),
            is_str,
            text: None,
            n: Vec::new(),
            i: Vec::new(),
            f: Vec::new(),
            m2: Vec::new(),
            sets: Vec::new(),
        }
    }

    /// Gives a string MIN / MAX the dictionary its ids are compared in.
    pub fn attach_dict(&mut self, dict: &Arc<Dict>) {
        if self.is_str {
            self.text = Some(dict.clone());
        }
    }

    /// The id of the smaller (MIN) or larger (MAX) string of two ids.
    fn pick_text(&self, a: i64, b: i64) -> i64 {
        let dict = self
            .text
            .as_ref()
            .expect("string MIN/MAX has its dictionary");
        let (x, y) = (dict.get(a as u32), dict.get(b as u32));
        let first = if self.kind == Kind::Min {
            x <= y
        } else {
            x >= y
        };
        if first { a } else { b }
    }

    /// Whether partial states of this accumulator can cross cores as fixed columns (a
    /// distinct set cannot, so COUNT(DISTINCT) is folded at the owner).
    pub fn has_fixed_state(call: &AggCall) -> bool {
        call.func != AggFunc::CountDistinct
    }

    fn identity_i(&self) -> i64 {
        match self.kind {
            Kind::Min => i64::MAX,
            Kind::Max => i64::MIN,
            _ => 0,
        }
    }

    fn identity_f(&self) -> f64 {
        match self.kind {
            Kind::Min => f64::INFINITY,
            Kind::Max => f64::NEG_INFINITY,
            _ => 0.0,
        }
    }

    /// Adds the initial state of one new group.
    pub fn push_group(&mut self) {
        self.n.push(0);
        match self.kind {
            Kind::CountStar | Kind::Count => {}
            Kind::Distinct => self.sets.push(FxHashSet::default()),
            Kind::Var { .. } => {
                self.f.push(0.0);
                self.m2.push(0.0);
            }
            _ if self.int => self.i.push(self.identity_i()),
            _ => self.f.push(self.identity_f()),
        }
    }

    /// Puts group `g` back to the identity state (as `push_group` creates it).
    pub fn reset(&mut self, g: usize) {
        self.n[g] = 0;
        match self.kind {
            Kind::CountStar | Kind::Count => {}
            Kind::Distinct => self.sets[g].clear(),
            Kind::Var { .. } => {
                self.f[g] = 0.0;
                self.m2[g] = 0.0;
            }
            _ if self.int => self.i[g] = self.identity_i(),
            _ => self.f[g] = self.identity_f(),
        }
    }

    fn clear(&mut self) {
        self.n.clear();
        self.i.clear();
        self.f.clear();
        self.m2.clear();
        self.sets.clear();
    }

    /// Folds `arg[row]` into group `g` (NULL inputs are skipped, except by COUNT(*)).
    #[inline]
    pub fn update(&mut self, g: usize, arg: Option<&Column>, row: usize) {
        let Some(arg) = arg else {
            self.n[g] += 1;
            return;
        };
        if arg.is_null(row) {
            return;
        }
        self.n[g] += 1;
        let x = || match arg {
            Column::Float(v) => v[row],
            Column::Int(v) => v[row] as f64,
            Column::Bool(v) => v[row] as f64,
            Column::Str(_) => 0.0,
        };
        match self.kind {
            Kind::CountStar | Kind::Count => {}
            Kind::Distinct => {
                self.sets[g].insert(arg.key_at(row));
            }
            Kind::Var { .. } => {
                let x = x();
                let d = x - self.f[g];
                self.f[g] += d / self.n[g] as f64;
                self.m2[g] += d * (x - self.f[g]);
            }
            Kind::Min | Kind::Max if self.is_str => {
                let id = arg.as_str_ids()[row] as i64;
                self.i[g] = if self.n[g] == 1 {
                    id
                } else {
                    self.pick_text(self.i[g], id)
                };
            }
            Kind::Sum if self.int => self.i[g] = self.i[g].wrapping_add(arg.as_int()[row]),
            Kind::Min if self.int => self.i[g] = self.i[g].min(arg.as_int()[row]),
            Kind::Max if self.int => self.i[g] = self.i[g].max(arg.as_int()[row]),
            Kind::Sum | Kind::Avg => self.f[g] += x(),
            Kind::Min => self.f[g] = self.f[g].min(x()),
            Kind::Max => self.f[g] = self.f[g].max(x()),
        }
    }

    /// Folds every row of `rows` (with group ids `groups`) in one typed loop when the
    /// argument has no NULLs in the rows (the common case), row by row otherwise.
    pub fn update_batch(
        &mut self,
        groups: &[u32],
        arg: Option<&Column>,
        rows: std::ops::Range<usize>,
    ) {
        macro_rules! fold {
            ($v:expr, $vals:expr, $op:expr) => {
                for (&g, x) in groups.iter().zip(&$vals[rows.clone()]) {
                    let g = g as usize;
                    $v[g] = $op($v[g], *x);
                    self.n[g] += 1;
                }
            };
        }
        let fast = arg.is_none_or(|a| !a.has_nulls(rows.clone()));
        match (self.kind, self.int, arg) {
            (Kind::CountStar, ..) | (Kind::Count, _, _) if fast => {
                groups.iter().for_each(|&g| self.n[g as usize] += 1)
            }
            (Kind::Sum, true, Some(Column::Int(a))) if fast => {
                fold!(self.i, a, i64::wrapping_add)
            }
            (Kind::Min, true, Some(Column::Int(a))) if fast => fold!(self.i, a, i64::min),
            (Kind::Max, true, Some(Column::Int(a))) if fast => fold!(self.i, a, i64::max),
            (Kind::Sum | Kind::Avg, false, Some(Column::Float(a))) if fast => {
                fold!(self.f, a, |s: f64, x: f64| s + x)
            }
            (Kind::Min, false, Some(Column::Float(a))) if fast => fold!(self.f, a, f64::min),
            (Kind::Max, false, Some(Column::Float(a))) if fast => fold!(self.f, a, f64::max),
            _ => {
                for (k, &g) in groups.iter().enumerate() {
                    self.update(g as usize, arg, rows.start + k);
                }
            }
        }
    }

    /// Folds each row of `rows` into its group and appends the group's new result after each
    /// one (EMIT CHANGES): each group's updates still happen in row order, so every appended
    /// value is the group's state right after that row. The common accumulators have one
    /// typed loop each.
    pub fn update_and_emit(
        &mut self,
        groups: &[u32],
        arg: Option<&Column>,
        rows: std::ops::Range<usize>,
        out: &mut Column,
    ) {
        let fast = arg.is_none_or(|a| !a.has_nulls(rows.clone()));
        // The typed loops write into a pre-sized tail of the output and work on local slices:
        // no `push` (a length store and reload) per row.
        fn tail<T: Copy + Default>(o: &mut Vec<T>, n: usize) -> &mut [T] {
            let at = o.len();
            o.resize(at + n, T::default());
            &mut o[at..]
        }
        match (self.kind, arg, out) {
            (Kind::CountStar | Kind::Count, _, Column::Int(o)) if fast => {
                let n = &mut self.n[..];
                for (slot, &g) in tail(o, groups.len()).iter_mut().zip(groups) {
                    let g = g as usize;
                    n[g] += 1;
                    *slot = n[g];
                }
            }
            (Kind::Avg, Some(Column::Float(a)), Column::Float(o)) if fast => {
                let (n, f) = (&mut self.n[..], &mut self.f[..]);
                let out = tail(o, groups.len());
                for ((slot, &g), x) in out.iter_mut().zip(groups).zip(&a[rows.clone()]) {
                    let g = g as usize;
                    f[g] += *x;
                    n[g] += 1;
                    *slot = f[g] / n[g] as f64;
                }
            }
            (Kind::Sum | Kind::Min | Kind::Max, Some(Column::Float(a)), Column::Float(o))
                if fast =>
            {
                let op: fn(f64, f64) -> f64 = match self.kind {
                    Kind::Sum => |s, x| s + x,
                    Kind::Min => f64::min,
                    _ => f64::max,
                };
                let (n, f) = (&mut self.n[..], &mut self.f[..]);
                let out = tail(o, groups.len());
                for ((slot, &g), x) in out.iter_mut().zip(groups).zip(&a[rows.clone()]) {
                    let g = g as usize;
                    f[g] = op(f[g], *x);
                    n[g] += 1;
                    *slot = f[g];
                }
            }
            (_, arg, out) => {
                for (k, &g) in groups.iter().enumerate() {
                    self.update(g as usize, arg, rows.start + k);
                    self.emit(g as usize, out);
                }
            }
        }
    }

    /// Combines group `src_g` of `other` (same kind) into group `g`: exact for counts,
    /// integer sums, min, max and distinct sets; float sums add partial sums; variances
    /// combine by Chan's formula.
    pub fn merge_from(&mut self, g: usize, other: &Acc, src_g: usize) {
        let (i, f, m2) = (
            other.i.get(src_g).copied().unwrap_or(0),
            other.f.get(src_g).copied().unwrap_or(0.0),
            other.m2.get(src_g).copied().unwrap_or(0.0),
        );
        if other.kind == Kind::Distinct {
            let set = other.sets[src_g].clone();
            self.sets[g].extend(set);
            self.n[g] += other.n[src_g];
            return;
        }
        self.merge_values(g, other.n[src_g], i, f, m2);
    }

    /// Merges group `src`'s state into group `dst` of the same accumulator (sessions that
    /// merge); `src` is left for `reset`.
    pub fn merge_groups(&mut self, dst: usize, src: usize) {
        if self.kind == Kind::Distinct {
            let set = std::mem::take(&mut self.sets[src]);
            self.sets[dst].extend(set);
            self.n[dst] += self.n[src];
            return;
        }
        let (n, i, f, m2) = (
            self.n[src],
            self.i.get(src).copied().unwrap_or(0),
            self.f.get(src).copied().unwrap_or(0.0),
            self.m2.get(src).copied().unwrap_or(0.0),
        );
        self.merge_values(dst, n, i, f, m2);
    }

    fn merge_values(&mut self, g: usize, n: i64, i: i64, f: f64, m2: f64) {
        if n == 0 {
            return;
        }
        match self.kind {
            Kind::CountStar | Kind::Count => {}
            Kind::Distinct => unreachable!("distinct sets merge in merge_from"),
            Kind::Var { .. } => {
                let (na, nb) = (self.n[g] as f64, n as f64);
                let delta = f - self.f[g];
                let total = na + nb;
                self.f[g] += delta * nb / total;
                self.m2[g] += m2 + delta * delta * na * nb / total;
            }
            Kind::Min | Kind::Max if self.is_str => {
                self.i[g] = if self.n[g] == 0 {
                    i
                } else {
                    self.pick_text(self.i[g], i)
                };
            }
            Kind::Sum if self.int => self.i[g] = self.i[g].wrapping_add(i),
            Kind::Min if self.int => self.i[g] = self.i[g].min(i),
            Kind::Max if self.int => self.i[g] = self.i[g].max(i),
            Kind::Sum | Kind::Avg => self.f[g] += f,
            Kind::Min => self.f[g] = self.f[g].min(f),
            Kind::Max => self.f[g] = self.f[g].max(f),
        }
        self.n[g] += n;
    }

    /// The columns of this accumulator's partial state (what `emit_state` writes): the
    /// non-NULL count, then the value state.
    pub fn state_types(call: &AggCall) -> Vec<DataType> {
        let acc = Acc::new(call);
        let mut t = vec![DataType::Int];
        match acc.kind {
            Kind::CountStar | Kind::Count | Kind::Distinct => {}
            Kind::Var { .. } => t.extend([DataType::Float, DataType::Float]),
            _ if acc.int => t.push(DataType::Int),
            _ => t.push(DataType::Float),
        }
        t
    }

    /// Appends group `g`'s partial state to `cols`; returns how many columns it used.
    pub fn emit_state(&self, g: usize, cols: &mut [Column]) -> usize {
        let [Column::Int(n), rest @ ..] = cols else {
            panic!("internal: partial state columns do not match the accumulator")
        };
        n.push(self.n[g]);
        match (self.kind, rest) {
            (Kind::CountStar | Kind::Count | Kind::Distinct, _) => 1,
            (Kind::Var { .. }, [Column::Float(mean), Column::Float(m2), ..]) => {
                mean.push(self.f[g]);
                m2.push(self.m2[g]);
                3
            }
            (_, [Column::Int(v), ..]) if self.int => {
                v.push(self.i[g]);
                2
            }
            (_, [Column::Float(v), ..]) => {
                v.push(self.f[g]);
                2
            }
            _ => panic!("internal: partial state columns do not match the accumulator"),
        }
    }

    /// Merges the partial state at `cols[..][row]` into group `g`; returns the columns used.
    pub fn merge_state(&mut self, g: usize, cols: &[Column], row: usize) -> usize {
        let n = cols[0].as_int()[row];
        match self.kind {
            Kind::CountStar | Kind::Count | Kind::Distinct => {
                self.n[g] += n;
                1
            }
            Kind::Var { .. } => {
                let (mean, m2) = (cols[1].as_float()[row], cols[2].as_float()[row]);
                self.merge_values(g, n, 0, mean, m2);
                3
            }
            _ if self.int => {
                self.merge_values(g, n, cols[1].as_int()[row], 0.0, 0.0);
                2
            }
            _ => {
                self.merge_values(g, n, 0, cols[1].as_float()[row], 0.0);
                2
            }
        }
    }

    /// The columns of this accumulator's checkpoint state (`snapshot`): the non-NULL count,
    /// then the value state, a string MIN / MAX's value as a string (dictionary ids are one
    /// process's own).
    pub fn snapshot_types(&self) -> Vec<DataType> {
        let mut t = vec![DataType::Int];
        match self.kind {
            Kind::CountStar | Kind::Count | Kind::Distinct => {}
            Kind::Var { .. } => t.extend([DataType::Float, DataType::Float]),
            _ if self.is_str => t.push(DataType::Str),
            _ if self.int => t.push(DataType::Int),
            _ => t.push(DataType::Float),
        }
        t
    }

    /// Appends group `g`'s exact state to `cols` (`snapshot_types`); returns the columns used.
    pub fn snapshot(&self, g: usize, cols: &mut [Column]) -> usize {
        if let (true, [Column::Int(n), Column::Str(v), ..]) = (self.is_str, &mut *cols) {
            n.push(self.n[g]);
            v.push(if self.n[g] == 0 {
                crate::data::batch::NULL_STR
            } else {
                self.i[g] as u32
            });
            return 2;
        }
        self.emit_state(g, cols)
    }

    /// Sets group `g` (new, at identity) to the state at `cols[..][row]` (`snapshot`); returns
    /// the columns used.
    pub fn restore(&mut self, g: usize, cols: &[Column], row: usize) -> usize {
        if self.is_str {
            self.n[g] = cols[0].as_int()[row];
            if self.n[g] > 0 {
                self.i[g] = cols[1].as_str_ids()[row] as i64;
            }
            return 2;
        }
        if let Kind::Var { .. } = self.kind {
            // Set, not merged: Chan's formula would round the mean.
            self.n[g] = cols[0].as_int()[row];
            self.f[g] = cols[1].as_float()[row];
            self.m2[g] = cols[2].as_float()[row];
            return 3;
        }
        self.merge_state(g, cols, row)
    }

    /// COUNT(DISTINCT): the type of the values its sets hold in a checkpoint (strings as
    /// strings; every other value as its 64-bit key); `None` for other aggregates.
    pub fn distinct_type(call: &AggCall) -> Option<DataType> {
        (call.func == AggFunc::CountDistinct).then(|| match call.arg.as_ref().map(|a| a.ty()) {
            Some(DataType::Str) => DataType::Str,
            _ => DataType::Int,
        })
    }

    /// COUNT(DISTINCT): group `g`'s set, as values of `distinct_type`, appended to `out`.
    pub fn snapshot_distinct(&self, g: usize, out: &mut Column) {
        match out {
            Column::Str(v) => v.extend(self.sets[g].iter().map(|&k| k as u32)),
            Column::Int(v) => v.extend(self.sets[g].iter().map(|&k| k as i64)),
            _ => panic!("internal: a distinct set is kept as strings or integers"),
        }
    }

    /// COUNT(DISTINCT): adds the value at `col[row]` to group `g`'s set.
    pub fn restore_distinct(&mut self, g: usize, col: &Column, row: usize) {
        self.sets[g].insert(col.key_at(row));
    }

    /// Appends group `g`'s result to `out` (a column of the call's result type).
    #[inline]
    pub fn emit(&self, g: usize, out: &mut Column) {
        let n = self.n[g];
        match (self.kind, out) {
            (Kind::CountStar | Kind::Count, Column::Int(o)) => o.push(n),
            (Kind::Distinct, Column::Int(o)) => o.push(self.sets[g].len() as i64),
            (_, out) if n == 0 => out.push_null(),
            (Kind::Avg, Column::Float(o)) => o.push(self.f[g] / n as f64),
            (Kind::Var { sample, sqrt }, Column::Float(o)) => {
                if sample && n < 2 {
                    o.push(null_float());
                } else {
                    let v = (self.m2[g] / (n - i64::from(sample)) as f64).max(0.0);
                    o.push(if sqrt { v.sqrt() } else { v });
                }
            }
            (_, Column::Str(o)) if self.is_str => o.push(self.i[g] as u32),
            (_, Column::Int(o)) if self.int => o.push(self.i[g]),
            (_, Column::Float(o)) if !self.int => o.push(self.f[g]),
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
    /// Records folded into each group (a record folded into several hopping windows counts
    /// in each): nonzero marks a group a block touched.
    pub records: Vec<i64>,
    /// Records whose latest window this is (each record counts once, in one window):
    /// partials carry it, so late partials count records exactly.
    pub primary: Vec<i64>,
    /// EMIT CHANGES with HAVING or in the retract form: whether each group's changelog key has
    /// a visible row (`ops::changelog`).
    pub visible: Vec<bool>,
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
            primary: Vec::new(),
            visible: Vec::new(),
            groups: 0,
            scratch: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.groups as usize
    }

    /// Gives string MIN / MAX accumulators the dictionary (see `Acc::attach_dict`).
    pub fn attach_dict(&mut self, dict: &Arc<Dict>) {
        self.accs.iter_mut().for_each(|a| a.attach_dict(dict));
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
        self.primary.clear();
        self.visible.clear();
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
        self.primary.push(0);
        self.visible.push(false);
        g
    }

    /// Puts group `g`'s accumulators and record count back to identity, keeping the group (its
    /// key and index entry) for the next block.
    pub fn reset_group(&mut self, g: usize) {
        self.accs.iter_mut().for_each(|a| a.reset(g));
        self.records[g] = 0;
        self.primary[g] = 0;
    }

    /// Counts one record for each group id in `groups`; `primary` when this window is the
    /// records' latest.
    pub fn count_records(&mut self, groups: &[u32], primary: bool) {
        for &g in groups {
            self.records[g as usize] += 1;
            if primary {
                self.primary[g as usize] += 1;
            }
        }
    }

    /// `count_records`, also appending each row's upsert changelog op when every row qualifies
    /// (EMIT CHANGES without HAVING): `insert` for a group's first record, `update` after it.
    /// (Such a key is visible from its first record on, so its record count is its visibility.)
    pub fn count_records_and_ops(
        &mut self,
        groups: &[u32],
        primary: bool,
        (insert, update): (u32, u32),
        ops: &mut Vec<u32>,
    ) {
        // Writes into a pre-sized slice: no length update (and reload) per row as with `push`.
        let at = ops.len();
        ops.resize(at + groups.len(), update);
        let (records, primaries) = (&mut self.records[..], &mut self.primary[..]);
        for (op, &g) in ops[at..].iter_mut().zip(groups) {
            let g = g as usize;
            if records[g] == 0 {
                *op = insert;
            }
            records[g] += 1;
            if primary {
                primaries[g] += 1;
            }
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
