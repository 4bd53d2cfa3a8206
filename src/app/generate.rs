//! `shardsql gen`: the built-in generator's records written to a file, stdout or a Kafka topic.
//!
//! Threading: runs on the main thread (the Kafka producer has its own).

use super::gen_config;
use crate::cli::GenArgs;
use crate::data::{Batch, Dict, Interner, Schema};
use crate::error::{Error, Result};
use crate::sink::{self, Format};
use crate::source::BLOCK_ROWS;
use crate::source::generator::Generator;
use std::io::Write;
use std::path::Path;

pub(super) fn generate(a: GenArgs) -> Result<()> {
    if crate::kafka::is_kafka(&a.output) {
        return generate_kafka(&a);
    }
    if a.key.is_some() {
        return Err(Error::Usage(
            "--key applies to a Kafka output (--output kafka://HOST:PORT/TOPIC)".into(),
        ));
    }
    let dict = Dict::new();
    let g = Generator::new(gen_config(&a.generator), &mut Interner::new(dict.clone()));
    let schema = Schema::market_data();
    let (format, mut out): (Format, Box<dyn Write>) = if a.output == "-" {
        (Format::Csv, Box::new(std::io::stdout().lock()))
    } else {
        let format = sink::format_of("--output", Path::new(&a.output))?;
        let f = std::fs::File::create(&a.output)
            .map_err(|e| Error::io(format!("--output {}: cannot create", a.output), e))?;
        (format, Box::new(f))
    };
    let io_err = |e| Error::io("gen: writing failed", e);
    let mut buf = Vec::with_capacity(1 << 20);
    if format == Format::Csv {
        buf.extend_from_slice(schema.names().collect::<Vec<_>>().join(",").as_bytes());
        buf.push(b'\n');
    }
    let mut batch = Batch::new(&schema, BLOCK_ROWS);
    for start in (0..a.generator.records).step_by(BLOCK_ROWS) {
        batch.clear();
        g.fill(start, BLOCK_ROWS, &mut batch);
        // The generator's stream is written as it is defined: epoch milliseconds.
        sink::encode(
            &batch,
            format,
            &schema,
            &dict,
            sink::Timestamps::EpochMs,
            &mut buf,
        );
        if buf.len() >= 1 << 20 {
            if let Err(e) = out.write_all(&buf) {
                return if e.kind() == std::io::ErrorKind::BrokenPipe {
                    Ok(())
                } else {
                    Err(io_err(e))
                };
            }
            buf.clear();
        }
    }
    match out.write_all(&buf).and_then(|_| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(io_err(e)),
        _ => Ok(()),
    }
}

/// `shardsql gen --output kafka://…`: one JSON message per record (times in epoch ms, as
/// the stream is defined). With `--key COL` the column's value keys each message and its
/// hash picks the partition; without it record block b goes to partition b mod
/// `--partitions`, so the topic's partitions are the generator's own source partitions and
/// a query over the topic gives what `--partitions P` over the generator gives.
pub(super) fn generate_kafka(a: &GenArgs) -> Result<()> {
    use crate::data::batch::Column;
    let url = crate::kafka::KafkaUrl::parse("--output", &a.output)?;
    let dict = Dict::new();
    let g = Generator::new(gen_config(&a.generator), &mut Interner::new(dict.clone()));
    let schema = Schema::market_data();
    let key = match &a.key {
        Some(k) => Some(schema.index_of(k).ok_or_else(|| {
            Error::Usage(format!(
                "--key {k}: market_data has no such column (its columns: {})",
                schema.names().collect::<Vec<_>>().join(", ")
            ))
        })?),
        None => None,
    };
    let p = a.generator.partitions;
    let (out, have) = crate::kafka::producer::KafkaOut::open(
        "--output",
        &url,
        p,
        crate::kafka::producer::Layout::default(),
    )?;
    if key.is_none() && have != p {
        return Err(Error::Usage(format!(
            "--output {}: the topic has {have} partitions, not --partitions {p}; without --key \
             block b goes to partition b mod --partitions, so they must agree (or pass --key)",
            url.display()
        )));
    }
    let mut batch = Batch::new(&schema, BLOCK_ROWS);
    let mut buf = Vec::with_capacity(1 << 20);
    let mut kb = Vec::new();
    let mut ib = itoa::Buffer::new();
    let mut sent = 0u64;
    for (block, start) in (0..a.generator.records).step_by(BLOCK_ROWS).enumerate() {
        batch.clear();
        buf.clear();
        g.fill(start, BLOCK_ROWS, &mut batch);
        sink::encode(
            &batch,
            Format::JsonLines,
            &schema,
            &dict,
            sink::Timestamps::EpochMs,
            &mut buf,
        );
        let partition = (block as u64 % p as u64) as i32;
        let mut from = 0;
        for (row, end) in memchr::memchr_iter(b'\n', &buf).enumerate() {
            let value = &buf[from..end];
            from = end + 1;
            let k = key.map(|c| {
                kb.clear();
                match &batch.columns[c] {
                    Column::Str(v) => kb.extend_from_slice(dict.get(v[row]).as_bytes()),
                    Column::Int(v) => kb.extend_from_slice(ib.format(v[row]).as_bytes()),
                    Column::Float(v) => kb.extend_from_slice(v[row].to_string().as_bytes()),
                    Column::Bool(v) => kb.push(b'0' + v[row]),
                }
                &kb[..]
            });
            let part = if key.is_some() { None } else { Some(partition) };
            if !out.send(k, Some(value), part) {
                break;
            }
            sent += 1;
        }
        if out.failed() {
            break;
        }
    }
    out.close()?;
    eprintln!(
        "gen: wrote {} messages to {} ({have} partitions)",
        crate::metrics::stats::group(sent),
        url.display()
    );
    Ok(())
}
