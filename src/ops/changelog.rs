//! EMIT CHANGES as an upsert changelog: the operation each output row carries in its leading
//! `op` column, and the one visibility bit per changelog key that decides it.
//!
//! The changelog key is the GROUP BY key plus the window (its start for tumbling and hopping
//! windows, `[start, end)` for a session; nothing without a window). A key is *visible* when
//! its last emitted row was `+I` or `+U`. After each record the group's new row is decided by
//! whether it passes HAVING (always, without HAVING) and whether the key was visible:
//!
//! | passes HAVING | was visible | op            | visible after |
//! |---------------|-------------|---------------|---------------|
//! | yes           | no          | `+I`          | yes           |
//! | yes           | yes         | `+U`          | yes           |
//! | no            | yes         | `-D`          | no            |
//! | no            | no          | (no row)      | no            |
//!
//! A session window whose bounds change (extended by a record, or merged with the sessions a
//! record bridges) is a new changelog key: each old window that was visible gets `-D`, then the
//! merged window is decided as above (`+I`, since it was not visible). A window that closes emits
//! nothing: its last row stays the final value. Folding the changelog by key (`+I`/`+U` upsert,
//! `-D` delete) therefore gives EMIT FINAL's result once every window has closed.
//!
//! A `-D` row carries the key, the window and the group's *current* values: for a HAVING that
//! stopped holding, the values that fail it; for a withdrawn session window, that session's
//! values before the record (which are its last emitted ones). Consumers need only the key.
//!
//! The retract form (`--changelog retract`, Flink's retract stream) adds `-U` with the old
//! values before each `+U`, and its `-D` carries the last emitted values: before each record of
//! a key the operator also appends the group's row *before* the record (`Step::Retract`), which
//! becomes `-U` when the key was visible and its new row still qualifies, `-D` when it no longer
//! does, and nothing when the key was not visible. A visible group's state before its record is
//! exactly its last emitted row, since every record of the key produced a row.
//!
//! Design: the only state is one visibility bit per group (per session slot for sessions);
//! nothing keeps the last emitted row. Without HAVING the op is decided as each record is
//! counted (`+I` when the group's record count was 0, then `+U`: such a key is visible from its
//! first record on, so the count is its visibility and the bit is not even read). With HAVING
//! the pending group rows are replayed in order after HAVING ran over them as one batch
//! (`apply` per row, selecting the rows that are emitted), so the per-record path still
//! evaluates no expression and allocates nothing; the k-th row of a key is decided by the key's
//! first k records only, which keeps the changelog the same per key for every mode and shard
//! count.
//!
//! Threading: owned by the operator that uses it (see `ops`).

use crate::data::Dict;

/// The dictionary ids of the three operations, interned once when the operator is built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpIds {
    pub insert: u32,
    pub update: u32,
    pub delete: u32,
    /// `-U`, the retract form's old row before an update.
    pub retract: u32,
}

impl OpIds {
    pub const INSERT: &'static str = "+I";
    pub const UPDATE: &'static str = "+U";
    pub const DELETE: &'static str = "-D";
    pub const RETRACT: &'static str = "-U";

    pub fn new(dict: &Dict) -> OpIds {
        OpIds {
            insert: dict.intern(Self::INSERT),
            update: dict.intern(Self::UPDATE),
            delete: dict.intern(Self::DELETE),
            retract: dict.intern(Self::RETRACT),
        }
    }

    /// Replays one pending row: its op (`None`: not emitted), updating its key's `visible`
    /// bit. `now`: the row passes HAVING; `next_now`: the next pending row does (read only by
    /// `Step::Retract`, whose next row is always its key's new row).
    #[inline]
    pub fn apply(&self, step: Step, visible: &mut bool, now: bool, next_now: bool) -> Option<u32> {
        let was = *visible && step != Step::Fresh;
        match step {
            Step::Update | Step::Fresh => {
                *visible = now;
                self.decide(was, now)
            }
            Step::Withdraw => {
                *visible = false;
                self.withdraw(was)
            }
            Step::Retract => match (was, next_now) {
                (false, _) => None,
                // The key stays visible: its new row follows as `+U`.
                (true, true) => Some(self.retract),
                (true, false) => {
                    *visible = false;
                    Some(self.delete)
                }
            },
        }
    }

