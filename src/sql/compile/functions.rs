//! Function calls in expressions: scalar and time functions by SQL name, their arguments
//! compiled, checked and unified to a common type, and TIMESTAMP and INTERVAL literals. Every
//! mistake is a `SqlError` with a span and a hint. Part of `compile`, on the planning thread.

use super::*;

/// A scalar function by SQL name.
pub(in crate::sql) fn scalar_func(name: &str) -> Option<Func> {
    Some(match name.to_ascii_uppercase().as_str() {
        "ABS" => Func::Abs,
        "ROUND" => Func::Round,
        "FLOOR" => Func::Floor,
        "CEIL" | "CEILING" => Func::Ceil,
        "SQRT" => Func::Sqrt,
        "COALESCE" | "IFNULL" => Func::Coalesce,
        "NULLIF" => Func::NullIf,
        "LENGTH" | "CHAR_LENGTH" => Func::Length,
        "UPPER" | "UCASE" => Func::Upper,
        "LOWER" | "LCASE" => Func::Lower,
        "TRIM" => Func::Trim,
        "CONCAT" => Func::Concat,
        "SUBSTRING" | "SUBSTR" => Func::Substring,
        "TO_TIMESTAMP" => Func::ToTimestamp,
        "EPOCH_MS" => Func::EpochMs,
        // The unit comes from the first argument (`scalar_call`).
        "DATE_TRUNC" => Func::DateTrunc(TruncUnit::Day),
        "STRFTIME" | "DATE_FORMAT" => Func::Strftime,
        "NOW" | "CURRENT_TIMESTAMP" => Func::Now,
        "YEAR" => Func::Extract(TimeField::Year),
        "MONTH" => Func::Extract(TimeField::Month),
        "DAY" | "DAYOFMONTH" => Func::Extract(TimeField::Day),
        "HOUR" => Func::Extract(TimeField::Hour),
        "MINUTE" => Func::Extract(TimeField::Minute),
        "SECOND" => Func::Extract(TimeField::Second),
        _ => return None,
    })
}

/// Brings expressions to one type: untyped NULLs take it, integers widen to DOUBLE next to a
/// DOUBLE; anything else must already agree.
pub(super) fn unify(exprs: Vec<(Expr, Span)>, what: &str) -> Result<Vec<Expr>, SqlError> {
    let typed: Vec<DataType> = exprs
        .iter()
        .filter(|(e, _)| !e.is_null_literal())
        .map(|(e, _)| e.ty())
        .collect();
    let target = match typed.first() {
        None => DataType::Int,
        Some(&first) => {
            if typed.iter().all(|t| *t == first) {
                first
            } else if typed.iter().all(|t| t.is_numeric()) {
                if typed.contains(&DataType::Float) {
                    DataType::Float
                } else {
                    DataType::Int
                }
            } else {
                let (_, span) = exprs
                    .iter()
                    .find(|(e, _)| !e.is_null_literal() && e.ty() != first)
                    .expect("a differing type exists");
                let t = typed.iter().find(|t| **t != first).expect("exists");
                return Err(SqlError::at(
                    format!("{what} have different types: {first} and {t}"),
                    *span,
                )
                .with_hint("make every branch the same type, or CAST one"));
            }
        }
    };
    Ok(exprs
        .into_iter()
        .map(|(e, _)| {
            if e.is_null_literal() {
                Expr::Literal(Literal::Null(target))
            } else if e.ty() == target || (e.ty().is_integer() && target.is_integer()) {
                e
            } else {
                Expr::Cast {
                    expr: Box::new(e),
                    to: target,
                }
            }
        })
        .collect())
}

/// Compiles a scalar function call, checking its arguments.
pub(super) fn compile_scalar(
    func: Func,
    f: &ast::Function,
    scope: &mut dyn Scope,
    span: Span,
) -> Result<Expr, SqlError> {
    let name = fn_name(f).to_uppercase();
    let raw: &[ast::FunctionArg] = match &f.args {
        ast::FunctionArguments::List(l) => &l.args,
        _ => &[],
    };
    let mut args = Vec::new();
    for a in raw {
        match a {
            ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(x)) => {
                args.push((compile(x, scope)?, x.span()))
            }
            _ => {
                return Err(SqlError::at(format!("{name}() takes expressions"), span));
            }
        }
    }
    let example = numeric_example(scope);
    scalar_call(func, &name, args, span, &example)
}

