//! Measurements of a run: the stats JSON and the human summary.

pub mod latency;
pub mod stats;
