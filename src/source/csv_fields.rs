//! The CSV tokenizer: splits input bytes into records and each record into fields, in place
//! (a field is a range of the read buffer; only a quoted field with a doubled quote or bytes
//! after its closing quote is copied, unescaped, to a scratch buffer). Owned by one reader
//! (the reader thread, or a core parsing its chunks); no shared state.
//!
//! The dialect is `csv_core`'s with `,`, `"`, doubled quotes and CR/LF/CRLF terminators, no
//! comments or escapes, which `chunker::RecordEnds` mirrors to cut records exactly: change
//! both or neither. Precisely: empty lines (CR and LF alone) are skipped; a quote opens a
//! quoted field only as a field's first byte (elsewhere it is data); inside one, `""` is a
//! quote and a lone quote closes the quoting, after which bytes up to the next delimiter are
//! data (`"ab"c` is `abc`); a CR or LF outside quotes ends the record; the input's end ends the
//! record too, even inside quotes. A record's line is the line its first byte is on (a quoted
//! newline moves later records down a line). `differential_fields_equal_csv_cores` checks
//! every field against the `csv` crate on random bytes.
//!
//! Unquoted fields — nearly all of them — are scanned eight bytes at a time (`unquoted_end`).

use std::io::Read;

/// A field of the current record: `buf[start..end]`, or `scratch[start..end]` when unescaped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FieldRange {
    start: usize,
    end: usize,
    scratch: bool,
}

/// Field access for the typed appender (`text::append_record`), whatever holds the texts.
pub trait FieldTexts {
    fn count(&self) -> usize;
    fn field(&self, i: usize) -> &[u8];
}

impl FieldTexts for csv::ByteRecord {
    fn count(&self) -> usize {
        self.len()
    }
    fn field(&self, i: usize) -> &[u8] {
        &self[i]
    }
}

/// The current record's fields, borrowed from the tokenizer.
pub struct CsvRecord<'a> {
    buf: &'a [u8],
    scratch: &'a [u8],
    fields: &'a [FieldRange],
}

impl FieldTexts for CsvRecord<'_> {
    #[inline]
    fn count(&self) -> usize {
        self.fields.len()
    }
    #[inline]
    fn field(&self, i: usize) -> &[u8] {
        let f = self.fields[i];
        if f.scratch {
            &self.scratch[f.start..f.end]
        } else {
            &self.buf[f.start..f.end]
        }
    }
}

impl CsvRecord<'_> {
    pub fn to_byte_record(&self) -> csv::ByteRecord {
        let mut r = csv::ByteRecord::new();
        (0..self.count()).for_each(|i| r.push_field(self.field(i)));
        r
    }
}

/// Reads CSV records from a byte stream (or from chunks of whole records loaded in turn).
pub struct CsvInput {
    input: Box<dyn Read + Send>,
    buf: Vec<u8>,
    /// The next unread byte of `buf`, and the end of its valid bytes.
    pos: usize,
    end: usize,
    /// No more bytes will come after `buf[..end]`.
    eof: bool,
    /// The line `buf[pos]` is on (1-based).
    line: u64,
    /// Bytes of the input before `buf[0]`.
    consumed: u64,
    fields: Vec<FieldRange>,
    scratch: Vec<u8>,
    /// The run splitter's delimiter window over `buf` (reset when `buf` changes).
    delims: Delims,
}

/// The first read's buffer; a record longer than the buffer doubles it.
const READ_BUFFER: usize = 1 << 20;

impl CsvInput {
    pub fn new(input: Box<dyn Read + Send>) -> CsvInput {
        CsvInput {
            input,
            buf: Vec::new(),
            pos: 0,
            end: 0,
            eof: false,
            line: 1,
            consumed: 0,
            fields: Vec::new(),
            scratch: Vec::new(),
            delims: Delims::NONE,
        }
    }

    /// Makes `bytes` — whole records starting on line `first_line` — the rest of the input.
    pub fn load(&mut self, bytes: Vec<u8>, first_line: u64) {
        self.end = bytes.len();
        self.buf = bytes;
        self.pos = 0;
        self.eof = true;
        self.line = first_line;
        self.consumed = 0;
        self.input = Box::new(std::io::empty());
        self.delims = Delims::NONE;
    }