/// Checks a scalar function's compiled arguments and types the call.
/// `example` is a numeric column of the input, for hints.
pub(super) fn scalar_call(
    func: Func,
    name: &str,
    args: Vec<(Expr, Span)>,
    span: Span,
    example: &str,
) -> Result<Expr, SqlError> {
    let (min, max) = match func {
        Func::Now => (0, 0),
        Func::DateTrunc(_) | Func::Strftime => (2, 2),
        Func::Round => (1, 2),
        Func::NullIf | Func::ConcatOp => (2, 2),
        Func::Substring => (2, 3),
        Func::Coalesce | Func::Concat => (1, usize::MAX),
        _ => (1, 1),
    };
    if args.len() < min || args.len() > max {
        let want = match (min, max) {
            (0, 0) => "no arguments".to_string(),
            (1, 1) => "one argument".to_string(),
            (a, b) if a == b => format!("{a} arguments"),
            (a, usize::MAX) => format!("at least {a} argument(s)"),
            (a, b) => format!("{a} to {b} arguments"),
        };
        return Err(SqlError::at(
            format!("{name}() takes {want}, found {}", args.len()),
            span,
        ));
    }
    let numeric = |(e, s): &(Expr, Span)| -> Result<(), SqlError> {
        if e.ty().is_numeric() || e.is_null_literal() {
            Ok(())
        } else {
            Err(
                SqlError::at(format!("{name}() needs a number, found {}", e.ty()), *s).with_hint(
                    format!("pass a numeric column or CAST the value, e.g. ROUND({example}, 2)"),
                ),
            )
        }
    };
    let ty = match func {
        Func::Abs => {
            numeric(&args[0])?;
            args[0].0.ty()
        }
        Func::Round | Func::Floor | Func::Ceil | Func::Sqrt => {
            numeric(&args[0])?;
            if let Some((d, s)) = args.get(1)
                && !d.ty().is_integer()
            {
                return Err(SqlError::at("ROUND's digits must be an integer", *s));
            }
            if func == Func::Sqrt || !args[0].0.ty().is_integer() {
                DataType::Float
            } else {
                args[0].0.ty()
            }
        }
        Func::Length | Func::Upper | Func::Lower | Func::Trim | Func::Substring => {
            if args[0].0.ty() != DataType::Str && !args[0].0.is_null_literal() {
                return Err(SqlError::at(
                    format!("{name}() needs a string, found {}", args[0].0.ty()),
                    args[0].1,
                )
                .with_hint("CAST the value AS VARCHAR first"));
            }
            if let Some((e, s)) = args[1..].iter().find(|(e, _)| !e.ty().is_integer()) {
                return Err(SqlError::at(
                    format!("{name}() positions must be integers, found {}", e.ty()),
                    *s,
                ));
            }
            if func == Func::Length {
                DataType::Int
            } else {
                DataType::Str
            }
        }
        Func::Concat | Func::ConcatOp | Func::ToText => DataType::Str,
        Func::Now => DataType::Timestamp,
        Func::ToTimestamp => {
            numeric(&args[0])?;
            if args[0].0.ty() == DataType::Timestamp {
                return Err(SqlError::at(
                    format!("{name}() takes epoch seconds, found a TIMESTAMP"),
                    args[0].1,
                )
                .with_hint("the value is a TIMESTAMP already"));
            }
            DataType::Timestamp
        }
        Func::EpochMs => {
            let t = args[0].0.ty();
            if !t.is_integer() && !args[0].0.is_null_literal() {
                return Err(SqlError::at(
                    format!("{name}() needs BIGINT milliseconds or a TIMESTAMP, found {t}"),
                    args[0].1,
                )
                .with_hint("e.g. EPOCH_MS(1709294400000), or CAST the value AS BIGINT"));
            }
            if t == DataType::Timestamp {
                DataType::Int
            } else {
                DataType::Timestamp
            }
        }
        Func::DateTrunc(_) => {
            let unit = match &args[0].0 {
                Expr::Literal(Literal::Str(u)) => TruncUnit::parse(u),
                _ => None,
            }
            .ok_or_else(|| {
                SqlError::at(
                    format!("{name}() needs a unit as its first argument"),
                    args[0].1,
                )
                .with_hint(
                    "a quoted unit: 'second', 'minute', 'hour', 'day', 'week', 'month', \
                         'quarter' or 'year', e.g. DATE_TRUNC('hour', t)",
                )
            })?;
            let (t, span) = args.into_iter().nth(1).expect("two arguments");
            let t = timestamp_arg(name, t, span)?;
            return Ok(Expr::Call {
                func: Func::DateTrunc(unit),
                args: vec![t],
                ty: DataType::Timestamp,
            });
        }
        Func::Extract(field) => {
            timestamp_arg(name, args[0].0.clone(), args[0].1)?;
            if field == TimeField::Epoch {
                DataType::Float
            } else {
                DataType::Int
            }
        }
        Func::Strftime => {
            timestamp_arg(name, args[0].0.clone(), args[0].1)?;
            match &args[1].0 {
                Expr::Literal(Literal::Str(fmt)) => {
                    if let Err(code) = crate::data::time::check_format(fmt) {
                        return Err(SqlError::at(
                            format!("{name}(): unknown format code `{code}`"),
                            args[1].1,
                        )
                        .with_hint(
                            "codes: %Y %y %m %d %H %I %M %S %p %g (ms) %f (µs) %j %a %A %b %B \
                             %w %u %F %T %z %%",
                        ));
                    }
                }
                _ => {
                    return Err(SqlError::at(
                        format!("{name}() needs a format string literal"),
                        args[1].1,
                    )
                    .with_hint("e.g. STRFTIME(t, '%Y-%m-%d %H:%M')"));
                }
            }
            DataType::Str
        }
        Func::Coalesce | Func::NullIf => {
            let unified = unify(args, &format!("{name}() arguments"))?;
            let ty = unified[0].ty();
            return Ok(Expr::Call {
                func,
                args: unified,
                ty,
            });
        }
    };
    let mut args: Vec<Expr> = args.into_iter().map(|(e, _)| e).collect();
    if func == Func::Sqrt && args[0].ty().is_integer() {
        let x = args.remove(0);
        args.insert(
            0,
            Expr::Cast {
                expr: Box::new(x),
                to: DataType::Float,
            },
        );
    }
    Ok(Expr::Call { func, args, ty })
}

