//! Sinks: where result rows go. Each shard owns a `ShardOutput` that collects rows in a
//! columnar batch (fully formed, also for the null sink), encodes them to CSV or JSON lines in
//! a private buffer, and writes the buffer to the shared writer under one lock per ~64 KiB —
//! never per record. A slow reader of the output stalls the writes, which stalls the shard,
//! which stalls the rings: backpressure, not buffering. A failed write (a closed pipe, a full
//! disk) raises `Sink::failed`, on which the runtime stops reading and ends the run.

use crate::data::batch::Column;
use crate::data::{Batch, DataType, Dict, Schema};
use crate::error::{Error, Result};
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

const ROWS_PER_FLUSH: usize = 4096;
const BYTES_PER_WRITE: usize = 64 * 1024;

/// How TIMESTAMP values are written (`--timestamps`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Timestamps {
    /// ISO-8601 UTC as DuckDB writes a TIMESTAMP: `2024-03-01 12:00:00.12` (milliseconds with
    /// trailing zeros dropped, none when zero); a JSON string.
    #[default]
    Iso,
    /// Epoch milliseconds, a plain integer.
    #[value(name = "epoch-ms")]
    EpochMs,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Csv,
    JsonLines,
}

/// The run's output target, shared by every shard.
pub struct Sink {
    format: Option<Format>,
    writer: Mutex<Option<Box<dyn Write + Send>>>,
    error: Mutex<Option<std::io::Error>>,
    /// Set on the first failed write: the runtime then stops reading (nothing more can be
    /// written), drains and ends, and `close` reports the error.
    failed: AtomicBool,
    /// Something was written since the last flush.
    dirty: AtomicBool,
    /// Rows handed to the writer so far.
    rows_written: AtomicU64,
    /// Bytes handed to a file writer so far, its header and a resumed file's kept part
    /// included (checkpoints record it); `None` when the target is not a file.
    bytes: Option<AtomicU64>,
    /// The file, for syncing it (checkpoints).
    file: Option<std::fs::File>,
    schema: Schema,
    dict: Arc<Dict>,
    times: Timestamps,
    /// The flag that named this sink, for error messages.
    flag: &'static str,
    /// `--output kafka://…`: rows become messages (`kafka::producer`), not text.
    kafka: Option<crate::kafka::producer::KafkaOut>,
}

impl Sink {
    /// Opens `--output`: `-` for stdout, `null` to count and discard, else a file (`.jsonl`
    /// or `.json` for JSON lines, CSV otherwise). Writes the CSV header.
    pub fn open(
        target: &str,
        schema: &Schema,
        dict: Arc<Dict>,
        times: Timestamps,
    ) -> Result<Arc<Sink>> {
        Sink::open_for("--output", target, schema, dict, times)
    }

    /// `open` for the sink of another flag (`--late-output`).
    pub fn open_for(
        flag: &'static str,
        target: &str,
        schema: &Schema,
        dict: Arc<Dict>,
        times: Timestamps,
    ) -> Result<Arc<Sink>> {
        Sink::open_at(flag, target, schema, dict, times, None)
    }

