//! CSV (with a header) and JSON-lines readers. Both turn each input record into a row of
//! field texts in schema order, then one typed parser appends it to a columnar batch, so the
//! two formats share type inference, validation and error reporting. A bad record is skipped
//! and counted (`malformed`, with the first few line numbers and reasons kept), or stops the
//! run under `--on-error fail`.

use crate::data::time::{self, EpochUnit};
use crate::data::{Batch, DataType, Dict, Field, Interner, Schema};
use crate::error::{Error, Result};
use crate::sink::Format;
use crate::source::csv_fields::{CsvInput, Run, RunStop};
use crate::source::json::{json_record, parse_object};
use crate::source::json_fast::FastJson;
use crate::source::live::Framer;
use crate::source::open::{input_format, open_input};
pub use crate::source::values::Inferred;
use crate::source::values::{
    SAMPLE_ROWS, append_record, append_run, first_non_number, infer_type, plain_int, unit_plural,
};
use csv::ByteRecord;
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::sync::Arc;

/// A live input's sample: what arrives within this after its first record.
const SAMPLE_WINDOW: std::time::Duration = std::time::Duration::from_millis(50);
/// Malformed records reported with their line and reason.
pub const EXAMPLES_KEPT: usize = 5;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum OnError {
    /// Skip the record, count it and report the first few.
    #[default]
    Skip,
    /// Stop the run at the first malformed record.
    Fail,
}

enum Raw {
    Csv(CsvInput),
    Jsonl {
        lines: BufReader<Box<dyn Read + Send>>,
        keys: Vec<String>,
        line: Vec<u8>,
        line_no: u64,
    },
}

/// A position in the opened input: a byte offset and the 1-based line it is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DataStart {
    pub byte: u64,
    pub line: u64,
}

/// A malformed record: its 1-based line and what was wrong.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Malformed {
    pub line: u64,
    pub reason: String,
}

/// Reads one text input into columnar batches.
pub struct TextReader {
    raw: Raw,
    name: String,
    schema: Schema,
    interner: Interner,
    on_error: OnError,
    sample: VecDeque<(u64, ByteRecord)>,
    record: ByteRecord,
    /// The previous record's buffers, reused for the next read.
    spare: ByteRecord,
    /// One parsed value per field (integers, float bits, booleans) before the row is appended.
    staged: Vec<u64>,
    /// CSV: the run of simple records being parsed, and its malformed records (`append_run`).
    run: Run,
    /// Whether CSV is read in runs (`force_record_by_record` turns it off for tests).
    runs: bool,
    is_bad: Vec<bool>,
    bad: Vec<(usize, String)>,
    pub malformed: u64,
    pub examples: Vec<Malformed>,
    pub records_read: u64,
    /// Where the records start in the opened (decompressed, BOM-less) input: the byte offset
    /// and line just after a CSV header; the start for JSON lines, whose first object is a record.
    data_start: DataStart,
    /// Per column: how its type was inferred (`None` when `--schema` or `market_data` fixed it).
    inferred: Vec<Option<Inferred>>,
    /// A live input (a pipe, stdin, a followed file): whole records arrive through this, a
    /// chunk at a time, each loaded as the reader's next input once the last is read.
    live: Option<Box<Framer>>,
    /// `live` follows a regular file (`--follow FILE`).
    follows_file: bool,
    format: Format,
    /// Per column, whether the query reads it (`set_projection`): an unread column is still
    /// validated as its type (so malformed counts do not depend on the query) but not stored:
    /// its batch column holds NULLs, which no operator reads.
    reads: Vec<bool>,
    /// JSON lines: the fast path for common lines (`json::FastJson`), built on the first
    /// `read_block` once the schema and projection are known; `None` when not built yet.
    json_fast: Option<JsonFast>,
    /// JSON lines read by the fast path (the tests check that it is taken).
    pub json_fast_lines: u64,
    /// JSON lines: the buffer `load_range` is reading from, to hand back (`unload`).
    loaded: Option<Arc<Vec<u8>>>,
}

/// `bytes[at..end]` as a byte stream (JSON lines loaded by `load_range`).
struct SharedSlice {
    bytes: Arc<Vec<u8>>,
    at: usize,
    end: usize,
}

