//! Each operator on generated 4096-row blocks, one block per iteration (throughput in
//! records): the group lookup (dense index and hash fallback), GROUP BY's fold, EMIT CHANGES,
//! the ROWS window, the reader's pre-aggregation with its partial rows, and the generator.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use shardsql::data::batch::Column;
use shardsql::data::{Batch, DataType, Schema};
use shardsql::ops::group_table::GroupTable;
use shardsql::sink::{ShardOutput, Sink};
use shardsql::source::BLOCK_ROWS;

mod common;

fn operators(c: &mut Criterion) {
    let (blocks, dict) = common::blocks(64);
    let mut group = c.benchmark_group("operators");
    group.throughput(Throughput::Elements(BLOCK_ROWS as u64));

    let mut next = 0usize;
    let mut block = || {
        next = (next + 1) % blocks.len();
        &blocks[next]
    };

    let mut ids = Vec::new();
    let mut dense = GroupTable::new(&[DataType::Str, DataType::Str], &[]);
    group.bench_function("group_ids_dense_2_string_keys", |b| {
        b.iter(|| {
            let blk = block();
            dense.group_ids(&[&blk.columns[1], &blk.columns[2]], 0..BLOCK_ROWS, &mut ids);
        })
    });
    // Large integer keys (trade ids) force the hash fallback.
    let mut hashed = GroupTable::new(&[DataType::Int], &[]);
    let wide = Column::Int((0..BLOCK_ROWS as i64).map(|i| (i % 200) << 40).collect());
    group.bench_function("group_ids_hashed_1_int_key", |b| {
        b.iter(|| hashed.group_ids(&[&wide], 0..BLOCK_ROWS, &mut ids))
    });

    for (name, query) in [
        ("group_by_fold", "03_group_by.sql"),
        ("tumbling_fold", "04_tumbling.sql"),
        ("tumbling_emit_changes", "05_tumbling_emit_changes.sql"),
        ("rows_window_avg_101", "02_rows_window.sql"),
        ("passthrough_project", "01_passthrough.sql"),
    ] {
        let plan = common::plan(query);
        let mut op = shardsql::ops::build(&plan, &dict);
        let sink = Sink::open("null", &plan.output, dict.clone(), Default::default()).unwrap();
        let mut out = ShardOutput::new(sink);
        group.bench_function(name, |b| {
            b.iter(|| {
                let blk = block();
                op.process(blk, 0..BLOCK_ROWS, 0, &mut out);
            })
        });
    }

    let plan = common::plan("03_group_by.sql");
    if let shardsql::sql::Body::Aggregate(a) = &plan.body {
        let mut combiner =
            shardsql::ops::aggregate::Aggregate::new(a.clone(), plan.time_column, dict.clone());
        let mut outs = vec![Batch::with_types(a.partial_types(), 256); 2];
        group.bench_function("pre_aggregate_block_to_2_shards", |b| {
            b.iter(|| {
                outs.iter_mut().for_each(Batch::clear);
                combiner.combine(block(), 0..BLOCK_ROWS, 0, None);
                combiner.drain_partials(&mut outs);
            })
        });
    }

    let g = shardsql::source::generator::Generator::new(
        shardsql::source::generator::GenConfig {
            records: u64::MAX,
            traders: 20,
            symbols: 10,
            seed: 1,
            disorder_ms: 0,
        },
        &mut shardsql::data::Interner::new(dict.clone()),
    );
    let mut scratch = Batch::new(&Schema::market_data(), BLOCK_ROWS);
    let mut start = 0u64;
    group.bench_function("generate_block", |b| {
        b.iter(|| {
            scratch.clear();
            g.fill(start, BLOCK_ROWS, &mut scratch);
            start += BLOCK_ROWS as u64;
        })
    });
    group.finish();
}

criterion_group!(benches, operators);
criterion_main!(benches);
