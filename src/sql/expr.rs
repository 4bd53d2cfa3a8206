//! Typed scalar expressions, compiled once from SQL and evaluated a whole batch at a time:
//! each node produces one typed column, so there is no per-record interpretation over dynamic
//! values. Types are resolved at planning time; evaluation cannot fail.

use crate::data::batch::Column;
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

/// A constant.
#[derive(Clone, Debug, PartialEq)]
pub enum Literal {
    Int(i64),
    Float(f64),
    Str(String),
    Bool(bool),
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
    Not(Box<Expr>),
    Neg(Box<Expr>),
    Cast {
        expr: Box<Expr>,
        to: DataType,
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
            Expr::Binary { ty, .. } => *ty,
            Expr::Not(_) => DataType::Bool,
            Expr::Neg(e) => e.ty(),
            Expr::Cast { to, .. } => *to,
        }
    }

    /// Adds the column indices this expression reads to `out`.
    pub fn columns(&self, out: &mut std::collections::BTreeSet<usize>) {
        match self {
            Expr::Column { index, .. } => {
                out.insert(*index);
            }
            Expr::Literal(_) => {}
            Expr::Binary { left, right, .. } => {
                left.columns(out);
                right.columns(out);
            }
            Expr::Not(e) | Expr::Neg(e) | Expr::Cast { expr: e, .. } => e.columns(out),
        }
    }

    /// Adds the string literals in this expression to `out`.
    pub fn string_literals(&self, out: &mut Vec<String>) {
        match self {
            Expr::Literal(Literal::Str(s)) => out.push(s.clone()),
            Expr::Column { .. } | Expr::Literal(_) => {}
            Expr::Binary { left, right, .. } => {
                left.string_literals(out);
                right.string_literals(out);
            }
            Expr::Not(e) | Expr::Neg(e) | Expr::Cast { expr: e, .. } => e.string_literals(out),
        }
    }

    /// Rewrites every column index `i` to `map(i)`.
    pub fn remap(&mut self, map: &impl Fn(usize) -> usize) {
        match self {
            Expr::Column { index, .. } => *index = map(*index),
            Expr::Literal(_) => {}
            Expr::Binary { left, right, .. } => {
                left.remap(map);
                right.remap(map);
            }
            Expr::Not(e) | Expr::Neg(e) | Expr::Cast { expr: e, .. } => e.remap(map),
        }
    }

    /// Evaluates over all rows of `batch`, producing one column of `self.ty()`.
    pub fn eval(&self, batch: &Batch, dict: &Dict) -> Column {
        let n = batch.len();
        match self {
            Expr::Column { index, .. } => batch.columns[*index].clone(),
            Expr::Literal(l) => match l {
                Literal::Int(v) => Column::Int(vec![*v; n]),
                Literal::Float(v) => Column::Float(vec![*v; n]),
                Literal::Bool(v) => Column::Bool(vec![*v; n]),
                // A string literal in the output: its id (interning happens at plan time).
                Literal::Str(s) => Column::Str(vec![dict.find(s).unwrap_or(u32::MAX); n]),
            },
            Expr::Not(e) => {
                let Column::Bool(mut v) = e.eval(batch, dict) else {
                    unreachable!("typed at plan time")
                };
                v.iter_mut().for_each(|b| *b = !*b);
                Column::Bool(v)
            }
            Expr::Neg(e) => match e.eval(batch, dict) {
                Column::Int(v) => Column::Int(v.into_iter().map(i64::wrapping_neg).collect()),
                Column::Float(v) => Column::Float(v.into_iter().map(|x| -x).collect()),
                _ => unreachable!("typed at plan time"),
            },
            Expr::Cast { expr, to } => cast(expr.eval(batch, dict), expr.ty(), *to, dict),
            Expr::Binary {
                op, left, right, ..
            } => self.eval_binary(*op, left, right, batch, dict),
        }
    }

    fn eval_binary(&self, op: BinOp, l: &Expr, r: &Expr, batch: &Batch, dict: &Dict) -> Column {
        if matches!(op, BinOp::And | BinOp::Or) {
            let (a, b) = (l.eval(batch, dict), r.eval(batch, dict));
            let (a, b) = (a.as_bool(), b.as_bool());
            return Column::Bool(if op == BinOp::And {
                a.iter().zip(b).map(|(x, y)| *x && *y).collect()
            } else {
                a.iter().zip(b).map(|(x, y)| *x || *y).collect()
            });
        }
        let (lt, rt) = (l.ty(), r.ty());
        if lt == DataType::Str || rt == DataType::Str {
            return compare_strings(op, l, r, batch, dict);
        }
        if lt == DataType::Bool && rt == DataType::Bool {
            let (a, b) = (l.eval(batch, dict), r.eval(batch, dict));
            return Column::Bool(compare(op, a.as_bool(), b.as_bool()));
        }
        if lt.is_integer() && rt.is_integer() && op != BinOp::Div {
            let (a, b) = (l.eval(batch, dict), r.eval(batch, dict));
            let (a, b) = (a.as_int(), b.as_int());
            if op.is_comparison() {
                return Column::Bool(compare(op, a, b));
            }
            let f: fn(i64, i64) -> i64 = match op {
                BinOp::Add => i64::wrapping_add,
                BinOp::Sub => i64::wrapping_sub,
                BinOp::Mul => i64::wrapping_mul,
                BinOp::Mod => |x, y| if y == 0 { 0 } else { x.wrapping_rem(y) },
                _ => unreachable!(),
            };
            return Column::Int(a.iter().zip(b).map(|(x, y)| f(*x, *y)).collect());
        }
        let a = to_float(l.eval(batch, dict));
        let b = to_float(r.eval(batch, dict));
        if op.is_comparison() {
            return Column::Bool(compare(op, &a, &b));
        }
        let f: fn(f64, f64) -> f64 = match op {
            BinOp::Add => |x, y| x + y,
            BinOp::Sub => |x, y| x - y,
            BinOp::Mul => |x, y| x * y,
            BinOp::Div => |x, y| x / y,
            BinOp::Mod => |x, y| x % y,
            _ => unreachable!(),
        };
        Column::Float(a.iter().zip(&b).map(|(x, y)| f(*x, *y)).collect())
    }
}

