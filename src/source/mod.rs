//! Sources: the built-in generator and text files, cut into numbered blocks of `BLOCK_ROWS`
//! records. Block `b` is read by core `b mod N`; block numbers are the input's order, which
//! shards restore when they consume (see `runtime`).

pub mod chunker;
mod csv_fields;
pub mod generator;
mod json;
mod json_fast;
pub mod kafka;
pub mod kafka_chunk;
pub mod kafka_group;
mod kafka_line;
pub mod live;
pub mod open;
pub mod ranges;
mod swar;
pub mod text;
pub mod values;

use crate::data::Batch;
use generator::Generator;
use std::sync::Arc;
use text::TextReader;

/// Records per input block.
pub const BLOCK_ROWS: usize = 4096;

/// The input of a run, as the runtime sees it.
pub enum Input {
    /// Each core generates its own blocks.
    Generator(Arc<Generator>),
    /// Blocks materialised before the clock started (`--preload`).
    Preloaded(Arc<Vec<Batch>>),
    /// A file or stdin parsed by one reader thread that deals blocks to the cores.
    Stream(Box<TextReader>),
    /// A Kafka topic read by one reader thread; its partitions are the source partitions.
    Kafka(Box<kafka::KafkaInput>),
    /// A group member's repartition partitions (`kafka::repartition`): judged blocks whose
    /// source partitions are (input partition, repartition partition) pairs.
    Repartition(Box<crate::kafka::repartition::Reader>),
}

/// Reads the whole text input into blocks.
pub fn preload_text(reader: &mut TextReader) -> crate::error::Result<Vec<Batch>> {
    let mut blocks = Vec::new();
    loop {
        let mut b = Batch::new(reader.schema(), BLOCK_ROWS);
        let seen = reader.read_block(&mut b, BLOCK_ROWS)?;
        if seen == 0 {
            break;
        }
        if !b.is_empty() {
            blocks.push(b);
        }
    }
    Ok(blocks)
}

/// Generates the whole stream into blocks.
pub fn preload_generator(g: &Generator) -> Vec<Batch> {
    let schema = crate::data::Schema::market_data();
    (0..g.config().records)
        .step_by(BLOCK_ROWS)
        .map(|start| {
            let mut b = Batch::new(&schema, BLOCK_ROWS);
            g.fill(start, BLOCK_ROWS, &mut b);
            b
        })
        .collect()
}
