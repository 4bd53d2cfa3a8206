//! The SQL front end: any text through parse and plan (against market_data and a small
//! custom schema), then explain, the shard plan and the literals of every plan that compiles.
//! An error is fine; a panic is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shardsql::data::{DataType, Field, Schema};

fuzz_target!(|data: &[u8]| {
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
        if let Ok(plan) = shardsql::sql::compile_query(sql, "fuzz.sql", &schema) {
            let _ = plan.explain();
            let _ = plan.string_literals();
            let _ = plan.for_shards(false);
            let _ = plan.for_shards(true);
        }
    }
});
