//! The messages of a repartition topic (`kafka::repartition`): one binary message per (input
//! block, repartition partition), carrying the rows of the block that the destination owns,
//! column by column, with the source partition they came from and its maximum event time
//! after the block (the watermark marker). Strings travel as bytes: dictionary ids are one
//! process's own.
//!
//! Layout (little-endian): `SQR1` (format and version), kind (`u8`: rows, end, done, idle), source
//! partition (`i32`, the input topic's Kafka partition), maximum event time (`i64`,
//! `i64::MIN`: none yet), row count (`u32`), column count (`u16`), then per column a tag
//! (`u8`: absent, int, float, string, bool) and its values: 8 bytes per int or float, 1 per
//! bool, a `u32` length and the UTF-8 bytes per string (`u32::MAX`: NULL). An absent column
//! (one the query does not read) holds NULL on decoding, as the readers' unread columns do.
//!
//! Decoding checks every length and type against the expected layout and returns a message
//! on anything else: a topic is input, and its bytes may be anything.
//!
//! Threading: plain functions over caller-owned buffers; no state.

use crate::data::batch::{Column, NULL_BOOL, NULL_INT, NULL_STR, null_float};
use crate::data::{Batch, DataType, Dict, Interner};

const MAGIC: &[u8; 4] = b"SQR1";
/// The most rows a message may hold (a writer sends at most a block's).
const MAX_ROWS: usize = 1 << 20;
const HEADER: usize = 4 + 1 + 4 + 8 + 4 + 2;

const ABSENT: u8 = 0;
const INT: u8 = 1;
const FLOAT: u8 = 2;
const STR: u8 = 3;
const BOOL: u8 = 4;

/// What a message says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Rows of a source partition (possibly none), and its maximum event time after them.
    Rows,
    /// The source partition has ended: nothing more comes from it.
    End,
    /// The member that read the source partition has written and acknowledged its output.
    Done,
    /// The source partition is idle (`--idle-timeout`): it stops holding the watermark back
    /// until its next rows.
    Idle,
}

/// A decoded message's header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub kind: Kind,
    /// The input topic's Kafka partition the rows came from.
    pub source: i32,
    pub max_time: i64,
    pub rows: u32,
}

/// Appends a message to `out` (cleared first): the rows `rows` of `batch`, whose columns
/// `present` says are sent (the others are sent as absent).
pub fn encode(
    out: &mut Vec<u8>,
    kind: Kind,
    source: i32,
    max_time: i64,
    batch: Option<(&Batch, &[bool], &[u32])>,
    dict: &Dict,
) {
    out.clear();
    out.extend_from_slice(MAGIC);
    out.push(match kind {
        Kind::Rows => 0,
        Kind::End => 1,
        Kind::Done => 2,
        Kind::Idle => 3,
    });
    out.extend_from_slice(&source.to_le_bytes());
    out.extend_from_slice(&max_time.to_le_bytes());
    let Some((batch, present, rows)) = batch else {
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        return;
    };
    out.extend_from_slice(&(rows.len() as u32).to_le_bytes());
    out.extend_from_slice(&(batch.columns.len() as u16).to_le_bytes());
    for (c, &sent) in batch.columns.iter().zip(present) {
        if !sent {
            out.push(ABSENT);
            continue;
        }
        match c {
            Column::Int(v) => {
                out.push(INT);
                rows.iter()
                    .for_each(|&r| out.extend_from_slice(&v[r as usize].to_le_bytes()));
            }
            Column::Float(v) => {
                out.push(FLOAT);
                rows.iter()
                    .for_each(|&r| out.extend_from_slice(&v[r as usize].to_bits().to_le_bytes()));
            }
            Column::Bool(v) => {
                out.push(BOOL);
                out.extend(rows.iter().map(|&r| v[r as usize]));
            }
            Column::Str(v) => {
                out.push(STR);
                for &r in rows {
                    let id = v[r as usize];
                    if id == NULL_STR {
                        out.extend_from_slice(&u32::MAX.to_le_bytes());
                    } else {
                        let s = dict.get(id).as_bytes();
                        out.extend_from_slice(&(s.len() as u32).to_le_bytes());
                        out.extend_from_slice(s);
                    }
                }
            }
        }
    }
}