    /// `open_for`, or with `resume_at` a file cut back to that length (a checkpoint's) and
    /// appended to, with no new header. stdout and `null` are opened as ever.
    pub fn open_at(
        flag: &'static str,
        target: &str,
        schema: &Schema,
        dict: Arc<Dict>,
        times: Timestamps,
        resume_at: Option<u64>,
    ) -> Result<Arc<Sink>> {
        let mut kept = 0;
        let mut synced = None;
        let (format, writer): (Option<Format>, Option<Box<dyn Write + Send>>) = match target {
            "null" => (None, None),
            "-" => (Some(Format::Csv), Some(Box::new(std::io::stdout()))),
            path => {
                let format = format_of(flag, Path::new(path))?;
                let file = match resume_at {
                    None => std::fs::File::create(path).map_err(|e| {
                        Error::io(format!("{flag} {path}: cannot create the file"), e)
                    })?,
                    Some(len) => {
                        let cannot = |e| Error::io(format!("{flag} {path}: cannot resume"), e);
                        let f = std::fs::OpenOptions::new()
                            .write(true)
                            .open(path)
                            .map_err(cannot)?;
                        let now = f.metadata().map_err(cannot)?.len();
                        if now < len {
                            return Err(Error::Usage(format!(
                                "{flag} {path}: the checkpoint covers {len} bytes of it, but it \
                                holds {now}: it was changed since; start fresh without --resume"
                            )));
                        }
                        f.set_len(len).map_err(cannot)?;
                        let mut f = f;
                        std::io::Seek::seek(&mut f, std::io::SeekFrom::End(0)).map_err(cannot)?;
                        kept = len;
                        f
                    }
                };
                synced = file.try_clone().ok();
                (
                    Some(format),
                    Some(Box::new(std::io::BufWriter::with_capacity(1 << 16, file))),
                )
            }
        };
        let is_file = synced.is_some();
        let sink = Sink {
            format,
            writer: Mutex::new(writer),
            error: Mutex::new(None),
            failed: AtomicBool::new(false),
            dirty: AtomicBool::new(false),
            rows_written: AtomicU64::new(0),
            bytes: is_file.then(|| AtomicU64::new(kept)),
            file: synced,
            schema: schema.clone(),
            dict,
            times,
            flag,
            kafka: None,
        };
        if format == Some(Format::Csv) && resume_at.is_none() {
            let mut header = Vec::new();
            for (i, name) in schema.names().enumerate() {
                if i > 0 {
                    header.push(b',');
                }
                write_csv_str(&mut header, name);
            }
            header.push(b'\n');
            sink.write(&header);
        }
        Ok(Arc::new(sink))
    }

    /// A sink writing to a topic through `out` (`KafkaOut::open_with`): one message per row,
    /// keyed and valued as its layout says. `flag` names it in errors.
    pub fn kafka(
        flag: &'static str,
        out: crate::kafka::producer::KafkaOut,
        schema: &Schema,
        dict: Arc<Dict>,
        times: Timestamps,
    ) -> Result<Arc<Sink>> {
        Ok(Arc::new(Sink {
            format: Some(Format::JsonLines),
            writer: Mutex::new(None),
            error: Mutex::new(None),
            failed: AtomicBool::new(false),
            dirty: AtomicBool::new(false),
            rows_written: AtomicU64::new(0),
            bytes: None,
            file: None,
            schema: schema.clone(),
            dict,
            times,
            flag,
            kafka: Some(out),
        }))
    }

    fn write(&self, bytes: &[u8]) {
        let mut w = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        self.dirty.store(true, Ordering::Relaxed);
        if let Some(b) = &self.bytes {
            b.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        }
        if let Some(out) = w.as_mut()
            && let Err(e) = out.write_all(bytes)
        {
            // Stop writing after the first failure (e.g. a closed pipe); report it at the end.
            *w = None;
            self.failed.store(true, Ordering::Relaxed);
            self.error
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get_or_insert(e);
        }
    }

    /// A file's length once what was handed to its writer is written (`None`: not a file).
    pub fn bytes_written(&self) -> Option<u64> {
        self.bytes.as_ref().map(|b| b.load(Ordering::Relaxed))
    }

    /// Writes what the writer buffers through to a file and syncs it to disk (checkpoints).
    pub fn sync(&self) -> Result<()> {
        let Some(file) = &self.file else {
            return Ok(());
        };
        self.dirty.store(true, Ordering::Relaxed);
        self.flush();
        file.sync_data()
            .map_err(|e| Error::io(format!("{}: cannot sync the file", self.flag), e))
    }

    /// Whether every row handed over so far is written (flushed to the file or pipe) and, for
    /// a topic, acknowledged by the broker; false once a write or delivery failed.
    pub fn acknowledge(&self) -> bool {
        match &self.kafka {
            Some(k) => k.acknowledge(),
            None => {
                self.dirty.store(true, Ordering::Relaxed);
                self.flush();
                !self.failed()
            }
        }
    }

    /// A Kafka output's transactions (`--checkpoint-dir`).
    pub fn transactions(&self) -> Option<&crate::kafka::txn::Transactions> {
        self.kafka.as_ref().and_then(|k| k.transactions())
    }

