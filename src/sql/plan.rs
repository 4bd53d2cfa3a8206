//! The typed `Plan` a query becomes (`sql::planner` builds it): the partition key and
//! routing, the operator, the window and the emit mode, and what the runtime asks of a plan
//! (the columns it reads, the plans of the shards, `explain`). Plain data: any thread.

use super::expr::Expr;
use super::parse::EmitMode;
use crate::data::{DataType, Field, Schema};
use sqlparser::tokenizer::Span;

/// How records reach the shard that processes them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Routing {
    /// Stateless: each core processes the blocks it reads; nothing crosses cores.
    Local,
    /// By FxHash of these input columns: each key has one owner shard.
    Hash(Vec<usize>),
    /// Everything to shard 0, in input order (a global order or a global aggregate).
    Single,
}

/// An aggregate function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AggFunc {
    CountStar,
    Count,
    CountDistinct,
    Sum,
    Avg,
    Min,
    Max,
    StddevSamp,
    StddevPop,
    VarSamp,
    VarPop,
}

impl AggFunc {
    pub(super) fn from_name(name: &str) -> Option<AggFunc> {
        Some(match name.to_ascii_uppercase().as_str() {
            "COUNT" => AggFunc::Count,
            "SUM" => AggFunc::Sum,
            "AVG" | "MEAN" => AggFunc::Avg,
            "MIN" => AggFunc::Min,
            "MAX" => AggFunc::Max,
            "STDDEV" | "STDDEV_SAMP" => AggFunc::StddevSamp,
            "STDDEV_POP" => AggFunc::StddevPop,
            "VARIANCE" | "VAR_SAMP" => AggFunc::VarSamp,
            "VAR_POP" => AggFunc::VarPop,
            _ => return None,
        })
    }

    /// The result type for an argument of type `arg`.
    pub fn result_type(self, arg: Option<DataType>) -> DataType {
        match (self, arg) {
            (AggFunc::CountStar | AggFunc::Count | AggFunc::CountDistinct, _) => DataType::Int,
            (
                AggFunc::Avg
                | AggFunc::StddevSamp
                | AggFunc::StddevPop
                | AggFunc::VarSamp
                | AggFunc::VarPop,
                _,
            ) => DataType::Float,
            (AggFunc::Sum, Some(t)) if t.is_integer() => DataType::Int,
            (AggFunc::Sum, _) => DataType::Float,
            (AggFunc::Min | AggFunc::Max, Some(t)) => t,
            (AggFunc::Min | AggFunc::Max, None) => DataType::Float,
        }
    }
}

/// One aggregate call: function, argument over the input, result type.
#[derive(Clone, Debug, PartialEq)]
pub struct AggCall {
    pub func: AggFunc,
    pub arg: Option<Expr>,
    pub ty: DataType,
}

/// Event-time windows, `[start, end)`. Tumbling and hopping windows are epoch-aligned: a
/// hopping window starts every `advance` ms and lasts `size`, so a record belongs to up to
/// `ceil(size / advance)` windows. A session window per key starts at its first record and
/// ends `gap` ms after its last; records closer than `gap` join one session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WindowSpec {
    Tumbling { size: i64 },
    Hopping { size: i64, advance: i64 },
    Session { gap: i64 },
}

impl WindowSpec {
    /// A window's length (a session's gap).
    pub fn size(&self) -> i64 {
        match self {
            WindowSpec::Tumbling { size } | WindowSpec::Hopping { size, .. } => *size,
            WindowSpec::Session { gap } => *gap,
        }
    }

    /// The distance between consecutive window starts.
    fn advance(&self) -> i64 {
        match self {
            WindowSpec::Tumbling { size } => *size,
            WindowSpec::Hopping { advance, .. } => *advance,
            WindowSpec::Session { .. } => 1,
        }
    }

    /// The start of the latest window holding time `t` (a session: `t` itself).
    #[inline]
    pub fn start_of(&self, t: i64) -> i64 {
        let adv = self.advance();
        t.div_euclid(adv).saturating_mul(adv)
    }

