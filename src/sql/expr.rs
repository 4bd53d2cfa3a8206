//! Typed scalar expressions, compiled once from SQL and evaluated a whole batch at a time:
//! each node produces one typed column, so there is no per-record interpretation over dynamic
//! values. Types are resolved at planning time; evaluation cannot fail.
//!
//! NULLs follow SQL: arithmetic, comparisons and functions of a NULL are NULL, AND/OR use
//! three-valued logic, WHERE and HAVING keep only rows whose condition is true, `x % 0` is
//! NULL (there is no per-record error to raise in a stream), `x / 0` is ±inf or NaN as in
//! DuckDB, and a string that does not parse under CAST becomes NULL (TRY_CAST semantics).

use crate::data::batch::{Column, NULL_BOOL, NULL_INT, NULL_STR, is_null_float, null_float};
use crate::data::time::{self, Field as TimeField, TruncUnit};
use crate::data::{Batch, DataType, Dict};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Eq,
    NotEq,
    Lt,
    LtEq,
    Gt,
    GtEq,
    And,
    Or,
}

impl BinOp {
    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            BinOp::Eq | BinOp::NotEq | BinOp::Lt | BinOp::LtEq | BinOp::Gt | BinOp::GtEq
        )
    }
}

/// One step of a `Chain`: `acc = acc op right`, of type `ty`.
#[derive(Clone, Debug, PartialEq)]
pub struct ChainStep {
    pub op: BinOp,
    pub right: Expr,
    pub ty: DataType,
}

/// The constants of an `IN` list, as a set to probe once per row.
#[derive(Clone, Debug, PartialEq)]
pub enum InSet {
    /// BIGINT, TIMESTAMP or BOOLEAN (0 / 1) values, compared exactly.
    Int(fxhash::FxHashSet<i64>),
    /// DOUBLE values by bit pattern (`-0.0` stored as `0.0`); the probe is converted to DOUBLE.
    Float(fxhash::FxHashSet<u64>),
    Str(fxhash::FxHashSet<Box<str>>),
}

impl InSet {
    /// The set key of a float (`0.0 == -0.0` in SQL).
    pub fn float_key(x: f64) -> u64 {
        if x == 0.0 { 0 } else { x.to_bits() }
    }

