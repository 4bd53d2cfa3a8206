//! Reading a regular file on every core at once: no reader or cutter thread. The data after
//! the header is split into fixed byte ranges; range `k` is input block `k`, read (with
//! `FileExt::read_at`, into the core's own reusable buffer) and parsed by core `k mod N`,
//! which routes its records as a generator's core does.
//!
//! Block `k` starts at the first record end found in range `k` (block 0 at the data's start)
//! and ends at the first record end after the range, which its core finds by scanning on into
//! the next bytes (the next range's start). Record ends are `chunker::RecordEnds`'s, the places where the sequential
//! reader is certain to be between records, so the blocks tile the data and parse to exactly
//! the records (and line numbers, and malformed reports) of one sequential read.
//!
//! Where a range starts in the CSV state machine (inside a quoted field or not, at which line)
//! depends on every byte before it, so each range hands its scanner's state at its end to the
//! next range through one slot per range, set once (a `OnceLock`: a release store when set, an
//! acquire load when read; per range, never per record). The core of range `k` takes range
//! `k - 1`'s slot, scans its own range from that state — for a range without a quote (nearly
//! all) a quote search and a newline count, for others the chunker's state machine — and sets
//! its own slot before it parses. When range `k - 1`'s core has not got that far (it is busy,
//! or the OS put it aside), the core reads and scans the missing ranges itself rather than
//! wait: a scan costs a few percent of a parse, so no core ever waits for another to read.
//!
//! Blocks hold a range's worth of records, not exactly `BLOCK_ROWS`: results do not depend on
//! where blocks are cut (SPEC §3: lateness, watermarks and sessions are decided per record from
//! the maximum event time before it, `runtime::core`), and the range size is chosen so that
//! a block holds about `BLOCK_ROWS` records (`RangeFile::open`).
//!
//! Threading: a `RangeFile` is shared by every core (`Arc`); each `RangeReader` is one core's.

use super::chunker::{RecordEnds, count_newlines};
use super::text::{DataStart, TextReader};
use crate::data::{Batch, Schema};
use crate::error::{Error, Result};
use crate::sink::Format;
use std::os::unix::fs::FileExt;
use std::sync::{Arc, OnceLock};

/// The bytes a core reads past its range at first to find where its last record ends (then
/// twice as many each time, for long records).
const SPILL: usize = 4 << 10;
/// Bounds of the range size chosen from the data (`RangeFile::open`).
const MIN_RANGE: u64 = 64 << 10;
const MAX_RANGE: u64 = 16 << 20;

/// A regular file split into byte ranges, and each range's end state once scanned.
pub struct RangeFile {
    file: std::fs::File,
    name: String,
    csv: bool,
    /// File bytes before the text (a BOM): text offset `x` is file offset `x + skip`.
    skip: u64,
    /// Where the records start (text offset, line), and the text's end.
    start: DataStart,
    end: u64,
    range: u64,
    /// The scanner's state at each range's end (so at the next one's start), set by the core
    /// that scanned the range.
    ends: Vec<OnceLock<RecordEnds>>,
}

impl RangeFile {
    /// Splits the file `reader` opened, after its header, into ranges of `range` bytes (or of
    /// about `BLOCK_ROWS` records of its first bytes when `None`). `None` when the file cannot
    /// be read at offsets (it is gzipped).
    pub fn open(reader: &TextReader, range: Option<u64>) -> Result<Option<RangeFile>> {
        let name = reader.path().to_string();
        let file = std::fs::File::open(&name)
            .map_err(|e| Error::io(format!("--input {name}: cannot open"), e))?;
        let Some(skip) = super::open::plain_text_skip(&file, &name)? else {
            return Ok(None);
        };
        let len = file
            .metadata()
            .map_err(|e| Error::io(format!("--input {name}: cannot read its size"), e))?
            .len();
        let start = reader.data_start();
        let end = len.saturating_sub(skip).max(start.byte);
        let mut f = RangeFile {
            file,
            name,
            csv: reader.format() == Format::Csv,
            skip,
            start,
            end,
            range: range.unwrap_or(MIN_RANGE).max(1),
            ends: Vec::new(),
        };
        if range.is_none() {
            // About `BLOCK_ROWS` records a block (a little less, so that most blocks stay
            // within the batches' usual size), from the lines of the first 64 KiB.
            let mut head = Vec::new();
            let n = f.read_into(&mut head, 0, start.byte, 64 << 10)?;
            let lines = count_newlines(&head[..n]).max(1);
            let per_line = (n as u64).div_ceil(lines).max(1);
            let want = per_line * super::BLOCK_ROWS as u64 * 15 / 16;
            f.range = want.clamp(MIN_RANGE, MAX_RANGE).next_multiple_of(4 << 10);
        }
        let ranges = (f.end - start.byte).div_ceil(f.range);
        f.ends = (0..ranges).map(|_| OnceLock::new()).collect();
        Ok(Some(f))
    }

