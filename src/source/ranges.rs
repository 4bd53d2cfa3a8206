//! Reading a regular file on every core at once: no reader or cutter thread. Input block `k`
//! is records `[k·B, (k+1)·B)` of the file (`B` = `BLOCK_ROWS`), exactly as the cutter thread
//! and the one-core reader cut them, and core `k mod N` reads its bytes (with
//! `FileExt::read_at`, into its own reusable buffer), parses and routes them. Blocks must be
//! cut at the same records whatever reads them: results do not depend on the cut as values,
//! but floating-point sums do in their last bits (a block's partial sum is one addend of the
//! final sum), and exactly-once outputs compare text.
//!
//! Where block `k` starts needs the number of records before each byte, which depends on every
//! byte before it (a quoted newline is no record end). So the file is also split into fixed
//! byte ranges, each scanned once, in order, by whichever core first needs it: its record
//! ends counted from the scanner state the range before left (`chunker::RecordEnds`, the very
//! record ends of the sequential reader), and the byte offsets and lines of the blocks that
//! start in it noted. A range's result goes into its slot, set once (a `OnceLock`: a release
//! store when set, an acquire load when read; per range, never per record). A core about to
//! read block `k` makes sure the ranges up to block `k + 1`'s start are scanned — scanning the
//! next ones itself if no core has yet, rather than waiting (two cores may scan one range at
//! once; both find the same) — then reads the block's bytes and parses them. A range without
//! a quote or empty line (nearly all) is scanned with a few vectorised searches and a newline
//! count, so scanning costs a few percent of parsing.
//!
//! Threading: a `RangeFile` is shared by every core (`Arc`); each `RangeReader` is one core's.

use super::chunker::RecordEnds;
use super::text::{DataStart, TextReader};
use crate::data::{Batch, Schema};
use crate::error::{Error, Result};
use crate::sink::Format;
use std::os::unix::fs::FileExt;
use std::sync::{Arc, OnceLock};

/// The default range size: large enough that a scan is a few long vectorised passes, small
/// enough that the scan runs barely ahead of the blocks read.
const RANGE: u64 = 1 << 20;

/// A range once scanned.
struct Scanned {
    /// The scanner's state at the range's end (so at the next one's start).
    state: RecordEnds,
    /// Record ends before the range's end.
    records: u64,
    /// The first block that starts in the range, and where each block starting in it starts
    /// (text offset, line).
    first_block: u64,
    starts: Vec<(u64, u64)>,
}

/// A regular file split into byte ranges, and what each range's scan found.
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
    /// Records per block.
    block: u64,
    ranges: Vec<OnceLock<Scanned>>,
}