    pub fn len(&self) -> usize {
        match self {
            InSet::Int(s) => s.len(),
            InSet::Float(s) => s.len(),
            InSet::Str(s) => s.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A constant.
#[derive(Clone, Debug, PartialEq)]
pub enum Literal {
    Int(i64),
    Float(f64),
    Str(String),
    Bool(bool),
    /// A typed NULL (the type comes from the expression around it).
    Null(DataType),
}

/// Scalar functions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Func {
    Abs,
    /// `ROUND(x)` or `ROUND(x, digits)`: half away from zero.
    Round,
    Floor,
    Ceil,
    Sqrt,
    /// The first non-NULL argument.
    Coalesce,
    /// NULL when the two arguments are equal, else the first.
    NullIf,
    /// Characters in a string.
    Length,
    Upper,
    Lower,
    Trim,
    /// `CONCAT(a, b, ...)`: NULL arguments are skipped.
    Concat,
    /// `a || b`: NULL if either is NULL.
    ConcatOp,
    /// `SUBSTRING(s, start[, length])`, 1-based, in characters.
    Substring,
    /// `CAST(x AS VARCHAR)`: the value as text (a TIMESTAMP as the output writes it).
    ToText,
    /// `TO_TIMESTAMP(seconds)`: epoch seconds (BIGINT or DOUBLE) as a TIMESTAMP.
    ToTimestamp,
    /// `EPOCH_MS(ms)` → TIMESTAMP, `EPOCH_MS(t)` → BIGINT: the same milliseconds, retyped
    /// (a BIGINT outside years 0001–9999 gives NULL).
    EpochMs,
    /// `DATE_TRUNC('unit', t)`: the argument is `t` alone.
    DateTrunc(TruncUnit),
    /// `EXTRACT(field FROM t)`, `YEAR(t)`, …: BIGINT, DOUBLE for `epoch`.
    Extract(TimeField),
    /// `STRFTIME(t, fmt)` / `DATE_FORMAT(t, fmt)`: `fmt` is a string literal (`args[1]`).
    Strftime,
    /// `CURRENT_TIMESTAMP` / `NOW()`: processing time, read once per batch.
    Now,
}

/// A compiled `LIKE` pattern: `%` any run, `_` any one character, an escape character that
/// makes the next one literal.
#[derive(Clone, Debug, PartialEq)]
pub struct LikePattern {
    pub text: String,
    tokens: Vec<LikeToken>,
    pub case_insensitive: bool,
}

#[derive(Clone, Debug, PartialEq)]
enum LikeToken {
    Char(char),
    One,
    Any,
}

impl LikePattern {
    pub fn new(pattern: &str, escape: Option<char>, case_insensitive: bool) -> LikePattern {
        let mut tokens = Vec::new();
        let mut chars = pattern.chars();
        while let Some(c) = chars.next() {
            let c = if case_insensitive {
                c.to_lowercase().next().unwrap_or(c)
            } else {
                c
            };
            tokens.push(match c {
                c if Some(c) == escape => match chars.next() {
                    Some(n) => LikeToken::Char(n),
                    None => LikeToken::Char(c),
                },
                '%' => LikeToken::Any,
                '_' => LikeToken::One,
                c => LikeToken::Char(c),
            });
        }
        tokens.dedup_by(|a, b| *a == LikeToken::Any && *b == LikeToken::Any);
        LikePattern {
            text: pattern.to_string(),
            tokens,
            case_insensitive,
        }
    }

    /// Whether `s` matches: greedy matching with one backtrack point per `%` (linear in
    /// practice, O(len(s) · len(pattern)) at worst; never exponential).
    /// Walks `s` by byte offsets, decoding one character at a time: no allocation per value.
    pub fn matches(&self, s: &str) -> bool {
        let fold = |c: char| {
            if self.case_insensitive {
                c.to_lowercase().next().unwrap_or(c)
            } else {
                c
            }
        };
        // The character at byte offset `i` and the offset after it.
        let at = |i: usize| s[i..].chars().next().map(|c| (fold(c), i + c.len_utf8()));
        let p = &self.tokens;
        let (mut i, mut j) = (0usize, 0usize);
        let mut star: Option<(usize, usize)> = None;
        while let Some((c, after)) = at(i) {
            match p.get(j) {
                Some(LikeToken::Any) => {
                    star = Some((j, i));
                    j += 1;
                }
                Some(LikeToken::One) => {
                    i = after;
                    j += 1;
                }
                Some(LikeToken::Char(pc)) if *pc == c => {
                    i = after;
                    j += 1;
                }
                _ => match star {
                    Some((sj, si)) => {
                        let next = at(si).map_or(s.len(), |(_, a)| a);
                        star = Some((sj, next));
                        j = sj + 1;
                        i = next;
                    }
                    None => return false,
                },
            }
        }
        p[j..].iter().all(|t| *t == LikeToken::Any)
    }
}

/// A typed expression over the columns of one batch layout.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    Column {
        index: usize,
        ty: DataType,
    },
    Literal(Literal),
    Binary {
        op: BinOp,
        left: Box<Expr>,
        right: Box<Expr>,
        ty: DataType,
    },
    /// A left-deep chain `((first op r1) op r2) ...` of binary operators, evaluated as a left
    /// fold typed step by step exactly like nested `Binary` nodes: a long flat expression
    /// (`a OR b OR ...`, `x + y - z + ...`) is one node deep, so nothing recurses per term.
    Chain {
        first: Box<Expr>,
        steps: Vec<ChainStep>,
    },
    /// `x [NOT] IN (constants)`: one set lookup per row. With a NULL in the list a miss is
    /// NULL rather than false (SQL's `x = NULL`).
    InList {
        expr: Box<Expr>,
        set: InSet,
        has_null: bool,
        negated: bool,
    },
    Not(Box<Expr>),
    Neg(Box<Expr>),
    Cast {
        expr: Box<Expr>,
        to: DataType,
    },
    IsNull {
        expr: Box<Expr>,
        negated: bool,
    },
    /// `CASE WHEN c THEN r ... ELSE e END`; the searched form. `CASE x WHEN v` is compiled to
    /// `x = v` conditions. Every branch already has type `ty`.
    Case {
        whens: Vec<(Expr, Expr)>,
        otherwise: Box<Expr>,
        ty: DataType,
    },
    Like {
        expr: Box<Expr>,
        pattern: LikePattern,
        negated: bool,
    },
    Call {
        func: Func,
        args: Vec<Expr>,
        ty: DataType,
    },
}