    /// As `load`, for `bytes[range]` only; `unload` hands the buffer back for reuse.
    pub fn load_range(&mut self, bytes: Vec<u8>, range: std::ops::Range<usize>, first_line: u64) {
        self.load(bytes, first_line);
        self.pos = range.start;
        self.end = range.end;
    }

    /// Takes back the buffer `load` or `load_range` gave (nothing is left to read).
    pub fn unload(&mut self) -> Vec<u8> {
        self.pos = 0;
        self.end = 0;
        std::mem::take(&mut self.buf)
    }

    /// The byte offset (in the input) and line of the next unread byte.
    pub fn position(&self) -> (u64, u64) {
        (self.consumed + self.pos as u64, self.line)
    }

    /// The current record's fields (after `next_record` returned a line).
    pub fn record(&self) -> CsvRecord<'_> {
        CsvRecord {
            buf: &self.buf[..self.end],
            scratch: &self.scratch,
            fields: &self.fields,
        }
    }

    /// Reads the next record; returns the line it starts on, or `None` at end of input.
    pub fn next_record(&mut self) -> std::io::Result<Option<u64>> {
        loop {
            while self.pos < self.end && matches!(self.buf[self.pos], b'\r' | b'\n') {
                self.line += (self.buf[self.pos] == b'\n') as u64;
                self.pos += 1;
            }
            if self.pos == self.end {
                if self.eof {
                    return Ok(None);
                }
                self.refill()?;
                continue;
            }
            match self.split() {
                Some((next, lines)) => {
                    let line = self.line;
                    self.line += lines;
                    self.pos = next;
                    return Ok(Some(line));
                }
                None => self.refill()?,
            }
        }
    }

    /// Reads more input after the unread bytes (moved to the front), growing the buffer when
    /// one record fills it.
    fn refill(&mut self) -> std::io::Result<()> {
        self.delims = Delims::NONE;
        if self.buf.is_empty() {
            self.buf = vec![0; READ_BUFFER];
        }
        if self.pos > 0 {
            self.buf.copy_within(self.pos..self.end, 0);
            self.consumed += self.pos as u64;
            self.end -= self.pos;
            self.pos = 0;
        }
        if self.end == self.buf.len() {
            self.buf.resize(self.buf.len() * 2, 0);
        }
        loop {
            match self.input.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(());
                }
                Ok(n) => {
                    self.end += n;
                    return Ok(());
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Splits the record at `pos` (not an empty line) into `fields`: the offset after it and
    /// the newlines it holds, or `None` when it may continue past the bytes read so far.
    fn split(&mut self) -> Option<(usize, u64)> {
        self.fields.clear();
        self.scratch.clear();
        let data = &self.buf[..self.end];
        let mut at = self.pos;
        let mut lines = 0u64;
        loop {
            if data.get(at) == Some(&b'"') {
                let (field, next, nl) = quoted_field(data, at, self.eof, &mut self.scratch)?;
                self.fields.push(field);
                lines += nl;
                at = next;
            } else {
                let end = unquoted_end(data, at);
                self.fields.push(FieldRange {
                    start: at,
                    end,
                    scratch: false,
                });
                at = end;
            }
            // `at` is now at the field's delimiter, or the end of the bytes read.
            match data.get(at) {
                Some(b',') => at += 1,
                Some(b'\n') => return Some((at + 1, lines + 1)),
                Some(_) => return Some((at + 1, lines)), // CR
                None if self.eof => return Some((at, lines)),
                None => return None,
            }
        }
    }
}

/// A run of simple records — exactly `n` fields, none of them quoted — split in one pass:
/// record `r` has `n + 1` bounds at `bounds[r * (n + 1)..]`, its first byte's offset minus one
/// (wrapping) and then each field's end, so field `i` is `buf[bounds[i] + 1..bounds[i + 1]]`
/// (a field starts one byte after the previous bound). Nearly every record of real files is
/// simple, and a run lets the typed parsers work a column at a time.
#[derive(Default)]
pub struct Run {
    n: usize,
    /// Records' bounds; holds room beyond the run's records (`lines.len()` is the count).
    bounds: Vec<u32>,
    lines: Vec<u64>,
}

/// Why `CsvInput::next_run` stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunStop {
    /// The run is full, or it holds all the bytes read so far: parse it, then call again.
    More,
    /// The next record is not simple: parse the run, then read that one with `next_record`.
    Complex,
    /// The input ended (after the run's records).
    End,
}