    /// The number of ranges (so of input blocks).
    pub fn ranges(&self) -> u64 {
        self.ends.len() as u64
    }

    /// The range size in bytes.
    pub fn range_bytes(&self) -> u64 {
        self.range
    }

    /// Range `k`'s text offsets.
    fn bounds(&self, k: u64) -> (u64, u64) {
        let from = self.start.byte + k * self.range;
        (from, (from + self.range).min(self.end))
    }

    /// Reads up to `len` bytes at text offset `at` into `buf[used..]` (growing it); returns
    /// how many, fewer only at the file's end.
    fn read_into(&self, buf: &mut Vec<u8>, used: usize, at: u64, len: usize) -> Result<usize> {
        if buf.len() < used + len {
            buf.resize(used + len, 0);
        }
        let mut got = 0;
        while got < len {
            let to = &mut buf[used + got..used + len];
            match self.file.read_at(to, self.skip + at + got as u64) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(Error::io(format!("--input {}: read failed", self.name), e));
                }
            }
        }
        Ok(got)
    }
}

/// What `RangeReader::next_block` did.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// The next block is in the batch (possibly empty).
    Block,
    /// This core has read all its ranges.
    Exhausted,
}

/// One core's reader of its ranges: `first`, `first + stride`, …
pub struct RangeReader {
    file: Arc<RangeFile>,
    next: u64,
    stride: u64,
    /// The core's buffer: its range, then the bytes after it up to its last record's end.
    /// Its length only grows (no clearing and zeroing per range); `used` bytes are valid.
    buf: Vec<u8>,
    /// Ranges of other cores scanned here (`state_before`).
    help: Vec<u8>,
    parser: Box<TextReader>,
}

impl RangeReader {
    /// The reader of ranges `first`, `first + stride`, …, parsing with `parser` (a
    /// `TextReader::chunk_parser`).
    pub fn new(file: Arc<RangeFile>, first: u64, stride: u64, parser: TextReader) -> RangeReader {
        RangeReader {
            file,
            next: first,
            stride: stride.max(1),
            buf: Vec::new(),
            help: Vec::new(),
            parser: Box::new(parser),
        }
    }

    pub fn schema(&self) -> &Schema {
        self.parser.schema()
    }

    /// The parser, for its malformed-record counts.
    pub fn parser(&self) -> &TextReader {
        &self.parser
    }

    /// The number of the block `next_block` reads next.
    pub fn next_range(&self) -> u64 {
        self.next
    }

    /// Reads, scans and parses this core's next range into `out` (appending).
    pub fn next_block(&mut self, out: &mut Batch) -> Result<Step> {
        let k = self.next;
        if k >= self.file.ranges() {
            return Ok(Step::Exhausted);
        }
        let mut scanner = self.state_before(k)?;
        let file = self.file.clone();
        let (from, to) = file.bounds(k);
        let len = (to - from) as usize;
        let got = file.read_into(&mut self.buf, 0, from, len)?;
        if got < len {
            return Err(self.shrunk());
        }
        self.next += self.stride;
        let first = scanner.advance(&self.buf[..len])?;
        let _ = file.ends[k as usize].set(scanner.clone());
        let (start, line) = match (k, first) {
            (0, _) => (0, file.start.line),
            (_, Some(first)) => first,
            // No record ends in this range: its block is empty (the record that spans it is
            // the block before's).
            (_, None) => return Ok(Step::Block),
        };
        // The block's end: the first record end after the range (or the data's end).
        let mut used = len;
        let mut at = to;
        let mut piece = SPILL;
        let end = loop {
            if at >= file.end {
                break used;
            }
            let want = piece.min((file.end - at) as usize);
            let got = file.read_into(&mut self.buf, used, at, want)?;
            if got < want {
                return Err(self.shrunk());
            }
            let mut found = None;
            scanner.scan(&self.buf[used..used + got], |cut, _| {
                found = Some(cut);
                Ok(false)
            })?;
            if let Some(cut) = found {
                break used + cut;
            }
            used += got;
            at += got as u64;
            piece *= 2;
        };
        self.parser
            .load_range(std::mem::take(&mut self.buf), start..end, line);
        let parsed = self.parser.read_block(out, usize::MAX);
        self.buf = self.parser.unload();
        parsed.map(|_| Step::Block)
    }

