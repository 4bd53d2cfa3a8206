//! Planning: a parsed query becomes a typed `Plan` that names the partition key and routing,
//! the operator, the window and the emit mode. Every user mistake is found here and reported
//! as a `SqlError` with a span and a hint; nothing past planning can fail on a query.

use super::compile::{
    Scope, compile, condition, example_column, fn_name, numeric_column, scalar_func, unsupported,
};
use super::expr::Expr;
use super::parse::{EmitMode, ParsedQuery, WindowClause, WindowKind};
use crate::data::{DataType, Field, Schema};
use crate::error::SqlError;
use sqlparser::ast::{self, Spanned};
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
    fn from_name(name: &str) -> Option<AggFunc> {
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

/// Plans a parsed query against the input's schema.
pub fn plan(q: &ParsedQuery, input: &Schema) -> Result<Plan, SqlError> {
    let query = &q.query;
    if let Some(ob) = &query.order_by {
        return Err(unsupported(
            "ORDER BY on a stream",
            ob.span(),
            "streams are unbounded; ORDER BY is only supported inside OVER (...)",
        ));
    }
    if let Some(l) = &query.limit_clause {
        return Err(unsupported(
            "LIMIT",
            l.span(),
            "remove LIMIT: a query runs over its whole input and emits as it goes",
        ));
    }
    let select = q.select();
    if select.distinct.is_some() {
        return Err(unsupported(
            "SELECT DISTINCT",
            select.select_token.0.span,
            "use GROUP BY on the columns instead",
        ));
    }
    let (source_name, source_span) = source_name(select)?;
    let filter = match &select.selection {
        Some(w) => {
            let e = condition(compile(w, &mut InputScope::new(input, "WHERE"))?);
            if e.ty() != DataType::Bool {
                return Err(SqlError::at(
                    format!("WHERE needs a boolean condition, found {}", e.ty()),
                    w.span(),
                )
                .with_hint(match example_column(input, |t| t.is_numeric()) {
                    Some(c) => format!("compare a column, e.g. WHERE {c} > 100"),
                    None => "compare a column, e.g. WHERE x > 100".to_string(),
                }));
            }
            Some(e)
        }
        None => None,
    };
    if let Some(h) = &select.having
        && !is_grouped(select)
    {
        return Err(SqlError::at(
            "HAVING needs GROUP BY or an aggregate",
            h.span(),
        ));
    }

    let mut functions = Vec::new();
    for item in &select.projection {
        if let ast::SelectItem::UnnamedExpr(e) | ast::SelectItem::ExprWithAlias { expr: e, .. } =
            item
        {
            collect_functions(e, &mut functions);
        }
    }
    let has_window_fn = functions.iter().any(|f| f.over.is_some());
    let has_agg = functions
        .iter()
        .any(|f| f.over.is_none() && AggFunc::from_name(&fn_name(f)).is_some());

    let (body, output, routing, time_column) = if is_grouped(select) || has_agg {
        if let Some(f) = functions.iter().find(|f| f.over.is_some()) {
            return Err(unsupported(
                "window functions (OVER) together with GROUP BY",
                f.span(),
                "run the ROWS window and the GROUP BY as separate queries",
            ));
        }
        plan_aggregate(q, select, input)?
    } else {
        if let Some(w) = &q.window {
            return Err(SqlError::at("a WINDOW clause needs GROUP BY", w.span)
                .with_hint("add GROUP BY <key columns>, or remove the WINDOW clause"));
        }
        if let Some((EmitMode::Final, span)) = q.emit {
            return Err(SqlError::at(
                "EMIT FINAL needs GROUP BY: this query emits each row as it arrives",
                span,
            )
            .with_hint("remove EMIT FINAL, or add GROUP BY with a WINDOW"));
        }
        if has_window_fn {
            plan_rows(select, input)?
        } else {
            let (outputs, schema) =
                plan_projection(select, &mut InputScope::new(input, "SELECT"), input)?;
            (Body::Project(outputs), schema, Routing::Local, None)
        }
    };
    Ok(Plan {
        source_name,
        source_span,
        input: input.clone(),
        filter,
        body,
        output,
        routing,
        time_column,
        allowed_lateness_ms: q.lateness.map(|l| l.0),
    })
}

fn is_grouped(select: &ast::Select) -> bool {
    match &select.group_by {
        ast::GroupByExpr::Expressions(v, _) => !v.is_empty(),
        ast::GroupByExpr::All(_) => true,
    }
}

fn source_name(select: &ast::Select) -> Result<(String, Span), SqlError> {
    match select.from.as_slice() {
        [] => Err(
            SqlError::at("the query has no FROM clause", select.span()).with_hint(
                "add FROM <stream>: any name reads --input FILE; without --input, FROM \
                 market_data reads the built-in generator",
            ),
        ),
        [t] => {
            if let Some(j) = t.joins.first() {
                return Err(unsupported(
                    "JOIN",
                    j.relation.span(),
                    "joins are planned, not yet supported",
                ));
            }
            match &t.relation {
                ast::TableFactor::Table { name, .. } => Ok((name.to_string(), name.span())),
                other => Err(unsupported(
                    "a subquery or table function in FROM",
                    other.span(),
                    "read from one stream by its name: FROM <stream>",
                )),
            }
        }
        [_, second, ..] => Err(unsupported(
            "several tables in FROM",
            second.relation.span(),
            "read from one stream",
        )),
    }
}

/// Collects every function call inside `e` (not inside their arguments), in the order they
/// appear. Iterative: a flat `a OR b OR ...` is thousands of levels deep in sqlparser's tree.
fn collect_functions<'a>(e: &'a ast::Expr, out: &mut Vec<&'a ast::Function>) {
    use ast::Expr as E;
    // Popped last-first, so children are pushed right to left.
    let mut stack = vec![e];
    while let Some(e) = stack.pop() {
        match e {
            E::Function(f) => {
                out.push(f);
                if scalar_func(&fn_name(f)).is_some()
                    && let ast::FunctionArguments::List(l) = &f.args
                {
                    for a in l.args.iter().rev() {
                        if let ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(x)) = a {
                            stack.push(x);
                        }
                    }
                }
            }
            E::BinaryOp { left, right, .. } => stack.extend([&**right, &**left]),
            E::Like { expr, pattern, .. } | E::ILike { expr, pattern, .. } => {
                stack.extend([&**pattern, &**expr])
            }
            E::UnaryOp { expr, .. }
            | E::Nested(expr)
            | E::Cast { expr, .. }
            | E::IsNull(expr)
            | E::IsNotNull(expr)
            | E::IsTrue(expr)
            | E::IsFalse(expr) => stack.push(expr),
            E::Between {
                expr, low, high, ..
            } => stack.extend([&**high, &**low, &**expr]),
            E::In {
                expr,
                target: ast::InTarget::List(list),
                ..
            } => {
                stack.extend(list.iter().rev());
                stack.push(expr);
            }
            E::Case {
                operand,
                conditions,
                else_result,
                ..
            } => {
                stack.extend(else_result.as_deref());
                for c in conditions.iter().rev() {
                    stack.extend([&c.result, &c.condition]);
                }
                stack.extend(operand.as_deref());
            }
            _ => {}
        }
    }
}