    /// A transactional output: commits the rows of checkpoint epoch `epoch` (every shard holds
    /// what follows) and opens the next transaction. Nothing for other outputs.
    pub fn commit_epoch(&self, epoch: u64, input_offsets: Option<&[(i32, i64)]>) -> Result<()> {
        match &self.kafka {
            Some(k) => k.commit_epoch(epoch, input_offsets),
            None => Ok(()),
        }
    }

    /// The run failed or was stopped: a transactional output aborts what it has not committed.
    pub fn abandon(&self) {
        if let Some(k) = &self.kafka {
            k.abandon();
        }
    }

    /// Rows handed to the writer so far.
    pub fn rows_written(&self) -> u64 {
        self.rows_written.load(Ordering::Relaxed)
    }

    /// Flushes the writer unless another thread holds it (a second signal: best effort).
    pub fn try_flush(&self) {
        if let Ok(mut w) = self.writer.try_lock()
            && let Some(out) = w.as_mut()
        {
            let _ = out.flush();
        }
    }

    /// Flushes what was written through to the file or pipe (a shard gone idle: a slow
    /// stream's rows must not wait in a buffer). Nothing happens if nothing was written.
    pub fn flush(&self) {
        if !self.dirty.swap(false, Ordering::Relaxed) {
            return;
        }
        let mut w = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(out) = w.as_mut()
            && let Err(e) = out.flush()
        {
            *w = None;
            self.failed.store(true, Ordering::Relaxed);
            self.error
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get_or_insert(e);
        }
    }

    /// Whether a write has failed (a closed pipe, a full disk): nothing more will be written.
    pub fn failed(&self) -> bool {
        self.failed.load(Ordering::Relaxed) || self.kafka.as_ref().is_some_and(|k| k.failed())
    }

    /// Flushes the writer and reports the first write error, if any.
    pub fn close(&self) -> Result<()> {
        if let Some(k) = &self.kafka {
            return k.close();
        }
        let mut w = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(out) = w.as_mut()
            && let Err(e) = out.flush()
        {
            self.error
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get_or_insert(e);
        }
        *w = None;
        match self.error.lock().unwrap_or_else(|e| e.into_inner()).take() {
            Some(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            Some(e) => Err(Error::io(
                format!("{}: writing results failed", self.flag),
                e,
            )),
            None => Ok(()),
        }
    }
}

impl std::fmt::Debug for Sink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sink({}, {:?})", self.flag, self.format)
    }
}

/// The output format a file name asks for: `.jsonl` / `.json` / `.ndjson` mean JSON lines,
/// `.csv`, `.txt` or no extension CSV; anything else (`.parquet`, `.gz`, ...) is refused rather
/// than silently written as CSV. `flag` names the option in the message.
pub fn format_of(flag: &str, path: &Path) -> Result<Format> {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    match ext.as_deref() {
        Some("jsonl" | "json" | "ndjson") => Ok(Format::JsonLines),
        None | Some("csv" | "txt") => Ok(Format::Csv),
        Some(other) => Err(Error::Usage(format!(
            "{flag} {}: shardsql does not write `.{other}` files; name the file .csv (or no \
             extension) for CSV, or .jsonl / .json / .ndjson for JSON lines",
            path.display()
        ))),
    }
}

/// A shard's private output: rows collect in `batch`, then are encoded and written.
pub struct ShardOutput {
    pub batch: Batch,
    sink: Arc<Sink>,
    buf: Vec<u8>,
    /// A Kafka message key being encoded (`--output kafka://…`).
    key: Vec<u8>,
    /// Rows encoded in `buf`.
    buf_rows: u64,
    pub rows: u64,
    /// A checkpoint's epoch since whose cut this output keeps its rows in `buf` (a Kafka
    /// output: in `held`) instead of writing them (`checkpoint::barrier`), until the
    /// coordinator releases it.
    pub hold: Option<u64>,
    held: Vec<Batch>,
}

