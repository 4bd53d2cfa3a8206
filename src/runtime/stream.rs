//! The stream readers of a text input: the reader thread that parses a pipe, stdin or a
//! single core's file and deals parsed blocks (`parse_input`), the cutter thread that deals a
//! file's raw chunks to the cores that parse them (`cut_input`: gzip, `--rate`, checkpoints,
//! a followed file), and the choice between them and the cores reading a regular file's byte
//! ranges themselves (`ranged`, `source::ranges`).
//!
//! Threading: each function here runs on, or starts, the one reader thread of a run; it talks
//! to the cores only through their SPSC rings and `Control`.

use super::core::{Control, CoreReader, SourceMsg};
use super::{ReaderEnd, RunConfig, backoff, push_source, stream_rings};
use crate::data::Batch;
use crate::error::{Error, Result};
use crate::source::BLOCK_ROWS;
use crate::source::text::TextReader;
use std::io::Read as _;
use std::sync::Arc;
use std::time::Duration;

/// Whether the cores read `reader`'s file themselves (`source::ranges`): a regular file (not
/// stdin, a pipe or a followed file), on more than one core (on one, a reader thread parsing
/// beside the core is faster: BENCHMARKS §18; `--range-bytes N` forces ranges there too),
/// skipping bad records (under `--on-error fail` one parser reads in order, to stop at the
/// first), and not turned off (`--range-bytes 0`). Paced (`--rate`) and checkpointed runs stay
/// on the cutter: ranges cut the same blocks, so both could move (a checkpoint would record the
/// block's offset and line from the range scan), but neither is done or tested yet. A gzipped
/// file is found out when it is opened (`RangeFile::open`).
pub(super) fn ranged(cfg: &RunConfig, n: usize, reader: &TextReader) -> bool {
    (n > 1 || cfg.range_bytes.is_some_and(|b| b > 0))
        && cfg.range_bytes != Some(0)
        && cfg.rate.is_none()
        && cfg.checkpoint.is_none()
        && cfg.restored.is_none()
        && !reader.is_live()
        && !reader.fails_on_error()
        && reader.path() != "-"
        && std::fs::metadata(reader.path()).is_ok_and(|m| m.is_file())
}

/// The cores' readers of a text input read by a reader thread (started here into `parser`):
/// chunks cut by `cut_input` or blocks parsed by `parse_input`. `file_chunks`: a regular
/// file's, whose cores stop at a graceful stop's cut (`Core::stream_stops_at_cut`).
#[allow(clippy::too_many_arguments)]
pub(super) fn stream_readers(
    cfg: &RunConfig,
    n: usize,
    mut reader: Box<TextReader>,
    control: &Arc<Control>,
    barrier: &Option<Arc<crate::checkpoint::barrier::Barrier>>,
    parser: &mut Option<std::thread::JoinHandle<Result<ReaderEnd>>>,
    file_chunks: &mut bool,
) -> Result<Vec<CoreReader>> {
    // A regular file read by several cores is cut into chunks that the cores parse
    // (parallel parsing); stdin, a pipe, a single core's input, or any input under
    // `--on-error fail` is parsed by the reader thread, which deals parsed blocks (with one core that thread is the
    // parallelism).
    // Under `--on-error fail` one parser reads in order, so the run stops at the
    // first malformed record, exactly as with one core.
    // A followed file under checkpoints is cut too (as it grows), so that each
    // block's byte offset and line are known.
    let followed = cfg.checkpoint.is_some() && reader.follows_file();
    if followed {
        reader.stop_live();
    }
    let chunked = followed
        || (n > 1 || cfg.checkpoint.is_some())
            && !reader.is_live()
            && !reader.fails_on_error()
            && reader.path() != "-"
            && std::fs::metadata(reader.path()).is_ok_and(|m| m.is_file());
    *file_chunks = !followed && !reader.is_live();
    let (rings, backs, core_readers) =
        stream_rings(n, || chunked.then(|| Box::new(reader.chunk_parser())));
    let control = control.clone();
    let linger = cfg.linger;
    let barrier = barrier.clone();
    let from = cfg.restored.as_ref().map(|r| r.manifest.position.clone());
    *parser = Some(
        std::thread::Builder::new()
            .name("shardsql-reader".into())
            .spawn(move || {
                if chunked {
                    let follow = followed.then_some(linger);
                    cut_input(&reader, rings, &control, barrier.as_deref(), from, follow)
                        .map(|()| ReaderEnd::Text(None))
                } else {
                    parse_input(reader, rings, backs, &control, linger)
                        .map(|r| ReaderEnd::Text(Some(r)))
                }
            })
            .map_err(|e| Error::io("cannot start the input reader thread", e))?,
    );
    Ok(core_readers)
}

