//! Filter-free projection (WHERE runs before routing): evaluates the output expressions over a
//! batch and appends them to the shard's output. Plain column references are copied as
//! slices; only computed expressions are evaluated.

use super::Operator;
use crate::data::batch::Column;
use crate::data::{Batch, Dict};
use crate::sink::ShardOutput;
use crate::sql::Expr;
use std::ops::Range;
use std::sync::Arc;

pub struct Project {
    exprs: Vec<Expr>,
    dict: Arc<Dict>,
}

impl Project {
    pub fn new(exprs: Vec<Expr>, dict: Arc<Dict>) -> Project {
        Project { exprs, dict }
    }
}

/// Appends `exprs` evaluated over `src[rows]` to `out`, keeping only rows where `filter`
/// holds. Shared by every operator that emits rows.
pub fn project_into(
    exprs: &[Expr],
    filter: Option<&Expr>,
    src: &Batch,
    rows: Range<usize>,
    dict: &Dict,
    out: &mut Batch,
) {
    if rows.is_empty() {
        return;
    }
    let selected: Option<Vec<u32>> = filter.map(|f| {
        let mask = f.eval(src, dict);
        rows.clone()
            .filter(|&i| mask.as_bool()[i] == 1)
            .map(|i| i as u32)
            .collect()
    });
    project_rows(exprs, selected.as_deref(), src, rows, dict, out);
}

/// Appends `exprs` evaluated over `src[rows]` to `out`, only the rows of `selected` (indices
/// into `src`, within `rows`) when given.
pub fn project_rows(
    exprs: &[Expr],
    selected: Option<&[u32]>,
    src: &Batch,
    rows: Range<usize>,
    dict: &Dict,
    out: &mut Batch,
) {
    for (e, dst) in exprs.iter().zip(out.columns.iter_mut()) {
        let computed;
        let col = match e {
            Expr::Column { index, .. } => &src.columns[*index],
            e => {
                computed = e.eval(src, dict);
                &computed
            }
        };
        match selected {
            Some(sel) => dst.gather_from(col, sel),
            None => dst.extend_from(col, rows.clone()),
        }
    }
}

/// Runs an aggregate's HAVING and SELECT list over its pending group rows (layout
/// `[keys, aggregates, window_start, window_end]`) into the output, and empties them.
pub fn emit_group_rows(
    plan: &crate::sql::AggregatePlan,
    group_rows: &mut Batch,
    dict: &Dict,
    out: &mut ShardOutput,
) {
    if group_rows.is_empty() {
        return;
    }
    let n = group_rows.len();
    project_into(
        &plan.outputs,
        plan.having.as_ref(),
        group_rows,
        0..n,
        dict,
        &mut out.batch,
    );
    group_rows.clear();
    out.flush_if_full();
}

/// EMIT CHANGES with HAVING: runs the SELECT list over the pending group rows the changelog
/// kept (`selected`, whose `op` column is already decided) into the output, and empties them.
pub fn emit_selected_group_rows(
    plan: &crate::sql::AggregatePlan,
    group_rows: &mut Batch,
    selected: &[u32],
    dict: &Dict,
    out: &mut ShardOutput,
) {
    let n = group_rows.len();
    if n == 0 {
        return;
    }
    if !selected.is_empty() {
        project_rows(
            &plan.outputs,
            Some(selected),
            group_rows,
            0..n,
            dict,
            &mut out.batch,
        );
    }
    group_rows.clear();
    out.flush_if_full();
}

/// Evaluates HAVING over the pending group rows: 1 where it holds (NULL does not).
pub fn having_mask(plan: &crate::sql::AggregatePlan, group_rows: &Batch, dict: &Dict) -> Column {
    match &plan.having {
        Some(h) => h.eval(group_rows, dict),
        None => Column::Bool(vec![1; group_rows.len()]),
    }
}

impl Operator for Project {
    /// Stateless: nothing to keep.
    fn snapshot(&self, _owner: usize, _out: &mut crate::checkpoint::state::StateWriter) {}

    fn state_table(&self, _tag: u8) -> Option<crate::checkpoint::state::StateTable> {
        None
    }

    fn restore(&mut self, tag: u8, _rows: &Batch, _owner: usize) -> crate::error::Result<()> {
        Err(crate::checkpoint::state::corrupt(&format!(
            "a state table tagged {tag} for a query that keeps none"
        )))
    }

    fn process(&mut self, batch: &Batch, rows: Range<usize>, _owner: usize, out: &mut ShardOutput) {
        project_into(&self.exprs, None, batch, rows, &self.dict, &mut out.batch);
        out.flush_if_full();
    }

    fn watermark(&mut self, _wm: i64, _owner: usize, _out: &mut ShardOutput) -> usize {
        0
    }

    fn finish(&mut self, _owner: usize, _out: &mut ShardOutput) {}
}