/// The name of an output column: the alias, the column name, or the expression's text.
fn output_name(item: &ast::SelectItem) -> String {
    match item {
        ast::SelectItem::ExprWithAlias { alias, .. } => alias.value.clone(),
        ast::SelectItem::UnnamedExpr(ast::Expr::Identifier(i)) => i.value.clone(),
        ast::SelectItem::UnnamedExpr(ast::Expr::CompoundIdentifier(parts)) => {
            parts.last().map_or(String::new(), |i| i.value.clone())
        }
        ast::SelectItem::UnnamedExpr(e) => e.to_string(),
        other => other.to_string(),
    }
}

/// Compiles the SELECT list in `scope`, expanding `*` to the input columns where allowed.
fn plan_projection(
    select: &ast::Select,
    scope: &mut dyn Scope,
    input: &Schema,
) -> Result<(Vec<Expr>, Schema), SqlError> {
    let mut exprs = Vec::new();
    let mut fields = Vec::new();
    for item in &select.projection {
        match item {
            ast::SelectItem::Wildcard(_) | ast::SelectItem::QualifiedWildcard(..) => {
                if !scope.allows_star() {
                    return Err(
                        SqlError::at("SELECT * cannot be used with GROUP BY", item.span())
                            .with_hint("list the GROUP BY columns and aggregates"),
                    );
                }
                for (i, f) in input.fields.iter().enumerate() {
                    exprs.push(Expr::Column { index: i, ty: f.ty });
                    fields.push(f.clone());
                }
            }
            ast::SelectItem::UnnamedExpr(e) | ast::SelectItem::ExprWithAlias { expr: e, .. } => {
                let compiled = compile(e, scope)?;
                fields.push(Field::new(output_name(item), compiled.ty()));
                exprs.push(compiled);
            }
            other => {
                return Err(unsupported(
                    "this SELECT item",
                    other.span(),
                    "write expressions with optional AS aliases",
                ));
            }
        }
    }
    Ok((exprs, Schema::new(fields)))
}

type Planned = (Body, Schema, Routing, Option<usize>);

fn plan_aggregate(
    q: &ParsedQuery,
    select: &ast::Select,
    input: &Schema,
) -> Result<Planned, SqlError> {
    let group_exprs: &[ast::Expr] = match &select.group_by {
        ast::GroupByExpr::Expressions(v, _) => v,
        ast::GroupByExpr::All(_) => {
            return Err(unsupported(
                "GROUP BY ALL",
                select.span(),
                "name the key columns",
            ));
        }
    };
    let window = match &q.window {
        Some(w) => Some(plan_window(w, input)?),
        None => None,
    };
    let mut keys = Vec::new();
    for g in group_exprs {
        let Some(idx) = group_key(g, select, input, window.is_some())? else {
            continue;
        };
        if keys.contains(&idx) {
            return Err(SqlError::at(
                format!(
                    "column `{}` appears twice in GROUP BY",
                    input.fields[idx].name
                ),
                g.span(),
            ));
        }
        keys.push(idx);
    }
    let emit = q.emit.map_or(EmitMode::Final, |e| e.0);
    let mut scope = AggScope {
        input,
        keys: keys.clone(),
        aggs: Vec::new(),
        windowed: window.is_some(),
        aliases: Vec::new(),
    };
    let (mut outputs, mut output) = plan_projection(select, &mut scope, input)?;
    if emit == EmitMode::Changes {
        if let Some(item) = select
            .projection
            .iter()
            .find(|i| output_name(i).eq_ignore_ascii_case(CHANGELOG_OP_COLUMN))
        {
            return Err(SqlError::at(
                format!(
                    "EMIT CHANGES writes its changelog operation as the first column, \
                     `{CHANGELOG_OP_COLUMN}`: this column has the same name"
                ),
                item.span(),
            )
            .with_hint("give this column another name, e.g. AS op_value"));
        }
        // The changelog operation leads every EMIT CHANGES row (the group row's last column).
        outputs.insert(
            0,
            Expr::Column {
                index: WINDOW_COL_BASE + 2,
                ty: DataType::Str,
            },
        );
        output
            .fields
            .insert(0, Field::new(CHANGELOG_OP_COLUMN, DataType::Str));
    }
    let having = match &select.having {
        Some(h) => {
            // HAVING may name an output by its alias (`SELECT COUNT(*) AS n ... HAVING n > 2`).
            scope.aliases = select
                .projection
                .iter()
                .filter_map(|item| match item {
                    ast::SelectItem::ExprWithAlias { expr, alias } => {
                        Some((alias.value.clone(), expr))
                    }
                    _ => None,
                })
                .collect();
            let e = condition(compile(h, &mut scope)?);
            if e.ty() != DataType::Bool {
                return Err(SqlError::at("HAVING needs a boolean condition", h.span()));
            }
            Some(e)
        }
        None => None,
    };
    // Aggregates registered by HAVING after the outputs shift nothing: outputs index keys and
    // aggregates by position, and window columns sit after all aggregates.
    let nk = keys.len();
    let na = scope.aggs.len();
    let fix = |e: &mut Expr| shift_window_columns(e, nk, na);
    outputs.iter_mut().for_each(fix);
    let mut having = having;
    if let Some(h) = having.as_mut() {
        fix(h);
    }
    let key_types = keys.iter().map(|&k| input.fields[k].ty).collect();
    let routing = if keys.is_empty() {
        Routing::Single
    } else {
        Routing::Hash(keys.clone())
    };
    let time_column = window.map(|w| w.1);
    Ok((
        Body::Aggregate(AggregatePlan {
            keys,
            key_types,
            aggs: scope.aggs,
            window: window.map(|w| w.0),
            emit,
            having,
            outputs,
            cutoff_column: None,
            retract: false,
        }),
        output,
        routing,
        time_column,
    ))
}

