//! Expression compilation: a SQL expression (sqlparser's AST) becomes a typed `expr::Expr`,
//! with names and function calls resolved through a `Scope` (the input's columns, or an
//! aggregate's / a ROWS window's own names). Operator chains (AND, OR, `+`, `||`) compile
//! iteratively into flat nodes and constant IN lists into sets, so no query shape recurses
//! deeply; scalar and time functions are typed in `functions`. Every mistake is a `SqlError` with a span
//! and a hint. Used by `plan` only, on the planning thread.

use super::expr::{BinOp, ChainStep, Expr, Func, InSet, LikePattern, Literal};
use crate::data::time::{Field as TimeField, TruncUnit};
use crate::data::{DataType, Schema};
use crate::error::SqlError;
use sqlparser::ast::{self, Spanned};
use sqlparser::tokenizer::Span;

mod functions;
pub(super) use functions::scalar_func;
use functions::{compile_scalar, interval_ms, scalar_call, timestamp_literal, unify};

/// Resolves names and function calls while compiling an expression.
pub(super) trait Scope {
    fn column(&mut self, name: &str, span: Span) -> Result<Expr, SqlError>;
    /// Compiles a function call this scope owns (aggregates, window functions).
    fn function(&mut self, f: &ast::Function, span: Span) -> Result<Expr, SqlError>;
    fn allows_star(&self) -> bool {
        false
    }
    /// The input's columns (for hints in the user's own terms).
    fn input(&self) -> &Schema;
}

fn binop(op: &ast::BinaryOperator) -> Option<BinOp> {
    use ast::BinaryOperator as B;
    Some(match op {
        B::Plus => BinOp::Add,
        B::Minus => BinOp::Sub,
        B::Multiply => BinOp::Mul,
        B::Divide => BinOp::Div,
        B::Modulo => BinOp::Mod,
        B::Eq => BinOp::Eq,
        B::NotEq => BinOp::NotEq,
        B::Lt => BinOp::Lt,
        B::LtEq => BinOp::LtEq,
        B::Gt => BinOp::Gt,
        B::GtEq => BinOp::GtEq,
        B::And => BinOp::And,
        B::Or => BinOp::Or,
        _ => return None,
    })
}

/// Builds a type-checked binary node.
fn binary(op: BinOp, l: Expr, r: Expr, span: Span) -> Result<Expr, SqlError> {
    binary_lazy(op, l, r, || span)
}

/// `binary`, finding the span only for an error (a span of sqlparser's tree is a walk over it).
fn binary_lazy(op: BinOp, l: Expr, r: Expr, span: impl FnOnce() -> Span) -> Result<Expr, SqlError> {
    // An untyped NULL takes the other side's type (for AND/OR: BOOLEAN).
    let (l, r) = match (l.is_null_literal(), r.is_null_literal()) {
        (true, true) if matches!(op, BinOp::And | BinOp::Or) => (
            Expr::Literal(Literal::Null(DataType::Bool)),
            Expr::Literal(Literal::Null(DataType::Bool)),
        ),
        (true, false) => (Expr::Literal(Literal::Null(r.ty())), r),
        (false, true) => {
            let t = l.ty();
            (l, Expr::Literal(Literal::Null(t)))
        }
        _ => (l, r),
    };
    // A TIMESTAMP compared with ISO-8601 text compares with that time.
    let as_time = |e: Expr, other: &Expr| match &e {
        Expr::Literal(Literal::Str(t))
            if op.is_comparison() && other.ty() == DataType::Timestamp =>
        {
            timestamp_literal(t).unwrap_or(e)
        }
        _ => e,
    };
    let r = as_time(r, &l);
    let l = as_time(l, &r);
    let (lt, rt) = (l.ty(), r.ty());
    let ty = match op {
        BinOp::And | BinOp::Or => {
            if lt != DataType::Bool || rt != DataType::Bool {
                let name = if op == BinOp::And { "AND" } else { "OR" };
                return Err(SqlError::at(
                    format!("{name} needs boolean operands, found {lt} and {rt}"),
                    span(),
                )
                .with_hint("combine comparisons, e.g. a > 10 AND b < 5"));
            }
            DataType::Bool
        }
        _ if op.is_comparison() => {
            let ok = (lt.is_numeric() && rt.is_numeric()) || lt == rt;
            if !ok {
                return Err(
                    SqlError::at(format!("cannot compare {lt} with {rt}"), span())
                        .with_hint("compare values of the same type, or CAST one side"),
                );
            }
            DataType::Bool
        }
        _ => {
            if !lt.is_numeric() || !rt.is_numeric() {
                return Err(SqlError::at(
                    format!("arithmetic needs numbers, found {lt} and {rt}"),
                    span(),
                )
                .with_hint("use numeric columns, or CAST strings to DOUBLE"));
            }
            if op == BinOp::Div || lt == DataType::Float || rt == DataType::Float {
                DataType::Float
            } else {
                DataType::Int
            }
        }
    };
    Ok(Expr::Binary {
        op,
        left: Box::new(l),
        right: Box::new(r),
        ty,
    })
}