    /// The earliest time whose latest window ends after `wm`: a record is late against
    /// watermark `wm` exactly when its time is below this (one comparison instead of a
    /// division per row).
    #[inline]
    pub fn first_open_time(&self, wm: i64) -> i64 {
        match self {
            WindowSpec::Session { gap } => wm.saturating_sub(*gap).saturating_add(1),
            _ => self
                .start_of(wm.saturating_sub(self.size()))
                .saturating_add(self.advance()),
        }
    }

    /// The end of the latest window holding time `t` (a session: of the record's own
    /// `[t, t + gap)`), the instant lateness is judged against: a record is late when even
    /// this window has closed.
    #[inline]
    pub fn end_of(&self, t: i64) -> i64 {
        self.start_of(t).saturating_add(self.size())
    }

    /// Whether routed records carry the watermark just before them (`Plan::CUTOFF`): hopping
    /// windows skip the windows already closed for a record, sessions close before it.
    pub fn needs_cutoffs(&self) -> bool {
        !matches!(self, WindowSpec::Tumbling { .. })
    }
}

/// GROUP BY (optionally windowed). Output expressions read the "group row" layout:
/// `[keys..., aggregates..., window_start, window_end]`, plus `op` (the changelog operation,
/// VARCHAR) last under EMIT CHANGES, which the planner puts first in the output.
///
/// EMIT CHANGES is an upsert changelog keyed by the GROUP BY key and the window (`ops::changelog`):
/// `+I` is a key's first visible row, `+U` replaces its visible row, `-D` withdraws it (HAVING
/// stopped holding, or a session window was merged into another or extended).
#[derive(Clone, Debug)]
pub struct AggregatePlan {
    pub keys: Vec<usize>,
    pub key_types: Vec<DataType>,
    pub aggs: Vec<AggCall>,
    pub window: Option<WindowSpec>,
    pub emit: EmitMode,
    pub having: Option<Expr>,
    pub outputs: Vec<Expr>,
    /// The input column holding each row's cutoff watermark (`Plan::CUTOFF`), in the shard
    /// layout of hopping and session windows.
    pub cutoff_column: Option<usize>,
    /// EMIT CHANGES in the retract form (`--changelog retract`): `-U` with the old values
    /// before each `+U`, `-D` with the last emitted values.
    pub retract: bool,
}

impl AggregatePlan {
    /// Whether readers can fold records into partial states for the owners (EMIT FINAL with
    /// accumulators whose state is a few fixed columns). Otherwise records are routed.
    pub fn can_pre_aggregate(&self) -> bool {
        self.emit == EmitMode::Final
            && !matches!(self.window, Some(WindowSpec::Session { .. }))
            && self
                .aggs
                .iter()
                .all(crate::ops::group_table::Acc::has_fixed_state)
    }

    /// Types of a partial row, what a reader's pre-aggregation sends an owner shard: keys,
    /// window start, records folded, then each aggregate's state columns.
    pub fn partial_types(&self) -> Vec<DataType> {
        let mut t = self.key_types.clone();
        t.extend([DataType::Timestamp, DataType::Int]);
        for a in &self.aggs {
            t.extend(crate::ops::group_table::Acc::state_types(a));
        }
        t
    }

    /// Types of the group row: keys, aggregate results, window start and end, and under EMIT
    /// CHANGES the changelog operation.
    pub fn group_row_types(&self) -> Vec<DataType> {
        let mut t = self.key_types.clone();
        t.extend(self.aggs.iter().map(|a| a.ty));
        t.extend([DataType::Timestamp, DataType::Timestamp]);
        if self.emit == EmitMode::Changes {
            t.push(DataType::Str);
        }
        t
    }

    /// The group row's changelog operation column (EMIT CHANGES only).
    pub fn op_column(&self) -> Option<usize> {
        (self.emit == EmitMode::Changes).then_some(self.keys.len() + self.aggs.len() + 2)
    }
}

/// One `agg(x) OVER (... ROWS BETWEEN n PRECEDING AND CURRENT ROW)`.
#[derive(Clone, Debug, PartialEq)]
pub struct RowsFunc {
    pub func: AggFunc,
    pub arg: Option<Expr>,
    pub preceding: usize,
    pub ty: DataType,
}