impl Expr {
    pub fn ty(&self) -> DataType {
        match self {
            Expr::Column { ty, .. } => *ty,
            Expr::Literal(Literal::Int(_)) => DataType::Int,
            Expr::Literal(Literal::Float(_)) => DataType::Float,
            Expr::Literal(Literal::Str(_)) => DataType::Str,
            Expr::Literal(Literal::Bool(_)) => DataType::Bool,
            Expr::Literal(Literal::Null(t)) => *t,
            Expr::Binary { ty, .. } | Expr::Case { ty, .. } | Expr::Call { ty, .. } => *ty,
            Expr::Chain { first, steps } => steps.last().map_or_else(|| first.ty(), |s| s.ty),
            Expr::Not(_) | Expr::IsNull { .. } | Expr::Like { .. } | Expr::InList { .. } => {
                DataType::Bool
            }
            Expr::Neg(e) => e.ty(),
            Expr::Cast { to, .. } => *to,
        }
    }

    /// Whether this is an untyped-in-SQL `NULL` literal (its type adapts to its context).
    pub fn is_null_literal(&self) -> bool {
        matches!(self, Expr::Literal(Literal::Null(_)))
    }

    /// The direct sub-expressions.
    fn children(&self) -> Vec<&Expr> {
        match self {
            Expr::Column { .. } | Expr::Literal(_) => vec![],
            Expr::Binary { left, right, .. } => vec![left, right],
            Expr::Chain { first, steps } => std::iter::once(&**first)
                .chain(steps.iter().map(|s| &s.right))
                .collect(),
            Expr::Not(e)
            | Expr::InList { expr: e, .. }
            | Expr::Neg(e)
            | Expr::Cast { expr: e, .. }
            | Expr::IsNull { expr: e, .. }
            | Expr::Like { expr: e, .. } => vec![e],
            Expr::Case {
                whens, otherwise, ..
            } => whens
                .iter()
                .flat_map(|(c, r)| [c, r])
                .chain([&**otherwise])
                .collect(),
            Expr::Call { args, .. } => args.iter().collect(),
        }
    }

    fn children_mut(&mut self) -> Vec<&mut Expr> {
        match self {
            Expr::Column { .. } | Expr::Literal(_) => vec![],
            Expr::Binary { left, right, .. } => vec![left, right],
            Expr::Chain { first, steps } => std::iter::once(&mut **first)
                .chain(steps.iter_mut().map(|s| &mut s.right))
                .collect(),
            Expr::Not(e)
            | Expr::InList { expr: e, .. }
            | Expr::Neg(e)
            | Expr::Cast { expr: e, .. }
            | Expr::IsNull { expr: e, .. }
            | Expr::Like { expr: e, .. } => vec![e],
            Expr::Case {
                whens, otherwise, ..
            } => whens
                .iter_mut()
                .flat_map(|(c, r)| [c, r])
                .chain([&mut **otherwise])
                .collect(),
            Expr::Call { args, .. } => args.iter_mut().collect(),
        }
    }

    /// Adds the column indices this expression reads to `out`.
    pub fn columns(&self, out: &mut std::collections::BTreeSet<usize>) {
        if let Expr::Column { index, .. } = self {
            out.insert(*index);
        }
        self.children().into_iter().for_each(|c| c.columns(out));
    }

    /// Adds the string literals in this expression to `out`.
    pub fn string_literals(&self, out: &mut Vec<String>) {
        if let Expr::Literal(Literal::Str(s)) = self {
            out.push(s.clone());
        }
        self.children()
            .into_iter()
            .for_each(|c| c.string_literals(out));
    }

    /// Rewrites every column index `i` to `map(i)`.
    pub fn remap(&mut self, map: &impl Fn(usize) -> usize) {
        if let Expr::Column { index, .. } = self {
            *index = map(*index);
        }
        self.children_mut().into_iter().for_each(|c| c.remap(map));
    }

