//! Checkpoint rows of accumulator groups, shared by GROUP BY (`aggregate`) and session
//! windows (`session`): one row per group, `[prefix integers, keys, visible, each
//! accumulator's exact state]`, and per COUNT(DISTINCT) one table of `[prefix, keys, value]`
//! rows holding its sets. The prefix is the operator's own (a window start and record
//! counts; a session's bounds). Strings travel as strings (`checkpoint::state`), so the rows
//! restore into any process and route to owners by their keys at any shard count
//! (`runtime::restore` routes them).
//!
//! Threading: plain values, used by the shard that owns the operator.

use super::group_table::Acc;
use crate::checkpoint::state::{StateTable, StateWriter, corrupt};
use crate::data::batch::Column;
use crate::data::{Batch, DataType, Dict};
use crate::error::Result;
use crate::sql::AggCall;
use std::sync::Arc;

const GROUPS: u8 = 1;
const DISTINCT: u8 = 16;

/// The layout of an operator's group rows.
pub struct AccRows {
    prefix: usize,
    keys: Vec<DataType>,
    calls: Vec<AggCall>,
    group_types: Vec<DataType>,
}

/// One group row read back: its batch and row.
pub struct GroupRow<'a> {
    pub batch: &'a Batch,
    pub row: usize,
    layout: &'a AccRows,
}

impl GroupRow<'_> {
    /// Prefix integer `i`.
    pub fn prefix(&self, i: usize) -> i64 {
        self.batch.columns[i].as_int()[self.row]
    }

    /// The key columns (the row is `self.row`).
    pub fn keys(&self) -> Vec<&Column> {
        let p = self.layout.prefix;
        self.batch.columns[p..p + self.layout.keys.len()]
            .iter()
            .collect()
    }

    pub fn visible(&self) -> bool {
        self.batch.columns[self.layout.prefix + self.layout.keys.len()].as_bool()[self.row] == 1
    }

    /// Sets group `g` of `accs` (new, at identity) to this row's state.
    pub fn restore_accs<'x>(&self, accs: impl Iterator<Item = &'x mut Acc>, g: usize) {
        let mut c = self.layout.prefix + self.layout.keys.len() + 1;
        for acc in accs {
            c += acc.restore(g, &self.batch.columns[c..], self.row);
        }
    }
}

impl AccRows {
    pub fn new(prefix: usize, keys: &[DataType], calls: &[AggCall], dict: &Arc<Dict>) -> AccRows {
        let mut group_types = vec![DataType::Int; prefix];
        group_types.extend(keys.iter().copied());
        group_types.push(DataType::Bool);
        for call in calls {
            let mut a = Acc::new(call);
            a.attach_dict(dict);
            group_types.extend(a.snapshot_types());
        }
        AccRows {
            prefix,
            keys: keys.to_vec(),
            calls: calls.to_vec(),
            group_types,
        }
    }

    fn distinct_types(&self, value: DataType) -> Vec<DataType> {
        let mut t = vec![DataType::Int; self.prefix];
        t.extend(self.keys.iter().copied());
        t.push(value);
        t
    }

    /// An empty table of group rows.
    pub fn groups(&self) -> Batch {
        Batch::with_types(self.group_types.iter().copied(), 0)
    }

    /// Appends group `g` (its key at `keys[..][key_row]`, its accumulators `accs`) to
    /// `groups`, and its COUNT(DISTINCT) sets to `distinct` (one batch per call, made here).
    #[allow(clippy::too_many_arguments)]
    pub fn push<'x>(
        &self,
        groups: &mut Batch,
        distinct: &mut Vec<Option<Batch>>,
        prefix: &[i64],
        keys: &[Column],
        key_row: usize,
        visible: bool,
        accs: impl Iterator<Item = &'x Acc>,
        g: usize,
    ) {
        let p = self.prefix;
        let cols = &mut groups.columns;
        for (dst, &v) in cols[..p].iter_mut().zip(prefix) {
            if let Column::Int(d) = dst {
                d.push(v);
            }
        }
        for (dst, src) in cols[p..p + keys.len()].iter_mut().zip(keys) {
            dst.push_from(src, key_row);
        }
        if let Column::Bool(v) = &mut cols[p + keys.len()] {
            v.push(u8::from(visible));
        }
        let mut c = p + keys.len() + 1;
        distinct.resize_with(self.calls.len(), || None);
        for (a, acc) in accs.enumerate() {
            c += acc.snapshot(g, &mut cols[c..]);
            let Some(ty) = Acc::distinct_type(&self.calls[a]) else {
                continue;
            };
            let sets =
                distinct[a].get_or_insert_with(|| Batch::with_types(self.distinct_types(ty), 0));
            let before = sets.len();
            acc.snapshot_distinct(g, &mut sets.columns[p + keys.len()]);
            let added = sets.columns[p + keys.len()].len() - before;
            for (dst, &v) in sets.columns[..p].iter_mut().zip(prefix) {
                if let Column::Int(d) = dst {
                    d.extend(std::iter::repeat_n(v, added));
                }
            }
            for (dst, src) in sets.columns[p..p + keys.len()].iter_mut().zip(keys) {
                for _ in 0..added {
                    dst.push_from(src, key_row);
                }
            }
        }
    }

    /// Writes the tables.
    pub fn write(&self, groups: &Batch, distinct: &[Option<Batch>], out: &mut StateWriter) {
        out.table(GROUPS, groups);
        for (a, sets) in distinct.iter().enumerate() {
            if let Some(sets) = sets {
                out.table(DISTINCT + a as u8, sets);
            }
        }
    }

    /// The layout of table `tag` (`None`: not one of these tables): group rows, or a
    /// COUNT(DISTINCT) call's set values; either is routed by its keys.
    pub fn table(&self, tag: u8) -> Option<StateTable> {
        let types = match tag.checked_sub(DISTINCT).map(usize::from) {
            _ if tag == GROUPS => self.group_types.clone(),
            Some(a) => self.distinct_types(self.calls.get(a).and_then(Acc::distinct_type)?),
            None => return None,
        };
        let keys = (self.prefix..self.prefix + self.keys.len()).collect();
        Some(StateTable { types, keys })
    }

    /// Reads the rows of table `tag` (decoded with `table(tag)`'s types): calls `group` for
    /// each group row and `distinct(call, row)` for each set value (`row.batch.columns[prefix
    /// + keys]` holds it). A section's group rows come before their sets.
    pub fn read(
        &self,
        tag: u8,
        batch: &Batch,
        mut group: impl FnMut(&GroupRow),
        mut distinct: impl FnMut(usize, &GroupRow),
    ) -> Result<()> {
        let call = match tag.checked_sub(DISTINCT).map(usize::from) {
            _ if tag == GROUPS => None,
            Some(a) if self.calls.get(a).and_then(Acc::distinct_type).is_some() => Some(a),
            _ => return Err(corrupt(&format!("a state table tagged {tag}"))),
        };
        for row in 0..batch.len() {
            let r = GroupRow {
                batch,
                row,
                layout: self,
            };
            match call {
                Some(a) => distinct(a, &r),
                None => group(&r),
            }
        }
        Ok(())
    }
}