/// ROWS windows. Outputs read `[input columns..., window function results...]`.
#[derive(Clone, Debug)]
pub struct RowsPlan {
    pub partition_by: Vec<usize>,
    pub order_by: usize,
    pub funcs: Vec<RowsFunc>,
    pub outputs: Vec<Expr>,
}

/// What the shards run.
#[derive(Clone, Debug)]
pub enum Body {
    /// Filter (the plan's `filter`) and project, record by record.
    Project(Vec<Expr>),
    Aggregate(AggregatePlan),
    Rows(RowsPlan),
}

/// A checked, typed query plan.
#[derive(Clone, Debug)]
pub struct Plan {
    pub source_name: String,
    /// Where the FROM name is in the query text (for errors about the source).
    pub source_span: Span,
    pub input: Schema,
    pub filter: Option<Expr>,
    pub body: Body,
    pub output: Schema,
    pub routing: Routing,
    /// The event-time column watermarks are computed from, if the query has one.
    pub time_column: Option<usize>,
    /// `ALLOWED LATENESS` in the query (ms); `--allowed-lateness` overrides it.
    pub allowed_lateness_ms: Option<i64>,
}

impl Plan {
    /// The pseudo input column, in `for_shards`' kept list, of each routed row's cutoff: the
    /// watermark just before the row, from the rows before it in its block (the reader knows
    /// them); the shard raises it to its own watermark of earlier blocks.
    pub const CUTOFF: usize = usize::MAX;

    /// Whether routed rows carry a cutoff column (hopping and session windows).
    pub fn needs_cutoffs(&self) -> bool {
        self.window().is_some_and(|w| w.needs_cutoffs())
    }

    /// Where the cutoff column is in this plan's input (shard plans of hopping and session
    /// windows).
    pub fn cutoff_column(&self) -> Option<usize> {
        match &self.body {
            Body::Aggregate(a) => a.cutoff_column,
            _ => None,
        }
    }

    pub fn emit(&self) -> EmitMode {
        match &self.body {
            Body::Aggregate(a) => a.emit,
            _ => EmitMode::Changes,
        }
    }

    /// The rule late records are judged by: the window's, or for a ROWS window ordered by
    /// event time a 1 ms "window" per row (late when below the watermark just before it).
    pub fn lateness_window(&self) -> Option<WindowSpec> {
        match &self.body {
            Body::Rows(_) => self.time_column.map(|_| WindowSpec::Tumbling { size: 1 }),
            _ => self.window(),
        }
    }

    pub fn window(&self) -> Option<WindowSpec> {
        match &self.body {
            Body::Aggregate(a) => a.window,
            _ => None,
        }
    }

    /// Every string literal in the plan. They are interned before the run so that a literal
    /// in the output has an id and a comparison with one is a comparison of ids.
    pub fn string_literals(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut exprs: Vec<&Expr> = self.filter.iter().collect();
        match &self.body {
            Body::Project(e) => exprs.extend(e),
            Body::Aggregate(a) => {
                exprs.extend(a.aggs.iter().filter_map(|c| c.arg.as_ref()));
                exprs.extend(&a.having);
                exprs.extend(&a.outputs);
            }
            Body::Rows(r) => {
                exprs.extend(r.funcs.iter().filter_map(|f| f.arg.as_ref()));
                exprs.extend(&r.outputs);
            }
        }
        exprs.iter().for_each(|e| e.string_literals(&mut out));
        out
    }

    /// Per input column, whether the query reads it anywhere (WHERE, projections, keys,
    /// aggregate and window arguments, the event time), or every column with `keep_all`
    /// (`--late-output` writes late records whole). Readers parse only these into batches and
    /// only validate the rest (`TextReader::set_projection`).
    pub fn reads_columns(&self, keep_all: bool) -> Vec<bool> {
        let n = self.input.len();
        let mut used = std::collections::BTreeSet::new();
        match &self.body {
            Body::Project(exprs) => exprs.iter().for_each(|e| e.columns(&mut used)),
            _ => used.extend(self.for_shards(keep_all).1),
        }
        if let Some(f) = &self.filter {
            f.columns(&mut used);
        }
        used.extend(self.time_column);
        (0..n).map(|i| keep_all || used.contains(&i)).collect()
    }