fn is_window_column(name: &str) -> bool {
    matches!(
        name.to_ascii_lowercase().as_str(),
        "window_start" | "windowstart" | "window_end" | "windowend"
    )
}

/// The input column one GROUP BY item groups on: a column name, a SELECT alias of a column,
/// or a 1-based position in the SELECT list (as in DuckDB and Flink). `None` for
/// `window_start` / `window_end` with a WINDOW clause: rows are already per window, so
/// grouping by them changes nothing.
fn group_key(
    g: &ast::Expr,
    select: &ast::Select,
    input: &Schema,
    windowed: bool,
) -> Result<Option<usize>, SqlError> {
    let hint = "group by column names, SELECT aliases of columns, or SELECT positions (GROUP BY 1)";
    // What a SELECT item (by alias or position) groups on.
    let item_key = |e: &ast::Expr, what: &str| -> Result<Option<usize>, SqlError> {
        match e {
            ast::Expr::Identifier(i) if windowed && is_window_column(&i.value) => Ok(None),
            ast::Expr::Identifier(i) if input.index_of(&i.value).is_some() => {
                Ok(input.index_of(&i.value))
            }
            ast::Expr::Function(_) => Err(SqlError::at(
                format!("GROUP BY {what} refers to `{e}`, an aggregate or function"),
                g.span(),
            )
            .with_hint(hint)),
            _ => Err(unsupported(
                &format!("GROUP BY on an expression (`{what}` is `{e}`)"),
                g.span(),
                hint,
            )),
        }
    };
    let name = match g {
        ast::Expr::Identifier(i) => &i.value,
        ast::Expr::CompoundIdentifier(p) if !p.is_empty() => &p[p.len() - 1].value,
        ast::Expr::Value(v) => {
            let ast::Value::Number(n, _) = &v.value else {
                return Err(unsupported("GROUP BY on a constant", g.span(), hint));
            };
            let items = &select.projection;
            let Some(item) = n
                .parse::<usize>()
                .ok()
                .filter(|p| (1..=items.len()).contains(p))
                .map(|p| &items[p - 1])
            else {
                return Err(SqlError::at(
                    format!("GROUP BY {n}: the SELECT list has {} item(s)", items.len()),
                    g.span(),
                )
                .with_hint("positions count SELECT items from 1"));
            };
            return match item {
                ast::SelectItem::UnnamedExpr(e)
                | ast::SelectItem::ExprWithAlias { expr: e, .. } => item_key(e, n),
                _ => Err(unsupported("GROUP BY the position of `*`", g.span(), hint)),
            };
        }
        other => {
            return Err(unsupported("GROUP BY on an expression", other.span(), hint));
        }
    };
    if let Some(i) = input.index_of(name) {
        return Ok(Some(i));
    }
    if windowed && is_window_column(name) {
        return Ok(None);
    }
    let alias = select.projection.iter().find_map(|item| match item {
        ast::SelectItem::ExprWithAlias { expr, alias }
            if alias.value.eq_ignore_ascii_case(name) =>
        {
            Some(expr)
        }
        _ => None,
    });
    match alias {
        Some(e) => item_key(e, name),
        None => {
            let e = unknown_column(input, name, g.span());
            Err(if is_window_column(name) {
                e.with_hint("window_start / window_end need a WINDOW clause")
            } else {
                e
            })
        }
    }
}

/// The name of the changelog operation column EMIT CHANGES puts first in its output.
pub const CHANGELOG_OP_COLUMN: &str = "op";

/// Window columns (and the changelog op, `+ 2`) are compiled as `WINDOW_COL_BASE + {0,1}` because the number of aggregates
/// is only known after the whole SELECT and HAVING are compiled; this moves them into place.
const WINDOW_COL_BASE: usize = usize::MAX / 2;

fn shift_window_columns(e: &mut Expr, nk: usize, na: usize) {
    e.remap(&|i| {
        if i >= WINDOW_COL_BASE {
            nk + na + (i - WINDOW_COL_BASE)
        } else {
            i
        }
    });
}

/// How to pick a window's time column, naming the input's own TIMESTAMP / BIGINT columns.
fn time_column_hint(input: &Schema) -> String {
    let candidates: Vec<&str> = input
        .fields
        .iter()
        .filter(|f| f.ty.is_integer())
        .map(|f| f.name.as_str())
        .collect();
    if candidates.is_empty() {
        "window on an epoch-millisecond TIMESTAMP or BIGINT column; the input has none (declare \
         one with --schema col:timestamp)"
            .to_string()
    } else {
        format!(
            "window on an epoch-millisecond TIMESTAMP or BIGINT column of the input: {}",
            candidates.join(", ")
        )
    }
}

fn plan_window(w: &WindowClause, input: &Schema) -> Result<(WindowSpec, usize), SqlError> {
    let col = resolve_column(input, &w.time_column, w.time_column_span)?;
    if !input.fields[col].ty.is_integer() {
        return Err(SqlError::at(
            format!(
                "the window time column `{}` is {}, not a timestamp",
                w.time_column, input.fields[col].ty
            ),
            w.time_column_span,
        )
        .with_hint(time_column_hint(input)));
    }
    let spec = match w.kind {
        WindowKind::Tumbling => WindowSpec::Tumbling {
            size: w.intervals[0].0,
        },
        WindowKind::Hopping => {
            let ((size, _), (advance, adv_span)) = (w.intervals[0], w.intervals[1]);
            if advance > size {
                return Err(SqlError::at(
                    "a hopping window's advance must not exceed its size",
                    adv_span,
                )
                .with_hint(format!(
                    "e.g. WINDOW HOPPING ({}, INTERVAL '5' MINUTE, INTERVAL '1' MINUTE); use \
                     TUMBLING when they are equal",
                    w.time_column
                )));
            }
            if size / advance > 10_000 {
                return Err(SqlError::at(
                    "a hopping window may overlap at most 10000 others (size / advance)",
                    adv_span,
                )
                .with_hint("use a larger advance"));
            }
            WindowSpec::Hopping { size, advance }
        }
        WindowKind::Session => WindowSpec::Session {
            gap: w.intervals[0].0,
        },
    };
    Ok((spec, col))
}

fn plan_rows(select: &ast::Select, input: &Schema) -> Result<Planned, SqlError> {
    let mut scope = RowsScope {
        input,
        funcs: Vec::new(),
        partition_by: None,
        order_by: None,
    };
    let (outputs, output) = plan_projection(select, &mut scope, input)?;
    let partition_by = scope.partition_by.unwrap_or_default();
    let order_by = scope.order_by.expect("a window function was compiled");
    let routing = if partition_by.is_empty() {
        Routing::Single
    } else {
        Routing::Hash(partition_by.clone())
    };
    // Checked in `RowsScope`: the order is the event time.
    let time = Some(order_by);
    Ok((
        Body::Rows(RowsPlan {
            partition_by,
            order_by,
            funcs: scope.funcs,
            outputs,
        }),
        output,
        routing,
        time,
    ))
}