/// Reads the header of `msg`.
pub fn header(msg: &[u8]) -> Result<Header, String> {
    if msg.len() < HEADER || &msg[..4] != MAGIC {
        return Err(format!(
            "not a shardsql repartition message ({} bytes{})",
            msg.len(),
            if msg.len() >= 4 { ", wrong magic" } else { "" }
        ));
    }
    let kind = match msg[4] {
        0 => Kind::Rows,
        1 => Kind::End,
        2 => Kind::Done,
        3 => Kind::Idle,
        k => return Err(format!("unknown message kind {k}")),
    };
    Ok(Header {
        kind,
        source: i32::from_le_bytes(msg[5..9].try_into().expect("4 bytes")),
        max_time: i64::from_le_bytes(msg[9..17].try_into().expect("8 bytes")),
        rows: u32::from_le_bytes(msg[17..21].try_into().expect("4 bytes")),
    })
}

/// Appends the rows of `msg` to `out`, whose columns must have the types `types` (the
/// message must hold exactly as many columns). Strings are interned through `interner`. On
/// an error `out` may hold part of the message: the caller clears it.
pub fn decode(
    msg: &[u8],
    types: &[DataType],
    interner: &mut Interner,
    out: &mut Batch,
) -> Result<Header, String> {
    let h = header(msg)?;
    let n = h.rows as usize;
    let cols = u16::from_le_bytes(msg[21..23].try_into().expect("2 bytes")) as usize;
    if h.kind != Kind::Rows {
        return Ok(h);
    }
    if n > MAX_ROWS {
        return Err(format!("{n} rows in one message (at most {MAX_ROWS})"));
    }
    if cols != types.len() || out.columns.len() != types.len() {
        return Err(format!(
            "{cols} columns where the query's input has {} (a repartition topic written by \
             another query or version?)",
            types.len()
        ));
    }
    let mut at = HEADER;
    let short = || "the message ends early".to_string();
    for (ty, col) in types.iter().zip(out.columns.iter_mut()) {
        let tag = *msg.get(at).ok_or_else(short)?;
        at += 1;
        let expected = match ty {
            DataType::Int | DataType::Timestamp => INT,
            DataType::Float => FLOAT,
            DataType::Str => STR,
            DataType::Bool => BOOL,
        };
        if tag != ABSENT && tag != expected {
            return Err(format!(
                "a column tagged {tag} where {expected} is expected"
            ));
        }
        match (tag, col) {
            (ABSENT, Column::Int(v)) => v.extend(std::iter::repeat_n(NULL_INT, n)),
            (ABSENT, Column::Float(v)) => v.extend(std::iter::repeat_n(null_float(), n)),
            (ABSENT, Column::Str(v)) => v.extend(std::iter::repeat_n(NULL_STR, n)),
            (ABSENT, Column::Bool(v)) => v.extend(std::iter::repeat_n(NULL_BOOL, n)),
            (INT, Column::Int(v)) => {
                let bytes = msg.get(at..at + 8 * n).ok_or_else(short)?;
                v.extend(
                    bytes
                        .chunks_exact(8)
                        .map(|b| i64::from_le_bytes(b.try_into().expect("8 bytes"))),
                );
                at += 8 * n;
            }
            (FLOAT, Column::Float(v)) => {
                let bytes = msg.get(at..at + 8 * n).ok_or_else(short)?;
                v.extend(
                    bytes.chunks_exact(8).map(|b| {
                        f64::from_bits(u64::from_le_bytes(b.try_into().expect("8 bytes")))
                    }),
                );
                at += 8 * n;
            }
            (BOOL, Column::Bool(v)) => {
                let bytes = msg.get(at..at + n).ok_or_else(short)?;
                if bytes.iter().any(|&b| b > NULL_BOOL) {
                    return Err("a boolean that is not 0, 1 or NULL".into());
                }
                v.extend_from_slice(bytes);
                at += n;
            }
            (STR, Column::Str(v)) => {
                for _ in 0..n {
                    let len = msg.get(at..at + 4).ok_or_else(short)?;
                    let len = u32::from_le_bytes(len.try_into().expect("4 bytes"));
                    at += 4;
                    if len == u32::MAX {
                        v.push(NULL_STR);
                        continue;
                    }
                    let s = msg.get(at..at + len as usize).ok_or_else(short)?;
                    std::str::from_utf8(s).map_err(|_| "a string that is not UTF-8".to_string())?;
                    v.push(interner.intern_utf8(s));
                    at += len as usize;
                }
            }
            _ => return Err("internal: the batch does not have the input's types".into()),
        }
    }
    if at != msg.len() {
        return Err(format!("{} bytes after the last column", msg.len() - at));
    }
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(dict: &std::sync::Arc<Dict>) -> (Batch, Vec<DataType>) {
        let mut i = Interner::new(dict.clone());
        let types = vec![
            DataType::Int,
            DataType::Float,
            DataType::Str,
            DataType::Bool,
            DataType::Timestamp,
        ];
        let b = Batch {
            columns: vec![
                Column::Int(vec![1, NULL_INT, -7]),
                Column::Float(vec![1.5, null_float(), f64::MAX]),
                Column::Str(vec![i.intern("héllo"), NULL_STR, i.intern("")]),
                Column::Bool(vec![1, NULL_BOOL, 0]),
                Column::Int(vec![10, 20, 30]),
            ],
        };
        (b, types)
    }

    #[test]
    fn rows_round_trip_through_another_dictionary() {
        let d1 = Dict::new();
        let (b, types) = sample(&d1);
        let mut msg = Vec::new();
        encode(
            &mut msg,
            Kind::Rows,
            3,
            99,
            Some((&b, &[true, true, true, true, false], &[2, 0, 1])),
            &d1,
        );
        let d2 = Dict::new();
        let mut i2 = Interner::new(d2.clone());
        i2.intern("shifts the ids");
        let mut out = Batch::with_types(types.iter().copied(), 4);
        let h = decode(&msg, &types, &mut i2, &mut out).unwrap();
        assert_eq!(
            h,
            Header {
                kind: Kind::Rows,
                source: 3,
                max_time: 99,
                rows: 3
            }
        );
        assert_eq!(out.columns[0], Column::Int(vec![-7, 1, NULL_INT]));
        let Column::Float(f) = &out.columns[1] else {
            panic!()
        };
        assert_eq!(f[0], f64::MAX);
        assert!(crate::data::batch::is_null_float(f[2]));
        let Column::Str(s) = &out.columns[2] else {
            panic!()
        };
        assert_eq!((d2.get(s[0]), d2.get(s[1]), s[2]), ("", "héllo", NULL_STR));
        assert_eq!(out.columns[3], Column::Bool(vec![0, 1, NULL_BOOL]));
        // The column not sent holds NULL.
        assert_eq!(out.columns[4], Column::Int(vec![NULL_INT; 3]));
    }

    #[test]
    fn markers_have_no_rows() {
        let d = Dict::new();
        let mut msg = Vec::new();
        encode(&mut msg, Kind::End, 7, i64::MIN, None, &d);
        let h = header(&msg).unwrap();
        assert_eq!(
            (h.kind, h.source, h.max_time, h.rows),
            (Kind::End, 7, i64::MIN, 0)
        );
    }

    #[test]
    fn error_hostile_bytes_are_refused_never_a_panic() {
        let d = Dict::new();
        let (b, types) = sample(&d);
        let mut msg = Vec::new();
        encode(
            &mut msg,
            Kind::Rows,
            0,
            5,
            Some((&b, &[true; 5], &[0, 1, 2])),
            &d,
        );
        let mut interner = Interner::new(d.clone());
        let mut out = Batch::with_types(types.iter().copied(), 4);
        // Every truncation, and every single-byte change, decodes or fails cleanly.
        for len in 0..msg.len() {
            out.clear();
            assert!(decode(&msg[..len], &types, &mut interner, &mut out).is_err());
        }
        let mut next = crate::test_rng::xorshift(0x2545_F491_4F6C_DD1Du64);
        for _ in 0..20_000 {
            let seed = next();
            let mut m = msg.clone();
            let at = (seed % m.len() as u64) as usize;
            m[at] = (seed >> 32) as u8;
            out.clear();
            let _ = decode(&m, &types, &mut interner, &mut out);
        }
        let mut extra = msg.clone();
        extra.push(0);
        out.clear();
        assert!(
            decode(&extra, &types, &mut interner, &mut out)
                .unwrap_err()
                .contains("after the last column")
        );
        out.clear();
        assert!(
            decode(&msg, &types[..4], &mut interner, &mut out)
                .unwrap_err()
                .contains("columns")
        );
    }
}
