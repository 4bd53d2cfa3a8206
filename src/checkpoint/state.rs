//! The state file's sections: operator state as tables of rows, each table a list of
//! `kafka::wire` messages (the repartition topic's checked binary codec, strings as their
//! bytes), so a snapshot does not depend on the dictionary ids of the process that wrote it:
//! restoring interns the strings again, and keys can be routed to owners at any shard count.
//!
//! Layout of one shard's section: repeated `[tag u8][length u32 LE][wire message]`; a table
//! larger than `ROWS_PER_MESSAGE` rows is several messages with the same tag.
//!
//! Threading: plain values; a shard writes its own section on its own thread.

use crate::data::{Batch, DataType, Dict, Interner};
use crate::error::{Error, Result};
use crate::kafka::wire;

/// Rows per wire message (the codec accepts up to 2^20).
const ROWS_PER_MESSAGE: usize = 1 << 16;

/// Writes tables into one section.
pub struct StateWriter<'d> {
    pub bytes: Vec<u8>,
    dict: &'d Dict,
    msg: Vec<u8>,
    rows: Vec<u32>,
}

impl<'d> StateWriter<'d> {
    pub fn new(dict: &'d Dict) -> StateWriter<'d> {
        StateWriter {
            bytes: Vec::new(),
            dict,
            msg: Vec::new(),
            rows: Vec::new(),
        }
    }

    /// Appends every row of `batch` as table `tag`.
    pub fn table(&mut self, tag: u8, batch: &Batch) {
        let present = vec![true; batch.columns.len()];
        let n = batch.len();
        let mut from = 0;
        while from < n {
            let to = (from + ROWS_PER_MESSAGE).min(n);
            self.rows.clear();
            self.rows.extend(from as u32..to as u32);
            wire::encode(
                &mut self.msg,
                wire::Kind::Rows,
                0,
                0,
                Some((batch, &present, &self.rows)),
                self.dict,
            );
            self.bytes.push(tag);
            self.bytes
                .extend_from_slice(&(self.msg.len() as u32).to_le_bytes());
            self.bytes.extend_from_slice(&self.msg);
            from = to;
        }
    }
}

/// Reads the tables of one section.
pub struct StateReader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> StateReader<'a> {
    pub fn new(bytes: &'a [u8]) -> StateReader<'a> {
        StateReader { bytes, at: 0 }
    }

    /// The next message: its table tag and bytes.
    pub fn next_message(&mut self) -> Result<Option<(u8, &'a [u8])>> {
        if self.at == self.bytes.len() {
            return Ok(None);
        }
        let head = self
            .bytes
            .get(self.at..self.at + 5)
            .ok_or_else(|| corrupt("a table header is cut short"))?;
        let len = u32::from_le_bytes(head[1..5].try_into().expect("4 bytes")) as usize;
        let msg = self
            .bytes
            .get(self.at + 5..self.at + 5 + len)
            .ok_or_else(|| corrupt("a table is cut short"))?;
        self.at += 5 + len;
        Ok(Some((head[0], msg)))
    }
}

/// The layout of one state table, as its operator declares it (`Operator::state_table`): its
/// columns' types, and the columns whose values route a row to the shard that owns its key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateTable {
    pub types: Vec<DataType>,
    pub keys: Vec<usize>,
}

/// Decodes one message of a table whose columns have `types` into a new batch.
pub fn decode(msg: &[u8], types: &[DataType], interner: &mut Interner) -> Result<Batch> {
    let mut b = Batch::with_types(types.iter().copied(), 0);
    wire::decode(msg, types, interner, &mut b).map_err(|e| corrupt(&e))?;
    Ok(b)
}

pub fn corrupt(what: &str) -> Error {
    Error::Usage(format!(
        "the checkpoint's state does not decode ({what}): it was written by another version of \
         shardsql or for another query; start without --resume or with another --checkpoint-dir"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::batch::Column;

    #[test]
    fn tables_round_trip_into_another_dictionary() {
        let dict = Dict::new();
        let mut i = Interner::new(dict.clone());
        let n = ROWS_PER_MESSAGE + 5;
        let b = Batch {
            columns: vec![
                Column::Int((0..n as i64).collect()),
                Column::Str((0..n).map(|r| i.intern(&format!("k{}", r % 7))).collect()),
            ],
        };
        let mut w = StateWriter::new(&dict);
        w.table(3, &b);
        let other = Dict::new();
        other.intern("unrelated");
        let mut into = Interner::new(other.clone());
        let mut r = StateReader::new(&w.bytes);
        let mut rows = 0;
        while let Some((tag, msg)) = r.next_message().unwrap() {
            assert_eq!(tag, 3);
            let got = decode(msg, &[DataType::Int, DataType::Str], &mut into).unwrap();
            for k in 0..got.len() {
                let at = got.columns[0].as_int()[k] as usize;
                assert_eq!(at, rows + k);
                assert_eq!(
                    other.get(got.columns[1].as_str_ids()[k]),
                    format!("k{}", at % 7)
                );
            }
            rows += got.len();
        }
        assert_eq!(rows, n);
        // Cut short anywhere: an error, never a panic.
        for cut in [1, 4, 7, w.bytes.len() - 1] {
            let mut r = StateReader::new(&w.bytes[..cut]);
            let mut failed = false;
            loop {
                match r.next_message() {
                    Ok(Some((_, msg))) => {
                        failed |= decode(msg, &[DataType::Int, DataType::Str], &mut into).is_err();
                    }
                    Ok(None) => break,
                    Err(_) => {
                        failed = true;
                        break;
                    }
                }
            }
            assert!(failed, "cut at {cut}");
        }
    }
}