    /// Evaluates over all rows of `batch`, producing one column of `self.ty()`.
    pub fn eval(&self, batch: &Batch, dict: &Dict) -> Column {
        let n = batch.len();
        match self {
            Expr::Column { index, .. } => batch.columns[*index].clone(),
            Expr::Literal(l) => match l {
                Literal::Int(v) => Column::Int(vec![*v; n]),
                Literal::Float(v) => Column::Float(vec![*v; n]),
                Literal::Bool(v) => Column::Bool(vec![*v as u8; n]),
                // A string literal in the output: its id (interning happens at plan time).
                Literal::Str(s) => Column::Str(vec![dict.find(s).unwrap_or(NULL_STR); n]),
                Literal::Null(t) => {
                    let mut c = Column::with_capacity(*t, n);
                    (0..n).for_each(|_| c.push_null());
                    c
                }
            },
            Expr::Not(e) => {
                let Column::Bool(mut v) = e.eval(batch, dict) else {
                    unreachable!("typed at plan time")
                };
                v.iter_mut().for_each(|b| {
                    if *b != NULL_BOOL {
                        *b ^= 1
                    }
                });
                Column::Bool(v)
            }
            Expr::Neg(e) => match e.eval(batch, dict) {
                Column::Int(v) => Column::Int(map_int(v, i64::wrapping_neg)),
                Column::Float(v) => Column::Float(map_float(v, |x| -x)),
                _ => unreachable!("typed at plan time"),
            },
            Expr::Cast { expr, to } => cast(expr.eval(batch, dict), *to, dict),
            Expr::IsNull { expr, negated } => {
                let c = expr.eval(batch, dict);
                Column::Bool((0..n).map(|i| (c.is_null(i) != *negated) as u8).collect())
            }
            Expr::Like {
                expr,
                pattern,
                negated,
            } => {
                let c = expr.eval(batch, dict);
                Column::Bool(
                    c.as_str_ids()
                        .iter()
                        .map(|&id| {
                            if id == NULL_STR {
                                NULL_BOOL
                            } else {
                                (pattern.matches(dict.get(id)) != *negated) as u8
                            }
                        })
                        .collect(),
                )
            }
            Expr::Case {
                whens, otherwise, ..
            } => {
                let mut out = otherwise.eval(batch, dict);
                // Later branches first, so the first true condition's value is the one left.
                for (cond, result) in whens.iter().rev() {
                    let mask = cond.eval(batch, dict);
                    let value = result.eval(batch, dict);
                    select_where(&mut out, &value, mask.as_bool());
                }
                out
            }
            Expr::Call { func, args, ty } => call(*func, args, *ty, batch, dict),
            Expr::Chain { first, steps } => {
                let (mut acc, mut ty) = (first.eval(batch, dict), first.ty());
                for s in steps {
                    acc =
                        apply_binary(s.op, acc, ty, s.right.eval(batch, dict), s.right.ty(), dict);
                    ty = s.ty;
                }
                acc
            }
            Expr::InList {
                expr,
                set,
                has_null,
                negated,
            } => {
                let (hit, miss) = if *negated { (0, 1) } else { (1, 0) };
                let miss = if *has_null { NULL_BOOL } else { miss };
                let decide = |found: Option<bool>| match found {
                    None => NULL_BOOL,
                    Some(true) => hit,
                    Some(false) => miss,
                };
                let c = expr.eval(batch, dict);
                Column::Bool(match (set, c) {
                    (InSet::Int(s), Column::Int(v)) => v
                        .iter()
                        .map(|&x| decide((x != NULL_INT).then(|| s.contains(&x))))
                        .collect(),
                    (InSet::Int(s), Column::Bool(v)) => v
                        .iter()
                        .map(|&x| decide((x != NULL_BOOL).then(|| s.contains(&i64::from(x)))))
                        .collect(),
                    (InSet::Str(s), Column::Str(v)) => v
                        .iter()
                        .map(|&id| decide((id != NULL_STR).then(|| s.contains(dict.get(id)))))
                        .collect(),
                    (InSet::Float(s), c) => to_float(c)
                        .iter()
                        .map(|&x| {
                            decide((!is_null_float(x)).then(|| s.contains(&InSet::float_key(x))))
                        })
                        .collect(),
                    _ => unreachable!("typed at plan time"),
                })
            }
            Expr::Binary {
                op, left, right, ..
            } => eval_binary(*op, left, right, batch, dict),
        }
    }
}

/// An integer or timestamp column's values (typed at plan time).
fn into_ints(c: Column) -> Vec<i64> {
    match c {
        Column::Int(v) => v,
        _ => unreachable!("typed at plan time"),
    }
}

fn map_int(v: Vec<i64>, f: impl Fn(i64) -> i64) -> Vec<i64> {
    v.into_iter()
        .map(|x| if x == NULL_INT { x } else { f(x) })
        .collect()
}

fn map_float(v: Vec<f64>, f: impl Fn(f64) -> f64) -> Vec<f64> {
    v.into_iter()
        .map(|x| if is_null_float(x) { x } else { f(x) })
        .collect()
}

/// `dst[i] = src[i]` where `mask[i]` is true.
fn select_where(dst: &mut Column, src: &Column, mask: &[u8]) {
    fn sel<T: Copy>(d: &mut [T], s: &[T], mask: &[u8]) {
        for ((d, s), m) in d.iter_mut().zip(s).zip(mask) {
            if *m == 1 {
                *d = *s;
            }
        }
    }
    match (dst, src) {
        (Column::Int(d), Column::Int(s)) => sel(d, s, mask),
        (Column::Float(d), Column::Float(s)) => sel(d, s, mask),
        (Column::Str(d), Column::Str(s)) => sel(d, s, mask),
        (Column::Bool(d), Column::Bool(s)) => sel(d, s, mask),
        _ => unreachable!("CASE branches are typed alike at plan time"),
    }
}