fn resolve_column(input: &Schema, name: &str, span: Span) -> Result<usize, SqlError> {
    input
        .index_of(name)
        .ok_or_else(|| unknown_column(input, name, span))
}

fn unknown_column(input: &Schema, name: &str, span: Span) -> SqlError {
    let e = SqlError::at(format!("unknown column `{name}`"), span);
    match closest(name, input.names()) {
        Some(c) => e.with_hint(format!("did you mean `{c}`?")),
        None => e.with_hint(format!(
            "the input has: {}",
            input.names().collect::<Vec<_>>().join(", ")
        )),
    }
}

/// The candidate nearest to `name` by edit distance, if it is near enough to be a typo.
fn closest<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let name = name.to_ascii_lowercase();
    candidates
        .map(|c| (edit_distance(&name, &c.to_ascii_lowercase()), c))
        .filter(|(d, c)| *d <= (c.len() / 3).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Plain input columns (WHERE, aggregate arguments, projections without aggregation).
struct InputScope<'a> {
    input: &'a Schema,
    clause: &'static str,
}

impl<'a> InputScope<'a> {
    fn new(input: &'a Schema, clause: &'static str) -> Self {
        InputScope { input, clause }
    }
}

impl Scope for InputScope<'_> {
    fn input(&self) -> &Schema {
        self.input
    }

    fn column(&mut self, name: &str, span: Span) -> Result<Expr, SqlError> {
        let i = resolve_column(self.input, name, span)?;
        Ok(Expr::Column {
            index: i,
            ty: self.input.fields[i].ty,
        })
    }

    fn function(&mut self, f: &ast::Function, span: Span) -> Result<Expr, SqlError> {
        let name = fn_name(f);
        if AggFunc::from_name(&name).is_some() {
            let hint = if self.clause == "WHERE" {
                "filter on aggregates with HAVING"
            } else {
                "aggregates cannot be nested or used here"
            };
            return Err(SqlError::at(
                format!(
                    "aggregate function {} is not allowed in {}",
                    name.to_uppercase(),
                    self.clause
                ),
                span,
            )
            .with_hint(hint));
        }
        Err(unknown_function(&name, span))
    }

    fn allows_star(&self) -> bool {
        self.clause == "SELECT"
    }
}

fn unknown_function(name: &str, span: Span) -> SqlError {
    SqlError::at(format!("unknown function `{name}`"), span).with_hint(
        "aggregates: COUNT, COUNT(DISTINCT), SUM, AVG, MIN, MAX, STDDEV, STDDEV_POP, VARIANCE, \
             VAR_POP; scalar: ABS, ROUND, FLOOR, CEIL, SQRT, COALESCE, NULLIF, LENGTH, \
             UPPER, LOWER, TRIM, CONCAT, SUBSTRING",
    )
}

/// Parses an aggregate call's argument: `(*)` for COUNT, otherwise one numeric expression.
fn agg_call(f: &ast::Function, input: &Schema, span: Span) -> Result<AggCall, SqlError> {
    let name = fn_name(f);
    let mut func = AggFunc::from_name(&name).ok_or_else(|| unknown_function(&name, span))?;
    let args = match &f.args {
        ast::FunctionArguments::List(l) => {
            if l.duplicate_treatment == Some(ast::DuplicateTreatment::Distinct) {
                if func != AggFunc::Count {
                    return Err(unsupported(
                        &format!("{}(DISTINCT ...)", name.to_uppercase()),
                        span,
                        "DISTINCT is supported in COUNT(DISTINCT x)",
                    ));
                }
                func = AggFunc::CountDistinct;
            }
            l.args.as_slice()
        }
        _ => &[],
    };
    if f.filter.is_some() {
        return Err(unsupported(
            "FILTER (WHERE ...) on aggregates",
            span,
            "use WHERE on the query",
        ));
    }
    let arg = match args {
        [ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Wildcard)] if func == AggFunc::Count => {
            func = AggFunc::CountStar;
            None
        }
        [ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(e))] => {
            let arg = compile(e, &mut InputScope::new(input, "an aggregate argument"))?;
            let ok = match func {
                AggFunc::Count | AggFunc::CountDistinct => true,
                AggFunc::Min | AggFunc::Max => arg.ty() != DataType::Bool,
                _ => arg.ty().is_numeric(),
            };
            if !ok {
                return Err(SqlError::at(
                    format!(
                        "{}() needs a numeric argument, found {}",
                        name.to_uppercase(),
                        arg.ty()
                    ),
                    e.span(),
                )
                .with_hint(match numeric_column(input) {
                    Some(c) => format!("aggregate a numeric column, e.g. {c}"),
                    None => "aggregate a numeric column".to_string(),
                }));
            }
            Some(arg)
        }
        _ => {
            return Err(SqlError::at(
                format!("{}() takes one argument", name.to_uppercase()),
                span,
            )
            .with_hint(format!(
                "e.g. SUM({}) or COUNT(*)",
                numeric_column(input).unwrap_or("x")
            )));
        }
    };
    let ty = func.result_type(arg.as_ref().map(Expr::ty));
    Ok(AggCall { func, arg, ty })
}

/// SELECT / HAVING of a GROUP BY: keys, aggregates, window bounds, and in HAVING the SELECT
/// aliases.
struct AggScope<'a> {
    input: &'a Schema,
    keys: Vec<usize>,
    aggs: Vec<AggCall>,
    windowed: bool,
    /// SELECT aliases a name that is not an input column may stand for (HAVING only).
    aliases: Vec<(String, &'a ast::Expr)>,
}

