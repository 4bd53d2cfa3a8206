//! `Control`: the start and stop signals every thread of a run shares (a failure's abort, a
//! graceful stop's agreed cut, the start instant, parked cores to wake).
//!
//! Threading: shared by reference (`Arc`); touched at start, once per block or idle turn,
//! and at the end, never per record.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

/// Start and stop signals shared by every thread of a run (touched only at start, once per
/// block or idle turn, and at the end — never per record).
///
/// Two ways to stop: `abort` (a part of the run failed: everyone returns at once, no results
/// are trusted) and a **graceful stop** (`interrupt`, raised by SIGINT / SIGTERM, or a failed
/// output write): readers stop reading at one block number agreed by all (`cut`), so every
/// shard sees the same prefix of the input, then everything drains and ends as at end of
/// input. Agreeing on the cut: each reader, on seeing the stop (or on running out of input),
/// publishes the number of the next block it would read into `cut` (`fetch_max`) and counts
/// itself in `published`; once all have, each reads its blocks below `cut` and sends end of
/// input. Every block below the cut is read by its reader, none at or above it is, so shards,
/// which consume blocks in order, all end at the cut.
#[derive(Default)]
pub struct Control {
    /// Set when any part of the run fails: everyone stops.
    pub abort: AtomicBool,
    /// What failed, when a core found it (bad input under `--on-error fail`).
    pub failure: std::sync::Mutex<Option<crate::error::Error>>,
    /// Graceful stop requested (a signal handler sets it).
    pub interrupt: Arc<AtomicBool>,
    /// Records read so far, over all readers (one add per block).
    pub records_read: Arc<AtomicU64>,
    /// The output: a failed write is a graceful stop too (nothing more can be written).
    pub sink: Option<Arc<crate::sink::Sink>>,
    /// Readers that have published their next block number (graceful stop).
    pub published: AtomicUsize,
    /// The first block no reader reads after a graceful stop.
    pub cut: AtomicU64,
    /// Cores whose executor is up and waiting for `go`.
    pub ready: AtomicUsize,
    /// Set once every core is up, so runtime start-up stays out of the measured time.
    pub go: AtomicBool,
    /// The instant `go` was given; `--rate` paces blocks from it.
    pub start: OnceLock<Instant>,
    /// Wake-on-push: each core's thread, and whether it is parked (or about to park) waiting
    /// for input. A reader that hands a parked shard a batch unparks it, so an idle shard
    /// wakes at once instead of when its sleep timer fires (the latency floor at low rates).
    pub threads: Vec<OnceLock<std::thread::Thread>>,
    pub parked: Vec<AtomicBool>,
}

impl Control {
    pub fn aborted(&self) -> bool {
        self.abort.load(Ordering::Relaxed)
    }

    pub fn stop(&self) {
        self.abort.store(true, Ordering::Relaxed);
    }

    /// Stops the run because of `e`, the first failure reported being the one the run ends
    /// with.
    pub fn fail(&self, e: crate::error::Error) {
        self.failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_or_insert(e);
        self.stop();
    }

    /// Wakes core `c` if it is parked waiting for input (after a batch was pushed to it).
    pub fn wake(&self, c: usize) {
        // Pairs with the fence in `Core::park`: either the sleeper sees the batch, or this
        // sees the sleeper's flag.
        std::sync::atomic::fence(Ordering::SeqCst);
        if self
            .parked
            .get(c)
            .is_some_and(|p| p.load(Ordering::Relaxed))
            && let Some(t) = self.threads[c].get()
        {
            t.unpark();
        }
    }

    pub fn take_failure(&self) -> Option<crate::error::Error> {
        self.failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }

    /// A graceful stop's cut is agreed by all `readers`, and `block` (`None`: an end marker)
    /// is at or past it: no core will read it (`Core::stream_stops_at_cut`).
    pub fn past_stop_cut(&self, block: Option<u64>, readers: usize) -> bool {
        self.stop_reading()
            && self.published.load(Ordering::Acquire) >= readers
            && block.is_none_or(|b| b >= self.cut.load(Ordering::Acquire))
    }

    /// Whether readers should stop reading: a signal arrived, or the output failed.
    pub fn stop_reading(&self) -> bool {
        self.interrupt.load(Ordering::Relaxed) || self.sink.as_ref().is_some_and(|s| s.failed())
    }
}

/// The run was stopped because another part of it failed.
#[derive(Debug)]
pub struct Aborted;