fn eval_binary(op: BinOp, l: &Expr, r: &Expr, batch: &Batch, dict: &Dict) -> Column {
    let (a, b) = (l.eval(batch, dict), r.eval(batch, dict));
    apply_binary(op, a, l.ty(), b, r.ty(), dict)
}

/// `a op b` element-wise, `a` of type `lt` and `b` of type `rt` (as typed at plan time).
fn apply_binary(
    op: BinOp,
    a: Column,
    lt: DataType,
    b: Column,
    rt: DataType,
    dict: &Dict,
) -> Column {
    if matches!(op, BinOp::And | BinOp::Or) {
        let (a, b) = (a.as_bool(), b.as_bool());
        // Kleene logic over 0 / 1 / NULL_BOOL.
        return Column::Bool(if op == BinOp::And {
            a.iter()
                .zip(b)
                .map(|(&x, &y)| match (x, y) {
                    (0, _) | (_, 0) => 0,
                    (1, 1) => 1,
                    _ => NULL_BOOL,
                })
                .collect()
        } else {
            a.iter()
                .zip(b)
                .map(|(&x, &y)| match (x, y) {
                    (1, _) | (_, 1) => 1,
                    (0, 0) => 0,
                    _ => NULL_BOOL,
                })
                .collect()
        });
    }
    if lt == DataType::Str || rt == DataType::Str {
        return compare_strings(op, a, b, dict);
    }
    if lt == DataType::Bool && rt == DataType::Bool {
        return Column::Bool(compare(op, a.as_bool(), b.as_bool(), |x| *x == NULL_BOOL));
    }
    if lt.is_integer() && rt.is_integer() && op != BinOp::Div {
        let (a, b) = (a.as_int(), b.as_int());
        if op.is_comparison() {
            return Column::Bool(compare(op, a, b, |x| *x == NULL_INT));
        }
        let f: fn(i64, i64) -> i64 = match op {
            BinOp::Add => i64::wrapping_add,
            BinOp::Sub => i64::wrapping_sub,
            BinOp::Mul => i64::wrapping_mul,
            BinOp::Mod => |x, y| if y == 0 { NULL_INT } else { x.wrapping_rem(y) },
            _ => unreachable!(),
        };
        return Column::Int(
            a.iter()
                .zip(b)
                .map(|(&x, &y)| {
                    if x == NULL_INT || y == NULL_INT {
                        NULL_INT
                    } else {
                        f(x, y)
                    }
                })
                .collect(),
        );
    }
    let a = to_float(a);
    let b = to_float(b);
    if op.is_comparison() {
        return Column::Bool(compare(op, &a, &b, |x| is_null_float(*x)));
    }
    let f: fn(f64, f64) -> f64 = match op {
        BinOp::Add => |x, y| x + y,
        BinOp::Sub => |x, y| x - y,
        BinOp::Mul => |x, y| x * y,
        BinOp::Div => |x, y| x / y,
        BinOp::Mod => |x, y| if y == 0.0 { null_float() } else { x % y },
        _ => unreachable!(),
    };
    Column::Float(
        a.iter()
            .zip(&b)
            .map(|(&x, &y)| {
                if is_null_float(x) || is_null_float(y) {
                    null_float()
                } else {
                    f(x, y)
                }
            })
            .collect(),
    )
}

/// Compares element-wise; a NULL on either side gives NULL.
fn compare<T: PartialOrd>(op: BinOp, a: &[T], b: &[T], null: impl Fn(&T) -> bool) -> Vec<u8> {
    let f: fn(&T, &T) -> bool = match op {
        BinOp::Eq => |x, y| x == y,
        BinOp::NotEq => |x, y| x != y,
        BinOp::Lt => |x, y| x < y,
        BinOp::LtEq => |x, y| x <= y,
        BinOp::Gt => |x, y| x > y,
        BinOp::GtEq => |x, y| x >= y,
        _ => unreachable!("not a comparison"),
    };
    a.iter()
        .zip(b)
        .map(|(x, y)| {
            if null(x) || null(y) {
                NULL_BOOL
            } else {
                f(x, y) as u8
            }
        })
        .collect()
}