/// A run's records over the buffer that holds them.
pub struct RunView<'a> {
    buf: &'a [u8],
    run: &'a Run,
}

impl<'a> RunView<'a> {
    pub fn len(&self) -> usize {
        self.run.lines.len()
    }

    /// The line record `r` starts on.
    pub fn line(&self, r: usize) -> u64 {
        self.run.lines[r]
    }

    /// Field `i` of record `r`.
    #[cfg(test)]
    pub fn field(&self, r: usize, i: usize) -> &'a [u8] {
        let b = &self.run.bounds[r * (self.run.n + 1) + i..];
        &self.buf[b[0].wrapping_add(1) as usize..b[1] as usize]
    }

    /// The buffer the records lie in.
    #[inline]
    pub fn buf(&self) -> &'a [u8] {
        self.buf
    }

    /// Field `i` of every record, in record order, as `start..end` in `buf()`.
    #[inline]
    pub fn spans(&self, i: usize) -> impl ExactSizeIterator<Item = (usize, usize)> + use<'a> {
        let n = self.run.n;
        assert!(i < n, "column {i} of {n}");
        self.run.bounds[..self.len() * (n + 1)]
            .chunks_exact(n + 1)
            .map(move |b| (b[i].wrapping_add(1) as usize, b[i + 1] as usize))
    }
}

/// The `,`, CR and LF bytes of the buffer as bits, 64 bytes at a time (16-byte SIMD compares
/// through `wide`, safe code), handed out in order: a field's end is a trailing-zero count and
/// a clear of the lowest bit. With them the window's CR/LF bits (which delimiters end a
/// record) and quote bits (whether a field there may open with one). Only the run splitter
/// uses it; `seek` places it at a record's first byte, then `split_simple` takes each
/// delimiter after that once (reset when the buffer changes).
#[derive(Clone, Copy)]
struct Delims {
    /// The window's first offset (`usize::MAX`: none yet).
    base: usize,
    /// Its delimiters not handed out yet.
    bits: u64,
    /// Its CR and LF bytes, and its quotes.
    newlines: u64,
    quotes: u64,
}

impl Delims {
    const NONE: Delims = Delims {
        base: usize::MAX,
        bits: 0,
        newlines: 0,
        quotes: 0,
    };

    /// The window of 64 bytes from `at`.
    #[inline]
    fn window(data: &[u8], at: usize) -> Delims {
        let (bits, newlines, quotes) = delimiter_bits(data, at);
        Delims {
            base: at,
            bits,
            newlines,
            quotes,
        }
    }

    /// Forgets the delimiters before `at`: the next one handed out is the first at or after it.
    #[inline]
    fn seek(&mut self, data: &[u8], at: usize) {
        if self.base != usize::MAX && at >= self.base && at - self.base < 64 {
            self.bits &= u64::MAX << (at - self.base);
        } else {
            *self = Delims::window(data, at);
        }
    }
}

/// Bit `j` set when `data[at + j]` is `,`, CR or LF; when it is CR or LF; when it is `"`
/// (bits past the end are clear).
#[inline]
fn delimiter_bits(data: &[u8], at: usize) -> (u64, u64, u64) {
    use wide::u8x16;
    let bits_of = |block: &[u8; 64]| {
        let (comma, cr, lf) = (u8x16::splat(b','), u8x16::splat(b'\r'), u8x16::splat(b'\n'));
        let quote = u8x16::splat(b'"');
        let (mut delims, mut newlines, mut quotes) = (0u64, 0u64, 0u64);
        for (k, lane) in block.chunks_exact(16).enumerate() {
            let v = u8x16::new(lane.try_into().expect("16 bytes"));
            let nl = v.simd_eq(cr) | v.simd_eq(lf);
            let shift = 16 * k;
            newlines |= (nl.to_bitmask() as u64) << shift;
            delims |= ((nl | v.simd_eq(comma)).to_bitmask() as u64) << shift;
            quotes |= (v.simd_eq(quote).to_bitmask() as u64) << shift;
        }
        (delims, newlines, quotes)
    };
    match data.get(at..at + 64) {
        Some(b) => bits_of(b.try_into().expect("64 bytes")),
        None => {
            let mut padded = [0u8; 64];
            let rest = &data[at.min(data.len())..];
            padded[..rest.len()].copy_from_slice(rest);
            bits_of(&padded)
        }
    }
}