    /// The op of a key's new row that passes HAVING (`now`) or not, given whether the key was
    /// visible; `None` when nothing is emitted. The key is visible afterwards exactly when
    /// `now` holds.
    #[inline]
    pub fn decide(&self, was_visible: bool, now: bool) -> Option<u32> {
        match (was_visible, now) {
            (false, true) => Some(self.insert),
            (true, true) => Some(self.update),
            (true, false) => Some(self.delete),
            (false, false) => None,
        }
    }

    /// The op of withdrawing a key (a session window merged away or extended): `-D` if it was
    /// visible. The key is not visible afterwards.
    #[inline]
    pub fn withdraw(&self, was_visible: bool) -> Option<u32> {
        was_visible.then_some(self.delete)
    }
}

/// What a pending group row means for its key, in the order the rows were produced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// The key's new row: HAVING decides (`OpIds::decide`).
    Update,
    /// As `Update`, for a key just created in a reused slot: it was not visible.
    Fresh,
    /// The key's old row is withdrawn (`OpIds::withdraw`).
    Withdraw,
    /// Retract form: the key's row before the record, followed by its new row (`Update`).
    Retract,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::batch::Column;
    use crate::data::{Batch, Schema};
    use crate::sink::{ShardOutput, Sink};

    /// Runs `sql` (over market_data) on one operator over records (trader, quantity, time)
    /// and returns the output rows as text: op, then the other columns.
    fn changelog(sql: &str, records: &[(&str, i64, i64)]) -> Vec<String> {
        changelog_as(sql, records, false)
    }

    /// `changelog`, in the retract form when `retract`.
    fn changelog_as(sql: &str, records: &[(&str, i64, i64)], retract: bool) -> Vec<String> {
        let mut plan = crate::sql::compile_query(sql, "t.sql", &Schema::market_data()).unwrap();
        if let crate::sql::Body::Aggregate(a) = &mut plan.body {
            a.retract = retract;
        }
        let dict = Dict::new();
        let mut op = crate::ops::build(&plan, &dict);
        let sink = Sink::open("null", &plan.output, dict.clone(), Default::default()).unwrap();
        let mut out = ShardOutput::new(sink);
        let mut batch = Batch::new(&Schema::market_data(), records.len());
        for (i, &(trader, q, t)) in records.iter().enumerate() {
            let trader = dict.intern(trader);
            let sym = dict.intern("AAPL");
            let row: [(usize, Column); 8] = [
                (0, Column::Int(vec![i as i64])),
                (1, Column::Str(vec![trader])),
                (2, Column::Str(vec![sym])),
                (3, Column::Float(vec![1.0])),
                (4, Column::Int(vec![q])),
                (5, Column::Float(vec![q as f64])),
                (6, Column::Int(vec![t])),
                (7, Column::Int(vec![t])),
            ];
            for (c, v) in row {
                batch.columns[c].push_from(&v, 0);
            }
        }
        // One record per call, as the record-at-a-time worst case for the pending replay.
        for r in 0..batch.len() {
            op.process(&batch, r..r + 1, 0, &mut out);
        }
        op.finish(0, &mut out);
        let cols = &out.batch.columns;
        (0..out.batch.len())
            .map(|r| {
                cols.iter()
                    .map(|c| match c {
                        Column::Str(v) => dict.get(v[r]).to_string(),
                        Column::Int(v) => v[r].to_string(),
                        Column::Float(v) => v[r].to_string(),
                        Column::Bool(v) => v[r].to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .collect()
    }

    #[test]
    fn having_withdraws_a_row_and_inserts_it_again_when_it_qualifies() {
        let sql = "SELECT trader_id, COUNT(*) AS n, SUM(quantity) AS q FROM market_data \
                   GROUP BY trader_id HAVING SUM(quantity) > 0 EMIT CHANGES";
        let rows = changelog(
            sql,
            &[
                ("a", 5, 0),
                ("b", -1, 1),
                ("a", -9, 2),
                ("a", -1, 3),
                ("a", 7, 4),
                ("a", 1, 5),
            ],
        );
        assert_eq!(
            rows,
            ["+I,a,1,5", "-D,a,2,-4", "+I,a,4,2", "+U,a,5,3"],
            "b never qualifies; a's third record keeps it withdrawn"
        );
    }

    #[test]
    fn the_retract_form_withdraws_and_retracts_with_the_old_values() {
        let sql = "SELECT trader_id, COUNT(*) AS n, SUM(quantity) AS q FROM market_data \
                   GROUP BY trader_id HAVING SUM(quantity) > 0 EMIT CHANGES";
        let records = [
            ("a", 5, 0),
            ("b", -1, 1),
            ("a", -9, 2),
            ("a", -1, 3),
            ("a", 7, 4),
            ("a", 1, 5),
        ];
        assert_eq!(
            changelog_as(sql, &records, true),
            ["+I,a,1,5", "-D,a,1,5", "+I,a,4,2", "-U,a,4,2", "+U,a,5,3"]
        );
        let sql = "SELECT trader_id, window_start, window_end, COUNT(*) AS n FROM market_data \
                   GROUP BY trader_id WINDOW SESSION (trade_time, INTERVAL '5' MILLISECOND) \
                   EMIT CHANGES";
        // 3 falls inside [0, 5): the window stays, so the row is retracted and updated.
        let records = [("a", 1, 0), ("a", 1, 3), ("a", 1, 4)];
        assert_eq!(
            changelog_as(sql, &records, true),
            [
                "+I,a,0,5,1",
                "-D,a,0,5,1",
                "+I,a,0,8,2",
                "-D,a,0,8,2",
                "+I,a,0,9,3"
            ]
        );
        let records = [("a", 1, 0), ("a", 1, 4), ("a", 1, 3)];
        assert_eq!(
            changelog_as(sql, &records, true)[3..],
            ["-U,a,0,9,2", "+U,a,0,9,3"]
        );
    }

    #[test]
    fn a_record_bridging_two_sessions_withdraws_both_windows() {
        let sql = "SELECT trader_id, window_start, window_end, COUNT(*) AS n FROM market_data \
                   GROUP BY trader_id WINDOW SESSION (trade_time, INTERVAL '5' MILLISECOND) \
                   EMIT CHANGES";
        // [0, 5) and [8, 13); 9 extends the second; 4 bridges both.
        let rows = changelog(sql, &[("a", 1, 0), ("a", 1, 8), ("a", 1, 9), ("a", 1, 4)]);
        assert_eq!(
            rows,
            [
                "+I,a,0,5,1",
                "+I,a,8,13,1",
                "-D,a,8,13,1",
                "+I,a,8,14,2",
                "-D,a,0,5,1",
                "-D,a,8,14,2",
                "+I,a,0,14,4",
            ]
        );
    }

    #[test]
    fn decide_follows_the_upsert_table() {
        let dict = Dict::new();
        let ids = OpIds::new(&dict);
        assert_eq!(dict.get(ids.insert), "+I");
        assert_eq!(ids.decide(false, true), Some(ids.insert));
        assert_eq!(ids.decide(true, true), Some(ids.update));
        assert_eq!(ids.decide(true, false), Some(ids.delete));
        assert_eq!(ids.decide(false, false), None);
        assert_eq!(ids.withdraw(true), Some(ids.delete));
        assert_eq!(ids.withdraw(false), None);
        let mut v = true;
        assert_eq!(
            ids.apply(Step::Retract, &mut v, false, true),
            Some(ids.retract)
        );
        assert_eq!(
            ids.apply(Step::Update, &mut v, true, false),
            Some(ids.update)
        );
        assert_eq!(
            ids.apply(Step::Retract, &mut v, true, false),
            Some(ids.delete)
        );
        assert_eq!(ids.apply(Step::Update, &mut v, false, false), None);
        assert_eq!(ids.apply(Step::Retract, &mut v, false, true), None);
        assert_eq!(
            ids.apply(Step::Fresh, &mut true, true, false),
            Some(ids.insert)
        );
        // Interning is idempotent: every operator of a run gets the same ids.
        assert_eq!(OpIds::new(&dict), ids);
    }
}
