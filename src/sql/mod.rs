//! The SQL front end: text → `ParsedQuery` (sqlparser plus the lifted streaming clauses) →
//! typed `Plan`. `compile_query` is the one entry point; errors come back rendered against
//! the query text.

mod compile;
pub mod expr;
pub mod parse;
pub mod plan;
mod planner;
mod scope;

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

/// The stack of the thread that parses and plans a query. sqlparser builds (and drops, and
/// prints, and spans) its tree by recursion, and a flat chain such as `a OR b OR ...` is one
/// level per term, so a query file of a few hundred kilobytes needs a few megabytes here.
/// shardsql's own passes over the tree are loops or bounded by `compile::MAX_EXPR_DEPTH`.
const COMPILE_STACK: usize = 256 << 20;

/// Queries up to this many bytes are compiled on the caller's thread: at a few characters per
/// level they nest at most a few dozen levels, within any thread's stack.
const SHORT_QUERY: usize = 512;

/// Parses and plans `sql` against `input`; `file` names the query in error messages. Runs on
/// a thread of its own with a large stack (`COMPILE_STACK`; only touched pages are mapped).
pub fn compile_query(sql: &str, file: &str, input: &Schema) -> Result<Plan, Error> {
    // A short query cannot nest deeply (each level takes a few characters): no thread needed.
    if sql.len() <= SHORT_QUERY {
        return compile_here(sql, file, input);
    }
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .name("shardsql-plan".into())
            .stack_size(COMPILE_STACK)
            .spawn_scoped(s, || compile_here(sql, file, input))
            .map_err(|e| Error::Runtime(format!("cannot start the query planning thread: {e}")))?
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

fn compile_here(sql: &str, file: &str, input: &Schema) -> Result<Plan, Error> {
    parse::parse(sql)
        .and_then(|q| planner::plan(&q, input))
        .map_err(|mut e| {
            // Every error points somewhere: one whose node had no span in sqlparser's tree
            // points at the start of the query.
            if e.span.is_none() {
                let (line, text) = sql
                    .lines()
                    .enumerate()
                    .find(|(_, l)| !l.trim().is_empty())
                    .unwrap_or((0, ""));
                let column = text.chars().take_while(|c| c.is_whitespace()).count() + 1;
                let p = crate::error::Pos {
                    line: line as u64 + 1,
                    column: column as u64,
                };
                e.span = Some((p, p));
            }
            Error::Query(e.render(sql, file))
        })
}