/// Why `split_simple` stopped.
enum Simple {
    /// Its room for records is full, or the input ended after its last record.
    Full,
    /// The record at the position is not simple: quoted, or another number of fields.
    Not,
    /// The record at the position may continue past the bytes read so far.
    Incomplete,
}

/// Where the splitter is: the next record's first byte, and the line it is on.
struct Split {
    pos: usize,
    line: u64,
}

/// Records a run takes between two checks of its room.
const RUN_STEP: usize = 1024;

impl CsvInput {
    /// Splits the next simple records of `n` fields, at most `max`, into `run` (see
    /// `RunStop`). Empty lines are skipped as by `next_record`.
    pub fn next_run(&mut self, n: usize, max: usize, run: &mut Run) -> std::io::Result<RunStop> {
        run.n = n;
        run.lines.clear();
        let width = n + 1;
        loop {
            if self.end > u32::MAX as usize || n == 0 {
                return Ok(RunStop::Complex); // offsets would not fit: record by record
            }
            let k = run.lines.len();
            if k >= max {
                return Ok(RunStop::More);
            }
            while self.pos < self.end && matches!(self.buf[self.pos], b'\r' | b'\n') {
                self.line += (self.buf[self.pos] == b'\n') as u64;
                self.pos += 1;
            }
            if self.pos == self.end {
                if self.eof {
                    return Ok(if k == 0 { RunStop::End } else { RunStop::More });
                }
                if k > 0 {
                    return Ok(RunStop::More);
                }
                self.refill()?;
                continue;
            }
            let take = (max - k).min(RUN_STEP);
            if run.bounds.len() < (k + take) * width {
                run.bounds.resize((k + take) * width, 0);
            }
            run.lines.reserve(take);
            let data = &self.buf[..self.end];
            self.delims.seek(data, self.pos);
            let mut at = Split {
                pos: self.pos,
                line: self.line,
            };
            let out = &mut run.bounds[k * width..(k + take) * width];
            let stop = split_simple(
                data,
                self.eof,
                n,
                out,
                &mut run.lines,
                &mut at,
                &mut self.delims,
            );
            (self.pos, self.line) = (at.pos, at.line);
            match stop {
                Simple::Full => {}
                // The delimiters handed out for a record that is not taken are not handed out
                // again: the next seek starts afresh.
                Simple::Not => {
                    self.delims = Delims::NONE;
                    return Ok(RunStop::Complex);
                }
                Simple::Incomplete => {
                    self.delims = Delims::NONE;
                    if !run.lines.is_empty() {
                        return Ok(RunStop::More);
                    }
                    self.refill()?;
                }
            }
        }
    }

    /// The records `next_run` split, until the next read.
    pub fn run<'a>(&'a self, run: &'a Run) -> RunView<'a> {
        RunView {
            buf: &self.buf[..self.end],
            run,
        }
    }
}

