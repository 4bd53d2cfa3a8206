//! The cost of moving one 4096-row batch from one core to another through an rtrb ring, with
//! the emptied batch coming back on a return ring (as the runtime does). Timed across the two
//! threads with `iter_custom`; throughput is in records.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use shardsql::data::Batch;
use std::time::Instant;

mod common;

fn ring_transfer(c: &mut Criterion) {
    let (blocks, _) = common::blocks(1);
    let template = blocks[0].clone();
    let mut group = c.benchmark_group("ring");
    group.throughput(Throughput::Elements(template.len() as u64));
    group.bench_function("batch_4096_rows_across_threads", |b| {
        b.iter_custom(|iters| {
            let (mut tx, mut rx) = rtrb::RingBuffer::<Batch>::new(64);
            let (mut back_tx, mut back_rx) = rtrb::RingBuffer::<Batch>::new(68);
            for _ in 0..8 {
                back_tx.push(template.clone()).unwrap();
            }
            let consumer = std::thread::spawn(move || {
                let mut seen = 0u64;
                let mut rows = 0usize;
                while seen < iters {
                    match rx.pop() {
                        Ok(batch) => {
                            rows += batch.len();
                            seen += 1;
                            let _ = back_tx.push(batch);
                        }
                        Err(_) => std::hint::spin_loop(),
                    }
                }
                rows
            });
            let start = Instant::now();
            let mut sent = 0;
            while sent < iters {
                if let Ok(batch) = back_rx.pop() {
                    let mut batch = batch;
                    while let Err(rtrb::PushError::Full(b)) = tx.push(batch) {
                        batch = b;
                        std::hint::spin_loop();
                    }
                    sent += 1;
                } else {
                    std::hint::spin_loop();
                }
            }
            let rows = consumer.join().unwrap();
            let elapsed = start.elapsed();
            assert_eq!(rows as u64, iters * template.len() as u64);
            elapsed
        })
    });
    group.finish();
}

criterion_group!(benches, ring_transfer);
criterion_main!(benches);