/// The cutter thread of parallel parsing: cuts the file into chunks of `BLOCK_ROWS` records and
/// deals chunk `b` (input block `b`) to core `b mod N`, which parses it.
///
/// Checkpoints: it decides each cut (`checkpoint::barrier`): its next chunk, at that chunk's
/// byte offset and line. A resumed run starts at the checkpoint's (`from`).
///
/// `follow` (a followed file under checkpoints): the file is framed as it grows
/// (`source::live`), chunks cut when full or after the linger, until a stop; what was
/// received before the stop is dealt.
pub(super) fn cut_input(
    reader: &TextReader,
    mut rings: Vec<rtrb::Producer<SourceMsg>>,
    control: &Control,
    barrier: Option<&crate::checkpoint::barrier::Barrier>,
    from: Option<crate::checkpoint::Position>,
    follow: Option<Duration>,
) -> Result<()> {
    let n = rings.len();
    let path = reader.path();
    let mut file = crate::source::open::open_input(path)?;
    let (block, byte, line) = match from {
        Some(crate::checkpoint::Position::File { block, byte, line }) => (block, byte, line),
        _ => {
            let start = reader.data_start();
            (0, start.byte, start.line)
        }
    };
    std::io::copy(&mut (&mut file).take(byte), &mut std::io::sink())
        .map_err(|e| Error::io(format!("--input {path}: read failed"), e))?;
    let csv = reader.format() == crate::sink::Format::Csv;
    let mut backoff = backoff::Backoff::default();
    // A regular file's cores stop at a graceful stop's cut: what is past it is not read.
    let stops_at_cut = follow.is_none();
    let mut push = |ring: &mut rtrb::Producer<SourceMsg>, msg: SourceMsg, block: Option<u64>| {
        let unread = || stops_at_cut && control.past_stop_cut(block, n);
        push_source(ring, msg, &mut backoff, control, &unread)
    };
    // The next block to deal and the byte it starts at (read by the follow loop too).
    let next = std::cell::Cell::new((block, byte));
    let mut deal = |chunk: crate::source::chunker::Chunk| -> Result<bool> {
        if follow.is_none() && control.stop_reading() {
            return Ok(false); // graceful stop: end every core's input here
        }
        let (block, byte) = next.get();
        if let Some(b) = barrier {
            b.dealing(block, byte, chunk.first_line);
        }
        next.set((block + 1, byte + chunk.bytes.len() as u64));
        push(
            &mut rings[(block % n as u64) as usize],
            SourceMsg::Chunk(chunk),
            Some(block),
        )?;
        Ok(true)
    };
    let cut = match follow {
        None => crate::source::chunker::cut(file, path, csv, line, BLOCK_ROWS, &mut deal),
        Some(linger) => (|| {
            // A quiet file must not hold a checkpoint back: once its cut is agreed beyond the
            // blocks dealt, empty chunks fill the blocks up to it, and where the next block
            // would start is recorded after each chunk.
            let mut framer = crate::source::live::Framer::start_at(file, path, csv, true, line)?;
            let stop = || control.stop_reading();
            let behind = || {
                barrier
                    .and_then(|b| b.pending_cut())
                    .is_some_and(|cut| cut > next.get().0)
            };
            while let Some(chunk) = framer.next_chunk_or_wake(BLOCK_ROWS, linger, &stop, &behind)? {
                deal(chunk)?;
                if let Some(b) = barrier {
                    let (block, byte) = next.get();
                    b.dealing(block, byte, framer.next_line());
                }
            }
            Ok(())
        })(),
    };
    if let Some(b) = barrier {
        // The end: a cut there resumes past the last record.
        let (block, byte) = next.get();
        b.dealing(block, byte, 0);
    }
    if let Err(e) = cut {
        control.stop();
        return Err(e);
    }
    for ring in &mut rings {
        push(ring, SourceMsg::End, None)?;
    }
    Ok(())
}

/// The stream reader thread: parses the input into blocks and deals block `b` to core `b mod N`.
/// A live input's blocks are cut when full or after `linger` (`source::live`); on a stop it
/// still takes every whole record already received, so the run counts what was written.
pub(super) fn parse_input(
    mut reader: Box<TextReader>,
    mut rings: Vec<rtrb::Producer<SourceMsg>>,
    mut backs: Vec<rtrb::Consumer<Batch>>,
    control: &Control,
    linger: Duration,
) -> Result<Box<TextReader>> {
    let n = rings.len();
    let mut block = 0usize;
    let mut backoff = backoff::Backoff::default();
    let live = reader.is_live();
    // A regular file's cores stop at a graceful stop's cut: what is past it is not read.
    let mut push = |ring: &mut rtrb::Producer<SourceMsg>, msg: SourceMsg, block: Option<u64>| {
        let unread = || !live && control.past_stop_cut(block, n);
        push_source(ring, msg, &mut backoff, control, &unread)
    };
    let stop = || control.stop_reading();
    loop {
        if !live && control.stop_reading() {
            break; // graceful stop: end every core's input here
        }
        let c = block % n;
        let mut b = backs[c]
            .pop()
            .unwrap_or_else(|_| Batch::new(reader.schema(), BLOCK_ROWS));
        b.clear();
        let read = reader.read_block(&mut b, BLOCK_ROWS).and_then(|seen| {
            if seen == 0 && live {
                // Everything received is read: wait for the next whole records.
                reader
                    .next_live_chunk(BLOCK_ROWS, linger, &stop)
                    .map(|more| if more { usize::MAX } else { 0 })
            } else {
                Ok(seen)
            }
        });
        let seen = match read {
            Ok(s) => s,
            Err(e) => {
                control.stop();
                return Err(e);
            }
        };
        if seen == 0 {
            break;
        }
        if b.is_empty() {
            continue;
        }
        push(&mut rings[c], SourceMsg::Block(b), Some(block as u64))?;
        block += 1;
    }
    for ring in &mut rings {
        push(ring, SourceMsg::End, None)?;
    }
    Ok(reader)
}
