//! Planning: a parsed query becomes a typed `Plan` (`sql::plan`) that names the partition key
//! and routing, the operator, the window and the emit mode. Every user mistake is found here
//! and reported as a `SqlError` with a span and a hint; nothing past planning can fail on a
//! query. Names resolve through the scopes of `sql::scope`. Pure functions: any thread.

use super::compile::{
    Scope, compile, condition, example_column, fn_name, scalar_func, unsupported,
};
use super::expr::Expr;
use super::parse::{EmitMode, ParsedQuery, WindowClause, WindowKind};
use super::plan::*;
use super::scope::{
    AggScope, InputScope, RowsScope, WINDOW_COL_BASE, resolve_column, unknown_column,
};
use crate::data::{DataType, Field, Schema};
use crate::error::SqlError;
use sqlparser::ast::{self, Spanned};
use sqlparser::tokenizer::Span;
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

/// Moves the window columns compiled at `WINDOW_COL_BASE` into place.
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

#[cfg(test)]
#[path = "planner_tests.rs"]
mod tests;
