//! One Kafka partition's framed messages on their way to a core, which parses them
//! (`--input kafka://…` with the cores parsing, `source::kafka_reader`): the lines
//! (`source::kafka_line`, one per message, in offset order), each line's offset, and the
//! partition, so the block the core parses stays tagged with its partition (the shards keep
//! that partition's watermark and lateness) and a malformed message is reported with its
//! partition and offset, as when the reader thread parsed.
//!
//! Threading: built by the Kafka reader thread, moved through a core's source ring, parsed
//! and dropped by that core (one allocation of each vector per chunk, none per message).

use crate::data::Batch;
use crate::error::Result;
use crate::source::text::{Malformed, TextReader};

/// Up to `BLOCK_ROWS` messages of one partition, framed as lines.
pub struct KafkaChunk {
    /// One line per message.
    pub bytes: Vec<u8>,
    /// The offset of each line's message.
    pub offsets: Vec<i64>,
    /// The source partition (the run's numbering: 0.. in Kafka partition order).
    pub partition: u32,
    /// The Kafka partition, for messages.
    pub kafka_partition: i32,
}

impl KafkaChunk {
    /// Parses the lines into `out` with the core's chunk parser (which skips and counts
    /// malformed lines: `--on-error fail` is parsed on the reader thread). The examples it
    /// keeps from this chunk say the message's partition and offset instead of a line.
    pub fn parse(self, parser: &mut TextReader, out: &mut Batch) -> Result<()> {
        let before = parser.malformed;
        parser.load_chunk(self.bytes, 1);
        parser.read_block(out, usize::MAX)?;
        if parser.malformed > before {
            // Examples from earlier chunks have line 0; this chunk's have their line in it.
            for m in parser.examples.iter_mut().filter(|m| m.line != 0) {
                let offset = self.offsets.get(m.line as usize - 1).copied().unwrap_or(-1);
                *m = message_example(self.kafka_partition, offset, &m.reason);
            }
        }
        Ok(())
    }
}

/// A malformed message's example: line 0 (not a line of a file), the reason saying where.
pub fn message_example(kafka_partition: i32, offset: i64, reason: &str) -> Malformed {
    Malformed {
        line: 0,
        reason: format!("kafka partition {kafka_partition} offset {offset}: {reason}"),
    }
}

/// The (partition, offset) an example made by `message_example` names: the order the run
/// reports the examples its cores kept.
pub fn example_position(m: &Malformed) -> (i64, i64) {
    let mut words = m.reason.split([' ', ':']);
    let mut after = |w: &str| {
        words
            .by_ref()
            .skip_while(|x| *x != w)
            .nth(1)
            .and_then(|n| n.parse().ok())
            .unwrap_or(i64::MAX)
    };
    let p = after("partition");
    (p, after("offset"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn examples_sort_by_partition_then_offset() {
        let mut v = [
            message_example(1, 10, "x: y"),
            message_example(0, 9, "z"),
            message_example(1, 9, "offset 3"),
        ];
        v.sort_by_key(example_position);
        let got: Vec<(i64, i64)> = v.iter().map(example_position).collect();
        assert_eq!(got, [(0, 9), (1, 9), (1, 10)]);
        assert_eq!(v[0].reason, "kafka partition 0 offset 9: z");
    }
}
