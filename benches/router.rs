//! Routing one 4096-row block: find the owner of the GROUP BY key of every row (the reader's
//! owner table), partition the rows by owner shard, and gather the routed columns per shard (what a reader does per block for EMIT
//! CHANGES), for 1 to 8 shards. Throughput is in records.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use shardsql::data::Batch;
use shardsql::runtime::router::{Partitioner, scatter};

mod common;

fn route_block(c: &mut Criterion) {
    let (blocks, _) = common::blocks(1);
    let block = &blocks[0];
    let rows: Vec<u32> = (0..block.len() as u32).collect();
    // trader_id, symbol, price, trade_time: what EMIT CHANGES routes.
    let cols = [1usize, 2, 3, 6];
    let types: Vec<_> = cols
        .iter()
        .map(|&c| shardsql::data::Schema::market_data().fields[c].ty)
        .collect();
    let mut group = c.benchmark_group("router");
    group.throughput(Throughput::Elements(block.len() as u64));
    for shards in [1usize, 2, 4, 8] {
        let mut p = Partitioner::new(shards);
        let mut outs: Vec<Batch> = (0..shards)
            .map(|_| Batch::with_types(types.iter().copied(), 4096))
            .collect();
        group.bench_with_input(
            BenchmarkId::new("hash_partition_gather", shards),
            &shards,
            |b, _| {
                b.iter(|| {
                    outs.iter_mut().for_each(Batch::clear);
                    p.partition(block, &[1, 2], &rows);
                    let srcs: Vec<&_> = cols.iter().map(|&c| &block.columns[c]).collect();
                    scatter(&srcs, p.lists(), &mut outs);
                    std::hint::black_box(&outs);
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, route_block);
criterion_main!(benches);