    /// The scanner's state at range `k`'s start: range `k - 1`'s slot, or, when the core of
    /// that range has not scanned it yet (busy, or put aside by the OS), scanned here from the
    /// last range whose state is known (its slots set on the way). Reading and scanning a range
    /// costs a few percent of parsing it, so a core never waits for another.
    fn state_before(&mut self, k: u64) -> Result<RecordEnds> {
        let file = self.file.clone();
        let known = |r: u64| -> Option<RecordEnds> {
            match r {
                0 => Some(RecordEnds::new(file.csv, file.start.line)),
                r => file.ends[r as usize - 1].get().cloned(),
            }
        };
        if let Some(s) = known(k) {
            return Ok(s);
        }
        let mut first = k - 1;
        while known(first).is_none() {
            first -= 1;
        }
        let mut scanner = known(first).expect("found above");
        for r in first..k {
            let (from, to) = file.bounds(r);
            let len = (to - from) as usize;
            let got = file.read_into(&mut self.help, 0, from, len)?;
            if got < len {
                return Err(self.shrunk());
            }
            scanner.advance(&self.help[..len])?;
            let _ = file.ends[r as usize].set(scanner.clone());
        }
        Ok(scanner)
    }

    /// The file is shorter than when the run began.
    fn shrunk(&self) -> Error {
        Error::Input(format!(
            "--input {}: the file shrank while it was read",
            self.file.name
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Dict;
    use crate::source::text::OnError;

    /// Every record of `path` as text rows (with their count of malformed records and the
    /// first examples), read sequentially, or by `cores` range readers taking turns over
    /// ranges of `range` bytes (in block order, as the shards consume them).
    fn read(
        path: &str,
        ranges: Option<(u64, u64)>,
    ) -> (Vec<String>, u64, Vec<crate::source::text::Malformed>) {
        let dict = Dict::new();
        let mut reader = TextReader::open(path, None, dict.clone(), OnError::Skip).unwrap();
        let mut batches = Vec::new();
        let mut malformed = 0;
        let mut examples = Vec::new();
        match ranges {
            None => loop {
                let mut b = Batch::new(reader.schema(), 0);
                if reader.read_block(&mut b, 1000).unwrap() == 0 {
                    malformed = reader.malformed;
                    examples = reader.examples.clone();
                    break;
                }
                batches.push(b);
            },
            Some((range, cores)) => {
                let file = Arc::new(RangeFile::open(&reader, Some(range)).unwrap().unwrap());
                let mut readers: Vec<RangeReader> = (0..cores)
                    .map(|c| RangeReader::new(file.clone(), c, cores, reader.chunk_parser()))
                    .collect();
                // Each round of `cores` ranges is read last core first, so that each core
                // scans the ranges before its own that their cores have not (`state_before`).
                let mut blocks = Vec::new();
                for round in (0..file.ranges()).step_by(cores as usize) {
                    for k in (round..(round + cores).min(file.ranges())).rev() {
                        let mut b = Batch::new(reader.schema(), 0);
                        assert_eq!(
                            readers[(k % cores) as usize].next_block(&mut b).unwrap(),
                            Step::Block
                        );
                        blocks.push((k, b));
                    }
                }
                blocks.sort_by_key(|(k, _)| *k);
                batches.extend(blocks.into_iter().map(|(_, b)| b));
                for r in &mut readers {
                    let mut b = Batch::new(reader.schema(), 0);
                    assert_eq!(r.next_block(&mut b).unwrap(), Step::Exhausted);
                    malformed += r.parser().malformed;
                    examples.extend(r.parser().examples.iter().cloned());
                }
                examples.sort_by_key(|m: &crate::source::text::Malformed| m.line);
                examples.truncate(crate::source::text::EXAMPLES_KEPT);
            }
        }
        let schema = reader.schema().clone();
        let mut text = Vec::new();
        for b in &batches {
            crate::sink::encode(
                b,
                reader.format(),
                &schema,
                &dict,
                crate::sink::Timestamps::Iso,
                &mut text,
            );
        }
        let rows = String::from_utf8_lossy(&text)
            .lines()
            .map(str::to_string)
            .collect();
        (rows, malformed, examples)
    }

    struct Rng(u64);
    impl Rng {
        fn below(&mut self, n: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % n as u64) as usize
        }
    }

    /// A header, clean records for the sampled types, then hostile ones: quoted newlines,
    /// doubled quotes, stray quotes, CR / LF / CRLF endings, empty lines, long records,
    /// malformed records; or random bytes; with or without a final newline.
    fn hostile(seed: u64, csv: bool) -> Vec<u8> {
        let mut r = Rng(seed);
        let mut out = Vec::new();
        if seed % 3 == 0 {
            out.extend_from_slice(b"\xEF\xBB\xBF");
        }
        if csv {
            out.extend_from_slice(b"id,name,v\n");
            for id in 0..30 {
                out.extend_from_slice(format!("{id},n{},{id}.5\n", id % 3).as_bytes());
            }
        } else {
            for id in 0..30 {
                out.extend_from_slice(
                    format!("{{\"id\":{id},\"name\":\"n{}\",\"v\":{id}.5}}\n", id % 3).as_bytes(),
                );
            }
        }
        let records = 300 + r.below(900);
        for id in 30..records {
            let v = r.below(100);
            let long = "x".repeat(r.below(600));
            let line: Vec<u8> = if csv {
                match r.below(24) {
                    0 => format!("{id},TV 55\" screen,{v}\n").into_bytes(),
                    1 => format!("{id},\"line one\nline two\",{v}\n").into_bytes(),
                    2 => format!("{id},\"say \"\"hi\"\"\",{v}\r\n").into_bytes(),
                    3 => format!("{id},a,{v}\r").into_bytes(),
                    4 => b"\n".to_vec(),
                    5 => b"\r\n".to_vec(),
                    6 => format!("{id},only-two\n").into_bytes(),
                    7 => format!("{id},\"open,{v}\n").into_bytes(),
                    8 => format!("{id},\"{long}\n{long}\",{v}\n").into_bytes(),
                    9 => format!("{id},{long},{v}\n").into_bytes(),
                    10 => format!("{id},x\"\n\"y,{v}\n").into_bytes(),
                    11 => format!("{id},b,abc\n").into_bytes(),
                    12 => (0..r.below(40))
                        .map(|_| b"\"\",\n\r a1"[r.below(8)])
                        .collect(),
                    _ => format!("{id},n{},{v}.25\n", v % 5).into_bytes(),
                }
            } else {
                match r.below(16) {
                    0 => b"\n".to_vec(),
                    1 => b"  \r\n".to_vec(),
                    2 => format!("{{\"id\":{id},\"name\":").into_bytes(),
                    3 => format!("{{\"id\":{id},\"name\":\"{long}\",\"v\":{v}}}\n").into_bytes(),
                    4 => format!("{{\"id\":{id},\"name\":\"a\\nb\",\"v\":{v}}}\r\n").into_bytes(),
                    5 => b"[1]\n".to_vec(),
                    _ => {
                        format!("{{\"id\":{id},\"name\":\"n{}\",\"v\":{v}}}\n", v % 5).into_bytes()
                    }
                }
            };
            out.extend_from_slice(&line);
        }
        if r.below(2) == 0 {
            while out.last().is_some_and(|b| matches!(b, b'\n' | b'\r')) {
                out.pop();
            }
        }
        out
    }

    /// Differential: reading a hostile file by byte ranges — of 1 to 700 bytes, so range
    /// boundaries fall inside quoted fields, between CR and LF, inside long records and empty
    /// lines — on 1 to 3 cores gives exactly the records, order, malformed count and first
    /// examples (with their lines) of the sequential reader.
    #[test]
    fn differential_ranges_read_as_the_sequential_reader_on_hostile_files() {
        let dir = std::env::temp_dir().join(format!("shardsql-ranges-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for seed in 1..40u64 {
            for csv in [true, false] {
                let path = dir.join(if csv { "t.csv" } else { "t.jsonl" });
                let path = path.to_str().unwrap();
                std::fs::write(path, hostile(seed, csv)).unwrap();
                let want = read(path, None);
                for range in [1, 2, 3, 7, 64, 333, 700, 1 << 20] {
                    for cores in [1, 2, 3] {
                        let got = read(path, Some((range, cores)));
                        assert!(
                            got == want,
                            "seed {seed}, csv {csv}, range {range}, {cores} cores: {:?} vs {:?}",
                            (got.0.len(), got.1, &got.2),
                            (want.0.len(), want.1, &want.2)
                        );
                    }
                }
            }
        }
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn an_empty_file_after_its_header_has_no_ranges() {
        let dir = std::env::temp_dir().join(format!("shardsql-ranges-e-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("e.csv");
        std::fs::write(&path, "a,b\n").unwrap();
        let reader = TextReader::open(path.to_str().unwrap(), None, Dict::new(), OnError::Skip);
        // A header alone: the types come from no records; either way no range is read.
        if let Ok(reader) = reader {
            let file = RangeFile::open(&reader, None).unwrap().unwrap();
            assert_eq!(file.ranges(), 0);
        }
        std::fs::remove_dir_all(&dir).ok();
    }
}