impl ShardOutput {
    pub fn new(sink: Arc<Sink>) -> ShardOutput {
        ShardOutput {
            batch: Batch::new(&sink.schema, ROWS_PER_FLUSH),
            sink,
            buf: Vec::new(),
            key: Vec::new(),
            buf_rows: 0,
            rows: 0,
            hold: None,
            held: Vec::new(),
        }
    }

    /// Hands the collected rows to the sink once a batch's worth has gathered.
    #[inline]
    pub fn flush_if_full(&mut self) {
        if self.batch.len() >= ROWS_PER_FLUSH {
            self.flush_rows();
        }
    }

    fn flush_rows(&mut self) {
        let n = self.batch.len();
        if n == 0 {
            return;
        }
        self.rows += n as u64;
        if self.sink.kafka.is_some() && self.hold.is_some() {
            let fresh = Batch::new(&self.sink.schema, ROWS_PER_FLUSH);
            self.held.push(std::mem::replace(&mut self.batch, fresh));
        } else if self.sink.kafka.is_some() {
            send_kafka(&self.sink, &self.batch, &mut self.buf, &mut self.key);
        } else if let Some(format) = self.sink.format {
            encode(
                &self.batch,
                format,
                &self.sink.schema,
                &self.sink.dict,
                self.sink.times,
                &mut self.buf,
            );
            self.buf_rows += n as u64;
            if self.buf.len() >= BYTES_PER_WRITE {
                self.write_buf();
            }
        }
        self.batch.clear();
    }

    /// Writes the rows gathered so far and flushes the sink (a shard going idle; never on
    /// the busy path).
    pub fn flush_idle(&mut self) {
        self.finish();
        self.sink.flush();
    }

    /// Writes everything still buffered (unless held).
    pub fn finish(&mut self) {
        self.flush_rows();
        if !self.buf.is_empty() {
            self.write_buf();
        }
    }

    /// A checkpoint's cut: writes everything so far, then holds what follows until `release`.
    pub fn hold_from(&mut self, epoch: u64) {
        self.finish();
        self.hold = Some(epoch);
    }

    /// The checkpoint's lengths are recorded: writes what was held.
    pub fn release(&mut self) {
        self.hold = None;
        for batch in std::mem::take(&mut self.held) {
            send_kafka(&self.sink, &batch, &mut self.buf, &mut self.key);
        }
        if !self.buf.is_empty() {
            self.write_buf();
        }
    }

    fn write_buf(&mut self) {
        if self.hold.is_some() {
            return;
        }
        self.sink.write(&self.buf);
        self.sink
            .rows_written
            .fetch_add(std::mem::take(&mut self.buf_rows), Ordering::Relaxed);
        self.buf.clear();
    }
}

/// Sends `batch`'s rows as messages of `sink`'s Kafka topic (`buf` and `key`: scratch).
fn send_kafka(sink: &Sink, batch: &Batch, buf: &mut Vec<u8>, key: &mut Vec<u8>) {
    if let Some(k) = &sink.kafka {
        k.send_rows(batch, &sink.schema, &sink.dict, sink.times, buf, key);
        buf.clear();
        sink.rows_written
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
    }
}

/// Encodes every row of `batch`; TIMESTAMP columns (by `schema`) as `times` says.
pub fn encode(
    batch: &Batch,
    format: Format,
    schema: &Schema,
    dict: &Dict,
    times: Timestamps,
    out: &mut Vec<u8>,
) {
    let iso: Vec<bool> = schema
        .fields
        .iter()
        .map(|f| f.ty == DataType::Timestamp && times == Timestamps::Iso)
        .collect();
    let mut ib = itoa::Buffer::new();
    let mut fb = ryu::Buffer::new();
    for row in 0..batch.len() {
        if format == Format::JsonLines {
            out.push(b'{');
        }
        for (c, col) in batch.columns.iter().enumerate() {
            if c > 0 {
                out.push(b',');
            }
            if format == Format::JsonLines {
                write_json_str(out, &schema.fields[c].name);
                out.push(b':');
            }
            write_cell(out, col, row, iso[c], format, dict, &mut ib, &mut fb);
        }
        out.extend_from_slice(if format == Format::JsonLines {
            b"}\n"
        } else {
            b"\n"
        });
    }
}

