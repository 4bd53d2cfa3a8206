//! SIGINT and SIGTERM during a run. The first asks the run to stop gracefully: it raises the
//! runtime's interrupt flag, on which readers stop reading (a live input first takes every
//! whole record already written to it), shards drain their rings and end as at end of input (so
//! every window and group holds exactly the records read, and open windows are flushed), the
//! output is flushed and the stats are written marked `interrupted`; the process then exits
//! with 128 + the signal (130 for SIGINT, 143 for SIGTERM). A second signal exits at once with
//! the same status, after `on_second` has said what was done so far (the caller writes a short
//! summary and the stats it can: records read, rows written, marked incomplete).
//!
//! signal-hook's handlers do only async-signal-safe work (a store, a byte into a self-pipe);
//! a watcher thread (signal-hook's iterator) does the rest, so the second signal is served even
//! while every core is busy or blocked. `ctrlc` would cover SIGINT (and SIGTERM only behind a
//! feature) with one closure and has no second-signal behaviour; signal-hook is already in the
//! build (glommio depends on it).
//!
//! Threading: installed and dropped by the main thread around one run; the flags are read by
//! every core (relaxed loads, once per block or idle turn).

use crate::error::{Error, Result};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Handle;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

/// What a second signal runs before the process exits: the signal's name and exit status.
pub type OnSecond = Box<dyn Fn(&'static str, i32) + Send>;

/// The handlers of one run; dropping it restores the previous disposition of both signals.
pub struct Signals {
    /// Raised by the first SIGINT or SIGTERM: the runtime's graceful-stop flag.
    pub stop: Arc<AtomicBool>,
    /// The first signal received (0: none).
    first: Arc<AtomicI32>,
    handle: Handle,
}

fn name_of(sig: i32) -> &'static str {
    if sig == SIGINT { "SIGINT" } else { "SIGTERM" }
}

impl Signals {
    pub fn install(on_second: OnSecond) -> Result<Signals> {
        let stop = Arc::new(AtomicBool::new(false));
        let first = Arc::new(AtomicI32::new(0));
        let mut iter = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])
            .map_err(|e| Error::io("cannot install the SIGINT/SIGTERM handlers", e))?;
        let handle = iter.handle();
        let (stop2, first2) = (stop.clone(), first.clone());
        std::thread::Builder::new()
            .name("shardsql-signals".into())
            .spawn(move || {
                for sig in iter.forever() {
                    if first2
                        .compare_exchange(0, sig, Ordering::AcqRel, Ordering::Acquire)
                        .is_ok()
                    {
                        stop2.store(true, Ordering::Release);
                        continue;
                    }
                    on_second(name_of(sig), 128 + sig);
                    std::process::exit(128 + sig);
                }
            })
            .map_err(|e| Error::io("cannot start the signal watcher thread", e))?;
        Ok(Signals {
            stop,
            first,
            handle,
        })
    }

    /// The signal that stopped the run, if one did: its name and the exit status it calls for.
    pub fn received(&self) -> Option<(&'static str, i32)> {
        match self.first.load(Ordering::Acquire) {
            0 => None,
            sig => Some((name_of(sig), 128 + sig)),
        }
    }
}

impl Drop for Signals {
    fn drop(&mut self) {
        // Ends the watcher and unregisters the handlers.
        self.handle.close();
    }
}
