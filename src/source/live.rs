//! Live framing of a stream input (stdin, a pipe, a FIFO, a file followed as it grows): a pump
//! thread reads raw bytes as they come and hands them over a small bounded channel; the
//! reader's thread takes whole records from them in chunks, cut when `max` records are complete
//! or when the linger has passed since the chunk's first complete record arrived (a Kafka
//! producer's `linger.ms`), so a slow source still moves, and it checks a stop flag at least
//! every `STOP_POLL`, so a signal stops it promptly even while the source is quiet. Record
//! boundaries come from the same scanner as parallel parsing (`chunker::RecordEnds`), so a
//! chunk never splits a record, whatever the bytes and however they are split by `read`.
//!
//! Threading: the pump thread owns the input; the `Framer` belongs to the reader's thread. The
//! pump may stay blocked in `read` when the run ends (a quiet pipe); nothing joins it.

use super::chunker::{Chunk, RecordEnds};
use crate::error::{Error, Result};
use std::collections::VecDeque;
use std::io::Read;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::time::{Duration, Instant};

/// The longest the framer waits without looking at the stop flag.
pub const STOP_POLL: Duration = Duration::from_millis(20);
/// Bytes per read of the pump.
const PIECE: usize = 1 << 16;
/// Pieces in flight between the pump and the framer (backpressure beyond that).
const PIECES_IN_FLIGHT: usize = 16;
/// How often a followed file is polled for growth once at its end.
const FOLLOW_POLL: Duration = Duration::from_millis(50);

enum Piece {
    Bytes(Vec<u8>),
    End,
    Failed(std::io::Error),
}

/// Whole records of a live input, as they arrive.
pub struct Framer {
    rx: Receiver<Piece>,
    name: String,
    /// Bytes received and not yet handed out.
    pending: Vec<u8>,
    /// Record ends within `pending`: the cut offset and the line the next record starts on.
    ends: VecDeque<(usize, u64)>,
    scanner: RecordEnds,
    /// The line `pending` starts on.
    pending_line: u64,
    /// When the oldest complete record not yet handed out arrived.
    first_complete: Option<Instant>,
    eof: bool,
    /// A stop came: what was received is handed out, nothing more is received.
    stopped: bool,
}

impl Framer {
    /// Starts the pump over `input` (already decoded: gunzipped, BOM dropped). `follow` keeps
    /// reading at end of input, as `tail -f`, until stopped.
    pub fn start(
        input: Box<dyn Read + Send>,
        name: &str,
        csv: bool,
        follow: bool,
    ) -> Result<Framer> {
        Framer::start_at(input, name, csv, follow, 1)
    }

    /// `start`, for input whose first byte starts line `first_line` (a followed file resumed
    /// from a checkpoint's position).
    pub fn start_at(
        input: Box<dyn Read + Send>,
        name: &str,
        csv: bool,
        follow: bool,
        first_line: u64,
    ) -> Result<Framer> {
        let (tx, rx) = sync_channel(PIECES_IN_FLIGHT);
        std::thread::Builder::new()
            .name("shardsql-pump".into())
            .spawn(move || pump(input, tx, follow))
            .map_err(|e| Error::io("cannot start the input pump thread", e))?;
        Ok(Framer {
            rx,
            name: name.to_string(),
            pending: Vec::new(),
            ends: VecDeque::new(),
            scanner: RecordEnds::new(csv, first_line),
            pending_line: first_line,
            first_complete: None,
            eof: false,
            stopped: false,
        })
    }

    /// Waits up to `timeout` for the next piece of input and scans it.
    fn receive(&mut self, timeout: Duration) -> Result<()> {
        let piece = match self.rx.recv_timeout(timeout) {
            Ok(p) => p,
            Err(RecvTimeoutError::Timeout) => return Ok(()),
            Err(RecvTimeoutError::Disconnected) => Piece::End,
        };
        match piece {
            Piece::Bytes(bytes) => {
                let base = self.pending.len();
                let ends = &mut self.ends;
                self.scanner.scan(&bytes, |cut, line| {
                    ends.push_back((base + cut, line));
                    Ok(true)
                })?;
                self.pending.extend_from_slice(&bytes);
                if !self.ends.is_empty() && self.first_complete.is_none() {
                    self.first_complete = Some(Instant::now());
                }
                Ok(())
            }
            Piece::End => {
                self.eof = true;
                Ok(())
            }
            Piece::Failed(e) => Err(Error::io(format!("--input {}: read failed", self.name), e)),
        }
    }