/// String comparisons: equality compares ids (one dictionary, so equal strings have equal
/// ids); ordering compares the strings themselves.
fn compare_strings(op: BinOp, a: Column, b: Column, dict: &Dict) -> Column {
    let (a, b) = (a.as_str_ids(), b.as_str_ids());
    match op {
        BinOp::Eq | BinOp::NotEq => Column::Bool(compare(op, a, b, |x| *x == NULL_STR)),
        _ => {
            let texts = |ids: &[u32]| -> Vec<Option<&str>> {
                ids.iter()
                    .map(|&id| (id != NULL_STR).then(|| dict.get(id)))
                    .collect()
            };
            Column::Bool(compare(op, &texts(a), &texts(b), Option::is_none))
        }
    }
}

/// A numeric or boolean column as floats (NULL stays NULL).
fn to_float(c: Column) -> Vec<f64> {
    match c {
        Column::Float(v) => v,
        Column::Int(v) => v
            .into_iter()
            .map(|x| {
                if x == NULL_INT {
                    null_float()
                } else {
                    x as f64
                }
            })
            .collect(),
        Column::Bool(v) => v
            .into_iter()
            .map(|x| {
                if x == NULL_BOOL {
                    null_float()
                } else {
                    x as f64
                }
            })
            .collect(),
        Column::Str(_) => unreachable!("typed at plan time"),
    }
}

/// A float as an integer, rounded half to even as DuckDB's DOUBLE → BIGINT cast does; NaN,
/// ±inf and out-of-range values have no integer and become NULL.
fn float_to_int(x: f64) -> i64 {
    let r = x.round_ties_even();
    if is_null_float(x) || !r.is_finite() || r <= i64::MIN as f64 || r >= i64::MAX as f64 {
        NULL_INT
    } else {
        r as i64
    }
}

fn cast(c: Column, to: DataType, dict: &Dict) -> Column {
    let text = |id: u32| (id != NULL_STR).then(|| dict.get(id).trim());
    match (c, to) {
        (Column::Int(v), DataType::Int | DataType::Timestamp) => Column::Int(v),
        (Column::Int(v), DataType::Float) => Column::Float(to_float(Column::Int(v))),
        (Column::Int(v), DataType::Bool) => Column::Bool(
            v.into_iter()
                .map(|x| {
                    if x == NULL_INT {
                        NULL_BOOL
                    } else {
                        (x != 0) as u8
                    }
                })
                .collect(),
        ),
        (Column::Float(v), DataType::Int | DataType::Timestamp) => {
            Column::Int(v.into_iter().map(float_to_int).collect())
        }
        (Column::Float(v), DataType::Bool) => Column::Bool(
            v.into_iter()
                .map(|x| {
                    if is_null_float(x) {
                        NULL_BOOL
                    } else {
                        (x != 0.0) as u8
                    }
                })
                .collect(),
        ),
        (Column::Bool(v), DataType::Int | DataType::Timestamp) => Column::Int(
            v.into_iter()
                .map(|x| if x == NULL_BOOL { NULL_INT } else { x as i64 })
                .collect(),
        ),
        (Column::Bool(v), DataType::Float) => Column::Float(to_float(Column::Bool(v))),
        (Column::Str(v), DataType::Float) => Column::Float(
            v.into_iter()
                .map(|id| {
                    text(id)
                        .and_then(|t| t.parse().ok())
                        .unwrap_or(null_float())
                })
                .collect(),
        ),
        (Column::Str(v), DataType::Timestamp) => Column::Int(
            v.into_iter()
                .map(|id| {
                    text(id)
                        .and_then(|t| {
                            crate::data::time::parse_iso(t.as_bytes()).or_else(|| {
                                t.parse::<i64>()
                                    .ok()
                                    .filter(|&x| crate::data::time::in_range(x))
                            })
                        })
                        .unwrap_or(NULL_INT)
                })
                .collect(),
        ),
        (Column::Str(v), DataType::Int) => Column::Int(
            v.into_iter()
                .map(|id| {
                    text(id)
                        .and_then(|t| {
                            t.parse::<i64>()
                                .ok()
                                .or_else(|| t.parse::<f64>().ok().map(float_to_int))
                        })
                        .filter(|x| *x != NULL_INT)
                        .unwrap_or(NULL_INT)
                })
                .collect(),
        ),
        (Column::Str(v), DataType::Bool) => Column::Bool(
            v.into_iter()
                .map(
                    |id| match text(id).map(|t| t.to_ascii_lowercase()).as_deref() {
                        Some("true" | "t" | "1" | "yes") => 1,
                        Some("false" | "f" | "0" | "no") => 0,
                        _ => NULL_BOOL,
                    },
                )
                .collect(),
        ),
        (c, _) => c,
    }
}

