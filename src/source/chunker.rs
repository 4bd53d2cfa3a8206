//! Parallel parsing of a text file. One thread only cuts the raw bytes into chunks of whole
//! records and deals chunk k to core k mod N; each core parses its chunks with its own interner
//! (`TextReader::chunk_parser`). Cutting is a `memchr` scan, far cheaper than parsing (`perf
//! record`, GROUP BY over a 5M-record CSV on 2 cores: the cutter thread ~7% of samples, the
//! cores' parsing ~90%), but on a 2-CPU host that thread competes with both parsers (~16% of
//! the CPU with its reads and ring waits), so a regular file is now read by the cores
//! themselves (`source::ranges`, which finds the same cuts with `RecordEnds::advance`); the
//! cutter remains for gzip, `--rate`, checkpoints and followed files. Chunk k is input block k, which
//! keeps the shards' block-order consumption (and so per-key order and lateness) exactly as with
//! one parser. Each chunk carries the line its first record starts on, so malformed-record
//! reports keep their exact line numbers.
//!
//! A chunk ends only where the sequential reader is certain to be between records, so every
//! core count reads the same records whatever the bytes. A JSON line ends at every newline (the
//! JSON reader splits there too). For CSV the cutter runs the very state machine of the CSV
//! parser (`csv_core` with `,`, `"`, doubled quotes and CR/LF/CRLF terminators), looking only at
//! quotes and newlines: a quote opens a quoted field only as a field's first byte (after `,`,
//! `\r`, `\n` or at a record's start; elsewhere it is a literal byte, as in `TV 55" screen`);
//! inside a quoted field a quote either doubles (`""`) or closes the field; a newline outside a
//! quoted field ends a record. The cutter starts where the reader's header ended (a byte offset
//! the reader reports), so it never has to recognise a header itself.

use crate::error::{Error, Result};
use std::io::Read;

/// Whole records of the input, starting at line `first_line` (1-based).
pub struct Chunk {
    pub bytes: Vec<u8>,
    pub first_line: u64,
}

/// Where the CSV state machine is, as far as record boundaries care.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Quoting {
    /// Not in a quoted field (a record's or field's start, or an unquoted field).
    Outside,
    /// Inside a quoted field: delimiters and newlines are data.
    Inside,
    /// Just read a quote inside a quoted field, at this absolute offset: the next byte decides
    /// whether it was a doubled quote (another quote) or the field's end (anything else).
    QuoteAt(u64),
}

/// The CSV parser's state at record boundaries, fed only the quotes and newlines of the input.
#[derive(Clone, Debug)]
struct CsvBoundaries {
    quoting: Quoting,
    /// Whether the record being read has a byte besides CR and LF: a newline after nothing
    /// else is an empty line, which the parser skips as part of the next record's read (and
    /// counts in that record's line), so a chunk never starts after one.
    content: bool,
    /// The offset just past the previous quote or newline (bytes from there up to the next
    /// hit are neither).
    after_hit: u64,
    /// The byte before the current buffer (a newline stands for "a record starts here").
    prev: u8,
    /// The absolute offset of the current buffer's first byte.
    base: u64,
}

impl CsvBoundaries {
    /// Takes the quote or newline at `data[i]`; true when it is a newline that ends a record.
    fn ends_record(&mut self, data: &[u8], i: usize) -> bool {
        let at = self.base + i as u64;
        self.saw_bytes(data, self.after_hit.saturating_sub(self.base) as usize, i);
        self.after_hit = at + 1;
        if data[i] == b'"' {
            self.content = true;
            self.quoting = match self.quoting {
                Quoting::Inside => Quoting::QuoteAt(at),
                Quoting::QuoteAt(q) if q + 1 == at => Quoting::Inside,
                // Outside, or after a quoted field closed by other bytes: a quote opens a
                // quoted field only as the field's first byte.
                _ => {
                    let before = if i == 0 { self.prev } else { data[i - 1] };
                    if matches!(before, b',' | b'\n' | b'\r') {
                        Quoting::Inside
                    } else {
                        Quoting::Outside
                    }
                }
            };
            return false;
        }
        if self.quoting == Quoting::Inside {
            return false;
        }
        self.quoting = Quoting::Outside;
        std::mem::take(&mut self.content)
    }

