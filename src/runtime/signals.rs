//! SIGINT and SIGTERM during a run. The first asks the run to stop gracefully: it raises the
//! runtime's interrupt flag, on which readers stop reading at one agreed block, shards drain
//! their rings and end as at end of input (so every window and group holds exactly the records
//! read, and open windows are flushed), the output is flushed and the stats are written marked
//! `interrupted`; the process then exits with 128 + the signal (130 for SIGINT, 143 for
//! SIGTERM). A second signal exits at once with the same status.
//!
//! signal-hook's flag actions do only async-signal-safe work in the handler: an atomic store,
//! and for the second signal `_exit` (its `register_conditional_shutdown`, registered before
//! the flag so it sees the flag as it was before this signal). `ctrlc` would cover SIGINT (and
//! SIGTERM only behind a feature) with one closure on a thread, and has no immediate exit on a
//! second signal; signal-hook is already in the build (glommio depends on it).
//!
//! Threading: installed and dropped by the main thread around one run; the flags are read by
//! every core (relaxed loads, once per block or idle turn).

use crate::error::{Error, Result};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::{SigId, flag};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// The handlers of one run; dropping it restores the previous disposition of both signals.
pub struct Signals {
    /// Raised by the first SIGINT or SIGTERM: the runtime's graceful-stop flag.
    pub stop: Arc<AtomicBool>,
    int: Arc<AtomicBool>,
    term: Arc<AtomicBool>,
    ids: Vec<SigId>,
}

impl Signals {
    pub fn install() -> Result<Signals> {
        let stop = Arc::new(AtomicBool::new(false));
        let int = Arc::new(AtomicBool::new(false));
        let term = Arc::new(AtomicBool::new(false));
        let mut ids = Vec::new();
        let err = |e| Error::io("cannot install the SIGINT/SIGTERM handlers", e);
        for (sig, seen) in [(SIGINT, &int), (SIGTERM, &term)] {
            // Order matters: the exit checks the flag before this signal's own store.
            ids.push(
                flag::register_conditional_shutdown(sig, 128 + sig, stop.clone()).map_err(err)?,
            );
            ids.push(flag::register(sig, stop.clone()).map_err(err)?);
            ids.push(flag::register(sig, seen.clone()).map_err(err)?);
        }
        Ok(Signals {
            stop,
            int,
            term,
            ids,
        })
    }

    /// The signal that stopped the run, if one did: its name and the exit status it calls for.
    pub fn received(&self) -> Option<(&'static str, i32)> {
        if self.int.load(Ordering::Relaxed) {
            Some(("SIGINT", 128 + SIGINT))
        } else if self.term.load(Ordering::Relaxed) {
            Some(("SIGTERM", 128 + SIGTERM))
        } else {
            None
        }
    }
}

impl Drop for Signals {
    fn drop(&mut self) {
        for id in self.ids.drain(..) {
            signal_hook::low_level::unregister(id);
        }
    }
}
