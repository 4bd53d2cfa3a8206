//! Name resolution while planning: the scopes a query's expressions compile in (plain input
//! columns, a GROUP BY's keys and aggregates, a ROWS window's functions), aggregate calls, and
//! the errors for unknown names with the closest known one. Pure functions: any thread.

use super::compile::{Scope, compile, fn_name, numeric_column, unsupported};
use super::expr::Expr;
use super::plan::*;
use crate::data::{DataType, Schema};
use crate::error::SqlError;
use sqlparser::ast::{self, Spanned};
use sqlparser::tokenizer::Span;

/// Window columns (and the changelog op, `+ 2`) are compiled as `WINDOW_COL_BASE + {0,1}`
/// because the number of aggregates is only known after the whole SELECT and HAVING are
/// compiled; the planner then moves them into place.
pub(super) const WINDOW_COL_BASE: usize = usize::MAX / 2;

pub(super) fn resolve_column(input: &Schema, name: &str, span: Span) -> Result<usize, SqlError> {
    input
        .index_of(name)
        .ok_or_else(|| unknown_column(input, name, span))
}

pub(super) fn unknown_column(input: &Schema, name: &str, span: Span) -> SqlError {
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
pub(super) struct InputScope<'a> {
    input: &'a Schema,
    clause: &'static str,
}

impl<'a> InputScope<'a> {
    pub(super) fn new(input: &'a Schema, clause: &'static str) -> Self {
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
pub(super) struct AggScope<'a> {
    pub(super) input: &'a Schema,
    pub(super) keys: Vec<usize>,
    pub(super) aggs: Vec<AggCall>,
    pub(super) windowed: bool,
    /// SELECT aliases a name that is not an input column may stand for (HAVING only).
    pub(super) aliases: Vec<(String, &'a ast::Expr)>,
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
pub(super) struct RowsScope<'a> {
    pub(super) input: &'a Schema,
    pub(super) funcs: Vec<RowsFunc>,
    pub(super) partition_by: Option<Vec<usize>>,
    pub(super) order_by: Option<usize>,
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
