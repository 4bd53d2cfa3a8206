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

/// Parses and plans `sql` against `input`; `file` names the query in error messages.
pub fn compile_query(sql: &str, file: &str, input: &Schema) -> Result<Plan, Error> {
    parse::parse(sql)
        .and_then(|q| plan::plan(&q, input))
        .map_err(|e| Error::Query(e.render(sql, file)))
}