/// Splits the simple records from `at` (not an empty line, `delims` placed there) into
/// `out`, `out.len() / (n + 1)` of them at most (`n + 1` bounds each, see `Run`), their lines
/// pushed to `lines`, empty lines between them skipped; `at` moves past each one taken.
/// One pass over the delimiter bits: a comma ends a field, a CR or LF a record; a record
/// with another number of fields, or (checked only where its windows hold a quote) a field
/// opening with a quote, stops the run. (Not inlined: in its own frame the loop keeps its
/// state in registers; a call splits up to `RUN_STEP` records.)
#[inline(never)]
fn split_simple(
    data: &[u8],
    eof: bool,
    n: usize,
    out: &mut [u32],
    lines: &mut Vec<u64>,
    at: &mut Split,
    delims: &mut Delims,
) -> Simple {
    let width = n + 1;
    let mut d = *delims;
    // `out[rec]` is the current record's first bound, `out[idx]` the last bound written, and
    // `out[rec + n]` is where its CR or LF must fall; `quoted`: a window it touches holds a
    // quote.
    let mut rec = 0;
    let mut idx = 0;
    let mut quoted = d.quotes != 0;
    out[0] = (at.pos as u32).wrapping_sub(1);
    let stop = 'split: loop {
        while d.bits != 0 {
            let t = d.bits.trailing_zeros();
            let p = d.base + t as usize;
            d.bits &= d.bits - 1;
            idx += 1;
            out[idx] = p as u32;
            let newline = (d.newlines >> t) & 1 != 0;
            if !newline && idx != rec + n {
                continue; // a comma inside the record
            }
            // A CR or LF (an empty line, or the end of a record), or one comma too many.
            let cr_lf = data[p];
            if newline && p == at.pos {
                at.line += (cr_lf == b'\n') as u64;
                at.pos = p + 1;
                idx = rec;
                out[rec] = p as u32;
                continue;
            }
            if !newline || idx != rec + n || (quoted && opens_quote(data, &out[rec..idx])) {
                break 'split Some(Simple::Not);
            }
            lines.push(at.line);
            at.line += (cr_lf == b'\n') as u64;
            at.pos = p + 1;
            rec += width;
            if rec == out.len() {
                break 'split Some(Simple::Full);
            }
            idx = rec;
            out[rec] = p as u32;
            quoted = d.quotes != 0;
        }
        let next = d.base + 64;
        if next >= data.len() {
            break None;
        }
        d = Delims::window(data, next);
        quoted |= d.quotes != 0;
    };
    *delims = d;
    if let Some(stop) = stop {
        return stop;
    }
    // No delimiter left in the bytes read: the input's end ends the record.
    if !eof {
        return Simple::Incomplete;
    }
    if at.pos == data.len() {
        return Simple::Full;
    }
    if idx + 1 != rec + n || opens_quote(data, &out[rec..=idx]) {
        return Simple::Not;
    }
    out[rec + n] = data.len() as u32;
    lines.push(at.line);
    at.pos = data.len();
    Simple::Full
}

/// Whether a field opens with a quote, for fields that start one byte after each of `bounds`.
#[inline]
fn opens_quote(data: &[u8], bounds: &[u32]) -> bool {
    bounds
        .iter()
        .any(|&b| data.get(b.wrapping_add(1) as usize) == Some(&b'"'))
}

/// The quoted field opening at `data[at]`: its range, the offset of the delimiter (or end)
/// after it, and the newlines inside; `None` when it may continue past `data`.
fn quoted_field(
    data: &[u8],
    at: usize,
    eof: bool,
    scratch: &mut Vec<u8>,
) -> Option<(FieldRange, usize, u64)> {
    let mut i = at + 1;
    let mut lines = 0u64;
    // While the field is one plain run of `data`, it needs no copy.
    let mut copied: Option<usize> = None;
    loop {
        let Some(q) = memchr::memchr(b'"', &data[i..]).map(|q| i + q) else {
            // The input's end inside quotes ends the field (and the record).
            if !eof {
                return None;
            }
            lines += memchr::memchr_iter(b'\n', &data[i..]).count() as u64;
            return Some(finish(
                data,
                at + 1,
                i,
                data.len(),
                copied,
                scratch,
                data.len(),
                lines,
            ));
        };
        lines += memchr::memchr_iter(b'\n', &data[i..q]).count() as u64;
        match data.get(q + 1) {
            Some(b'"') => {
                // A doubled quote: the text so far plus one quote.
                if copied.is_none() {
                    copied = Some(scratch.len());
                    scratch.extend_from_slice(&data[at + 1..i]);
                }
                scratch.extend_from_slice(&data[i..=q]);
                i = q + 2;
            }
            None if !eof => return None,
            _ => {
                // The closing quote: data follows up to the next delimiter.
                let after = unquoted_end(data, q + 1);
                if after == data.len() && !eof {
                    return None;
                }
                if after > q + 1 {
                    let s = match copied {
                        Some(s) => {
                            scratch.extend_from_slice(&data[i..q]);
                            s
                        }
                        None => {
                            let s = scratch.len();
                            scratch.extend_from_slice(&data[at + 1..q]);
                            s
                        }
                    };
                    scratch.extend_from_slice(&data[q + 1..after]);
                    let range = FieldRange {
                        start: s,
                        end: scratch.len(),
                        scratch: true,
                    };
                    return Some((range, after, lines));
                }
                return Some(finish(data, at + 1, i, q, copied, scratch, after, lines));
            }
        }
    }
}

