//! How a Kafka message becomes one line of text for the text parser: the metadata columns
//! the query names (`kafka_partition`, `kafka_offset`, `kafka_timestamp`, `kafka_key`) lead
//! it, then the value (a JSON object's fields inside the same object, or a CSV record), with
//! raw CR / LF turned into spaces. Called by the reader thread for every message: appends to
//! a reused buffer, allocates nothing of its own.

use crate::data::DataType;
use rdkafka::message::Message;

/// The metadata columns, in the order they lead a row.
pub(crate) const META: [(&str, DataType); 4] = [
    ("kafka_partition", DataType::Int),
    ("kafka_offset", DataType::Int),
    ("kafka_timestamp", DataType::Timestamp),
    ("kafka_key", DataType::Str),
];

/// Whether `text` names `word` as a whole identifier (case-insensitive).
pub(crate) fn names(text: &str, word: &str) -> bool {
    let t = text.to_ascii_lowercase();
    let ident = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    t.match_indices(word).any(|(i, _)| {
        !ident(t[..i].chars().next_back()) && !ident(t[i + word.len()..].chars().next())
    })
}

/// How a message becomes a line: JSON or CSV, and which metadata columns lead it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LineFormat {
    pub json: bool,
    pub meta: [bool; 4],
}

impl LineFormat {
    /// Appends one message as one line: the metadata columns the query uses, then the value
    /// with raw CR / LF turned into spaces.
    #[inline]
    pub(crate) fn append_line(&self, out: &mut Vec<u8>, m: &impl Message, value: &[u8]) {
        let json = self.json;
        let mut value = value;
        while let [rest @ .., b'\n' | b'\r'] = value {
            value = rest;
        }
        if self.meta.iter().any(|&m| m) {
            let mut ib = itoa::Buffer::new();
            let mut first = true;
            let mut sep = |out: &mut Vec<u8>, name: &str| {
                if json {
                    out.extend_from_slice(if first { b"{\"" } else { b",\"" });
                    out.extend_from_slice(name.as_bytes());
                    out.extend_from_slice(b"\":");
                } else if !first {
                    out.push(b',');
                }
                first = false;
            };
            if self.meta[0] {
                sep(out, META[0].0);
                out.extend_from_slice(ib.format(m.partition()).as_bytes());
            }
            if self.meta[1] {
                sep(out, META[1].0);
                out.extend_from_slice(ib.format(m.offset()).as_bytes());
            }
            if self.meta[2] {
                sep(out, META[2].0);
                match m.timestamp().to_millis() {
                    Some(t) => out.extend_from_slice(ib.format(t).as_bytes()),
                    None if json => out.extend_from_slice(b"null"),
                    None => {}
                }
            }
            if self.meta[3] {
                sep(out, META[3].0);
                match m.key().map(std::str::from_utf8) {
                    Some(Ok(k)) if json => {
                        serde_json::to_writer(&mut *out, k).expect("write to a Vec")
                    }
                    Some(Ok(k)) => {
                        out.push(b'"');
                        for &b in k.as_bytes() {
                            match b {
                                b'"' => out.extend_from_slice(b"\"\""),
                                b'\n' | b'\r' => out.push(b' '),
                                b => out.push(b),
                            }
                        }
                        out.push(b'"');
                    }
                    _ if json => out.extend_from_slice(b"null"),
                    _ => {}
                }
            }
            if json {
                // The value's own fields follow inside the same object.
                let trimmed = value.trim_ascii_start();
                match trimmed.strip_prefix(b"{") {
                    Some(rest) if rest.trim_ascii_start().starts_with(b"}") => {
                        value = rest.trim_ascii_start()
                    }
                    Some(rest) => {
                        out.push(b',');
                        value = rest;
                    }
                    // Not an object: left as it is, the line is malformed.
                    None => out.push(b','),
                }
            } else {
                out.push(b',');
            }
        }
        let mut at = out.len();
        out.extend_from_slice(value);
        // Values rarely hold a raw CR or LF: find them with memchr, not byte by byte.
        while let Some(i) = memchr::memchr2(b'\n', b'\r', &out[at..]) {
            out[at + i] = b' ';
            at += i + 1;
        }
        out.push(b'\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(json: bool, meta: [bool; 4], key: Option<&str>, value: &str) -> String {
        use rdkafka::message::{OwnedMessage, Timestamp};
        let m = OwnedMessage::new(
            Some(value.as_bytes().to_vec()),
            key.map(|k| k.as_bytes().to_vec()),
            "t".into(),
            Timestamp::CreateTime(1_700_000_000_000),
            2,
            17,
            None,
        );
        let mut out = Vec::new();
        LineFormat { json, meta }.append_line(&mut out, &m, m.payload().unwrap());
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn a_message_becomes_one_line_with_its_metadata_first() {
        let all = [true; 4];
        assert_eq!(
            line(true, [false; 4], None, "{\"a\":\n1}\r\n"),
            "{\"a\": 1}\n"
        );
        assert_eq!(
            line(true, all, Some("k\"1"), " {\"a\":1}"),
            "{\"kafka_partition\":2,\"kafka_offset\":17,\"kafka_timestamp\":1700000000000,\
             \"kafka_key\":\"k\\\"1\",\"a\":1}\n"
        );
        assert_eq!(
            line(true, [false, true, false, true], None, "{ }"),
            "{\"kafka_offset\":17,\"kafka_key\":null}\n"
        );
        // Not an object: the line stays malformed.
        assert_eq!(
            line(true, [false, true, false, false], None, "[1]"),
            "{\"kafka_offset\":17,[1]\n"
        );
        assert_eq!(
            line(false, [true, false, false, true], Some("a\"b"), "1,x\n"),
            "2,\"a\"\"b\",1,x\n"
        );
        assert_eq!(line(false, [false; 4], None, "1,\"x\ny\""), "1,\"x y\"\n");
    }

    #[test]
    fn metadata_columns_are_found_as_whole_identifiers() {
        assert!(names("SELECT kafka_offset, x FROM t", "kafka_offset"));
        assert!(names("select KAFKA_KEY from t", "kafka_key"));
        assert!(!names("SELECT kafka_offsets FROM t", "kafka_offset"));
        assert!(!names("SELECT my_kafka_key FROM t", "kafka_key"));
    }
}