impl Scope for AggScope<'_> {
    fn input(&self) -> &Schema {
        self.input
    }

    fn column(&mut self, name: &str, span: Span) -> Result<Expr, SqlError> {
        let lower = name.to_ascii_lowercase();
        if self.windowed
            && matches!(
                lower.as_str(),
                "window_start" | "windowstart" | "window_end" | "windowend"
            )
        {
            let off = usize::from(lower.ends_with("end"));
            return Ok(Expr::Column {
                index: WINDOW_COL_BASE + off,
                ty: DataType::Timestamp,
            });
        }
        if self.input.index_of(name).is_none()
            && let Some(&(_, e)) = self
                .aliases
                .iter()
                .find(|(a, _)| a.eq_ignore_ascii_case(name))
        {
            // Compiled with no aliases in scope, so an alias cannot refer to itself.
            let aliases = std::mem::take(&mut self.aliases);
            let compiled = compile(e, self);
            self.aliases = aliases;
            return compiled;
        }
        let i = resolve_column(self.input, name, span).map_err(|e| {
            if !self.windowed && lower.starts_with("window") {
                e.with_hint("window_start / window_end need a WINDOW clause")
            } else {
                e
            }
        })?;
        match self.keys.iter().position(|&k| k == i) {
            Some(p) => Ok(Expr::Column {
                index: p,
                ty: self.input.fields[i].ty,
            }),
            None => Err(SqlError::at(
                format!(
                    "column `{name}` must appear in GROUP BY or be used in an aggregate function"
                ),
                span,
            )
            .with_hint(format!(
                "add `{name}` to GROUP BY, or aggregate it, e.g. MAX({name})"
            ))),
        }
    }

    fn function(&mut self, f: &ast::Function, span: Span) -> Result<Expr, SqlError> {
        if f.over.is_some() {
            return Err(unsupported(
                "window functions (OVER) together with GROUP BY",
                span,
                "run them as separate queries",
            ));
        }
        let call = agg_call(f, self.input, span)?;
        let ty = call.ty;
        let pos = match self.aggs.iter().position(|a| *a == call) {
            Some(p) => p,
            None => {
                self.aggs.push(call);
                self.aggs.len() - 1
            }
        };
        Ok(Expr::Column {
            index: self.keys.len() + pos,
            ty,
        })
    }
}

/// SELECT with `OVER (...)` window functions: input columns plus function results.
struct RowsScope<'a> {
    input: &'a Schema,
    funcs: Vec<RowsFunc>,
    partition_by: Option<Vec<usize>>,
    order_by: Option<usize>,
}

impl Scope for RowsScope<'_> {
    fn input(&self) -> &Schema {
        self.input
    }

    fn column(&mut self, name: &str, span: Span) -> Result<Expr, SqlError> {
        InputScope::new(self.input, "SELECT").column(name, span)
    }

    fn allows_star(&self) -> bool {
        true
    }

    fn function(&mut self, f: &ast::Function, span: Span) -> Result<Expr, SqlError> {
        let Some(over) = &f.over else {
            return InputScope::new(self.input, "SELECT").function(f, span);
        };
        let spec = match over {
            ast::WindowType::WindowSpec(s) => s,
            ast::WindowType::NamedWindow(n) => {
                return Err(unsupported(
                    "named windows in OVER",
                    n.span,
                    "write the window inline: OVER (ORDER BY ... ROWS ...)",
                ));
            }
        };
        let hint =
            "write OVER ([PARTITION BY k] ORDER BY t ROWS BETWEEN n PRECEDING AND CURRENT ROW)";
        let mut partition = Vec::new();
        for p in &spec.partition_by {
            let name = match p {
                ast::Expr::Identifier(i) => &i.value,
                other => {
                    return Err(unsupported(
                        "PARTITION BY on an expression",
                        other.span(),
                        hint,
                    ));
                }
            };
            partition.push(resolve_column(self.input, name, p.span())?);
        }
        let order = match spec.order_by.as_slice() {
            [o] => match &o.expr {
                ast::Expr::Identifier(i) => {
                    if matches!(o.options.sort, Some(ast::OrderBySort::Desc)) {
                        return Err(unsupported(
                            "ORDER BY ... DESC in a ROWS window",
                            o.expr.span(),
                            hint,
                        ));
                    }
                    let col = resolve_column(self.input, &i.value, i.span)?;
                    let ty = self.input.fields[col].ty;
                    if ty != DataType::Timestamp {
                        return Err(SqlError::at(
                            format!(
                                "a ROWS window must be ordered by a TIMESTAMP column; `{}` is {ty}",
                                i.value
                            ),
                            i.span,
                        )
                        .with_hint(rows_order_hint(self.input, &i.value)));
                    }
                    col
                }
                ast::Expr::Function(f) if super::parse::is_processing_time(&fn_name(f)) => {
                    return Err(SqlError::at(
                        format!(
                            "a ROWS window cannot be ordered by {}: it is processing time, and \
                             the order must be the event time each record carries",
                            fn_name(f).to_uppercase()
                        ),
                        f.span(),
                    )
                    .with_hint(hint));
                }
                other => return Err(unsupported("ORDER BY on an expression", other.span(), hint)),
            },
            [] => return Err(SqlError::at("a ROWS window needs ORDER BY", span).with_hint(hint)),
            [_, second, ..] => {
                return Err(unsupported(
                    "ORDER BY on several columns",
                    second.expr.span(),
                    hint,
                ));
            }
        };
        let preceding = match &spec.window_frame {
            Some(frame) => {
                if frame.units != ast::WindowFrameUnits::Rows {
                    return Err(unsupported(&format!("{} frames", frame.units), span, hint));
                }
                if !matches!(
                    frame.end_bound,
                    None | Some(ast::WindowFrameBound::CurrentRow)
                ) {
                    return Err(unsupported(
                        "a frame that ends after CURRENT ROW",
                        span,
                        hint,
                    ));
                }
                match &frame.start_bound {
                    ast::WindowFrameBound::CurrentRow => 0,
                    ast::WindowFrameBound::Preceding(Some(n)) => match &**n {
                        ast::Expr::Value(v) => match &v.value {
                            ast::Value::Number(s, _) => s
                                .parse::<usize>()
                                .ok()
                                .filter(|n| *n <= 1_000_000)
                                .ok_or_else(|| {
                                    SqlError::at(
                                        "the frame size must be an integer from 0 to 1000000",
                                        v.span,
                                    )
                                    .with_hint(hint)
                                })?,
                            _ => {
                                return Err(SqlError::at(
                                    "the frame size must be a number",
                                    v.span,
                                )
                                .with_hint(hint));
                            }
                        },
                        other => {
                            return Err(SqlError::at(
                                "the frame size must be a number",
                                other.span(),
                            )
                            .with_hint(hint));
                        }
                    },
                    _ => {
                        return Err(unsupported(
                            "UNBOUNDED or FOLLOWING frame starts",
                            span,
                            hint,
                        ));
                    }
                }
            }
            None => {
                return Err(
                    SqlError::at("a window function needs a ROWS frame", span).with_hint(hint)
                );
            }
        };
        if self.partition_by.as_ref().is_some_and(|p| *p != partition)
            || self.order_by.is_some_and(|o| o != order)
        {
            return Err(unsupported(
                "window functions with different PARTITION BY or ORDER BY in one query",
                span,
                "use the same PARTITION BY and ORDER BY in every OVER clause",
            ));
        }
        self.partition_by = Some(partition);
        self.order_by = Some(order);
        let call = agg_call(f, self.input, span)?;
        let string_min_max = matches!(call.func, AggFunc::Min | AggFunc::Max)
            && call.arg.as_ref().is_some_and(|a| a.ty() == DataType::Str);
        if string_min_max
            || !matches!(
                call.func,
                AggFunc::CountStar
                    | AggFunc::Count
                    | AggFunc::Sum
                    | AggFunc::Avg
                    | AggFunc::Min
                    | AggFunc::Max
            )
        {
            let what = if call.func == AggFunc::CountDistinct {
                "COUNT(DISTINCT ...)".to_string()
            } else if string_min_max {
                format!("{} of a VARCHAR", fn_name(f).to_uppercase())
            } else {
                fn_name(f).to_uppercase()
            };
            return Err(unsupported(
                &format!("{what} over a ROWS frame"),
                span,
                "ROWS windows support COUNT, SUM, AVG, MIN and MAX",
            ));
        }
        let func = RowsFunc {
            func: call.func,
            arg: call.arg,
            preceding,
            ty: call.ty,
        };
        let pos = match self.funcs.iter().position(|x| *x == func) {
            Some(p) => p,
            None => {
                self.funcs.push(func.clone());
                self.funcs.len() - 1
            }
        };
        Ok(Expr::Column {
            index: self.input.len() + pos,
            ty: func.ty,
        })
    }
}