    /// The plan shards run when records are routed to them: only the input columns the
    /// operator reads cross cores (WHERE already ran on the reader), or all of them with
    /// `keep_all` (late records are written whole). Returns that plan, whose input is the
    /// routed layout, and the input columns kept, in order.
    pub fn for_shards(&self, keep_all: bool) -> (Plan, Vec<usize>) {
        let n = self.input.len();
        let mut used = std::collections::BTreeSet::new();
        match &self.body {
            Body::Project(_) => return (self.clone(), (0..n).collect()),
            Body::Aggregate(a) => {
                used.extend(a.keys.iter().copied());
                a.aggs
                    .iter()
                    .filter_map(|c| c.arg.as_ref())
                    .for_each(|e| e.columns(&mut used));
            }
            Body::Rows(r) => {
                used.extend(r.partition_by.iter().copied());
                used.insert(r.order_by);
                r.funcs
                    .iter()
                    .filter_map(|f| f.arg.as_ref())
                    .for_each(|e| e.columns(&mut used));
                let mut out_cols = std::collections::BTreeSet::new();
                r.outputs.iter().for_each(|e| e.columns(&mut out_cols));
                used.extend(out_cols.into_iter().filter(|&c| c < n));
            }
        }
        used.extend(self.time_column);
        if keep_all {
            used.extend(0..n);
        }
        let mut kept: Vec<usize> = used.into_iter().collect();
        let at = |i: usize| {
            kept.iter()
                .position(|&k| k == i)
                .expect("every used column is kept")
        };
        let mut p = self.clone();
        p.input = Schema::new(kept.iter().map(|&i| self.input.fields[i].clone()).collect());
        if self.needs_cutoffs() {
            p.input
                .fields
                .push(Field::new("__cutoff".to_string(), DataType::Timestamp));
            if let Body::Aggregate(a) = &mut p.body {
                a.cutoff_column = Some(kept.len());
            }
        }
        p.filter = None;
        p.time_column = self.time_column.map(at);
        match &mut p.body {
            Body::Project(_) => unreachable!("returned above"),
            Body::Aggregate(a) => {
                a.keys.iter_mut().for_each(|k| *k = at(*k));
                a.aggs
                    .iter_mut()
                    .filter_map(|c| c.arg.as_mut())
                    .for_each(|e| e.remap(&at));
            }
            Body::Rows(r) => {
                r.partition_by.iter_mut().for_each(|k| *k = at(*k));
                r.order_by = at(r.order_by);
                r.funcs
                    .iter_mut()
                    .filter_map(|f| f.arg.as_mut())
                    .for_each(|e| e.remap(&at));
                let width = kept.len();
                let out_at = |i: usize| if i < n { at(i) } else { i - n + width };
                r.outputs.iter_mut().for_each(|e| e.remap(&out_at));
            }
        }
        if self.needs_cutoffs() {
            kept.push(Plan::CUTOFF);
        }
        (p, kept)
    }