impl Read for SharedSlice {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let n = out.len().min(self.end - self.at);
        out[..n].copy_from_slice(&self.bytes[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// The JSON fast path's state: `Off` when the columns rule it out, or when forced off
/// (`force_json_slow_path`, for the differential tests).
enum JsonFast {
    On(Box<FastJson>),
    Off,
}

impl TextReader {
    /// Opens `path` (`-` for stdin), reads the header (CSV) or first object (JSON lines), and
    /// infers the schema from the first records unless `schema` fixes it.
    pub fn open(
        path: &str,
        schema: Option<&Schema>,
        dict: Arc<Dict>,
        on_error: OnError,
    ) -> Result<TextReader> {
        TextReader::from_reader(
            open_input(path)?,
            path,
            input_format(path),
            schema,
            dict,
            on_error,
        )
    }

    /// For the event-time column `col` (a window's time column or a ROWS window's ORDER BY):
    /// a warning when its sampled epoch numbers look like another unit than the column's
    /// (seconds read as milliseconds put an hour of data in one 3.6 s span), naming the
    /// `--schema` that fixes it. Decided from the sample only: the magnitude of each plain
    /// integer (`EpochUnit::guess`), all guesses agreeing.
    pub fn unit_warning(&self, col: usize) -> Option<String> {
        let f = self.schema.fields.get(col)?;
        if f.ty != DataType::Timestamp {
            return None;
        }
        let mut seen: Option<(EpochUnit, i64)> = None;
        for (_, rec) in &self.sample {
            let Some(v) = rec.get(col).and_then(plain_int) else {
                continue;
            };
            match (EpochUnit::guess(v), seen) {
                (None, _) => {}
                (Some(g), None) => seen = Some((g, v)),
                (Some(g), Some((u, _))) if g != u => return None,
                _ => {}
            }
        }
        let (unit, example) = seen.filter(|(u, _)| *u != f.unit)?;
        let taken = match f.unit.to_ms(example) {
            Some(ms) => format!(" ({example} is {})", time::iso_string(ms)),
            None => String::new(),
        };
        Some(format!(
            "column `{}` of {} holds epoch numbers such as {example}, which look like {}, but \
             they are read as {}{taken}; if they are {}, declare --schema {}:{}",
            f.name,
            self.name,
            unit_plural(unit),
            unit_plural(f.unit),
            unit_plural(unit),
            f.name,
            unit.type_name(),
        ))
    }

    /// Opens a live input (`-`, a pipe or FIFO, or a file followed as it grows): records are
    /// framed as they arrive (`source::live`). Column names and types come from the first
    /// records: the header (CSV) and at least one record, then whatever else arrives within
    /// `SAMPLE_WINDOW` (up to the usual sample), so a slow source starts at once; `--schema`
    /// fixes what a short sample cannot tell. `stop` ends the wait (a signal).
    pub fn open_live(
        path: &str,
        schema: Option<&Schema>,
        dict: Arc<Dict>,
        on_error: OnError,
        follow: bool,
        stop: &dyn Fn() -> bool,
    ) -> Result<TextReader> {
        let format = input_format(path);
        let csv = format == Format::Csv;
        let mut framer = Framer::start(open_input(path)?, path, csv, follow)?;
        let header = csv as usize;
        let prefix = framer.prefix(header + 1, header + SAMPLE_ROWS, SAMPLE_WINDOW, stop)?;
        let first = Box::new(std::io::Cursor::new(prefix.bytes));
        let mut r = TextReader::from_reader(first, path, format, schema, dict, on_error)?;
        r.live = Some(Box::new(framer));
        r.follows_file = follow && std::fs::metadata(path).is_ok_and(|m| m.is_file());
        Ok(r)
    }

    /// Whether records arrive live (`open_live`).
    pub fn is_live(&self) -> bool {
        self.live.is_some()
    }

    /// A regular file followed as it grows (`--follow`): its bytes can be read again from a
    /// position, so it can be checkpointed.
    pub fn follows_file(&self) -> bool {
        self.follows_file
    }

    /// A followed file read by a cutter of its own (checkpoints): the framer that sampled the
    /// schema stops (its pump thread ends at its next piece).
    pub fn stop_live(&mut self) {
        self.live = None;
    }

    /// A live input: once everything loaded so far is read, waits for the next whole records
    /// (at most `max`; see `Framer::next_chunk` for `linger` and `stop`) and loads them.
    /// `false` when the input ended or the stop came with nothing more.
    pub fn next_live_chunk(
        &mut self,
        max: usize,
        linger: std::time::Duration,
        stop: &dyn Fn() -> bool,
    ) -> Result<bool> {
        let Some(framer) = self.live.as_mut() else {
            return Ok(false);
        };
        match framer.next_chunk(max, linger, stop)? {
            Some(chunk) => {
                self.load_chunk(chunk.bytes, chunk.first_line);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// As `open`, over any byte stream in `format`; `path` names it in messages. (The fuzz
    /// targets and their regression tests read from memory through this.)
    pub fn from_reader(
        input: Box<dyn Read + Send>,
        path: &str,
        format: Format,
        schema: Option<&Schema>,
        dict: Arc<Dict>,
        on_error: OnError,
    ) -> Result<TextReader> {
        let raw = match format {
            // The dialect (`,`, `"`, doubled quotes, CR/LF/CRLF, no comments or escapes) is
            // what `chunker::RecordEnds` mirrors to cut records exactly: change both or neither.
            Format::Csv => Raw::Csv(CsvInput::new(input)),
            Format::JsonLines => Raw::Jsonl {
                lines: BufReader::with_capacity(1 << 16, input),
                keys: Vec::new(),
                line: Vec::new(),
                line_no: 0,
            },
        };
        let mut r = TextReader::with_raw(raw, path, Schema::default(), dict, on_error, format);
        let header = match r.read_header()? {
            Some(h) => h,
            // An empty input has no header to name its columns: `--schema` can name them (a
            // clean run over zero records), otherwise it is a clear error.
            None => match schema.filter(|s| !s.fields.is_empty()) {
                Some(s) => s.names().map(str::to_string).collect(),
                None => {
                    let what = match r.raw {
                        Raw::Csv(_) => "a CSV input needs a header row",
                        Raw::Jsonl { .. } => "it holds no JSON object to name the columns",
                    };
                    return Err(Error::Input(format!(
                        "--input {path}: the file is empty ({what}; or name the columns with --schema)"
                    )));
                }
            },
        };
        r.schema = r.infer_schema(header, schema)?;
        Ok(r)
    }

    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// The input's path (`-` for stdin).
    pub fn path(&self) -> &str {
        &self.name
    }

    pub fn format(&self) -> Format {
        self.format
    }

    /// Whether a malformed record stops the run (`--on-error fail`).
    pub fn fails_on_error(&self) -> bool {
        self.on_error == OnError::Fail
    }

    /// Where the records start: the chunk cutter of parallel parsing starts there.
    pub fn data_start(&self) -> DataStart {
        self.data_start
    }

    /// A parser for raw chunks of this input (parallel parsing): the same schema, format and
    /// error policy, its own interner into the same dictionary, nothing read yet.
    pub fn chunk_parser(&self) -> TextReader {
        let empty = || -> Box<dyn Read + Send> { Box::new(std::io::empty()) };
        let raw = match &self.raw {
            Raw::Csv(_) => Raw::Csv(CsvInput::new(empty())),
            Raw::Jsonl { keys, .. } => Raw::Jsonl {
                lines: BufReader::new(empty()),
                keys: keys.clone(),
                line: Vec::new(),
                line_no: 0,
            },
        };
        let mut parser = TextReader::with_raw(
            raw,
            &self.name,
            self.schema.clone(),
            self.interner.dict().clone(),
            self.on_error,
            self.format,
        );
        parser.inferred = self.inferred.clone();
        parser.reads = self.reads.clone();
        parser
    }

    /// Parse into batches only the columns with `reads[i]` (`Plan::reads_columns`); the others
    /// are validated and hold placeholders. All columns are read until this is called.
    pub fn set_projection(&mut self, reads: Vec<bool>) {
        self.reads = reads;
        if matches!(self.json_fast, Some(JsonFast::On(_))) {
            self.json_fast = None;
        }
    }

    /// Reads every JSON line through the general path (serde_json, field texts, `append`),
    /// never the fast path: the reference the differential tests compare the fast path with.
    #[doc(hidden)]
    pub fn force_json_slow_path(&mut self) {
        self.json_fast = Some(JsonFast::Off);
    }

    /// Reads CSV record by record (`append_record`), never in runs (`append_run`): the
    /// reference the tests compare the columnar path with.
    #[doc(hidden)]
    pub fn force_record_by_record(&mut self) {
        self.runs = false;
    }

    /// Per column, how its type was inferred (`None`: fixed by `--schema` or `market_data`).
    pub fn inferred(&self) -> &[Option<Inferred>] {
        &self.inferred
    }

    /// A reader over `raw` that has read nothing yet.
    fn with_raw(
        raw: Raw,
        name: &str,
        schema: Schema,
        dict: Arc<Dict>,
        on_error: OnError,
        format: Format,
    ) -> TextReader {
        TextReader {
            raw,
            name: name.to_string(),
            schema,
            interner: Interner::new(dict),
            on_error,
            sample: VecDeque::new(),
            record: ByteRecord::new(),
            spare: ByteRecord::new(),
            staged: Vec::new(),
            run: Run::default(),
            runs: true,
            is_bad: Vec::new(),
            bad: Vec::new(),
            malformed: 0,
            examples: Vec::new(),
            records_read: 0,
            data_start: DataStart { byte: 0, line: 1 },
            inferred: Vec::new(),
            live: None,
            follows_file: false,
            format,
            reads: Vec::new(),
            json_fast: None,
            json_fast_lines: 0,
            loaded: None,
        }
    }

    /// Makes whole records `bytes`, which start at line `first_line` of the input, the next
    /// thing `read_block` reads.
    pub fn load_chunk(&mut self, bytes: Vec<u8>, first_line: u64) {
        match &mut self.raw {
            Raw::Csv(input) => input.load(bytes, first_line),
            Raw::Jsonl { lines, line_no, .. } => {
                let input: Box<dyn Read + Send> = Box::new(std::io::Cursor::new(bytes));
                *lines = BufReader::with_capacity(1 << 16, input);
                *line_no = first_line.saturating_sub(1);
            }
        }
    }

    /// Makes `bytes[range]` — whole records starting at line `first_line` — the next thing
    /// `read_block` reads; `unload` hands `bytes` back once they are read, for reuse. CSV is
    /// parsed in place; JSON lines through the reader's line buffer.
    pub fn load_range(&mut self, bytes: Vec<u8>, range: std::ops::Range<usize>, first_line: u64) {
        match &mut self.raw {
            Raw::Csv(input) => input.load_range(bytes, range, first_line),
            Raw::Jsonl { lines, line_no, .. } => {
                let shared = Arc::new(bytes);
                let input: Box<dyn Read + Send> = Box::new(SharedSlice {
                    bytes: shared.clone(),
                    at: range.start,
                    end: range.end,
                });
                self.loaded = Some(shared);
                *lines = BufReader::with_capacity(1 << 16, input);
                *line_no = first_line.saturating_sub(1);
            }
        }
    }

    /// The buffer `load_range` was given (empty if it is still shared or none was).
    pub fn unload(&mut self) -> Vec<u8> {
        match &mut self.raw {
            Raw::Csv(input) => input.unload(),
            Raw::Jsonl { lines, .. } => {
                let empty: Box<dyn Read + Send> = Box::new(std::io::empty());
                *lines = BufReader::with_capacity(0, empty);
                self.loaded
                    .take()
                    .and_then(|b| Arc::try_unwrap(b).ok())
                    .unwrap_or_default()
            }
        }
    }

    /// The column names (CSV: the header row; JSON lines: the first object's keys), or `None`
    /// for an empty input. Names must be non-empty, valid UTF-8 and unique (ignoring case).
    fn read_header(&mut self) -> Result<Option<Vec<String>>> {
        let name = self.name.clone();
        let header = match &mut self.raw {
            Raw::Csv(input) => {
                let read = input.next_record().map_err(|e| {
                    Error::io(format!("--input {name}: cannot read the CSV header"), e)
                })?;
                if read.is_none() {
                    return Ok(None);
                }
                let (byte, line) = input.position();
                self.data_start = DataStart { byte, line };
                let rec = input.record().to_byte_record();
                rec.iter()
                    .enumerate()
                    .map(|(i, f)| {
                        std::str::from_utf8(f)
                            .map(|s| s.trim().to_string())
                            .map_err(|_| {
                                Error::Input(format!(
                                    "--input {name}: header column {} is not valid UTF-8",
                                    i + 1
                                ))
                            })
                    })
                    .collect::<Result<Vec<_>>>()?
            }
            Raw::Jsonl { .. } => {
                // The first object's keys name the columns; the object itself is replayed.
                let Some((line, rec, keys)) = self.first_json_object()? else {
                    return Ok(None);
                };
                match rec {
                    Ok(rec) => self.sample.push_back((line, rec)),
                    Err(reason) => self.report(Malformed { line, reason })?,
                }
                keys
            }
        };
        let mut seen = std::collections::HashMap::new();
        for (i, h) in header.iter().enumerate() {
            if h.is_empty() {
                return Err(Error::Input(format!(
                    "--input {name}: header column {} has no name",
                    i + 1
                )));
            }
            if let Some(first) = seen.insert(h.to_ascii_lowercase(), i) {
                return Err(Error::Input(format!(
                    "--input {name}: the header names column `{h}` twice (columns {} and {}; \
                     column names are case-insensitive)",
                    first + 1,
                    i + 1
                )));
            }
        }
        Ok(Some(header))
    }

    /// The first JSON object's line, its record (or why it is malformed) and its keys.
    #[allow(clippy::type_complexity)]
    fn first_json_object(
        &mut self,
    ) -> Result<Option<(u64, std::result::Result<ByteRecord, String>, Vec<String>)>> {
        let name = self.name.clone();
        let Raw::Jsonl {
            lines,
            keys,
            line,
            line_no,
        } = &mut self.raw
        else {
            unreachable!()
        };
        loop {
            line.clear();
            let n = lines
                .read_until(b'\n', line)
                .map_err(|e| Error::io(format!("--input {name}: read failed"), e))?;
            if n == 0 {
                return Ok(None);
            }
            *line_no += 1;
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let obj = parse_object(line).map_err(|e| {
                Error::Input(format!(
                    "--input {name}:{line_no}: the first line is not a JSON object: {e}"
                ))
            })?;
            *keys = obj.keys().cloned().collect();
            let rec = json_record(&obj, keys);
            return Ok(Some((*line_no, rec, keys.clone())));
        }
    }

    fn infer_schema(&mut self, header: Vec<String>, fixed: Option<&Schema>) -> Result<Schema> {
        while self.sample.len() < SAMPLE_ROWS {
            match self.read_raw()? {
                Some(Ok(r)) => self.sample.push_back(r),
                Some(Err(m)) => self.report(m)?,
                None => break,
            }
        }
        let known = Schema::market_data();
        let mut fields = Vec::new();
        self.inferred.clear();
        for (i, name) in header.iter().enumerate() {
            let fixed_field = fixed
                .and_then(|s| s.index_of(name).map(|j| &s.fields[j]))
                .or_else(|| known.index_of(name).map(|j| &known.fields[j]));
            let field = match fixed_field {
                Some(f) => {
                    self.inferred.push(None);
                    Field {
                        name: name.clone(),
                        ..f.clone()
                    }
                }
                None => {
                    let ty = infer_type(self.sample.iter().filter_map(|(_, r)| r.get(i)));
                    let first_text = (ty == DataType::Str)
                        .then(|| first_non_number(&self.sample, i))
                        .flatten();
                    self.inferred.push(Some(Inferred { ty, first_text }));
                    Field::new(name.clone(), ty)
                }
            };
            fields.push(field);
        }
        if let Some(fixed) = fixed {
            for f in &fixed.fields {
                if !header.iter().any(|h| h.eq_ignore_ascii_case(&f.name)) {
                    return Err(Error::Usage(format!(
                        "--schema names column `{}`, which {} does not have (its columns: {})",
                        f.name,
                        self.name,
                        header.join(", ")
                    )));
                }
            }
        }
        Ok(Schema::new(fields))
    }

    /// The next raw record: `Ok((line, fields))`, or the malformed record's report.
    fn read_raw(&mut self) -> Result<Option<std::result::Result<(u64, ByteRecord), Malformed>>> {
        let name = &self.name;
        match &mut self.raw {
            Raw::Csv(input) => match input.next_record() {
                Ok(Some(line)) => Ok(Some(Ok((line, input.record().to_byte_record())))),
                Ok(None) => Ok(None),
                Err(e) => Err(Error::io(format!("--input {name}: read failed"), e)),
            },
            Raw::Jsonl {
                lines,
                keys,
                line,
                line_no,
            } => loop {
                line.clear();
                let n = lines
                    .read_until(b'\n', line)
                    .map_err(|e| Error::io(format!("--input {name}: read failed"), e))?;
                if n == 0 {
                    return Ok(None);
                }
                *line_no += 1;
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                let obj = match parse_object(line) {
                    Ok(o) => o,
                    Err(e) => {
                        return Ok(Some(Err(Malformed {
                            line: *line_no,
                            reason: format!("not a JSON object: {e}"),
                        })));
                    }
                };
                return Ok(Some(
                    json_record(&obj, keys)
                        .map(|rec| (*line_no, rec))
                        .map_err(|reason| Malformed {
                            line: *line_no,
                            reason,
                        }),
                ));
            },
        }
    }

    fn report(&mut self, m: Malformed) -> Result<()> {
        if self.on_error == OnError::Fail {
            return Err(Error::Input(format!(
                "--input {}:{}: malformed record: {} (--on-error fail)",
                self.name, m.line, m.reason
            )));
        }
        self.malformed += 1;
        // Keep the first few by line: schema sampling reads ahead, so reports do not arrive
        // in line order.
        if self.examples.len() < EXAMPLES_KEPT || m.line < self.examples[EXAMPLES_KEPT - 1].line {
            let at = self.examples.partition_point(|e| e.line <= m.line);
            self.examples.insert(at, m);
            self.examples.truncate(EXAMPLES_KEPT);
        }
        Ok(())
    }

    /// Appends up to `max` valid records to `out` (layout `self.schema()`); returns how many
    /// records were read (valid or not): 0 means end of input.
    pub fn read_block(&mut self, out: &mut Batch, max: usize) -> Result<usize> {
        if let Raw::Jsonl { .. } = self.raw {
            return self.read_json_block(out, max);
        }
        let mut seen = 0;
        while out.len() < max {
            // CSV once the sample is read: parsed in place, runs of simple records a column
            // at a time, the rest record by record.
            if self.sample.is_empty()
                && let Raw::Csv(input) = &mut self.raw
            {
                let n = self.schema.len();
                let stop = match self.runs {
                    true => input
                        .next_run(n, max - out.len(), &mut self.run)
                        .map_err(|e| Error::io(format!("--input {}: read failed", self.name), e))?,
                    false => RunStop::Complex,
                };
                let view = input.run(&self.run);
                if view.len() > 0 {
                    seen += view.len();
                    self.records_read += view.len() as u64;
                    append_run(
                        &view,
                        &self.schema,
                        &self.reads,
                        &self.inferred,
                        &mut self.interner,
                        out,
                        &mut self.is_bad,
                        &mut self.bad,
                    );
                    let lines: Vec<(u64, String)> = std::mem::take(&mut self.bad)
                        .into_iter()
                        .map(|(r, reason)| (view.line(r), reason))
                        .collect();
                    for (line, reason) in lines {
                        self.report(Malformed { line, reason })?;
                    }
                }
                match stop {
                    RunStop::More => continue,
                    RunStop::End => break,
                    RunStop::Complex if out.len() >= max => break,
                    RunStop::Complex => {}
                }
                let Raw::Csv(input) = &mut self.raw else {
                    unreachable!()
                };
                let next = input.next_record();
                let next =
                    next.map_err(|e| Error::io(format!("--input {}: read failed", self.name), e))?;
                let Some(line) = next else {
                    break;
                };
                seen += 1;
                self.records_read += 1;
                let appended = append_record(
                    &input.record(),
                    &self.schema,
                    &self.reads,
                    &self.inferred,
                    &mut self.interner,
                    &mut self.staged,
                    out,
                );
                if let Err(reason) = appended {
                    self.report(Malformed { line, reason })?;
                }
                continue;
            }
            let next = match self.sample.pop_front() {
                Some(r) => Some(Ok(r)),
                None => self.read_raw()?,
            };
            let Some(next) = next else { break };
            seen += 1;
            self.records_read += 1;
            match next {
                Ok((line, rec)) => {
                    self.spare = std::mem::replace(&mut self.record, rec);
                    if let Err(reason) = self.append(out) {
                        self.report(Malformed { line, reason })?;
                    }
                }
                Err(m) => self.report(m)?,
            }
        }
        Ok(seen)
    }

    /// `read_block` for JSON lines: each line read in place from the input's buffer when it
    /// lies whole in it, then the fast path (`FastJson`) or, for a line it does not cover, the
    /// general path of `read_raw` and `append`, with the same results, reports and counts.
    fn read_json_block(&mut self, out: &mut Batch, max: usize) -> Result<usize> {
        if self.json_fast.is_none() {
            let Raw::Jsonl { keys, .. } = &self.raw else {
                unreachable!()
            };
            let reads = &self.reads;
            let fast = FastJson::new(keys, &self.schema.fields, |i| {
                reads.get(i).copied().unwrap_or(true)
            });
            self.json_fast = Some(match fast {
                Some(f) => JsonFast::On(Box::new(f)),
                None => JsonFast::Off,
            });
        }
        let mut seen = 0;
        while out.len() < max {
            let (line, rec) = if let Some(r) = self.sample.pop_front() {
                seen += 1;
                self.records_read += 1;
                r
            } else {
                let Raw::Jsonl {
                    lines,
                    keys,
                    line,
                    line_no,
                } = &mut self.raw
                else {
                    unreachable!()
                };
                let name = &self.name;
                let read_failed = |e| Error::io(format!("--input {name}: read failed"), e);
                let buf = match lines.fill_buf() {
                    Ok(buf) => buf,
                    // Retried, as `read_until` does.
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(read_failed(e)),
                };
                if buf.is_empty() {
                    break;
                }
                // The line in place when the buffer holds it whole, else copied out.
                let (text, in_place) = match memchr::memchr(b'\n', buf) {
                    Some(i) => (&buf[..=i], i + 1),
                    None => {
                        line.clear();
                        lines.read_until(b'\n', line).map_err(read_failed)?;
                        (&line[..], 0)
                    }
                };
                *line_no += 1;
                if text.iter().all(u8::is_ascii_whitespace) {
                    lines.consume(in_place);
                    continue;
                }
                seen += 1;
                self.records_read += 1;
                if let Some(JsonFast::On(fast)) = &mut self.json_fast
                    && fast.append(text, out, &mut self.interner)
                {
                    self.json_fast_lines += 1;
                    lines.consume(in_place);
                    continue;
                }
                let slow = match parse_object(text) {
                    Ok(obj) => {
                        json_record(&obj, keys)
                            .map(|rec| (*line_no, rec))
                            .map_err(|reason| Malformed {
                                line: *line_no,
                                reason,
                            })
                    }
                    Err(e) => Err(Malformed {
                        line: *line_no,
                        reason: format!("not a JSON object: {e}"),
                    }),
                };
                lines.consume(in_place);
                match slow {
                    Ok(r) => r,
                    Err(m) => {
                        self.report(m)?;
                        continue;
                    }
                }
            };
            self.spare = std::mem::replace(&mut self.record, rec);
            if let Err(reason) = self.append(out) {
                self.report(Malformed { line, reason })?;
            }
        }
        Ok(seen)
    }

    /// Parses `self.record` into `out`, all fields or none.
    fn append(&mut self, out: &mut Batch) -> std::result::Result<(), String> {
        append_record(
            &self.record,
            &self.schema,
            &self.reads,
            &self.inferred,
            &mut self.interner,
            &mut self.staged,
            out,
        )
    }
}

/// The fuzz targets' and their regression tests' harness: reads `bytes` as `format` (with the
/// schema inferred, or fixed to `market_data` when `fixed`), in both `--on-error` modes,
/// encodes every batch back to text, and checks the reader's invariants. Any panic is a bug.
#[doc(hidden)]
pub fn fuzz_read(bytes: &[u8], format: Format, fixed: bool) {
    let market = Schema::market_data();
    let fixed = fixed.then_some(&market);
    for on_error in [OnError::Skip, OnError::Fail] {
        let dict = Dict::new();
        let input = Box::new(std::io::Cursor::new(bytes.to_vec()));
        let Ok(mut r) =
            TextReader::from_reader(input, "fuzz", format, fixed, dict.clone(), on_error)
        else {
            continue;
        };
        let schema = r.schema().clone();
        let mut out = Vec::new();
        loop {
            let mut b = Batch::new(&schema, 64);
            match r.read_block(&mut b, 64) {
                Ok(0) => break,
                Ok(_) => {
                    assert!(b.columns.iter().all(|c| c.len() == b.len()), "ragged batch");
                    out.clear();
                    crate::sink::encode(
                        &b,
                        format,
                        &schema,
                        &dict,
                        crate::sink::Timestamps::Iso,
                        &mut out,
                    );
                }
                Err(_) => {
                    assert_eq!(on_error, OnError::Fail, "skip mode never stops on bad data");
                    break;
                }
            }
        }
        assert!(r.examples.len() as u64 == r.malformed.min(EXAMPLES_KEPT as u64));
        assert!(r.examples.windows(2).all(|w| w[0].line <= w[1].line));
    }
}

#[cfg(test)]
#[path = "text_tests.rs"]
mod tests;