/// A quoted field whose text is `data[first..end]` unless part of it was copied (from scratch
/// offset `copied`, with `data[i..end]` still to append).
#[allow(clippy::too_many_arguments)]
fn finish(
    data: &[u8],
    first: usize,
    i: usize,
    end: usize,
    copied: Option<usize>,
    scratch: &mut Vec<u8>,
    next: usize,
    lines: u64,
) -> (FieldRange, usize, u64) {
    let range = match copied {
        None => FieldRange {
            start: first,
            end,
            scratch: false,
        },
        Some(s) => {
            scratch.extend_from_slice(&data[i..end]);
            FieldRange {
                start: s,
                end: scratch.len(),
                scratch: true,
            }
        }
    };
    (range, next, lines)
}

/// The offset of the first `,`, CR or LF at or after `from`, or `data.len()`: eight bytes at
/// a time (SWAR: a byte equal to `c` is a zero byte of `word ^ c…c`, and the lowest flagged
/// byte of the classic zero-byte test is always exact), then byte by byte.
#[inline]
fn unquoted_end(data: &[u8], from: usize) -> usize {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let zero_bytes = |x: u64| x.wrapping_sub(LO) & !x & HI;
    let mut i = from;
    while let Some(word) = data.get(i..i + 8) {
        let w = u64::from_le_bytes(word.try_into().expect("8 bytes"));
        let hits = zero_bytes(w ^ (LO * b',' as u64))
            | zero_bytes(w ^ (LO * b'\r' as u64))
            | zero_bytes(w ^ (LO * b'\n' as u64));
        if hits != 0 {
            return i + (hits.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < data.len() && !matches!(data[i], b',' | b'\r' | b'\n') {
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every record of `bytes` read whole and through a reader that gets one byte per read
    /// (records split across refills), as (line, fields).
    fn tokenize(bytes: &[u8], trickle: bool) -> Vec<(u64, Vec<Vec<u8>>)> {
        struct Trickle(Vec<u8>, usize);
        impl Read for Trickle {
            fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
                if self.1 == self.0.len() || out.is_empty() {
                    return Ok(0);
                }
                out[0] = self.0[self.1];
                self.1 += 1;
                Ok(1)
            }
        }
        let mut input = if trickle {
            CsvInput::new(Box::new(Trickle(bytes.to_vec(), 0)))
        } else {
            let mut i = CsvInput::new(Box::new(std::io::empty()));
            i.load(bytes.to_vec(), 1);
            i
        };
        let mut out = Vec::new();
        while let Some(line) = input.next_record().unwrap() {
            let r = input.record();
            out.push((line, (0..r.count()).map(|i| r.field(i).to_vec()).collect()));
        }
        out
    }

    /// As `tokenize`, but the way `TextReader` reads: runs of simple `n`-field records of at
    /// most `max`, and record by record where a run stops at a complex one.
    fn tokenize_runs(
        bytes: &[u8],
        trickle: bool,
        n: usize,
        max: usize,
    ) -> Vec<(u64, Vec<Vec<u8>>)> {
        let mut input = CsvInput::new(Box::new(std::io::empty()));
        if trickle {
            input = CsvInput::new(Box::new(std::io::Cursor::new(bytes.to_vec())));
            input.buf = vec![0; 7]; // tiny reads: records split across refills
        } else {
            input.load(bytes.to_vec(), 1);
        }
        let mut run = Run::default();
        let mut out = Vec::new();
        loop {
            let stop = input.next_run(n, max, &mut run).unwrap();
            let view = input.run(&run);
            for r in 0..view.len() {
                out.push((
                    view.line(r),
                    (0..n).map(|i| view.field(r, i).to_vec()).collect(),
                ));
            }
            match stop {
                RunStop::More => continue,
                RunStop::End => break,
                RunStop::Complex => match input.next_record().unwrap() {
                    Some(line) => {
                        let r = input.record();
                        out.push((line, (0..r.count()).map(|i| r.field(i).to_vec()).collect()));
                    }
                    None => break,
                },
            }
        }
        out
    }

    /// The `csv` crate's records of `bytes` (the reader this tokenizer replaced).
    fn csv_crate(bytes: &[u8]) -> Vec<Vec<Vec<u8>>> {
        let mut r = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(bytes);
        r.byte_records()
            .map(|rec| rec.unwrap().iter().map(<[u8]>::to_vec).collect())
            .collect()
    }

    /// The line each record of a quote-free input starts on, counted independently: 1 + the
    /// newlines before the record's first byte.
    fn unquoted_lines(bytes: &[u8]) -> Vec<u64> {
        let mut lines = Vec::new();
        let mut line = 1;
        let mut in_record = false;
        for &b in bytes {
            match b {
                b'\n' => {
                    line += 1;
                    in_record = false;
                }
                b'\r' => in_record = false,
                _ if !in_record => {
                    lines.push(line);
                    in_record = true;
                }
                _ => {}
            }
        }
        lines
    }

    #[test]
    fn fields_split_like_csv_core() {
        let cases: &[(&[u8], &[&[&str]])] = &[
            (b"a,b\n", &[&["a", "b"]]),
            (b"a,b", &[&["a", "b"]]),
            (b"a,,\r\n\r\nb\rc\n", &[&["a", "", ""], &["b"], &["c"]]),
            (
                b"\"x,y\",\"q\"\"r\",\"s\"t,u\"v\n",
                &[&["x,y", "q\"r", "st", "u\"v"]],
            ),
            (
                b"\"multi\nline\",2\nnext\n",
                &[&["multi\nline", "2"], &["next"]],
            ),
            (b"\"open\nto the end", &[&["open\nto the end"]]),
            (b"\"\"\n\"\"\"\"\n", &[&[""], &["\""]]),
            (b" \"a\" ,b\n", &[&[" \"a\" ", "b"]]),
        ];
        for (input, want) in cases {
            for trickle in [false, true] {
                let got: Vec<Vec<Vec<u8>>> = tokenize(input, trickle)
                    .into_iter()
                    .map(|(_, f)| f)
                    .collect();
                let want: Vec<Vec<Vec<u8>>> = want
                    .iter()
                    .map(|r| r.iter().map(|f| f.as_bytes().to_vec()).collect())
                    .collect();
                assert_eq!(got, want, "{:?}", String::from_utf8_lossy(input));
                assert_eq!(
                    csv_crate(input),
                    want,
                    "{:?}",
                    String::from_utf8_lossy(input)
                );
            }
        }
        let lines: Vec<u64> = tokenize(b"h\r\n\r\na\r\n\"b\nc\"\nd\n", false)
            .iter()
            .map(|r| r.0)
            .collect();
        assert_eq!(lines, [1, 3, 4, 6]);
    }

    #[test]
    fn differential_fields_equal_csv_cores() {
        let mut next = crate::test_rng::xorshift(0x9E37_79B9_7F4A_7C15u64);
        let alphabet = b"ab ,,\"\"\r\n\n1";
        for case in 0..4000 {
            let len = (next() % if case % 2 == 0 { 60 } else { 300 }) as usize;
            let quotes = case % 3 != 0;
            let bytes: Vec<u8> = (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .filter(|&b| quotes || b != b'"')
                .collect();
            let want = csv_crate(&bytes);
            for trickle in [false, true] {
                let got = tokenize(&bytes, trickle);
                let fields: Vec<_> = got.iter().map(|(_, f)| f.clone()).collect();
                assert_eq!(
                    fields,
                    want,
                    "{:?} trickle {trickle}",
                    String::from_utf8_lossy(&bytes)
                );
                for (n, max) in [(1, 1), (2, 3), (3, 4096)] {
                    let runs = tokenize_runs(&bytes, trickle, n, max);
                    assert_eq!(
                        runs,
                        got,
                        "{:?} n {n} max {max}",
                        String::from_utf8_lossy(&bytes)
                    );
                }
                if !quotes {
                    let lines: Vec<u64> = got.iter().map(|r| r.0).collect();
                    assert_eq!(
                        lines,
                        unquoted_lines(&bytes),
                        "{:?}",
                        String::from_utf8_lossy(&bytes)
                    );
                }
            }
        }
    }
}