/// A TIMESTAMP constant from ISO-8601 text.
pub(super) fn timestamp_literal(text: &str) -> Option<Expr> {
    let ms = crate::data::time::parse_iso(text.as_bytes())?;
    Some(Expr::Cast {
        expr: Box::new(Expr::Literal(Literal::Int(ms))),
        to: DataType::Timestamp,
    })
}

/// `INTERVAL 'n' unit` as milliseconds.
pub(super) fn interval_ms(iv: &ast::Interval) -> Option<i64> {
    let text = match &*iv.value {
        ast::Expr::Value(v) => match &v.value {
            ast::Value::SingleQuotedString(t) | ast::Value::Number(t, _) => t.clone(),
            _ => return None,
        },
        _ => return None,
    };
    let mut parts = text.split_whitespace();
    let n: i64 = parts.next()?.parse().ok()?;
    let unit = match (&iv.leading_field, parts.next()) {
        (Some(f), None) => f.to_string(),
        (None, Some(u)) => u.to_string(),
        _ => return None,
    };
    if iv.last_field.is_some() {
        return None;
    }
    n.checked_mul(crate::sql::parse::unit_millis(&unit)?)
}

/// Checks that a time function's argument is a TIMESTAMP (an untyped NULL becomes one).
fn timestamp_arg(name: &str, e: Expr, span: Span) -> Result<Expr, SqlError> {
    if e.is_null_literal() {
        return Ok(Expr::Literal(Literal::Null(DataType::Timestamp)));
    }
    if e.ty() == DataType::Timestamp {
        return Ok(e);
    }
    let hint = match e.ty() {
        DataType::Str => {
            "CAST the text AS TIMESTAMP, or declare the column with --schema col:timestamp"
        }
        DataType::Int | DataType::Float => {
            "convert epoch numbers with TO_TIMESTAMP(seconds) or EPOCH_MS(ms), or declare the \
             column with --schema col:timestamp_s / col:timestamp"
        }
        _ => "pass a TIMESTAMP column or literal, e.g. TIMESTAMP '2024-03-01 12:00:00'",
    };
    Err(SqlError::at(
        format!("{name}() needs a TIMESTAMP, found {}", e.ty()),
        span,
    )
    .with_hint(hint))
}
