//! The SQL front end: text → `ParsedQuery` (sqlparser plus the lifted streaming clauses) →
//! typed `Plan`. `compile_query` is the one entry point; errors come back rendered against
//! the query text.

pub mod expr;
pub mod parse;
pub mod plan;

pub use expr::Expr;
pub use parse::EmitMode;
pub use plan::{
    AggCall, AggFunc, AggregatePlan, Body, Plan, Routing, RowsFunc, RowsPlan, WindowSpec,
};

use crate::data::Schema;
use crate::error::Error;

/// The SQL fuzz target's body (shared with its stable replay, `tests/fuzz_regressions.rs`): any
/// bytes through parse and plan against market_data and a small custom schema, then explain,
/// the literals and both shard plans of whatever compiles. An error is fine; a panic is a bug.
pub fn fuzz_compile(data: &[u8]) {
    use crate::data::{DataType, Field};
    let Ok(sql) = std::str::from_utf8(data) else {
        return;
    };
    let other = Schema::new(vec![
        Field::new("k", DataType::Str),
        Field::new("n", DataType::Int),
        Field::new("x", DataType::Float),
        Field::new("t", DataType::Timestamp),
        Field::new("b", DataType::Bool),
    ]);
    for schema in [Schema::market_data(), other] {
        if let Ok(plan) = compile_query(sql, "fuzz.sql", &schema) {
            let _ = plan.explain();
            let _ = plan.string_literals();
            let _ = plan.for_shards(false);
            let _ = plan.for_shards(true);
        }
    }
}

/// Parses and plans `sql` against `input`; `file` names the query in error messages.
pub fn compile_query(sql: &str, file: &str, input: &Schema) -> Result<Plan, Error> {
    parse::parse(sql)
        .and_then(|q| plan::plan(&q, input))
        .map_err(|e| Error::Query(e.render(sql, file)))
}