    /// Takes `data[from..to]`, bytes that are neither quotes nor newlines.
    fn saw_bytes(&mut self, data: &[u8], from: usize, to: usize) {
        if !self.content && from < to {
            self.content = data[from..to].iter().any(|&b| b != b'\r');
        }
    }
}

/// Finds, in a byte stream fed piece by piece, the places where a chunk of whole records may
/// end. Shared by the file cutter of parallel parsing, the live framing of pipes and the
/// cores reading byte ranges of a file (`source::ranges`, which hand its state from one range
/// to the next: it is plain data).
#[derive(Clone, Debug)]
pub struct RecordEnds {
    csv: bool,
    bounds: CsvBoundaries,
    /// The physical line of the next byte.
    line: u64,
}

impl RecordEnds {
    /// A scanner whose first byte starts a record on line `first_line`.
    pub fn new(csv: bool, first_line: u64) -> RecordEnds {
        RecordEnds {
            csv,
            bounds: CsvBoundaries {
                quoting: Quoting::Outside,
                content: false,
                after_hit: 0,
                prev: b'\n',
                base: 0,
            },
            line: first_line,
        }
    }

    /// Scans `data`, the input's next bytes, calling `end(cut, line)` at each record end: a
    /// chunk may end just before `data[cut]`, and the next chunk then starts on `line`. `end`
    /// returns `Ok(false)` to stop; then so does `scan`.
    pub fn scan(
        &mut self,
        data: &[u8],
        mut end: impl FnMut(usize, u64) -> Result<bool>,
    ) -> Result<bool> {
        if data.is_empty() {
            return Ok(true);
        }
        let bounds = &mut self.bounds;
        let hits = if self.csv {
            memchr::memchr2_iter(b'"', b'\n', data)
        } else {
            // No quote byte can match twice: a JSON line ends at every newline.
            memchr::memchr2_iter(b'\n', b'\n', data)
        };
        for i in hits {
            let newline = data[i] == b'\n';
            self.line += newline as u64;
            let ends = if self.csv {
                bounds.ends_record(data, i)
            } else {
                newline
            };
            if !ends {
                continue;
            }
            // After a CRLF the cut goes between CR (which ended the record) and LF (which the
            // parser skips as the next read's first byte, counting its line there): the next
            // chunk then numbers its lines exactly as the sequential reader does.
            let crlf = self.csv && (if i == 0 { bounds.prev } else { data[i - 1] }) == b'\r';
            let cut = if crlf { i } else { i + 1 };
            if !end(cut, self.line - crlf as u64)? {
                return Ok(false);
            }
        }
        let n = data.len();
        let tail = bounds.after_hit.saturating_sub(bounds.base) as usize;
        bounds.saw_bytes(data, tail, n);
        bounds.after_hit = bounds.base + n as u64;
        bounds.prev = data[n - 1];
        bounds.base += n as u64;
        Ok(true)
    }

    /// Whether `rest`, the bytes after the last record end at end of input, holds a record
    /// the reader would see: for CSV anything but empty lines (CR and LF alone make no record),
    /// for JSON anything but blanks.
    pub fn is_record(&self, rest: &[u8]) -> bool {
        !rest.iter().all(|b| {
            if self.csv {
                matches!(b, b'\r' | b'\n')
            } else {
                b.is_ascii_whitespace()
            }
        })
    }

    /// The line of the next byte to scan.
    pub fn line(&self) -> u64 {
        self.line
    }