/// Writes columns `cols` of row `row` as one JSON object (no newline): a Kafka message key.
pub fn encode_json_object(
    batch: &Batch,
    row: usize,
    cols: &[usize],
    schema: &Schema,
    dict: &Dict,
    times: Timestamps,
    out: &mut Vec<u8>,
) {
    let mut ib = itoa::Buffer::new();
    let mut fb = ryu::Buffer::new();
    out.push(b'{');
    for (i, &c) in cols.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let f = &schema.fields[c];
        write_json_str(out, &f.name);
        out.push(b':');
        let iso = f.ty == DataType::Timestamp && times == Timestamps::Iso;
        write_cell(
            out,
            &batch.columns[c],
            row,
            iso,
            Format::JsonLines,
            dict,
            &mut ib,
            &mut fb,
        );
    }
    out.push(b'}');
}

/// One value: NULL as an empty CSV field or JSON `null`; a TIMESTAMP as ISO-8601 when `iso`.
#[allow(clippy::too_many_arguments)]
#[inline]
fn write_cell(
    out: &mut Vec<u8>,
    col: &Column,
    row: usize,
    iso: bool,
    format: Format,
    dict: &Dict,
    ib: &mut itoa::Buffer,
    fb: &mut ryu::Buffer,
) {
    if col.is_null(row) {
        // NULL: an empty CSV field (what DuckDB writes and reads back as NULL).
        if format == Format::JsonLines {
            out.extend_from_slice(b"null");
        }
        return;
    }
    match col {
        Column::Int(v) if iso => {
            let json = format == Format::JsonLines;
            if json {
                out.push(b'"');
            }
            crate::data::time::write_iso(out, v[row]);
            if json {
                out.push(b'"');
            }
        }
        Column::Int(v) => out.extend_from_slice(ib.format(v[row]).as_bytes()),
        Column::Float(v) => {
            let x = v[row];
            if format == Format::JsonLines && !x.is_finite() {
                out.extend_from_slice(b"null");
            } else {
                out.extend_from_slice(fb.format(x).as_bytes());
            }
        }
        Column::Bool(v) => out.extend_from_slice(if v[row] == 1 { b"true" } else { b"false" }),
        Column::Str(v) => match format {
            Format::Csv => write_csv_str(out, dict.get(v[row])),
            Format::JsonLines => write_json_str(out, dict.get(v[row])),
        },
    }
}

fn write_csv_str(out: &mut Vec<u8>, s: &str) {
    if s.bytes().any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r')) {
        out.push(b'"');
        for b in s.bytes() {
            if b == b'"' {
                out.push(b'"');
            }
            out.push(b);
        }
        out.push(b'"');
    } else {
        out.extend_from_slice(s.as_bytes());
    }
}

fn write_json_str(out: &mut Vec<u8>, s: &str) {
    // serde_json's escaping is exact; strings are short, so this does not allocate per call
    // beyond the output buffer itself.
    serde_json::to_writer(&mut *out, s).expect("writing to a Vec cannot fail");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{Field, Interner};

    #[test]
    fn csv_and_json_encoding_quote_what_they_must() {
        let dict = Dict::new();
        let mut i = Interner::new(dict.clone());
        let id = i.intern("a,\"b\"");
        let schema = Schema::new(vec![
            Field::new("s", DataType::Str),
            Field::new("x", DataType::Float),
            Field::new("n", DataType::Int),
        ]);
        let batch = Batch {
            columns: vec![
                Column::Str(vec![id]),
                Column::Float(vec![1.5]),
                Column::Int(vec![-3]),
            ],
        };
        let mut out = Vec::new();
        encode(
            &batch,
            Format::Csv,
            &schema,
            &dict,
            Timestamps::Iso,
            &mut out,
        );
        assert_eq!(String::from_utf8(out).unwrap(), "\"a,\"\"b\"\"\",1.5,-3\n");
        let mut out = Vec::new();
        encode(
            &batch,
            Format::JsonLines,
            &schema,
            &dict,
            Timestamps::Iso,
            &mut out,
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"s\":\"a,\\\"b\\\"\",\"x\":1.5,\"n\":-3}\n"
        );
    }
}