    /// Takes a piece already waiting, if any (true when one was).
    fn receive_now(&mut self) -> Result<bool> {
        let before = (self.pending.len(), self.eof);
        self.receive(Duration::ZERO)?;
        Ok((self.pending.len(), self.eof) != before)
    }

    /// The first `k` complete records.
    fn take(&mut self, k: usize) -> Chunk {
        let (cut, next_line) = self.ends[k - 1];
        let bytes: Vec<u8> = self.pending.drain(..cut).collect();
        self.ends.drain(..k);
        for e in &mut self.ends {
            e.0 -= cut;
        }
        let first_line = std::mem::replace(&mut self.pending_line, next_line);
        self.first_complete = (!self.ends.is_empty()).then(Instant::now);
        Chunk { bytes, first_line }
    }

    /// The next whole records: at most `max`, handed out once `max` are complete, once
    /// `linger` has passed since the first of them arrived, at end of input, or when `stop`
    /// says so (then every complete record received is handed out before `None`). `None`
    /// means the input ended (or the stop came) with nothing left.
    pub fn next_chunk(
        &mut self,
        max: usize,
        linger: Duration,
        stop: &dyn Fn() -> bool,
    ) -> Result<Option<Chunk>> {
        self.next_chunk_or_wake(max, linger, stop, &|| false)
    }

    /// The line the next chunk starts on.
    pub fn next_line(&self) -> u64 {
        self.pending_line
    }

    /// `next_chunk`, which also returns when `wake` says so (asked every `STOP_POLL` while
    /// waiting): with the complete records received so far, possibly none (an empty chunk).
    pub fn next_chunk_or_wake(
        &mut self,
        max: usize,
        linger: Duration,
        stop: &dyn Fn() -> bool,
        wake: &dyn Fn() -> bool,
    ) -> Result<Option<Chunk>> {
        loop {
            let complete = self.ends.len();
            if complete >= max {
                return Ok(Some(self.take(max)));
            }
            let stopped = self.stopped || stop();
            if stopped && !self.stopped {
                // Take what was already received (at most the channel's capacity: a writer
                // that keeps writing must not hold the stop off): what was written before the
                // stop counts. Nothing is received after this.
                self.stopped = true;
                for _ in 0..PIECES_IN_FLIGHT {
                    if self.eof || !self.receive_now()? {
                        break;
                    }
                }
            }
            let complete = self.ends.len();
            if complete >= max {
                return Ok(Some(self.take(max)));
            }
            if self.eof || stopped {
                if complete > 0 {
                    return Ok(Some(self.take(complete)));
                }
                // At the end of input the bytes after the last record end are the last record.
                if self.eof && !stopped && self.scanner.is_record(&self.pending) {
                    let bytes = std::mem::take(&mut self.pending);
                    return Ok(Some(Chunk {
                        bytes,
                        first_line: self.pending_line,
                    }));
                }
                return Ok(None);
            }
            if wake() {
                if complete > 0 {
                    return Ok(Some(self.take(complete)));
                }
                return Ok(Some(Chunk {
                    bytes: Vec::new(),
                    first_line: self.pending_line,
                }));
            }
            let wait = match self.first_complete {
                Some(t) => {
                    let waited = t.elapsed();
                    if waited >= linger {
                        return Ok(Some(self.take(complete)));
                    }
                    (linger - waited).min(STOP_POLL)
                }
                None => STOP_POLL,
            };
            self.receive(wait)?;
        }
    }

    /// The input's first records, to name and type the columns: waits (until `stop`) for
    /// `least` complete records, then up to `window` more for at most `most`, and returns them
    /// as one chunk (empty at once-empty input).
    pub fn prefix(
        &mut self,
        least: usize,
        most: usize,
        window: Duration,
        stop: &dyn Fn() -> bool,
    ) -> Result<Chunk> {
        let mut since: Option<Instant> = None;
        loop {
            let complete = self.ends.len();
            if complete >= least && since.is_none() {
                since = Some(Instant::now());
            }
            let window_over = since.is_some_and(|t| t.elapsed() >= window);
            if complete >= most || window_over || self.eof || stop() {
                if self.eof && complete < most && self.scanner.is_record(&self.pending) {
                    // The whole input is here: all of it.
                    self.ends
                        .push_back((self.pending.len(), self.scanner_line()));
                }
                let k = self.ends.len().min(most);
                if k == 0 {
                    return Ok(Chunk {
                        bytes: Vec::new(),
                        first_line: self.pending_line,
                    });
                }
                let chunk = self.take(k);
                return Ok(chunk);
            }
            self.receive(STOP_POLL)?;
        }
    }