/// `x` rounded to `digits` decimal places, half away from zero, decided on the exact value of
/// the double (so 57.65, which is 57.6499…, rounds to 57.6, as in DuckDB); negative digits
/// round to tens, hundreds, ….
fn round_to(x: f64, digits: i64) -> f64 {
    if !x.is_finite() || digits > 300 {
        return x;
    }
    if digits <= 0 {
        let p = 10f64.powi((-digits).min(308) as i32);
        return (x / p).round() * p;
    }
    let d = digits as usize;
    // A double's exact decimal expansion has at most ~1075 digits, but 70 past the rounding
    // digit decide every tie that matters at the precisions people use.
    let exact = format!("{:.*}", d + 70, x.abs());
    let (int, frac) = exact.split_once('.').unwrap_or((&exact, ""));
    let kept = format!("{int}.{}", &frac[..d]);
    let up = frac.as_bytes()[d] >= b'5';
    let mut r: f64 = kept.parse().unwrap_or(x.abs());
    if up {
        r += 10f64.powi(-(d as i32));
        r = format!("{r:.d$}").parse().unwrap_or(r);
    }
    r.copysign(x)
}

/// A TIMESTAMP value as text, the way the sink writes it (NULL: `false`).
fn time_text(c: &Column, row: usize, out: &mut String) -> bool {
    let ms = c.as_int()[row];
    if ms == NULL_INT {
        return false;
    }
    let mut b = Vec::with_capacity(23);
    time::write_iso(&mut b, ms);
    out.push_str(std::str::from_utf8(&b).expect("ASCII"));
    true
}

/// A value as text, the way the sink writes it (NULL: `None`).
fn text_of(c: &Column, row: usize, dict: &Dict, out: &mut String) -> bool {
    use std::fmt::Write;
    if c.is_null(row) {
        return false;
    }
    match c {
        Column::Int(v) => {
            let _ = write!(out, "{}", v[row]);
        }
        Column::Float(v) => out.push_str(ryu::Buffer::new().format(v[row])),
        Column::Str(v) => out.push_str(dict.get(v[row])),
        Column::Bool(v) => out.push_str(if v[row] == 1 { "true" } else { "false" }),
    }
    true
}

/// String-producing functions. Results are interned in the shared dictionary, with a cache
/// per call so a batch takes the dictionary's lock once per distinct string, not per row.
fn string_call(func: Func, args: &[Expr], batch: &Batch, dict: &Dict) -> Column {
    let cols: Vec<Column> = args.iter().map(|a| a.eval(batch, dict)).collect();
    let mut cache: fxhash::FxHashMap<String, u32> = fxhash::FxHashMap::default();
    let mut text = String::new();
    let mut part = String::new();
    let mut out = Vec::with_capacity(batch.len());
    for row in 0..batch.len() {
        text.clear();
        let is_time = |i: usize| args[i].ty() == DataType::Timestamp;
        let text_of = |i: usize, c: &Column, out: &mut String| {
            if is_time(i) {
                time_text(c, row, out)
            } else {
                text_of(c, row, dict, out)
            }
        };
        let present = match func {
            Func::Concat => {
                for (i, c) in cols.iter().enumerate() {
                    text_of(i, c, &mut text);
                }
                true
            }
            Func::ConcatOp => cols
                .iter()
                .enumerate()
                .all(|(i, c)| text_of(i, c, &mut text)),
            Func::Strftime => {
                let ms = cols[0].as_int()[row];
                if ms != NULL_INT
                    && let Expr::Literal(Literal::Str(fmt)) = &args[1]
                {
                    time::strftime(&mut text, ms, fmt);
                    true
                } else {
                    false
                }
            }
            Func::Substring => {
                part.clear();
                let ok = text_of(0, &cols[0], &mut part);
                let start = cols[1].as_int()[row];
                let len = cols.get(2).map(|c| c.as_int()[row]);
                if !ok || start == NULL_INT || len == Some(NULL_INT) {
                    false
                } else {
                    // SQL positions are 1-based; a start before 1 eats into the length.
                    let from = start.max(1);
                    let take = match len {
                        Some(l) => (start.saturating_add(l.max(0)) - from).max(0) as usize,
                        None => usize::MAX,
                    };
                    text.extend(part.chars().skip(from as usize - 1).take(take));
                    true
                }
            }
            _ => {
                part.clear();
                let ok = text_of(0, &cols[0], &mut part);
                match func {
                    Func::Upper => text.extend(part.chars().flat_map(char::to_uppercase)),
                    Func::Lower => text.extend(part.chars().flat_map(char::to_lowercase)),
                    Func::Trim => text.push_str(part.trim()),
                    _ => text.push_str(&part),
                }
                ok
            }
        };
        out.push(if !present {
            NULL_STR
        } else if let Some(&id) = cache.get(&text) {
            id
        } else {
            let id = dict.intern(&text);
            cache.insert(text.clone(), id);
            id
        });
    }
    Column::Str(out)
}

