//! Shared set-up for the criterion benches: generated market_data blocks and plans.

#![allow(dead_code)]

use shardsql::data::{Batch, Dict, Interner, Schema};
use shardsql::source::BLOCK_ROWS;
use shardsql::source::generator::{GenConfig, Generator};
use std::sync::Arc;

/// `n` consecutive generated blocks (20 traders x 10 symbols) and their dictionary.
pub fn blocks(n: usize) -> (Vec<Batch>, Arc<Dict>) {
    let dict = Dict::new();
    let cfg = GenConfig {
        records: (n * BLOCK_ROWS) as u64,
        traders: 20,
        symbols: 10,
        seed: 42,
        disorder_ms: 0,
    };
    let g = Generator::new(cfg, &mut Interner::new(dict.clone()));
    let blocks = (0..n)
        .map(|i| {
            let mut b = Batch::new(&Schema::market_data(), BLOCK_ROWS);
            g.fill((i * BLOCK_ROWS) as u64, BLOCK_ROWS, &mut b);
            b
        })
        .collect();
    (blocks, dict)
}

pub fn plan(query_file: &str) -> shardsql::sql::Plan {
    let path = format!("{}/queries/{query_file}", env!("CARGO_MANIFEST_DIR"));
    let sql = std::fs::read_to_string(&path).unwrap();
    shardsql::sql::compile_query(&sql, &path, &Schema::market_data()).unwrap()
}
