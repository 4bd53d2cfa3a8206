//! The SQL front end: any text through parse and plan (against market_data and a small
//! custom schema), then explain, the shard plan and the literals of every plan that compiles.
//! An error is fine; a panic is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| shardsql::sql::fuzz_compile(data));