fn compare<T: PartialOrd>(op: BinOp, a: &[T], b: &[T]) -> Vec<bool> {
    let f: fn(&T, &T) -> bool = match op {
        BinOp::Eq => |x, y| x == y,
        BinOp::NotEq => |x, y| x != y,
        BinOp::Lt => |x, y| x < y,
        BinOp::LtEq => |x, y| x <= y,
        BinOp::Gt => |x, y| x > y,
        BinOp::GtEq => |x, y| x >= y,
        _ => unreachable!("not a comparison"),
    };
    a.iter().zip(b).map(|(x, y)| f(x, y)).collect()
}

/// String comparisons: equality compares ids (one dictionary, so equal strings have equal
/// ids); ordering compares the strings themselves.
fn compare_strings(op: BinOp, l: &Expr, r: &Expr, batch: &Batch, dict: &Dict) -> Column {
    let ids = |e: &Expr| match e {
        // A literal that was never interned matches no id.
        Expr::Literal(Literal::Str(s)) => {
            vec![dict.find(s).unwrap_or(u32::MAX); batch.len()]
        }
        e => e.eval(batch, dict).as_str_ids().to_vec(),
    };
    let text = |e: &Expr, i: usize, ids: &[u32]| -> String {
        match e {
            Expr::Literal(Literal::Str(s)) => s.clone(),
            _ => dict.get(ids[i]).to_string(),
        }
    };
    let (a, b) = (ids(l), ids(r));
    match op {
        BinOp::Eq | BinOp::NotEq => Column::Bool(compare(op, &a, &b)),
        _ => {
            let av: Vec<String> = (0..a.len()).map(|i| text(l, i, &a)).collect();
            let bv: Vec<String> = (0..b.len()).map(|i| text(r, i, &b)).collect();
            Column::Bool(compare(op, &av, &bv))
        }
    }
}

fn to_float(c: Column) -> Vec<f64> {
    match c {
        Column::Float(v) => v,
        Column::Int(v) => v.into_iter().map(|x| x as f64).collect(),
        Column::Bool(v) => v.into_iter().map(|x| x as u8 as f64).collect(),
        Column::Str(_) => unreachable!("typed at plan time"),
    }
}

fn cast(c: Column, from: DataType, to: DataType, dict: &Dict) -> Column {
    match (c, to) {
        (c, to) if from == to || (from.is_integer() && to.is_integer()) => c,
        (Column::Int(v), DataType::Float) => {
            Column::Float(v.into_iter().map(|x| x as f64).collect())
        }
        (Column::Float(v), DataType::Int | DataType::Timestamp) => {
            // SQL rounds to nearest on DOUBLE -> BIGINT; out of range saturates.
            Column::Int(v.into_iter().map(|x| x.round() as i64).collect())
        }
        (Column::Bool(v), DataType::Int) => Column::Int(v.into_iter().map(|x| x as i64).collect()),
        (Column::Int(v), DataType::Bool) => Column::Bool(v.into_iter().map(|x| x != 0).collect()),
        (Column::Str(v), DataType::Float) => Column::Float(
            v.into_iter()
                .map(|id| dict.get(id).trim().parse().unwrap_or(f64::NAN))
                .collect(),
        ),
        (Column::Str(v), DataType::Int | DataType::Timestamp) => Column::Int(
            v.into_iter()
                .map(|id| dict.get(id).trim().parse().unwrap_or(0))
                .collect(),
        ),
        (c, _) => c,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch() -> Batch {
        Batch {
            columns: vec![
                Column::Int(vec![1, 2, 3]),
                Column::Float(vec![0.5, 1.5, 2.5]),
            ],
        }
    }

    fn col(index: usize, ty: DataType) -> Box<Expr> {
        Box::new(Expr::Column { index, ty })
    }

    #[test]
    fn mixed_arithmetic_promotes_to_float() {
        let e = Expr::Binary {
            op: BinOp::Add,
            left: col(0, DataType::Int),
            right: col(1, DataType::Float),
            ty: DataType::Float,
        };
        assert_eq!(
            e.eval(&batch(), &Dict::default()),
            Column::Float(vec![1.5, 3.5, 5.5])
        );
    }

    #[test]
    fn integer_division_is_float_division_like_duckdb() {
        let e = Expr::Binary {
            op: BinOp::Div,
            left: col(0, DataType::Int),
            right: Box::new(Expr::Literal(Literal::Int(2))),
            ty: DataType::Float,
        };
        assert_eq!(
            e.eval(&batch(), &Dict::default()),
            Column::Float(vec![0.5, 1.0, 1.5])
        );
    }

    #[test]
    fn comparisons_and_logic() {
        let gt = Expr::Binary {
            op: BinOp::Gt,
            left: col(0, DataType::Int),
            right: Box::new(Expr::Literal(Literal::Int(1))),
            ty: DataType::Bool,
        };
        let e = Expr::Not(Box::new(gt));
        assert_eq!(
            e.eval(&batch(), &Dict::default()),
            Column::Bool(vec![true, false, false])
        );
    }
}
