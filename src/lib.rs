//! # shardsql
//!
//! A thread-per-core, shard-nothing streaming SQL runtime. One pinned executor per CPU core
//! owns its partition's window and aggregation state outright; cores exchange whole columnar
//! batches over lock-free SPSC rings; no lock, allocation or string hash sits on the per-record
//! path.
//!
//! ## Layers, in data-flow order
//!
//! | layer | module | owns |
//! |---|---|---|
//! | command line | [`cli`], [`app`] | flags → a checked run; the commands end to end |
//! | SQL front end | [`sql`] | text → parse (plus `WINDOW` / `EMIT` / `ALLOWED LATENESS` lifting) → typed [`sql::Plan`] |
//! | data | [`data`] | schemas, columnar [`data::Batch`]es (NULL as one reserved value per type), the string [`data::Dict`] |
//! | sources | [`source`] | the generator, opening inputs (gzip, BOM), CSV / JSON-lines readers, the record-end scanner and chunk cutter for parallel parsing, live framing of pipes, numbered input blocks |
//! | runtime | [`runtime`] | placement, the SPSC mesh, the router, the core loop, the mutex baseline |
//! | operators | [`ops`] | projection, GROUP BY + tumbling / hopping windows, sessions, the EMIT CHANGES changelog, ROWS windows |
//! | sinks | [`sink`] | CSV / JSON lines / null output, written in large chunks |
//! | Kafka | [`kafka`], [`source::kafka`], [`source::kafka_group`] | `kafka://` addresses, topics in (partitions as source partitions; a consumer group's members share them) and out (keyed messages, tombstones) |
//! | metrics | [`metrics`] | the stats JSON, the run summary, HDR latency |
//! | bench | [`bench`] | YAML sweeps over modes and core counts, and their reports |
//!
//! ## Example
//!
//! ```
//! use shardsql::data::Schema;
//! let plan = shardsql::sql::compile_query(
//!     "SELECT symbol, COUNT(*) AS n FROM market_data GROUP BY symbol",
//!     "q.sql",
//!     &Schema::market_data(),
//! )
//! .unwrap();
//! assert_eq!(plan.routing, shardsql::sql::Routing::Hash(vec![2]));
//! ```

#![forbid(unsafe_code)]

pub mod app;
pub mod bench;
pub mod checkpoint;
pub mod cli;
pub mod data;
pub mod error;
pub mod kafka;
pub mod metrics;
pub mod ops;
pub mod runtime;
pub mod sink;
pub mod source;
pub mod sql;
#[cfg(test)]
mod test_rng;