/// How to fix a ROWS window ordered by `column`, a non-TIMESTAMP column of `input`: name the
/// input's own TIMESTAMP columns, or say how to declare one.
fn rows_order_hint(input: &Schema, column: &str) -> String {
    let times: Vec<&str> = input
        .fields
        .iter()
        .filter(|f| f.ty == DataType::Timestamp)
        .map(|f| f.name.as_str())
        .collect();
    let why = "ROWS windows are ordered by event time: rows arrive in time order and late ones \
               are dropped";
    if times.is_empty() {
        format!(
            "{why}; the input has no TIMESTAMP column: if `{column}` holds epoch milliseconds, \
             declare it with --schema {column}:timestamp"
        )
    } else {
        format!(
            "{why}; order by a TIMESTAMP column of the input ({}), or declare `{column}` with \
             --schema {column}:timestamp if it holds epoch milliseconds",
            times.join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::super::compile::MAX_EXPR_DEPTH;
    use super::super::expr::Literal;
    use super::*;
    use crate::sql::parse::parse;

    fn plan_sql(sql: &str) -> Result<Plan, SqlError> {
        plan(&parse(sql)?, &Schema::market_data())
    }

    /// A small input, (n BIGINT, x DOUBLE, s VARCHAR), and a batch of it.
    fn small_input() -> (Schema, crate::data::Batch, crate::data::Dict) {
        use crate::data::batch::{Column, NULL_INT};
        let schema = Schema::new(vec![
            Field::new("n", DataType::Int),
            Field::new("x", DataType::Float),
            Field::new("s", DataType::Str),
        ]);
        let dict = crate::data::Dict::default();
        let s = ["a", "b", "zz", "a", "q"].map(|t| dict.intern(t)).to_vec();
        let batch = crate::data::Batch {
            columns: vec![
                Column::Int(vec![0, 7, 5999, 6000, NULL_INT]),
                Column::Float(vec![0.0, 7.0, -1.5, 2.5, 1.0]),
                Column::Str(s),
            ],
        };
        (schema, batch, dict)
    }

    fn joined(items: impl Iterator<Item = String>, sep: &str) -> String {
        items.collect::<Vec<_>>().join(sep)
    }

    #[test]
    fn long_flat_expressions_compile_to_one_level_and_evaluate_like_the_nested_tree() {
        use crate::data::batch::{Column, NULL_BOOL, NULL_INT};
        let (schema, batch, dict) = small_input();
        let compile = |sql: &str| {
            crate::sql::compile_query(sql, "t.sql", &schema).unwrap_or_else(|e| panic!("{e}"))
        };
        let filter = |sql: &str| compile(sql).filter.unwrap();
        // 6,000 constants: one set probe per row.
        let list = joined((0..6000).map(|i| i.to_string()), ", ");
        let f = filter(&format!("SELECT n FROM t WHERE n IN ({list})"));
        assert!(matches!(&f, Expr::InList { set, .. } if set.len() == 6000));
        assert_eq!(
            f.eval(&batch, &dict),
            Column::Bool(vec![1, 1, 1, 0, NULL_BOOL])
        );
        let f = filter(&format!("SELECT n FROM t WHERE n NOT IN ({list})"));
        assert_eq!(
            f.eval(&batch, &dict),
            Column::Bool(vec![0, 0, 0, 1, NULL_BOOL])
        );
        // A NULL in the list makes a miss NULL, as `n = NULL` would.
        let f = filter("SELECT n FROM t WHERE n IN (7, NULL)");
        assert_eq!(
            f.eval(&batch, &dict),
            Column::Bool(vec![NULL_BOOL, 1, NULL_BOOL, NULL_BOOL, NULL_BOOL])
        );
        let f = filter("SELECT n FROM t WHERE x IN (7, 2.5, -0.0)");
        assert_eq!(f.eval(&batch, &dict), Column::Bool(vec![1, 1, 0, 1, 0]));
        let f = filter("SELECT n FROM t WHERE s IN ('a', 'zz', 'nope')");
        assert_eq!(f.eval(&batch, &dict), Column::Bool(vec![1, 0, 1, 1, 0]));
        // 100,000 constants plan in linear time (a quadratic planner takes minutes here).
        let big = joined((0..100_000).map(|i| (i * 3).to_string()), ",");
        let f = filter(&format!("SELECT n FROM t WHERE n IN ({big})"));
        assert_eq!(
            f.eval(&batch, &dict),
            Column::Bool(vec![1, 0, 0, 1, NULL_BOOL])
        );
        // 3,001 ORs of `n = constant`: the IN list they spell, one set probe per row.
        let ors = joined((0..3000).map(|i| format!("n = {i}")), " OR ");
        let f = filter(&format!("SELECT n FROM t WHERE {ors} OR n = 5999"));
        assert!(matches!(&f, Expr::InList { set, .. } if set.len() == 3001));
        assert_eq!(
            f.eval(&batch, &dict),
            Column::Bool(vec![1, 1, 1, 0, NULL_BOOL])
        );
        // 3,002 ORs of other comparisons: one chain node (`n`, `< 0`, then 3,001 `OR` steps).
        let ors = joined((0..3000).map(|i| format!("n < {}", -i)), " OR ");
        let f = filter(&format!("SELECT n FROM t WHERE {ors} OR x = 7 OR s = 'zz'"));
        assert!(matches!(&f, Expr::Chain { steps, .. } if steps.len() == 3002));
        assert_eq!(
            f.eval(&batch, &dict),
            Column::Bool(vec![0, 1, 1, 0, NULL_BOOL])
        );
        // 5,000 `+` terms, `-` mixed in, and 5,000 `||` operands.
        let sum = joined(
            (0..5000).map(|i| if i % 2 == 0 { "n" } else { "1" }.to_string()),
            " + ",
        );
        let p = compile(&format!("SELECT {sum} - 2 AS total, {sum} FROM t"));
        let Body::Project(outputs) = &p.body else {
            panic!()
        };
        assert_eq!(
            outputs[0].eval(&batch, &dict),
            Column::Int(vec![
                2498,
                2500 * 7 + 2498,
                2500 * 5999 + 2498,
                2500 * 6000 + 2498,
                NULL_INT
            ])
        );
        assert_eq!(
            p.output.fields[1].name.len(),
            sum.len(),
            "named by its text"
        );
        let cat = joined((0..5000).map(|_| "s".to_string()), " || ");
        let p = compile(&format!("SELECT {cat} AS c FROM t"));
        let Body::Project(outputs) = &p.body else {
            panic!()
        };
        let Column::Str(ids) = outputs[0].eval(&batch, &dict) else {
            panic!()
        };
        assert_eq!(dict.get(ids[2]), "zz".repeat(5000));
    }

    #[test]
    fn nesting_beyond_the_limit_is_refused_with_a_position() {
        // Through `compile_query`, whose planning thread has the stack for it.
        let schema = Schema::market_data();
        let chain = " IS NULL".repeat(MAX_EXPR_DEPTH + 50);
        let sql = format!("SELECT *\nFROM market_data WHERE price{chain}");
        let e = crate::sql::compile_query(&sql, "q.sql", &schema)
            .unwrap_err()
            .to_string();
        assert!(e.contains("nested too deeply"), "{e}");
        assert!(
            e.contains(&format!("more than {MAX_EXPR_DEPTH} levels")),
            "{e}"
        );
        assert!(e.contains("q.sql:2:"), "{e}");
        let chain = " IS NULL".repeat(MAX_EXPR_DEPTH - 20);
        let sql = format!("SELECT price{chain} AS deep FROM market_data");
        crate::sql::compile_query(&sql, "q.sql", &schema).unwrap();
    }

    #[test]
    fn group_by_takes_aliases_positions_and_window_bounds_and_having_takes_aliases() {
        let keys = |sql: &str| match plan_sql(sql).unwrap_or_else(|e| panic!("{sql}: {e}")).body {
            Body::Aggregate(a) => a.keys,
            _ => panic!("{sql}: not an aggregate"),
        };
        let by_name = keys("SELECT symbol, COUNT(*) FROM market_data GROUP BY symbol");
        assert_eq!(by_name, vec![2]);
        for sql in [
            "SELECT symbol AS d, COUNT(*) FROM market_data GROUP BY d",
            "SELECT symbol, COUNT(*) FROM market_data GROUP BY 1",
            "SELECT COUNT(*) AS n, symbol FROM market_data GROUP BY 2",
            "SELECT symbol, window_start, COUNT(*) FROM market_data GROUP BY symbol, window_start \
             WINDOW TUMBLING (trade_time, INTERVAL '1' MINUTE)",
            "SELECT window_end, symbol AS s, COUNT(*) FROM market_data GROUP BY 1, s \
             WINDOW TUMBLING (trade_time, INTERVAL '1' MINUTE)",
        ] {
            assert_eq!(keys(sql), by_name, "{sql}");
        }
        let p = plan_sql(
            "SELECT symbol, COUNT(*) AS n FROM market_data GROUP BY symbol HAVING n > 2 AND n < 9",
        )
        .unwrap();
        let Body::Aggregate(a) = &p.body else {
            panic!()
        };
        assert_eq!(
            a.aggs.len(),
            1,
            "the alias is the same aggregate, not a second one"
        );
        for (sql, msg) in [
            (
                "SELECT symbol, COUNT(*) AS n FROM market_data GROUP BY 2",
                "GROUP BY 2 refers to `COUNT(*)`",
            ),
            (
                "SELECT symbol FROM market_data GROUP BY 3",
                "GROUP BY 3: the SELECT list has 1 item(s)",
            ),
            (
                "SELECT price * 2 AS p FROM market_data GROUP BY p",
                "GROUP BY on an expression",
            ),
            (
                "SELECT COUNT(*) FROM market_data GROUP BY window_start",
                "unknown column `window_start`",
            ),
            (
                "SELECT symbol, COUNT(*) AS n, n AS m FROM market_data GROUP BY symbol",
                "unknown column `n`",
            ),
        ] {
            let e = plan_sql(sql).unwrap_err();
            assert!(e.message.contains(msg), "{sql}: {}", e.message);
            assert!(e.span.is_some(), "{sql}");
        }
    }

    #[test]
    fn an_untyped_null_is_a_boolean_null_where_a_condition_is_expected() {
        for sql in [
            "SELECT * FROM market_data WHERE NULL",
            "SELECT * FROM market_data WHERE NOT NULL OR price > 1",
            "SELECT CASE WHEN NULL THEN 1 ELSE 2 END AS c FROM market_data",
            "SELECT symbol FROM market_data GROUP BY symbol HAVING NULL",
        ] {
            plan_sql(sql).unwrap_or_else(|e| panic!("{sql}: {}", e.message));
        }
        let p = plan_sql("SELECT * FROM market_data WHERE NULL").unwrap();
        assert_eq!(p.filter, Some(Expr::Literal(Literal::Null(DataType::Bool))));
    }

    #[test]
    fn hopping_and_session_lateness_use_the_latest_window() {
        let h = WindowSpec::Hopping {
            size: 10_000,
            advance: 2_500,
        };
        // t = 12_345: windows start 10_000, 7_500, 5_000, 2_500; the latest ends at 20_000.
        assert_eq!(h.start_of(12_345), 10_000);
        assert_eq!(h.end_of(12_345), 20_000);
        // Against watermark 20_000 the first time whose latest window is open is 12_500.
        assert_eq!(h.first_open_time(20_000), 12_500);
        assert!(h.end_of(12_499) <= 20_000 && h.end_of(12_500) > 20_000);
        let s = WindowSpec::Session { gap: 300 };
        assert_eq!(s.end_of(1_000), 1_300);
        assert_eq!(s.first_open_time(1_300), 1_001);
        assert!(s.needs_cutoffs() && h.needs_cutoffs());
        assert!(!WindowSpec::Tumbling { size: 5 }.needs_cutoffs());
    }

    #[test]
    fn tumbling_windows_are_epoch_aligned_half_open_intervals() {
        let w = WindowSpec::Tumbling { size: 60_000 };
        assert_eq!(w.start_of(0), 0);
        assert_eq!(w.start_of(59_999), 0);
        assert_eq!(w.end_of(59_999), 60_000);
        assert_eq!(w.start_of(60_000), 60_000, "the end is exclusive");
        assert_eq!(
            w.start_of(-1),
            -60_000,
            "negative times round down, not toward zero"
        );
        assert_eq!(w.start_of(1_700_000_012_345), 1_699_999_980_000);
        assert_eq!(
            w.end_of(i64::MAX),
            i64::MAX,
            "saturates instead of overflowing"
        );
        for t in [-120_001i64, -1, 0, 1, 59_999, 60_000, 123_456_789] {
            assert!(w.start_of(t) <= t && t < w.end_of(t));
            for wm in [
                t - 60_001,
                t - 60_000,
                t - 1,
                t,
                t + 1,
                t + 59_999,
                t + 60_000,
            ] {
                assert_eq!(
                    w.end_of(t) <= wm,
                    t < w.first_open_time(wm),
                    "t {t} wm {wm}"
                );
            }
        }
    }

    #[test]
    fn shards_receive_only_the_columns_they_read() {
        let p = plan_sql(
            "SELECT value, AVG(price) OVER (ORDER BY event_time ROWS BETWEEN 3 PRECEDING AND CURRENT ROW) AS m \
             FROM market_data WHERE quantity > 5",
        )
        .unwrap();
        let (shard, kept) = p.for_shards(false);
        assert_eq!(
            kept,
            vec![3, 5, 7],
            "price, value, event_time; quantity is only in WHERE"
        );
        let Body::Rows(r) = &shard.body else { panic!() };
        assert_eq!(r.order_by, 2);
        assert_eq!(
            r.outputs[0],
            Expr::Column {
                index: 1,
                ty: DataType::Float
            }
        );
        assert_eq!(
            r.outputs[1],
            Expr::Column {
                index: 3,
                ty: DataType::Float
            },
            "the function result follows"
        );
        assert!(shard.filter.is_none());
    }

    #[test]
    fn passthrough_is_local() {
        let p = plan_sql("SELECT * FROM market_data").unwrap();
        assert_eq!(p.routing, Routing::Local);
        assert_eq!(p.output, Schema::market_data());
    }

    #[test]
    fn group_by_hashes_on_keys_and_windows_on_trade_time() {
        let p = plan_sql(
            "SELECT trader_id, symbol, COUNT(*) AS n, AVG(price) FROM market_data \
             GROUP BY trader_id, symbol WINDOW TUMBLING (trade_time, INTERVAL '1' MINUTE)",
        )
        .unwrap();
        assert_eq!(p.routing, Routing::Hash(vec![1, 2]));
        assert_eq!(p.time_column, Some(6));
        assert_eq!(p.window(), Some(WindowSpec::Tumbling { size: 60_000 }));
        assert_eq!(p.emit(), EmitMode::Final);
        assert_eq!(
            p.output.names().collect::<Vec<_>>(),
            ["trader_id", "symbol", "n", "AVG(price)"]
        );
    }

    #[test]
    fn rows_window_without_partition_runs_on_one_shard() {
        let p = plan_sql(
            "SELECT value, AVG(price) OVER (ORDER BY event_time ROWS BETWEEN 100 PRECEDING AND CURRENT ROW) AS m FROM market_data",
        )
        .unwrap();
        assert_eq!(p.routing, Routing::Single);
        let Body::Rows(r) = &p.body else { panic!() };
        assert_eq!(r.funcs[0].preceding, 100);
    }

    #[test]
    fn window_columns_land_after_all_aggregates() {
        let p = plan_sql(
            "SELECT window_start, symbol, SUM(quantity) FROM market_data GROUP BY symbol \
             HAVING MAX(price) > 1 WINDOW TUMBLING (trade_time, INTERVAL '1' MINUTE)",
        )
        .unwrap();
        let Body::Aggregate(a) = &p.body else {
            panic!()
        };
        assert_eq!(a.aggs.len(), 2);
        assert_eq!(
            a.outputs[0],
            Expr::Column {
                index: 3,
                ty: DataType::Timestamp
            }
        );
    }

    #[test]
    fn errors_name_the_problem_and_suggest() {
        let e = plan_sql("SELECT pricee FROM market_data").unwrap_err();
        assert_eq!(e.message, "unknown column `pricee`");
        assert_eq!(e.hint.as_deref(), Some("did you mean `price`?"));
        let e = plan_sql("SELECT symbol, price FROM market_data GROUP BY symbol").unwrap_err();
        assert!(
            e.message.contains("must appear in GROUP BY"),
            "{}",
            e.message
        );
        let e = plan_sql("SELECT * FROM market_data WHERE SUM(price) > 1").unwrap_err();
        assert!(e.message.contains("not allowed in WHERE"), "{}", e.message);
        let e = plan_sql("SELECT * FROM market_data EMIT FINAL").unwrap_err();
        assert!(
            e.message.contains("EMIT FINAL needs GROUP BY"),
            "{}",
            e.message
        );
        let e =
            plan_sql("SELECT symbol, COUNT(*) AS OP FROM market_data GROUP BY symbol EMIT CHANGES")
                .unwrap_err();
        assert_eq!(
            e.message,
            "EMIT CHANGES writes its changelog operation as the first column, `op`: this column \
             has the same name"
        );
        let p =
            plan_sql("SELECT symbol, COUNT(*) AS n FROM market_data GROUP BY symbol EMIT CHANGES")
                .unwrap();
        assert_eq!(p.output.names().collect::<Vec<_>>(), ["op", "symbol", "n"]);
        let e = plan_sql("SELECT symbol + 1 FROM market_data").unwrap_err();
        assert!(
            e.message.contains("arithmetic needs numbers"),
            "{}",
            e.message
        );
    }
}
