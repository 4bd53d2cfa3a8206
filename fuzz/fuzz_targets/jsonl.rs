//! The JSON-lines reader: any bytes (the first byte's low bit picks an inferred schema or
//! market_data fixed by --schema) read in both --on-error modes, every batch encoded back;
//! see `shardsql::source::text::fuzz_read` for the invariants checked.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shardsql::sink::Format;

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    shardsql::source::text::fuzz_read(rest, Format::JsonLines, first & 1 == 1);
});
