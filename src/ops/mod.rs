//! Operators: the per-shard state machines compiled from the plan. Each works a batch at a
//! time (`process` on a row range), reacts to watermarks (closing windows) and to end of input.
//!
//! Threading: an operator is owned by one shard (v2) or shared behind one `Mutex` by all
//! workers (mutex mode); either way one thread at a time calls it, and every call names the
//! `owner` shard whose keys the rows belong to, so a shared operator closes only that owner's
//! windows and per-key order is the owner's arrival order.

pub mod acc_rows;
pub mod aggregate;
pub mod changelog;
pub mod group_table;
pub mod project;
pub mod rows_window;
pub mod session;

use crate::checkpoint::state::{StateTable, StateWriter};
use crate::data::{Batch, Dict};
use crate::error::Result;
use crate::sink::ShardOutput;
use crate::sql::{Body, Plan};
use std::ops::Range;
use std::sync::Arc;

/// A shard's stateful (or stateless) processing step.
pub trait Operator: Send {
    /// Processes `batch[rows]`, whose keys all belong to shard `owner`.
    fn process(&mut self, batch: &Batch, rows: Range<usize>, owner: usize, out: &mut ShardOutput);
    /// The watermark of `owner`'s input reached `wm`: emit and free what it closes. Returns
    /// how many windows closed.
    fn watermark(&mut self, wm: i64, owner: usize, out: &mut ShardOutput) -> usize;
    /// The watermark `owner` will have once the batch about to be processed is done: an
    /// operator that buffers rows until the watermark (ROWS windows) may pass them straight
    /// through when it already covers them.
    fn expect_watermark(&mut self, _wm: i64, _owner: usize) {}
    /// End of input for `owner`: emit everything still open.
    fn finish(&mut self, owner: usize, out: &mut ShardOutput);
    /// Checkpoints (`checkpoint`): appends the state of `owner`'s keys to `out` as tables of
    /// rows whose key columns route them to an owner at any shard count.
    fn snapshot(&self, owner: usize, out: &mut StateWriter);
    /// Checkpoints: the layout of this operator's snapshot table `tag` (`None`: it writes no
    /// table so tagged).
    fn state_table(&self, tag: u8) -> Option<StateTable>;
    /// Checkpoints: adds rows of snapshot table `tag` (decoded with `state_table(tag)`'s
    /// types; from any shard's section, taken at any shard count), all of whose keys belong
    /// to `owner`, to this operator's state. A section's tables arrive in the order written.
    fn restore(&mut self, tag: u8, rows: &Batch, owner: usize) -> Result<()>;
    /// Merges pre-aggregated partial rows (EMIT FINAL aggregates only); returns (records
    /// merged, records dropped late).
    fn merge_partials(
        &mut self,
        _batch: &Batch,
        _owner: usize,
        _watermark: Option<i64>,
    ) -> (u64, u64) {
        panic!("internal: partial states sent to an operator that does not aggregate")
    }
}

/// Builds the operator a plan's body needs.
pub fn build(plan: &Plan, dict: &Arc<Dict>) -> Box<dyn Operator> {
    match &plan.body {
        Body::Project(exprs) => Box::new(project::Project::new(exprs.clone(), dict.clone())),
        Body::Aggregate(a) if matches!(a.window, Some(crate::sql::WindowSpec::Session { .. })) => {
            Box::new(session::Sessions::new(
                a.clone(),
                plan.time_column.expect("a window has a time column"),
                dict.clone(),
            ))
        }
        Body::Aggregate(a) => Box::new(aggregate::Aggregate::new(
            a.clone(),
            plan.time_column,
            dict.clone(),
        )),
        Body::Rows(r) => Box::new(rows_window::RowsWindow::new(
            r.clone(),
            &plan.input,
            dict.clone(),
        )),
    }
}
