//! Tests of `sql::expr`: arithmetic and its types, comparisons, three-valued logic over NULLs,
//! ROUND and LIKE.

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
        Column::Bool(vec![1, 0, 0])
    );
}

#[test]
fn nulls_propagate_and_logic_is_three_valued() {
    let b = Batch {
        columns: vec![
            Column::Int(vec![1, NULL_INT, 3]),
            Column::Bool(vec![0, 1, NULL_BOOL]),
        ],
    };
    let d = Dict::default();
    let plus = Expr::Binary {
        op: BinOp::Add,
        left: col(0, DataType::Int),
        right: Box::new(Expr::Literal(Literal::Int(1))),
        ty: DataType::Int,
    };
    assert_eq!(plus.eval(&b, &d), Column::Int(vec![2, NULL_INT, 4]));
    let or = Expr::Binary {
        op: BinOp::Or,
        left: col(1, DataType::Bool),
        right: Box::new(Expr::Literal(Literal::Bool(true))),
        ty: DataType::Bool,
    };
    assert_eq!(or.eval(&b, &d), Column::Bool(vec![1, 1, 1]));
    let and = Expr::Binary {
        op: BinOp::And,
        left: col(1, DataType::Bool),
        right: Box::new(Expr::Literal(Literal::Bool(true))),
        ty: DataType::Bool,
    };
    assert_eq!(and.eval(&b, &d), Column::Bool(vec![0, 1, NULL_BOOL]));
    let not = Expr::Not(Box::new(and));
    assert_eq!(not.eval(&b, &d), Column::Bool(vec![1, 0, NULL_BOOL]));
    let is_null = Expr::IsNull {
        expr: col(0, DataType::Int),
        negated: false,
    };
    assert_eq!(is_null.eval(&b, &d), Column::Bool(vec![0, 1, 0]));
}

#[test]
fn round_decides_on_the_exact_value_half_away_from_zero() {
    assert_eq!(round_to(57.65, 1), 57.6);
    assert_eq!(round_to(0.125, 2), 0.13);
    assert_eq!(round_to(0.285, 2), 0.28);
    assert_eq!(round_to(-57.65, 1), -57.6);
    assert_eq!(round_to(2.5, 0), 3.0);
    assert_eq!(round_to(123.456, -1), 120.0);
    assert_eq!(round_to(9.995, 2), 9.99);
    assert_eq!(round_to(9.9951, 2), 10.0);
}

#[test]
fn like_patterns() {
    let p = LikePattern::new("a%c_", None, false);
    assert!(p.matches("abxcd") && p.matches("acd") && !p.matches("acdd") && !p.matches("Acd"));
    assert!(LikePattern::new("A%", None, true).matches("abc"));
    assert!(LikePattern::new("100!%", Some('!'), false).matches("100%"));
    assert!(!LikePattern::new("100!%", Some('!'), false).matches("1000"));
    assert!(LikePattern::new("%%x%", None, false).matches("yyxyy"));
    assert!(LikePattern::new("", None, false).matches(""));
}