    /// Scans `data`, the input's next bytes, as `scan` does, and counts its record ends,
    /// calling `found(cut, line)` (as `scan` reports them) for the ends numbered `first`,
    /// `first + every`, … (from 0 in `data`); leaves the scanner at the end of `data`. Where
    /// nothing before `data` leaves a quoted field open and `data` holds no quote and no empty
    /// line (nearly every range of a real file), every newline ends a record (the first one
    /// maybe not), so this costs a few vectorised searches and a newline count, plus a walk
    /// over the newlines only up to the last end asked for.
    pub fn advance(
        &mut self,
        data: &[u8],
        first: u64,
        every: u64,
        mut found: impl FnMut(usize, u64),
    ) -> Result<u64> {
        let csv = self.csv;
        // No quote and no newline followed by a CR or LF. A file with LF line ends has no CR
        // either, so one pass looks for both, and the search for `\n\r` runs only after a CR.
        let plain = !csv
            || (self.bounds.quoting != Quoting::Inside
                && memchr::memmem::find(data, b"\n\n").is_none()
                && memchr::memchr2(b'"', b'\r', data).is_none_or(|i| {
                    data[i] == b'\r'
                        && memchr::memchr(b'"', &data[i..]).is_none()
                        && memchr::memmem::find(data, b"\n\r").is_none()
                }));
        if !plain || data.is_empty() {
            let (mut n, mut next) = (0u64, first);
            self.scan(data, |cut, line| {
                if n == next {
                    found(cut, line);
                    next += every.max(1);
                }
                n += 1;
                Ok(true)
            })?;
            return Ok(n);
        }
        let b = &mut self.bounds;
        debug_assert_eq!(b.after_hit, b.base, "a scan ends at its buffer's end");
        let newlines = count_newlines(data);
        // The first newline ends no record when only CRs came since the last record end.
        let skip_first = csv
            && !b.content
            && memchr::memchr(b'\n', data).is_some_and(|i| data[..i].iter().all(|&c| c == b'\r'));
        let ends = newlines - skip_first as u64;
        if first < ends {
            // `want`: the wanted end's newline, counted from 0 in `data`.
            let mut want = first + skip_first as u64;
            // The newlines before `from` are `next_hit`.
            let (mut from, mut next_hit) = (0usize, 0u64);
            while want < newlines {
                let i = nth_newline(data, from, want - next_hit);
                (from, next_hit) = (i + 1, want + 1);
                let before = if i == 0 { b.prev } else { data[i - 1] };
                let crlf = csv && before == b'\r';
                found(
                    if crlf { i } else { i + 1 },
                    self.line + want + 1 - crlf as u64,
                );
                want += every.max(1);
            }
        }
        self.line += newlines;
        if csv {
            match memchr::memrchr(b'\n', data) {
                Some(last) => {
                    b.content = data[last + 1..].iter().any(|&c| c != b'\r');
                    b.quoting = Quoting::Outside;
                }
                None if !b.content => b.content = data.iter().any(|&c| c != b'\r'),
                None => {}
            }
        }
        let n = data.len();
        b.after_hit = b.base + n as u64;
        b.prev = data[n - 1];
        b.base += n as u64;
        Ok(ends)
    }
}

/// The offset of the `n`-th newline (from 0) at or after `data[from]`, which must exist: whole
/// 4 KiB pieces are skipped by counting (at memory speed), the last one walked.
fn nth_newline(data: &[u8], mut from: usize, mut n: u64) -> usize {
    const PIECE: usize = 4 << 10;
    loop {
        let to = (from + PIECE).min(data.len());
        let c = count_newlines(&data[from..to]);
        if c > n {
            break;
        }
        n -= c;
        from = to;
    }
    from + memchr::memchr_iter(b'\n', &data[from..])
        .nth(n as usize)
        .expect("fewer newlines than counted")
}

/// The newlines in `data` (`memchr`'s counting iterator: vectorised, ~40 GB/s on cached
/// bytes however dense the newlines, against ~3 GB/s for a plain filtered count).
pub fn count_newlines(data: &[u8]) -> u64 {
    memchr::memchr_iter(b'\n', data).count() as u64
}

