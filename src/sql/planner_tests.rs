//! The planner's tests: what each query plans to, and every planning error with its span
//! and hint (`sql::planner`).

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
    let e = plan_sql("SELECT symbol, COUNT(*) AS OP FROM market_data GROUP BY symbol EMIT CHANGES")
        .unwrap_err();
    assert_eq!(
        e.message,
        "EMIT CHANGES writes its changelog operation as the first column, `op`: this column \
         has the same name"
    );
    let p = plan_sql("SELECT symbol, COUNT(*) AS n FROM market_data GROUP BY symbol EMIT CHANGES")
        .unwrap();
    assert_eq!(p.output.names().collect::<Vec<_>>(), ["op", "symbol", "n"]);
    let e = plan_sql("SELECT symbol + 1 FROM market_data").unwrap_err();
    assert!(
        e.message.contains("arithmetic needs numbers"),
        "{}",
        e.message
    );
}