/// Evaluates a scalar function call.
fn call(func: Func, args: &[Expr], ty: DataType, batch: &Batch, dict: &Dict) -> Column {
    let n = batch.len();
    let arg = |i: usize| args[i].eval(batch, dict);
    match func {
        Func::Abs => match arg(0) {
            Column::Int(v) => Column::Int(map_int(v, i64::wrapping_abs)),
            c => Column::Float(map_float(to_float(c), f64::abs)),
        },
        Func::Round | Func::Floor | Func::Ceil | Func::Sqrt => {
            if ty.is_integer() {
                return arg(0);
            }
            let scale = match args.get(1) {
                Some(d) => match d.eval(batch, dict) {
                    Column::Int(v) => v,
                    _ => vec![0; n],
                },
                None => vec![0; n],
            };
            let x = to_float(arg(0));
            Column::Float(
                x.iter()
                    .zip(&scale)
                    .map(|(&x, &d)| {
                        if is_null_float(x) || d == NULL_INT {
                            return null_float();
                        }
                        match func {
                            Func::Floor => x.floor(),
                            Func::Ceil => x.ceil(),
                            Func::Sqrt if x < 0.0 => null_float(),
                            Func::Sqrt => x.sqrt(),
                            _ => round_to(x, d),
                        }
                    })
                    .collect(),
            )
        }
        Func::Coalesce => {
            let mut out = arg(args.len() - 1);
            for a in args[..args.len() - 1].iter().rev() {
                let v = a.eval(batch, dict);
                let mask: Vec<u8> = (0..n).map(|i| !v.is_null(i) as u8).collect();
                select_where(&mut out, &v, &mask);
            }
            out
        }
        Func::NullIf => {
            let mut out = arg(0);
            let eq = eval_binary(BinOp::Eq, &args[0], &args[1], batch, dict);
            let mut nulls = Column::with_capacity(ty, n);
            (0..n).for_each(|_| nulls.push_null());
            select_where(&mut out, &nulls, eq.as_bool());
            out
        }
        Func::Upper
        | Func::Lower
        | Func::Trim
        | Func::Concat
        | Func::ConcatOp
        | Func::ToText
        | Func::Strftime
        | Func::Substring => string_call(func, args, batch, dict),
        Func::ToTimestamp => Column::Int(match arg(0) {
            Column::Int(v) => map_int(v, |s| {
                s.checked_mul(1000)
                    .filter(|&ms| time::in_range(ms))
                    .unwrap_or(NULL_INT)
            }),
            c => to_float(c)
                .into_iter()
                .map(|x| {
                    let ms = (x * 1000.0).floor();
                    if is_null_float(x) || !ms.is_finite() || !time::in_range(ms as i64) {
                        NULL_INT
                    } else {
                        ms as i64
                    }
                })
                .collect(),
        }),
        Func::EpochMs => {
            let v = arg(0);
            if ty == DataType::Timestamp {
                Column::Int(map_int(into_ints(v), |ms| {
                    if time::in_range(ms) { ms } else { NULL_INT }
                }))
            } else {
                v
            }
        }
        Func::DateTrunc(unit) => {
            Column::Int(map_int(into_ints(arg(0)), |ms| time::trunc(ms, unit)))
        }
        Func::Extract(TimeField::Epoch) => Column::Float(
            arg(0)
                .as_int()
                .iter()
                .map(|&ms| {
                    if ms == NULL_INT {
                        null_float()
                    } else {
                        ms as f64 / 1000.0
                    }
                })
                .collect(),
        ),
        Func::Extract(field) => Column::Int(map_int(into_ints(arg(0)), |ms| field.of(ms))),
        Func::Now => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64);
            Column::Int(vec![now; n])
        }
        Func::Length => Column::Int(
            arg(0)
                .as_str_ids()
                .iter()
                .map(|&id| {
                    if id == NULL_STR {
                        NULL_INT
                    } else {
                        dict.get(id).chars().count() as i64
                    }
                })
                .collect(),
        ),
    }
}

#[cfg(test)]
#[path = "expr_tests.rs"]
mod tests;