    /// The plan as a tree, for `shardsql explain`: sink at the top, source at the bottom,
    /// each line one stage with what it does and how it runs in parallel.
    pub fn explain(&self) -> String {
        let name = |i: usize| {
            self.input
                .fields
                .get(i)
                .map_or("?".to_string(), |f| f.name.clone())
        };
        let cols = |idx: &[usize]| idx.iter().map(|&i| name(i)).collect::<Vec<_>>().join(", ");
        let mut lines: Vec<String> = vec![format!(
            "Sink: {}",
            self.output.names().collect::<Vec<_>>().join(", ")
        )];
        match &self.body {
            Body::Project(_) => lines.push("Project (stateless, row by row)".into()),
            Body::Aggregate(a) => {
                lines.push(match a.emit {
                    EmitMode::Final if a.window.is_some() => {
                        "Emit FINAL: one row per group when the watermark closes its window".into()
                    }
                    EmitMode::Final => "Emit FINAL: one row per group at end of input".into(),
                    EmitMode::Changes => {
                        "Emit CHANGES: an upsert changelog (op +I/+U/-D) by key and window, \
                         the group's updated row after every record"
                            .into()
                    }
                });
                if a.having.is_some() {
                    lines.push("Having (filters group rows)".into());
                }
                let aggs: Vec<String> = a
                    .aggs
                    .iter()
                    .map(|c| {
                        let arg = match &c.arg {
                            None => "*".to_string(),
                            Some(Expr::Column { index, .. }) => name(*index),
                            Some(_) => "expr".to_string(),
                        };
                        format!("{:?}({arg})", c.func)
                    })
                    .collect();
                let keys = if a.keys.is_empty() {
                    "(global)".to_string()
                } else {
                    format!("group by [{}]", cols(&a.keys))
                };
                lines.push(format!("Aggregate {keys}: {}", aggs.join(", ")));
                if let Some(w) = a.window {
                    let t = self.time_column.map_or("?".to_string(), name);
                    lines.push(match w {
                        WindowSpec::Tumbling { size } => format!(
                            "Window TUMBLING {} on {t}: epoch-aligned [start, end)",
                            duration(size)
                        ),
                        WindowSpec::Hopping { size, advance } => format!(
                            "Window HOPPING size {} advance {} on {t}: epoch-aligned [start, end), \
                             each record in up to {} windows",
                            duration(size),
                            duration(advance),
                            size / advance + i64::from(size % advance != 0)
                        ),
                        WindowSpec::Session { gap } => format!(
                            "Window SESSION gap {} on {t}: per key, [first, last + gap)",
                            duration(gap)
                        ),
                    });
                }
                let exchange = match &self.routing {
                    Routing::Hash(k) => format!("hash(FxHash of {}) to the owner shard", cols(k)),
                    _ => "single shard: every record goes to shard 0 in input order".into(),
                };
                if a.can_pre_aggregate() {
                    lines.push(format!(
                        "Exchange: {exchange}; each reading core pre-aggregates its blocks and \
                         sends partial states (merged exactly, in block order)"
                    ));
                } else {
                    lines.push(format!(
                        "Exchange: {exchange}; records are routed in batches, per-key order kept"
                    ));
                }
            }
            Body::Rows(r) => {
                lines.push(format!(
                    "RowsWindow partition by [{}] order by {}: {} function(s), O(1) per row",
                    cols(&r.partition_by),
                    name(r.order_by),
                    r.funcs.len()
                ));
                lines.push(if r.partition_by.is_empty() {
                    "Exchange: single shard: one global order, every record goes to shard 0".into()
                } else {
                    format!(
                        "Exchange: hash(FxHash of {}) to the owner shard, per-partition order kept",
                        cols(&r.partition_by)
                    )
                });
            }
        }
        if matches!(self.routing, Routing::Local) {
            lines.push("Exchange: none; each core processes the blocks it reads".into());
        }
        if self.filter.is_some() {
            lines.push("Filter (WHERE, on the reading core)".into());
        }
        let mut source = format!(
            "Source: {} ({} columns); blocks of 4096 records dealt to cores round-robin",
            self.source_name,
            self.input.len()
        );
        if let Some(t) = self.time_column {
            let lateness = match self.allowed_lateness_ms {
                Some(ms) => format!("{} (query; --allowed-lateness overrides)", duration(ms)),
                None => "from --allowed-lateness (default 0)".to_string(),
            };
            source.push_str(&format!(
                "\nwatermark: max({}) per source partition minus allowed lateness {lateness}; \
                 windows close on the minimum over partitions; late records dropped and counted",
                name(t)
            ));
        }
        lines.push(source);
        let mut out = String::new();
        for (depth, line) in lines.iter().enumerate() {
            let indent = "   ".repeat(depth.saturating_sub(1));
            let branch = if depth == 0 { "" } else { "└─ " };
            for (i, part) in line.split('\n').enumerate() {
                if i == 0 {
                    out.push_str(&format!("{indent}{branch}{part}\n"));
                } else {
                    out.push_str(&format!("{indent}   {part}\n"));
                }
            }
        }
        out
    }
}

/// Milliseconds as the largest whole unit ("90 ms", "5 s", "1 min", "2 h").
fn duration(ms: i64) -> String {
    for (unit, size) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("min", 60_000),
        ("s", 1_000),
    ] {
        if ms != 0 && ms % size == 0 {
            return format!("{} {unit}", ms / size);
        }
    }
    format!("{ms} ms")
}