/// Cuts `input` — whose first byte starts a record on line `first_line` — into chunks of at
/// most `records` records and hands each to `deal`, which returns `Ok(false)` to stop early.
/// `csv` makes quotes matter. `name` names the input in read errors.
pub fn cut(
    mut input: impl Read,
    name: &str,
    csv: bool,
    first_line: u64,
    records: usize,
    mut deal: impl FnMut(Chunk) -> Result<bool>,
) -> Result<()> {
    let mut buf = vec![0u8; 1 << 20];
    let mut chunk: Vec<u8> = Vec::new();
    let mut ends = RecordEnds::new(csv, first_line);
    let mut chunk_line = first_line;
    let mut count = 0usize;
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::io(format!("--input {name}: read failed"), e)),
        };
        let data = &buf[..n];
        let mut start = 0;
        let more = ends.scan(data, |cut, line| {
            count += 1;
            if count < records {
                return Ok(true);
            }
            chunk.extend_from_slice(&data[start..cut]);
            start = cut;
            let full = std::mem::take(&mut chunk);
            let more = deal(Chunk {
                bytes: full,
                first_line: chunk_line,
            })?;
            chunk_line = line;
            count = 0;
            Ok(more)
        })?;
        if !more {
            return Ok(());
        }
        chunk.extend_from_slice(&data[start..]);
    }
    if ends.is_record(&chunk) {
        deal(Chunk {
            bytes: chunk,
            first_line: chunk_line,
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(text: &[u8], csv: bool, records: usize) -> Vec<(Vec<u8>, u64)> {
        let mut out = Vec::new();
        cut(text, "t", csv, 2, records, |c| {
            out.push((c.bytes, c.first_line));
            Ok(true)
        })
        .unwrap();
        out
    }

    fn text_chunks(text: &str, csv: bool, records: usize) -> Vec<(String, u64)> {
        chunks(text.as_bytes(), csv, records)
            .into_iter()
            .map(|(b, l)| (String::from_utf8(b).unwrap(), l))
            .collect()
    }

    #[test]
    fn cuts_whole_records_and_keeps_line_numbers() {
        let text = "a,1\n\"b\nb\",2\nc,3\nd,4";
        assert_eq!(
            text_chunks(text, true, 2),
            vec![
                ("a,1\n\"b\nb\",2\n".to_string(), 2),
                ("c,3\nd,4".to_string(), 5)
            ]
        );
    }

    #[test]
    fn a_quote_inside_an_unquoted_field_is_a_literal_byte() {
        // The user's file: a stray quote, then a quoted field holding a newline.
        let text = "4096,TV 55\" screen,dev-1\n4097,\"line one\nline two\",dev-2\n4098,x,y\n";
        assert_eq!(
            text_chunks(text, true, 1),
            vec![
                ("4096,TV 55\" screen,dev-1\n".to_string(), 2),
                ("4097,\"line one\nline two\",dev-2\n".to_string(), 3),
                ("4098,x,y\n".to_string(), 5),
            ]
        );
    }

    #[test]
    fn doubled_quotes_closing_quotes_and_cr_terminators() {
        let text = "\"a\"\"\n\",1\n\"b\"x\"\n2\n3\r\"c\nc\"\n";
        assert_eq!(
            text_chunks(text, true, 1),
            vec![
                ("\"a\"\"\n\",1\n".to_string(), 2),
                ("\"b\"x\"\n".to_string(), 4),
                ("2\n".to_string(), 5),
                ("3\r\"c\nc\"\n".to_string(), 6),
            ]
        );
    }

    #[test]
    fn empty_lines_never_end_a_chunk_but_a_blank_record_does() {
        assert_eq!(text_chunks("a\n\r\n", true, 1).len(), 1);
        assert_eq!(text_chunks("\n\na\nb\n", true, 1).len(), 2);
        assert_eq!(text_chunks("a\n \n", true, 1).len(), 2);
        // JSON lines number every line themselves: a blank one may end a chunk.
        assert_eq!(text_chunks("{}\n \n{}", false, 1).len(), 3);
    }

    #[test]
    fn json_lines_cut_at_every_newline_and_any_buffer_boundary() {
        let text: String = (0..10_000).map(|i| format!("{{\"v\":{i}}}\n")).collect();
        let got = text_chunks(&text, false, 4096);
        assert_eq!(got.len(), 3);
        assert_eq!(
            got.iter().map(|c| c.1).collect::<Vec<_>>(),
            vec![2, 4098, 8194]
        );
        let joined: String = got.iter().map(|c| c.0.as_str()).collect();
        assert_eq!(joined, text);
    }

    /// Differential: `advance` over each piece of random bytes counts the record ends `scan`
    /// finds in it and reports the ones asked for, and leaves the scanner in `scan`'s state,
    /// whatever the pieces.
    #[test]
    fn differential_advance_finds_what_scan_finds_on_random_pieces() {
        let alphabet = b"\"\",\n\r ab\n\n\r,,xyz";
        let mut rng = crate::test_rng::xorshift(0x9E37_79B9_7F4A_7C15u64);
        let mut next = move |n: usize| (rng() % n as u64) as usize;
        for case in 0..20_000 {
            let len = 1 + next(200);
            // Some cases without quotes or empty lines, so the fast path is taken often.
            let plain = case % 3 == 0;
            let mut text: Vec<u8> = Vec::new();
            while text.len() < len {
                let b = alphabet[next(alphabet.len())];
                let empty_line = text.last() == Some(&b'\n') && matches!(b, b'\n' | b'\r');
                if !plain || (b != b'"' && !empty_line) {
                    text.push(b);
                }
            }
            for csv in [true, false] {
                let mut slow = RecordEnds::new(csv, 2);
                let mut fast = RecordEnds::new(csv, 2);
                let mut at = 0;
                while at < text.len() {
                    let piece = &text[at..(at + 1 + next(60)).min(text.len())];
                    at += piece.len();
                    let (first, every) = (next(4) as u64, 1 + next(3) as u64);
                    let mut all = Vec::new();
                    slow.scan(piece, |cut, line| {
                        all.push((cut, line));
                        Ok(true)
                    })
                    .unwrap();
                    let want: Vec<_> = all
                        .iter()
                        .copied()
                        .skip(first as usize)
                        .step_by(every as usize)
                        .collect();
                    let mut got = Vec::new();
                    let n = fast
                        .advance(piece, first, every, |cut, line| got.push((cut, line)))
                        .unwrap();
                    assert_eq!(
                        n,
                        all.len() as u64,
                        "csv {csv}, input {text:?}, piece to {at}"
                    );
                    assert_eq!(got, want, "csv {csv}, input {text:?}, piece ending at {at}");
                    assert_eq!(fast.line(), slow.line());
                    if csv {
                        assert_eq!(format!("{fast:?}"), format!("{slow:?}"), "input {text:?}");
                    }
                }
            }
        }
    }

    /// Differential: parsing the chunks one by one gives exactly the records (fields and
    /// lines) that parsing the whole input gives, on random bytes rich in quotes, commas, CR
    /// and LF, whatever the chunk size.
    #[test]
    fn differential_chunks_parse_as_the_whole_on_random_bytes() {
        fn records(bytes: &[u8], first_line: u64) -> Vec<(u64, Vec<Vec<u8>>)> {
            let mut r = csv::ReaderBuilder::new()
                .has_headers(false)
                .flexible(true)
                .from_reader(bytes);
            let mut out = Vec::new();
            let mut rec = csv::ByteRecord::new();
            while r.read_byte_record(&mut rec).unwrap() {
                let line = rec.position().unwrap().line() + first_line - 1;
                out.push((line, rec.iter().map(<[u8]>::to_vec).collect()));
            }
            out
        }
        let alphabet = b"\"\",\n\r ab\"\n\xff";
        let mut next = crate::test_rng::xorshift(0x2545_F491_4F6C_DD1Du64);
        for case in 0..3000 {
            let len = 1 + case % 97;
            let text: Vec<u8> = (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect();
            let whole = records(&text, 2);
            for size in [1, 2, 3] {
                let got: Vec<_> = chunks(&text, true, size)
                    .iter()
                    .flat_map(|(b, line)| records(b, *line))
                    .collect();
                assert_eq!(got, whole, "input {:?}, {size} records per chunk", text);
            }
        }
    }
}
