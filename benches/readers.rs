//! The text readers against what the hardware does: bytes per second of parsing generated
//! market_data (the same records `shardsql gen` writes) as CSV and as JSON lines, next to a
//! `memchr` newline count over the same bytes (the floor any line-oriented reader pays). CSV
//! twice: every column stored (`SELECT *`), and only the three GROUP BY reads (the others
//! validated). One thread, in memory, 64 blocks of 4,096 records per iteration.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use shardsql::data::{Batch, Dict, Schema};
use shardsql::sink::{Format, Timestamps};
use shardsql::source::text::{OnError, TextReader};

mod common;

/// The generated blocks as text in `format`, with a header for CSV.
fn text(format: Format) -> Vec<u8> {
    let (blocks, dict) = common::blocks(64);
    let schema = Schema::market_data();
    let mut out = Vec::new();
    if format == Format::Csv {
        out.extend_from_slice(schema.names().collect::<Vec<_>>().join(",").as_bytes());
        out.push(b'\n');
    }
    for b in &blocks {
        shardsql::sink::encode(b, format, &schema, &dict, Timestamps::EpochMs, &mut out);
    }
    out
}

/// Reads `bytes` whole; returns the records read.
fn read(bytes: &[u8], format: Format, reads: Option<Vec<bool>>) -> usize {
    let input = Box::new(std::io::Cursor::new(bytes.to_vec()));
    let market = Schema::market_data();
    let mut r = TextReader::from_reader(
        input,
        "bench",
        format,
        Some(&market),
        Dict::new(),
        OnError::Skip,
    )
    .unwrap();
    if let Some(reads) = reads {
        r.set_projection(reads);
    }
    let mut b = Batch::new(&market, 4096);
    let mut records = 0;
    loop {
        b.clear();
        match r.read_block(&mut b, 4096).unwrap() {
            0 => return records,
            n => records += n,
        }
    }
}

fn readers(c: &mut Criterion) {
    let mut group = c.benchmark_group("readers");
    group.sample_size(20);
    for format in [Format::Csv, Format::JsonLines] {
        let bytes = text(format);
        let name = if format == Format::Csv {
            "csv"
        } else {
            "jsonl"
        };
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function(format!("{name}_memchr_newlines"), |b| {
            b.iter(|| memchr::memchr_iter(b'\n', &bytes).count())
        });
        group.bench_function(format!("{name}_all_columns"), |b| {
            b.iter(|| read(&bytes, format, None))
        });
        if format == Format::Csv {
            // GROUP BY trader_id, symbol with AVG(price): three of the eight columns.
            let reads = vec![false, true, true, true, false, false, false, false];
            group.bench_function(format!("{name}_three_columns"), |b| {
                b.iter(|| read(&bytes, format, Some(reads.clone())))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, readers);
criterion_main!(benches);