    /// The line after everything pending (only meaningful at end of input).
    fn scanner_line(&self) -> u64 {
        self.pending_line + self.pending.iter().filter(|&&b| b == b'\n').count() as u64
    }
}

/// The pump: reads `input` in pieces until its end (or forever, polling, with `follow`).
fn pump(mut input: Box<dyn Read + Send>, tx: SyncSender<Piece>, follow: bool) {
    loop {
        let mut buf = vec![0u8; PIECE];
        match input.read(&mut buf) {
            Ok(0) if follow => std::thread::sleep(FOLLOW_POLL),
            Ok(0) => {
                let _ = tx.send(Piece::End);
                return;
            }
            Ok(n) => {
                buf.truncate(n);
                if tx.send(Piece::Bytes(buf)).is_err() {
                    return; // the run ended
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                let _ = tx.send(Piece::Failed(e));
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A reader that yields its pieces one `read` at a time, with a pause before each.
    struct Slow(VecDeque<(Duration, Vec<u8>)>);

    impl Read for Slow {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let Some((pause, piece)) = self.0.pop_front() else {
                return Ok(0);
            };
            std::thread::sleep(pause);
            let n = piece.len().min(buf.len());
            buf[..n].copy_from_slice(&piece[..n]);
            Ok(n)
        }
    }

    fn never() -> bool {
        false
    }

    #[test]
    fn records_split_anywhere_come_out_whole_with_their_lines() {
        let text = b"a,1\n\"b\nb\",2\r\nc,3\n\nd,4";
        // Every split of the bytes into two reads.
        for cut in 0..=text.len() {
            let pieces = [&text[..cut], &text[cut..]]
                .into_iter()
                .filter(|p| !p.is_empty())
                .map(|p| (Duration::ZERO, p.to_vec()))
                .collect();
            let mut f = Framer::start(Box::new(Slow(pieces)), "t", true, false).unwrap();
            let mut got = Vec::new();
            while let Some(c) = f.next_chunk(1, Duration::from_secs(5), &never).unwrap() {
                got.push((String::from_utf8(c.bytes).unwrap(), c.first_line));
            }
            let joined: String = got.iter().map(|c| c.0.as_str()).collect();
            assert_eq!(joined.as_bytes(), text, "cut at {cut}");
            let lines: Vec<u64> = got.iter().map(|c| c.1).collect();
            // A chunk's first line is its first byte's: after a CRLF the CR's line (the chunk
            // starts with the LF), after a blank line that line; the CSV reader counts the line
            // ends it skips, so each record keeps its own line.
            assert_eq!(lines, [1, 2, 3, 5], "cut at {cut}: {got:?}");
        }
    }

    #[test]
    fn a_slow_source_moves_after_the_linger_and_a_stop_is_prompt() {
        let pieces = VecDeque::from([
            (Duration::ZERO, b"a,1\nb,2\n".to_vec()),
            (Duration::from_secs(30), b"c,3\n".to_vec()),
        ]);
        let mut f = Framer::start(Box::new(Slow(pieces)), "t", true, false).unwrap();
        let t = Instant::now();
        let c = f
            .next_chunk(4096, Duration::from_millis(5), &never)
            .unwrap()
            .unwrap();
        assert_eq!(c.bytes, b"a,1\nb,2\n");
        // The source is now quiet for 30 s: a stop ends the wait within a poll.
        let stop_at = Instant::now() + Duration::from_millis(50);
        let stop = move || Instant::now() >= stop_at;
        assert!(
            f.next_chunk(4096, Duration::from_millis(5), &stop)
                .unwrap()
                .is_none()
        );
        assert!(t.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn a_pipe_delivers_chunks_before_it_closes() {
        let (r, mut w) = std::io::pipe().unwrap();
        let mut f = Framer::start(Box::new(r), "t", false, false).unwrap();
        w.write_all(b"{\"a\":1}\n{\"a\":").unwrap();
        let c = f
            .next_chunk(10, Duration::from_millis(5), &never)
            .unwrap()
            .unwrap();
        assert_eq!(c.bytes, b"{\"a\":1}\n");
        w.write_all(b"2}").unwrap();
        drop(w);
        let c = f
            .next_chunk(10, Duration::from_millis(5), &never)
            .unwrap()
            .unwrap();
        assert_eq!((c.bytes.as_slice(), c.first_line), (&b"{\"a\":2}"[..], 2));
        assert!(
            f.next_chunk(10, Duration::from_millis(5), &never)
                .unwrap()
                .is_none()
        );
    }
}