impl RangeFile {
    /// Splits the file `reader` opened, after its header, into ranges of `range` bytes (1 MiB
    /// when `None`). `None` when the file cannot be read at offsets (it is gzipped).
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
        let range = range.unwrap_or(RANGE).max(1);
        let ranges = (end - start.byte).div_ceil(range);
        Ok(Some(RangeFile {
            file,
            name,
            csv: reader.format() == Format::Csv,
            skip,
            start,
            end,
            range,
            block: super::BLOCK_ROWS as u64,
            ranges: (0..ranges).map(|_| OnceLock::new()).collect(),
        }))
    }

    /// Range `r`'s text offsets.
    fn bounds(&self, r: u64) -> (u64, u64) {
        let from = self.start.byte + r * self.range;
        (from, (from + self.range).min(self.end))
    }

    /// Reads up to `len` bytes at text offset `at` into `buf[..len]` (growing it, never
    /// shrinking: no zeroing per read); returns how many, fewer only at the file's end.
    fn read_into(&self, buf: &mut Vec<u8>, at: u64, len: usize) -> Result<usize> {
        if buf.len() < len {
            buf.resize(len, 0);
        }
        let mut got = 0;
        while got < len {
            match self
                .file
                .read_at(&mut buf[got..len], self.skip + at + got as u64)
            {
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

    /// The file is shorter than when the run began.
    fn shrunk(&self) -> Error {
        Error::Input(format!(
            "--input {}: the file shrank while it was read",
            self.name
        ))
    }
}

/// What `RangeReader::next_block` did.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// The next block is in the batch.
    Block,
    /// This core has read all its blocks.
    Exhausted,
}

/// One core's reader of its blocks: `first`, `first + stride`, …
pub struct RangeReader {
    file: Arc<RangeFile>,
    next: u64,
    stride: u64,
    /// The first range not known to be scanned (every one before it is).
    cursor: u64,
    /// The block's bytes, and a range's for a scan. Their lengths only grow.
    buf: Vec<u8>,
    scan_buf: Vec<u8>,
    parser: Box<TextReader>,
}

impl RangeReader {
    /// The reader of blocks `first`, `first + stride`, …, parsing with `parser` (a
    /// `TextReader::chunk_parser`).
    pub fn new(file: Arc<RangeFile>, first: u64, stride: u64, parser: TextReader) -> RangeReader {
        RangeReader {
            file,
            next: first,
            stride: stride.max(1),
            cursor: 0,
            buf: Vec::new(),
            scan_buf: Vec::new(),
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

    /// Reads and parses this core's next block into `out` (appending).
    pub fn next_block(&mut self, out: &mut Batch) -> Result<Step> {
        let k = self.next;
        let file = self.file.clone();
        let Some((from, line)) = self.block_start(k)? else {
            return Ok(Step::Exhausted);
        };
        if from >= file.end {
            return Ok(Step::Exhausted);
        }
        let to = self.block_start(k + 1)?.map_or(file.end, |(at, _)| at);
        let len = (to - from) as usize;
        if file.read_into(&mut self.buf, from, len)? < len {
            return Err(file.shrunk());
        }
        self.next += self.stride;
        self.parser
            .load_range(std::mem::take(&mut self.buf), 0..len, line);
        let parsed = self.parser.read_block(out, usize::MAX);
        self.buf = self.parser.unload();
        parsed.map(|_| Step::Block)
    }

    /// Where block `k` starts (text offset, line), scanning ranges as far as needed; `None`
    /// when the file holds fewer than `k` blocks' records.
    fn block_start(&mut self, k: u64) -> Result<Option<(u64, u64)>> {
        let file = self.file.clone();
        if k == 0 {
            return Ok(Some((file.start.byte, file.start.line)));
        }
        let wanted = k * file.block;
        loop {
            let Some(slot) = file.ranges.get(self.cursor as usize) else {
                return Ok(None);
            };
            match slot.get() {
                Some(s) if s.records >= wanted => {
                    let at = s.starts[(k - s.first_block) as usize];
                    return Ok(Some(at));
                }
                Some(_) => self.cursor += 1,
                None => self.scan(self.cursor)?,
            }
        }
    }

    /// Scans range `r` (every range before it is scanned) and sets its slot.
    fn scan(&mut self, r: u64) -> Result<()> {
        let file = self.file.clone();
        let (mut state, before) = match r {
            0 => (RecordEnds::new(file.csv, file.start.line), 0),
            r => {
                let s = file.ranges[r as usize - 1].get().expect("scanned in order");
                (s.state.clone(), s.records)
            }
        };
        let (from, to) = file.bounds(r);
        let len = (to - from) as usize;
        if file.read_into(&mut self.scan_buf, from, len)? < len {
            return Err(file.shrunk());
        }
        // The first block starting here starts after record end number `first_block · B`.
        let first_block = before / file.block + 1;
        let mut starts = Vec::new();
        let ends = state.advance(
            &self.scan_buf[..len],
            first_block * file.block - before - 1,
            file.block,
            |cut, line| starts.push((from + cut as u64, line)),
        )?;
        let _ = file.ranges[r as usize].set(Scanned {
            state,
            records: before + ends,
            first_block,
            starts,
        });
        Ok(())
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
        ranges: Option<(u64, u64, u64)>,
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
            Some((range, cores, block)) => {
                let mut file = RangeFile::open(&reader, Some(range)).unwrap().unwrap();
                file.block = block;
                let file = Arc::new(file);
                let mut readers: Vec<RangeReader> = (0..cores)
                    .map(|c| RangeReader::new(file.clone(), c, cores, reader.chunk_parser()))
                    .collect();
                // Each round of `cores` blocks is read last core first, so that cores find
                // ranges scanned by others and scan ranges others will need.
                let mut blocks = Vec::new();
                let mut done = vec![false; cores as usize];
                let mut round = 0;
                while done.iter().any(|d| !d) {
                    for c in (0..cores).rev() {
                        if done[c as usize] {
                            continue;
                        }
                        let mut b = Batch::new(reader.schema(), 0);
                        match readers[c as usize].next_block(&mut b).unwrap() {
                            Step::Block => blocks.push((round * cores + c, b)),
                            Step::Exhausted => done[c as usize] = true,
                        }
                    }
                    round += 1;
                }
                blocks.sort_by_key(|(k, _)| *k);
                assert!(
                    blocks.iter().enumerate().all(|(i, (k, _))| i as u64 == *k),
                    "blocks are numbered without gaps"
                );
                // The very blocks of the cutter thread: its chunks of `block` records each
                // parse to the same rows (ranges may add one empty block at the end, where the
                // cutter drops a remainder of empty lines).
                let mut input = crate::source::open::open_input(path).unwrap();
                let start = reader.data_start();
                std::io::copy(
                    &mut std::io::Read::take(&mut input, start.byte),
                    &mut std::io::sink(),
                )
                .unwrap();
                let mut cutter = Vec::new();
                let mut parser = reader.chunk_parser();
                crate::source::chunker::cut(
                    input,
                    "t",
                    reader.format() == Format::Csv,
                    start.line,
                    block as usize,
                    |chunk| {
                        parser.load_chunk(chunk.bytes, chunk.first_line);
                        let mut b = Batch::new(reader.schema(), 0);
                        parser.read_block(&mut b, usize::MAX).unwrap();
                        cutter.push(b.len());
                        Ok(true)
                    },
                )
                .unwrap();
                let mut lens: Vec<usize> = blocks.iter().map(|(_, b)| b.len()).collect();
                if lens.len() == cutter.len() + 1 && lens.last() == Some(&0) {
                    lens.pop();
                }
                assert_eq!(lens, cutter, "blocks differ from the cutter's chunks");
                batches.extend(blocks.into_iter().map(|(_, b)| b));
                for r in &readers {
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

    /// A header, clean records for the sampled types, then hostile ones: quoted newlines,
    /// doubled quotes, stray quotes, CR / LF / CRLF endings, empty lines, long records,
    /// malformed records; or random bytes; with or without a final newline.
    fn hostile(seed: u64, csv: bool) -> Vec<u8> {
        let mut rng = crate::test_rng::xorshift(seed);
        let mut below = move |n: usize| (rng() % n as u64) as usize;
        let mut out = Vec::new();
        if seed.is_multiple_of(3) {
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
        let records = 300 + below(900);
        for id in 30..records {
            let v = below(100);
            let long = "x".repeat(below(600));
            let line: Vec<u8> = if csv {
                match below(24) {
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
                    12 => (0..below(40)).map(|_| b"\"\",\n\r a1"[below(8)]).collect(),
                    _ => format!("{id},n{},{v}.25\n", v % 5).into_bytes(),
                }
            } else {
                match below(16) {
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
        if below(2) == 0 {
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
                for (range, block) in [(1, 7), (2, 1), (3, 50), (7, 3), (64, 4096), (333, 2)] {
                    for cores in [1, 2, 3] {
                        let got = read(path, Some((range, cores, block)));
                        assert!(
                            got == want,
                            "seed {seed}, csv {csv}, range {range}, block {block}, {cores} \
                             cores: {:?} vs {:?}",
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
            assert_eq!(file.ranges.len(), 0);
        }
        std::fs::remove_dir_all(&dir).ok();
    }
}
