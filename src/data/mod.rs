//! Data representation shared by every layer: the schema of a stream, columnar batches, and the
//! dictionary that interns strings to small ids, and TIMESTAMP text (`time`).
//!
//! Threading: `Batch` and `Schema` are plain owned values that move between threads through
//! rings; `Dict` is shared (`Arc`) and readable from every thread without locks.

pub mod batch;
pub mod dict;
pub mod schema;
pub mod time;

pub use batch::{Batch, Column};
pub use dict::{Dict, Interner};
pub use schema::{DataType, Field, Schema};