/// An expression used as a condition: an untyped NULL there is a BOOLEAN NULL (never true).
pub(super) fn condition(e: Expr) -> Expr {
    if e.is_null_literal() {
        Expr::Literal(Literal::Null(DataType::Bool))
    } else {
        e
    }
}

/// How deeply expressions may nest (flat chains such as `a OR b OR ...` count as one level):
/// enough for any query people write, and small enough that compiling and evaluating the
/// tree by recursion stays far inside a thread's stack.
pub const MAX_EXPR_DEPTH: usize = 200;

thread_local! {
    /// The nesting depth of the `compile` calls in progress on this thread.
    static DEPTH: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Compiles `e`, refusing nesting deeper than `MAX_EXPR_DEPTH`.
pub(super) fn compile(e: &ast::Expr, scope: &mut dyn Scope) -> Result<Expr, SqlError> {
    struct Level;
    impl Drop for Level {
        fn drop(&mut self) {
            DEPTH.with(|d| d.set(d.get() - 1));
        }
    }
    let depth = DEPTH.with(|d| {
        d.set(d.get() + 1);
        d.get()
    });
    let _level = Level;
    if depth > MAX_EXPR_DEPTH {
        return Err(SqlError::at(
            format!("the expression is nested too deeply: more than {MAX_EXPR_DEPTH} levels"),
            e.span(),
        )
        .with_hint(format!(
            "shardsql compiles at most {MAX_EXPR_DEPTH} nested levels; write long conditions \
             as flat chains (a OR b OR ...) or IN lists instead of nesting them"
        )));
    }
    compile_node(e, scope)
}

/// Compiles a left-deep chain of binary operators (`a + b - c ...`, `p OR q OR ...`,
/// `s || t || ...`) with a loop: sqlparser nests such a chain one level per operator, so
/// recursing would take stack in proportion to the number of terms. The result is one
/// `Chain` node (or one `||` call), evaluated as the same left fold.
fn compile_chain(e: &ast::Expr, scope: &mut dyn Scope) -> Result<Expr, SqlError> {
    // The spine, outermost first: each node's operator and right operand, and the node.
    let mut spine = Vec::new();
    let mut node = e;
    loop {
        match node {
            ast::Expr::BinaryOp { left, op, right } => {
                spine.push((op, &**right, node));
                node = left;
            }
            ast::Expr::Nested(x) if !spine.is_empty() => node = x,
            _ => break,
        }
    }
    if let Some(items) = or_of_equalities(&spine, node) {
        return compile_in(e, node, &items, false, scope);
    }
    let mut acc = compile(node, scope)?;
    for (op, right, whole) in spine.into_iter().rev() {
        if *op == ast::BinaryOperator::StringConcat {
            let r = compile(right, scope)?;
            acc = match acc {
                // `||` is associative: one call with every operand.
                Expr::Call {
                    func: Func::ConcatOp,
                    mut args,
                    ty,
                } => {
                    args.push(r);
                    Expr::Call {
                        func: Func::ConcatOp,
                        args,
                        ty,
                    }
                }
                acc => scalar_call(
                    Func::ConcatOp,
                    "||",
                    vec![(acc, Span::empty()), (r, right.span())],
                    whole.span(),
                    "x",
                )?,
            };
            continue;
        }
        let Some(bop) = binop(op) else {
            return Err(unsupported(
                &format!("the operator {op}"),
                whole.span(),
                "use + - * / % = <> < <= > >= AND OR ||",
            ));
        };
        if let ast::Expr::Interval(iv) = right {
            let ms = interval_ms(iv).ok_or_else(|| {
                SqlError::at(format!("cannot use {right} here"), right.span()).with_hint(
                    "INTERVAL 'n' unit with MILLISECOND, SECOND, MINUTE, HOUR or DAY, e.g. \
                     t + INTERVAL '5' MINUTE",
                )
            })?;
            if !matches!(bop, BinOp::Add | BinOp::Sub)
                || !(acc.ty() == DataType::Timestamp || acc.is_null_literal())
            {
                return Err(SqlError::at(
                    format!("an INTERVAL can only be added to or subtracted from a TIMESTAMP, found {} {op} INTERVAL", acc.ty()),
                    whole.span(),
                )
                .with_hint("e.g. t + INTERVAL '5' MINUTE, where t is a TIMESTAMP"));
            }
            let left = if acc.is_null_literal() {
                Expr::Literal(Literal::Null(DataType::Timestamp))
            } else {
                acc
            };
            acc = Expr::Binary {
                op: bop,
                left: Box::new(left),
                right: Box::new(Expr::Literal(Literal::Int(ms))),
                ty: DataType::Timestamp,
            };
            continue;
        }
        let r = compile(right, scope)?;
        acc = chain_binary(bop, acc, r, || whole.span())?;
    }
    Ok(acc)
}

/// The constants of `x = c1 OR x = c2 OR ...` over one column `x` (the chain's leftmost
/// operand), which is `x IN (c1, c2, ...)`: planned as the same set lookup. `spine` is the
/// chain as `compile_chain` walks it, outermost first; sqlparser parses this as
/// `((x = c1) OR (x = c2)) OR ...`, so the innermost step is `= c1` on `x` itself.
fn or_of_equalities(
    spine: &[(&ast::BinaryOperator, &ast::Expr, &ast::Expr)],
    x: &ast::Expr,
) -> Option<Vec<ast::Expr>> {
    use ast::BinaryOperator as B;
    let constant = |e: &ast::Expr| match e {
        ast::Expr::Value(_) => true,
        ast::Expr::UnaryOp {
            op: ast::UnaryOperator::Minus,
            expr,
        } => matches!(**expr, ast::Expr::Value(_)),
        _ => false,
    };
    if !matches!(
        x,
        ast::Expr::Identifier(_) | ast::Expr::CompoundIdentifier(_)
    ) {
        return None;
    }
    let (first, rest) = spine.split_last()?;
    if rest.is_empty() || *first.0 != B::Eq || !constant(first.1) {
        return None;
    }
    let mut items = vec![first.1.clone()];
    for (op, right, _) in rest.iter().rev() {
        match (op, right) {
            (
                B::Or,
                ast::Expr::BinaryOp {
                    left,
                    op: B::Eq,
                    right: c,
                },
            ) if **left == *x && constant(c) => items.push((**c).clone()),
            _ => return None,
        }
    }
    Some(items)
}

/// `acc op r`, type-checked like `binary`; a binary node or chain on the left is extended into
/// one flat `Chain` instead of nesting (the same left fold, so the same result).
fn chain_binary(
    op: BinOp,
    acc: Expr,
    r: Expr,
    span: impl FnOnce() -> Span,
) -> Result<Expr, SqlError> {
    let (first, mut steps) = match acc {
        Expr::Chain { first, steps } => (first, steps),
        Expr::Binary {
            op: op0,
            left,
            right,
            ty,
        } => (
            left,
            vec![ChainStep {
                op: op0,
                right: *right,
                ty,
            }],
        ),
        acc => return binary_lazy(op, acc, r, span),
    };
    let ty = steps.last().expect("a chain has a step").ty;
    // Type the step against a stand-in of the chain so far (never a NULL literal).
    let Expr::Binary { right, ty, .. } = binary_lazy(op, Expr::Column { index: 0, ty }, r, span)?
    else {
        unreachable!("binary builds a binary node")
    };
    steps.push(ChainStep {
        op,
        right: *right,
        ty,
    });
    Ok(Expr::Chain { first, steps })
}

/// `x [NOT] IN (list)`: a list of constants becomes a set probed once per row; a list with
/// other expressions becomes one flat chain of `x = item` ORs.
fn compile_in(
    e: &ast::Expr,
    expr: &ast::Expr,
    list: &[ast::Expr],
    negated: bool,
    scope: &mut dyn Scope,
) -> Result<Expr, SqlError> {
    let x = compile(expr, scope)?;
    let mut items = Vec::with_capacity(list.len());
    for item in list {
        let c = compile(item, scope)?;
        // Typed as `x = item` would be, against a stand-in for x.
        let probe = Expr::Column {
            index: 0,
            ty: x.ty(),
        };
        binary_lazy(BinOp::Eq, probe, c.clone(), || item.span())?;
        items.push(c);
    }
    let constant = !x.is_null_literal() && items.iter().all(|i| matches!(i, Expr::Literal(_)));
    let any = if items.is_empty() {
        Expr::Literal(Literal::Bool(false))
    } else if constant {
        let has_null = items.iter().any(Expr::is_null_literal);
        let values = items.iter().filter_map(|i| match i {
            Expr::Literal(l) if !matches!(l, Literal::Null(_)) => Some(l),
            _ => None,
        });
        let float = x.ty() == DataType::Float || items.iter().any(|i| i.ty() == DataType::Float);
        let set = if x.ty() == DataType::Str {
            InSet::Str(
                values
                    .filter_map(|l| match l {
                        Literal::Str(s) => Some(s.as_str().into()),
                        _ => None,
                    })
                    .collect(),
            )
        } else if float {
            InSet::Float(
                values
                    .filter_map(|l| match l {
                        Literal::Int(v) => Some(InSet::float_key(*v as f64)),
                        Literal::Float(v) => Some(InSet::float_key(*v)),
                        Literal::Bool(b) => Some(InSet::float_key(f64::from(u8::from(*b)))),
                        _ => None,
                    })
                    .collect(),
            )
        } else {
            InSet::Int(
                values
                    .filter_map(|l| match l {
                        Literal::Int(v) => Some(*v),
                        Literal::Bool(b) => Some(i64::from(*b)),
                        _ => None,
                    })
                    .collect(),
            )
        };
        return Ok(Expr::InList {
            expr: Box::new(x),
            set,
            has_null,
            negated,
        });
    } else {
        let mut any: Option<Expr> = None;
        for (item, ast_item) in items.into_iter().zip(list) {
            let eq = binary_lazy(BinOp::Eq, x.clone(), item, || ast_item.span())?;
            any = Some(match any {
                None => eq,
                Some(a) => chain_binary(BinOp::Or, a, eq, || e.span())?,
            });
        }
        any.expect("the list is not empty")
    };
    Ok(if negated {
        Expr::Not(Box::new(any))
    } else {
        any
    })
}

fn compile_node(e: &ast::Expr, scope: &mut dyn Scope) -> Result<Expr, SqlError> {
    use ast::Expr as E;
    match e {
        E::Identifier(i) => scope.column(&i.value, i.span),
        E::CompoundIdentifier(parts) => {
            let last = parts.last().expect("non-empty compound identifier");
            scope.column(&last.value, last.span)
        }
        E::Value(v) => match &v.value {
            ast::Value::Number(s, _) => Ok(Expr::Literal(match s.parse::<i64>() {
                Ok(i) => Literal::Int(i),
                Err(_) => Literal::Float(s.parse::<f64>().map_err(|_| {
                    SqlError::at(
                        format!("`{s}` is not a number shardsql can represent"),
                        v.span,
                    )
                })?),
            })),
            ast::Value::SingleQuotedString(s) | ast::Value::DoubleQuotedString(s) => {
                Ok(Expr::Literal(Literal::Str(s.clone())))
            }
            ast::Value::Boolean(b) => Ok(Expr::Literal(Literal::Bool(*b))),
            // Typed by its context (`binary`, `unify`); alone it is a BIGINT NULL.
            ast::Value::Null => Ok(Expr::Literal(Literal::Null(DataType::Int))),
            other => Err(unsupported(
                &format!("the literal {other}"),
                v.span,
                "use numbers, 'strings' or TRUE/FALSE",
            )),
        },
        E::Nested(x) => compile(x, scope),
        E::BinaryOp { .. } => compile_chain(e, scope),
        E::Substring {
            expr,
            substring_from,
            substring_for,
            ..
        } => {
            let mut args = vec![(compile(expr, scope)?, expr.span())];
            match substring_from {
                Some(f) => args.push((compile(f, scope)?, f.span())),
                None => args.push((Expr::Literal(Literal::Int(1)), e.span())),
            }
            if let Some(l) = substring_for {
                args.push((compile(l, scope)?, l.span()));
            }
            scalar_call(Func::Substring, "SUBSTRING", args, e.span(), "x")
        }
        E::Trim {
            expr,
            trim_where: None,
            trim_what: None,
            trim_characters: None,
        } => scalar_call(
            Func::Trim,
            "TRIM",
            vec![(compile(expr, scope)?, expr.span())],
            e.span(),
            "x",
        ),
        E::UnaryOp { op, expr } => {
            let x = compile(expr, scope)?;
            match op {
                ast::UnaryOperator::Not => {
                    let x = condition(x);
                    if x.ty() != DataType::Bool {
                        return Err(SqlError::at(
                            format!("NOT needs a boolean, found {}", x.ty()),
                            e.span(),
                        ));
                    }
                    Ok(Expr::Not(Box::new(x)))
                }
                ast::UnaryOperator::Minus => {
                    if !x.ty().is_numeric() {
                        return Err(SqlError::at(format!("cannot negate {}", x.ty()), e.span()));
                    }
                    Ok(match x {
                        Expr::Literal(Literal::Int(v)) => {
                            Expr::Literal(Literal::Int(v.wrapping_neg()))
                        }
                        Expr::Literal(Literal::Float(v)) => Expr::Literal(Literal::Float(-v)),
                        x => Expr::Neg(Box::new(x)),
                    })
                }
                ast::UnaryOperator::Plus => Ok(x),
                other => Err(unsupported(
                    &format!("the operator {other}"),
                    e.span(),
                    "use NOT or -",
                )),
            }
        }
        E::Between {
            expr,
            negated,
            low,
            high,
        } => {
            let x = compile(expr, scope)?;
            let lo = binary(BinOp::GtEq, x.clone(), compile(low, scope)?, e.span())?;
            let hi = binary(BinOp::LtEq, x, compile(high, scope)?, e.span())?;
            let both = binary(BinOp::And, lo, hi, e.span())?;
            Ok(if *negated {
                Expr::Not(Box::new(both))
            } else {
                both
            })
        }
        E::In {
            expr,
            target: ast::InTarget::List(list),
            negated,
            ..
        } => compile_in(e, expr, list, *negated, scope),
        E::Cast {
            expr, data_type, ..
        } => {
            let x = compile(expr, scope)?;
            let name = data_type.to_string();
            let base = name.split('(').next().unwrap_or("").trim();
            let to = DataType::parse(base).ok_or_else(|| {
                unsupported(
                    &format!("CAST to {name}"),
                    e.span(),
                    "cast to BIGINT, DOUBLE, VARCHAR, TIMESTAMP or BOOLEAN",
                )
            })?;
            if to == DataType::Str && x.ty() != DataType::Str {
                return Ok(Expr::Call {
                    func: Func::ToText,
                    args: vec![x],
                    ty: DataType::Str,
                });
            }
            Ok(Expr::Cast {
                expr: Box::new(x),
                to,
            })
        }
        E::Function(f) => match scalar_func(&fn_name(f)) {
            Some(func) => compile_scalar(func, f, scope, e.span()),
            None => scope.function(f, e.span()),
        },
        E::Extract { field, expr, .. } => {
            let name = field.to_string();
            let f = TimeField::parse(&name).ok_or_else(|| {
                unsupported(
                    &format!("EXTRACT({name} FROM …)"),
                    e.span(),
                    "extract year, quarter, month, day, hour, minute, second, millisecond, dow, \
                     doy or epoch",
                )
            })?;
            scalar_call(
                Func::Extract(f),
                "EXTRACT",
                vec![(compile(expr, scope)?, expr.span())],
                e.span(),
                "x",
            )
        }
        E::TypedString(ts) if ts.data_type.to_string().eq_ignore_ascii_case("TIMESTAMP") => {
            let text = match &ts.value.value {
                ast::Value::SingleQuotedString(t) | ast::Value::DoubleQuotedString(t) => t,
                _ => "",
            };
            timestamp_literal(text).ok_or_else(|| {
                SqlError::at(
                    format!("TIMESTAMP '{text}' is not a time in years 0001 to 9999"),
                    e.span(),
                )
                .with_hint("write ISO-8601, e.g. TIMESTAMP '2024-03-01 12:00:00.123'")
            })
        }
        E::IsNull(x) | E::IsNotNull(x) => Ok(Expr::IsNull {
            expr: Box::new(compile(x, scope)?),
            negated: matches!(e, E::IsNotNull(_)),
        }),
        E::IsTrue(x) | E::IsFalse(x) => {
            let x = compile(x, scope)?;
            if x.ty() != DataType::Bool {
                return Err(SqlError::at(
                    format!("IS TRUE / IS FALSE needs a boolean, found {}", x.ty()),
                    e.span(),
                ));
            }
            // x IS TRUE: true only for true (never NULL); x IS FALSE likewise.
            let want = matches!(e, E::IsTrue(_));
            let eq = binary(
                BinOp::Eq,
                x.clone(),
                Expr::Literal(Literal::Bool(want)),
                e.span(),
            )?;
            let known = Expr::IsNull {
                expr: Box::new(x),
                negated: true,
            };
            binary(BinOp::And, known, eq, e.span())
        }
        E::Like {
            negated,
            expr,
            pattern,
            escape_char,
            any,
        }
        | E::ILike {
            negated,
            expr,
            pattern,
            escape_char,
            any,
        } => {
            let insensitive = matches!(e, E::ILike { .. });
            if *any {
                return Err(unsupported("LIKE ANY", e.span(), "combine LIKEs with OR"));
            }
            let x = compile(expr, scope)?;
            if x.ty() != DataType::Str {
                return Err(SqlError::at(
                    format!("LIKE needs a string, found {}", x.ty()),
                    expr.span(),
                )
                .with_hint(
                    match example_column(scope.input(), |t| t == DataType::Str) {
                        Some(c) => format!("match a VARCHAR column, e.g. {c}"),
                        None => "match a VARCHAR column, or CAST the value AS VARCHAR".to_string(),
                    },
                ));
            }
            let Expr::Literal(Literal::Str(p)) = compile(pattern, scope)? else {
                return Err(SqlError::at(
                    "the LIKE pattern must be a string literal",
                    pattern.span(),
                )
                .with_hint(format!(
                    "e.g. {} LIKE 'AA%'",
                    example_column(scope.input(), |t| t == DataType::Str).unwrap_or("x")
                )));
            };
            let escape = match escape_char
                .as_deref()
                .map(|x| compile(x, scope))
                .transpose()?
            {
                None => None,
                Some(Expr::Literal(Literal::Str(s))) if s.chars().count() == 1 => s.chars().next(),
                Some(_) => {
                    return Err(SqlError::at("ESCAPE takes one character", e.span())
                        .with_hint("e.g. LIKE '100!%' ESCAPE '!'"));
                }
            };
            Ok(Expr::Like {
                expr: Box::new(x),
                pattern: LikePattern::new(&p, escape, insensitive),
                negated: *negated,
            })
        }
        E::Case {
            operand,
            conditions,
            else_result,
            ..
        } => {
            let operand = operand.as_ref().map(|o| compile(o, scope)).transpose()?;
            let mut conds = Vec::new();
            let mut results = Vec::new();
            for w in conditions {
                let c = compile(&w.condition, scope)?;
                let c = if operand.is_none() { condition(c) } else { c };
                let c = match &operand {
                    Some(o) => binary(BinOp::Eq, o.clone(), c, w.condition.span())?,
                    None => c,
                };
                if c.ty() != DataType::Bool {
                    return Err(SqlError::at(
                        format!("a CASE WHEN condition must be boolean, found {}", c.ty()),
                        w.condition.span(),
                    )
                    .with_hint(format!(
                        "e.g. CASE WHEN {} > 100 THEN 'high' ELSE 'low' END",
                        numeric_example(scope)
                    )));
                }
                conds.push(c);
                results.push((compile(&w.result, scope)?, w.result.span()));
            }
            let otherwise = match else_result {
                Some(x) => (compile(x, scope)?, x.span()),
                None => (Expr::Literal(Literal::Null(DataType::Int)), e.span()),
            };
            results.push(otherwise);
            let mut results = unify(results, "CASE branches")?;
            let otherwise = results.pop().expect("ELSE is last");
            let ty = otherwise.ty();
            Ok(Expr::Case {
                whens: conds.into_iter().zip(results).collect(),
                otherwise: Box::new(otherwise),
                ty,
            })
        }
        other => Err(unsupported(
            &format!("the expression `{other}`"),
            other.span(),
            "supported: columns, literals, NULL, arithmetic, comparisons, AND/OR/NOT, IS [NOT] NULL, BETWEEN, IN, LIKE, CASE, CAST, functions, aggregates",
        )),
    }
}

pub(super) fn unsupported(what: &str, span: Span, hint: &str) -> SqlError {
    SqlError::at(format!("unsupported: {what}"), span).with_hint(hint)
}

/// An example numeric column of the scope's input for a hint, or `x`.
pub(super) fn numeric_example(scope: &dyn Scope) -> String {
    numeric_column(scope.input()).unwrap_or("x").to_string()
}

/// A column of `input` to show in a hint about numbers: the first DOUBLE, else the first
/// BIGINT.
pub(super) fn numeric_column(input: &Schema) -> Option<&str> {
    example_column(input, |t| t == DataType::Float)
        .or_else(|| example_column(input, |t| t == DataType::Int))
}

/// An example column of `input` of a type `want` accepts, for hints (the input's own names).
pub(super) fn example_column(input: &Schema, want: impl Fn(DataType) -> bool) -> Option<&str> {
    input
        .fields
        .iter()
        .find(|f| want(f.ty))
        .map(|f| f.name.as_str())
}

pub(super) fn fn_name(f: &ast::Function) -> String {
    f.name.0.last().map_or(String::new(), |p| match p {
        ast::ObjectNamePart::Identifier(i) => i.value.clone(),
        ast::ObjectNamePart::Function(f) => f.name.value.clone(),
    })
}
