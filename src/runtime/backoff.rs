//! The idle strategy of a core with nothing to do: spin briefly (work usually arrives within
//! microseconds), then yield the CPU, then sleep with a growing timer, so eight shards on two
//! CPUs do not spin each other to a standstill. Any progress resets it.
//!
//! Yielding lasts long (thousands of rounds, a few ms) before the first sleep: when shards
//! outnumber CPUs, a waiting shard is usually waiting for a sibling on its own CPU, and a yield
//! hands it the CPU at once, while a sleep leaves the CPU idle until the timer fires. Measured,
//! 8 shards on 2 CPUs, 20M records, median of 3: GROUP BY 75 -> 124, EMIT CHANGES 58 -> 71 M/s
//! (128 vs 4096 yield rounds).
//!
//! A core that every producer of its input wakes (`Backoff::woken`: a Kafka-fed core, whose
//! reader thread calls `Control::wake` after each push) yields only briefly: what it waits for
//! is another thread of the process (the reader, librdkafka, a local broker), which yielding
//! would only slow down.

use std::time::Duration;

const SPIN_ROUNDS: u32 = 64;
const YIELD_ROUNDS: u32 = 4096;
const MAX_SLEEP: Duration = Duration::from_micros(1000);

pub struct Backoff {
    idle_rounds: u32,
    /// Idle rounds before the first sleep.
    yield_until: u32,
}

impl Default for Backoff {
    fn default() -> Backoff {
        Backoff {
            idle_rounds: 0,
            yield_until: YIELD_ROUNDS,
        }
    }
}

/// What the caller should do next while idle.
pub enum Idle {
    Spin,
    Yield,
    Sleep(Duration),
}

impl Backoff {
    /// For a core whose every input wakes it when it parks (a Kafka-fed core: the reader
    /// thread and the other cores call `Control::wake`): a short spin, a few yields, then
    /// sleep. Yielding for milliseconds there only takes the CPU from the threads it waits
    /// for (the reader, librdkafka, a local broker): measured, BENCHMARKS.md §11.
    pub fn woken() -> Backoff {
        Backoff {
            idle_rounds: 0,
            yield_until: 2 * SPIN_ROUNDS,
        }
    }

    pub fn reset(&mut self) {
        self.idle_rounds = 0;
    }

    pub fn next_idle(&mut self) -> Idle {
        self.idle_rounds = self.idle_rounds.saturating_add(1);
        if self.idle_rounds <= SPIN_ROUNDS {
            Idle::Spin
        } else if self.idle_rounds <= self.yield_until {
            Idle::Yield
        } else {
            let exp = (self.idle_rounds - self.yield_until).min(5);
            Idle::Sleep((Duration::from_micros(20) * (1 << exp)).min(MAX_SLEEP))
        }
    }
}
