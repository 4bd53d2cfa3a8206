//! Typed field values: parsing one field's text into its column type (integers, floats,
//! booleans, TIMESTAMPs in epoch units or ISO-8601), the messages for values that do not fit,
//! and type inference from sampled texts. Shared by every text format (CSV, JSON lines).
//! Pure functions, no state: callable from any thread.

use crate::data::time::{self, EpochUnit};
use crate::data::{DataType, Field};
use csv::ByteRecord;
use std::collections::VecDeque;

use crate::data::batch::{Column, NULL_BOOL, NULL_INT, NULL_STR, null_float};
use crate::data::time::{MAX_TIMESTAMP_MS, MIN_TIMESTAMP_MS};
use crate::data::{Batch, Interner, Schema};
use crate::source::csv_fields::{FieldTexts, RunView};
use crate::source::swar::{decimal_at, int_at, is_decimal_at, short_ascii_at};

/// A plain decimal integer of at most 17 digits with an optional sign, no spaces: it cannot
/// overflow or be the NULL value, so it needs none of `parse_value`'s checks. Anything else
/// (spaces, more digits, junk) returns `None` and takes the general path and its messages.
#[inline]
pub(super) fn plain_int(b: &[u8]) -> Option<i64> {
    let (neg, digits) = match b.first()? {
        b'-' => (true, &b[1..]),
        b'+' => (false, &b[1..]),
        _ => (false, b),
    };
    if digits.is_empty() || digits.len() > 17 {
        return None;
    }
    let v = digits_value(digits)? as i64;
    Some(if neg { -v } else { v })
}

/// A plain decimal number: an optional `-`, digits, and optionally `.` and more digits (`.5`
/// and `5.` take the general path), at most 40 bytes. With at most 19 digits it is `m / 10^k`
/// for integers `m` and `k`, read by `decimal_quotient`; longer ones go to `fast_float2`
/// (Eisel–Lemire). Both are correctly rounded, so the value is what `str::parse::<f64>`
/// returns for the same text. Anything else returns `None` and takes the general path.
#[inline]
pub(super) fn plain_decimal(b: &[u8]) -> Option<f64> {
    let (neg, rest) = match b.first()? {
        b'-' => (true, &b[1..]),
        _ => (false, b),
    };
    if rest.is_empty() || rest.len() > 40 {
        return None;
    }
    let (int, frac) = match rest.iter().position(|&c| c == b'.') {
        Some(0) => return None,
        Some(d) if d + 1 == rest.len() => return None,
        Some(d) => (&rest[..d], &rest[d + 1..]),
        None => (rest, &rest[rest.len()..]),
    };
    if int.len() + frac.len() <= 19 {
        let i = digits_value(int)?;
        let m = if frac.is_empty() {
            i
        } else {
            i * POW10_U64[frac.len()] + digits_value(frac)?
        };
        let x = decimal_quotient(m, frac.len());
        return Some(if neg { -x } else { x });
    } else if !int.iter().chain(frac).all(u8::is_ascii_digit) {
        return None;
    }
    fast_float2::parse::<f64, _>(b).ok()
}

/// Powers of ten that are exact doubles.
pub(super) const POW10_F64: [f64; 20] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19,
];

/// `m / 10^k` (`k` ≤ 19) correctly rounded to the nearest double, ties to even. Below 2^53
/// `m` and `10^k` are exact doubles and one division rounds once (Clinger's fast path). A
/// larger `m` (a shortest round-trip such as `13362.699999999999` has 17 digits) is divided
/// as integers instead: `m / 10^k = (m / 5^k) · 2^-k`, and `m` shifted up by `s` so that the
/// integer quotient `q` of `m · 2^s` by `5^k` has 63 or 64 bits. The conversion of `q` to a
/// double rounds to nearest even, and a nonzero remainder, set in `q`'s lowest bit (never the
/// rounding bit, ten or eleven places further up), breaks what would look like a tie; scaling by a
/// power of two is exact. One 128-by-64-bit division, a few times cheaper than Eisel–Lemire
/// re-reading the text.
#[inline]
pub(super) fn decimal_quotient(m: u64, k: usize) -> f64 {
    if m < 1 << 53 {
        return m as f64 / POW10_F64[k];
    }
    let five = POW5[k];
    // 63 + bits(5^k) - bits(m), in that order: bits(m) reaches 64.
    let s = 63 + (64 - five.leading_zeros()) - (64 - m.leading_zeros());
    let n = (m as u128) << s;
    let q = (n / five as u128) as u64;
    let rest = n - q as u128 * five as u128;
    let x = (q | (rest != 0) as u64) as f64;
    // 2^-(s + k), a normal double: s + k is at most 63 - 54 + 45 + 19.
    x * f64::from_bits((1023 - (s as u64 + k as u64)) << 52)
}

/// 5^0 to 5^19 (below 2^45).
const POW5: [u64; 20] = {
    let mut t = [1u64; 20];
    let mut i = 1;
    while i < 20 {
        t[i] = t[i - 1] * 5;
        i += 1;
    }
    t
};

/// Whether `plain_decimal` takes `b` (without computing its value): its grammar only, since
/// every such number of at most 40 bytes is a finite double. The tests' reference for the
/// reader's word-at-a-time check, `swar::is_decimal_at`.
#[cfg(test)]
fn is_plain_decimal(b: &[u8]) -> bool {
    let rest = match b.first() {
        Some(b'-') => &b[1..],
        _ => b,
    };
    let mut dot = None;
    for (i, &c) in rest.iter().enumerate() {
        if c == b'.' && dot.is_none() {
            dot = Some(i);
        } else if !c.is_ascii_digit() {
            return false;
        }
    }
    !rest.is_empty() && rest.len() <= 40 && dot.is_none_or(|d| d > 0 && d + 1 < rest.len())
}

/// 10^0 to 10^19, every power of ten a `u64` holds.
pub(super) const POW10_U64: [u64; 20] = {
    let mut t = [1u64; 20];
    let mut i = 1;
    while i < 20 {
        t[i] = t[i - 1] * 10;
        i += 1;
    }
    t
};

/// The value of 1 to 19 ASCII digits (`None` if any byte is not a digit), by SWAR: four or
/// eight digits per step, the leading digits of an odd length taken from an overlapping load
/// shifted so that the bytes before them read as `0`s (as in simdjson / fast_float).
#[inline]
fn digits_value(d: &[u8]) -> Option<u64> {
    let n = d.len();
    let word = |s: &[u8]| u64::from_le_bytes(s.try_into().expect("8 bytes"));
    let half = |s: &[u8]| u32::from_le_bytes(s.try_into().expect("4 bytes"));
    match n {
        1..=3 => d.iter().try_fold(0u64, |v, &c| {
            let digit = c.wrapping_sub(b'0');
            (digit <= 9).then(|| v * 10 + digit as u64)
        }),
        4 => four_digits(half(d)),
        5..=8 => {
            let hi = four_digits(leading(half(&d[..4]) as u64, n - 4, 4) as u32)?;
            Some(hi * 10_000 + four_digits(half(&d[n - 4..]))?)
        }
        9..=16 => {
            let hi = eight_digits(leading(word(&d[..8]), n - 8, 8))?;
            Some(hi * 100_000_000 + eight_digits(word(&d[n - 8..]))?)
        }
        17..=19 => Some(eight_digits(word(&d[..8]))? * POW10_U64[n - 8] + digits_value(&d[8..])?),
        _ => None,
    }
}

/// `w` (`size` bytes) with only its first `k` bytes kept, moved up, below them `0`s: the
/// leading digits of a longer number, read as a `size`-digit one.
#[inline]
fn leading(w: u64, k: usize, size: usize) -> u64 {
    let shift = 8 * (size - k) as u32;
    (w << shift) | (0x3030_3030_3030_3030 & ((1u64 << shift) - 1))
}

/// Four ASCII digits (little-endian bytes) as a number, or `None`.
#[inline]
fn four_digits(w: u32) -> Option<u64> {
    let digits = (w & 0xF0F0_F0F0) | ((w.wrapping_add(0x0606_0606) & 0xF0F0_F0F0) >> 4);
    if digits != 0x3333_3333 {
        return None;
    }
    let w = w - 0x3030_3030;
    let w = w * 10 + (w >> 8);
    Some(((w & 0xFF) * 100 + ((w >> 16) & 0xFF)) as u64)
}

/// Eight ASCII digits (little-endian bytes) as a number, or `None`.
#[inline]
fn eight_digits(w: u64) -> Option<u64> {
    let digits = (w & 0xF0F0_F0F0_F0F0_F0F0)
        | ((w.wrapping_add(0x0606_0606_0606_0606) & 0xF0F0_F0F0_F0F0_F0F0) >> 4);
    if digits != 0x3333_3333_3333_3333 {
        return None;
    }
    let w = w - 0x3030_3030_3030_3030;
    let w = w * 10 + (w >> 8);
    Some(
        ((w & 0x0000_00FF_0000_00FF)
            .wrapping_mul(100 + (1_000_000 << 32))
            .wrapping_add(((w >> 16) & 0x0000_00FF_0000_00FF).wrapping_mul(1 + (10_000 << 32))))
            >> 32,
    )
}

/// An empty field is SQL NULL in every column type, as DuckDB reads CSV (a number column also
/// takes a blank one as NULL).
pub(super) fn is_null_text(text: &[u8], ty: DataType) -> bool {
    text.is_empty() || (ty != DataType::Str && text.trim_ascii().is_empty())
}

/// Parses one field of type `f.ty` into its staged bits (integers, float bits, booleans; 0 for
/// strings, which are interned once the whole record is valid), or says why it is invalid:
/// integers must fit BIGINT, DOUBLEs must be finite (`NaN`, `inf` and overflowing literals such
/// as `1e400` are rejected: a price or quantity that is not a number would poison every
/// aggregate it reaches), TIMESTAMPs must lie in years 0001–9999.
pub(super) fn parse_value(text: &str, f: &Field) -> std::result::Result<u64, String> {
    let t = text.trim();
    let bad = |why: &str| {
        let shown: String = t.chars().take(40).collect();
        let more = if t.chars().nth(40).is_some() {
            "…"
        } else {
            ""
        };
        format!("column `{}` ({}): `{shown}{more}` {why}", f.name, f.ty)
    };
    match f.ty {
        DataType::Timestamp if !looks_numeric(t) => {
            if t.len() >= 10 && t.as_bytes()[4] == b'-' && t.as_bytes()[7] == b'-' {
                Err(bad(
                    "is not an ISO-8601 time in years 0001 to 9999 (e.g. 2024-03-01, \
                     2024-03-01 12:00:00.123, 2024-03-01T12:00:00Z, …+02:00)",
                ))
            } else {
                Err(format!(
                    "{} (TIMESTAMP takes epoch numbers or ISO-8601 times such as \
                     2024-03-01T12:00:00Z)",
                    field_error(text, f)
                ))
            }
        }
        DataType::Int | DataType::Timestamp => {
            let v = t.parse::<i64>().map_err(|e| match e.kind() {
                std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow => {
                    bad("is out of the BIGINT range (±9223372036854775807)")
                }
                _ => field_error(text, f),
            })?;
            if f.ty == DataType::Timestamp {
                return f.unit.to_ms(v).map(|ms| ms as u64).ok_or_else(|| {
                    bad(&format!(
                        "is outside the TIMESTAMP range (years 0001 to 9999: epoch {} \
                         {} to {})",
                        unit_word(f.unit),
                        unit_bound(f.unit, MIN_TIMESTAMP_MS),
                        unit_bound(f.unit, MAX_TIMESTAMP_MS),
                    ))
                });
            }
            if v == NULL_INT {
                return Err(bad("is the one BIGINT shardsql reserves for NULL"));
            }
            Ok(v as u64)
        }
        DataType::Float => match t.parse::<f64>() {
            Ok(x) if x.is_finite() => Ok(x.to_bits()),
            Ok(_) => Err(bad(
                "is not a finite number (NaN and infinities are rejected)",
            )),
            Err(_) => Err(field_error(text, f)),
        },
        DataType::Bool => parse_bool(text)
            .map(u64::from)
            .ok_or_else(|| field_error(text, f)),
        DataType::Str => Ok(0),
    }
}

/// Whether `t` is written like a number (an optional sign, then a digit), so a TIMESTAMP
/// field that fails to parse is explained as a bad epoch number rather than a bad date.
pub(super) fn looks_numeric(t: &str) -> bool {
    let b = t.trim_start_matches(['+', '-']).as_bytes();
    b.first().is_some_and(u8::is_ascii_digit) && b.get(4) != Some(&b'-')
}

pub(super) fn unit_plural(u: EpochUnit) -> &'static str {
    match u {
        EpochUnit::Seconds => "seconds",
        EpochUnit::Millis => "milliseconds",
        EpochUnit::Micros => "microseconds",
        EpochUnit::Nanos => "nanoseconds",
    }
}

pub(super) fn unit_word(u: EpochUnit) -> &'static str {
    match u {
        EpochUnit::Seconds => "seconds",
        EpochUnit::Millis => "ms",
        EpochUnit::Micros => "µs",
        EpochUnit::Nanos => "ns",
    }
}

/// A TIMESTAMP bound (epoch ms) in `u`, for messages.
pub(super) fn unit_bound(u: EpochUnit, ms: i64) -> i128 {
    let ms = ms as i128;
    match u {
        EpochUnit::Seconds => ms / 1000,
        EpochUnit::Millis => ms,
        EpochUnit::Micros => ms * 1000,
        EpochUnit::Nanos => ms * 1_000_000,
    }
}

/// Why `text` is not a valid value for field `f`.
pub(super) fn field_error(text: &str, f: &Field) -> String {
    let t = text.trim();
    if t.is_empty() {
        return format!("column `{}` is empty", f.name);
    }
    let shown: String = t.chars().take(40).collect();
    format!("column `{}` ({}): cannot parse `{shown}`", f.name, f.ty)
}

pub(super) fn parse_bool(t: &str) -> Option<bool> {
    match t.trim().to_ascii_lowercase().as_str() {
        "true" | "t" | "1" => Some(true),
        "false" | "f" | "0" => Some(false),
        _ => None,
    }
}

/// In a column whose sampled values are numbers but one: that one's line and text (the first
/// such), or `None` when fewer than half of the values are numbers (then VARCHAR is no surprise).
pub(super) fn first_non_number(
    sample: &VecDeque<(u64, ByteRecord)>,
    i: usize,
) -> Option<(u64, String)> {
    let is_number = |t: &str| t.parse::<f64>().is_ok_and(f64::is_finite);
    let mut first = None;
    let (mut numbers, mut others) = (0usize, 0usize);
    for (line, rec) in sample {
        let Some(t) = rec.get(i) else { continue };
        let t = String::from_utf8_lossy(t);
        let t = t.trim();
        if t.is_empty() {
            continue;
        }
        if is_number(t) {
            numbers += 1;
        } else {
            others += 1;
            first.get_or_insert_with(|| (*line, t.chars().take(40).collect()));
        }
    }
    (numbers > others).then_some(first).flatten()
}

/// BOOLEAN if every sampled value is `true` or `false` (any case), TIMESTAMP if every one is
/// an ISO-8601 date or time (`time::parse_iso`), BIGINT if every one is an integer, DOUBLE if
/// every one is a number, else VARCHAR. Blank values say nothing.
pub(super) fn infer_type<'a>(texts: impl Iterator<Item = &'a [u8]>) -> DataType {
    let (mut all_bool, mut all_int, mut all_num, mut any) = (true, true, true, false);
    let mut all_time = true;
    for t in texts {
        let Ok(s) = std::str::from_utf8(t) else {
            return DataType::Str;
        };
        let s = s.trim();
        if s.is_empty() {
            continue;
        }
        any = true;
        all_bool &= s.eq_ignore_ascii_case("true") || s.eq_ignore_ascii_case("false");
        all_int &= s.parse::<i64>().is_ok();
        all_num &= s.parse::<f64>().is_ok_and(f64::is_finite);
        all_time &= time::parse_iso(s.as_bytes()).is_some();
    }
    match (any, all_bool, all_int, all_num) {
        (false, ..) => DataType::Str,
        _ if all_time => DataType::Timestamp,
        (true, true, ..) => DataType::Bool,
        (true, _, true, _) => DataType::Int,
        (true, _, false, true) => DataType::Float,
        _ => DataType::Str,
    }
}

/// Records sampled to infer column types.
pub const SAMPLE_ROWS: usize = 1000;

/// How a column's type was inferred from the sampled records.
#[derive(Clone, Debug, PartialEq)]
pub struct Inferred {
    pub ty: DataType,
    /// For a VARCHAR column whose other samples were numbers: the first text that was not, and
    /// its line (what a user needs to see why `AVG(col)` is refused).
    pub first_text: Option<(u64, String)>,
}

/// The staged value of an empty (NULL) field; `append_record` checks the field text too,
/// since a float's bits could equal it.
const NULL_FIELD: u64 = u64::MAX;

/// Appends the record `rec` to `out` (layout `schema`) as typed values, all fields or none, or
/// says why it is malformed. Every field is validated as its type; only the columns with
/// `reads[i]` (all when `reads` is empty) are stored, the others hold NULL. `staged` is scratch
/// space reused between records.
pub(super) fn append_record<F: FieldTexts>(
    rec: &F,
    schema: &Schema,
    reads: &[bool],
    inferred: &[Option<Inferred>],
    interner: &mut Interner,
    staged: &mut Vec<u64>,
    out: &mut Batch,
) -> std::result::Result<(), String> {
    let n = schema.len();
    if rec.count() != n {
        return Err(format!("expected {n} fields, found {}", rec.count()));
    }
    // Parse every field once into `staged`; append only when the whole record is valid.
    staged.clear();
    for i in 0..n {
        staged.push(parse_field(rec.field(i), i, schema, inferred)?);
    }
    for (i, (col, &v)) in out.columns.iter_mut().zip(staged.iter()).enumerate() {
        let stored = reads.get(i).copied().unwrap_or(true);
        push_parsed(col, v, rec.field(i), schema.fields[i].ty, stored, interner);
    }
    Ok(())
}

/// Appends the records of `run` to `out` a column at a time (one type dispatch per column, not
/// per field), with the same outcome as `append_record` on each: a record with an invalid
/// field appends nothing and is returned in `bad` (record index, the first invalid field's
/// reason), in record order. `is_bad` is scratch space reused between runs. (Not inlined: one
/// call a run, and in its own frame the column loops keep their state in registers.)
#[allow(clippy::too_many_arguments)]
#[inline(never)]
pub(super) fn append_run(
    run: &RunView,
    schema: &Schema,
    reads: &[bool],
    inferred: &[Option<Inferred>],
    interner: &mut Interner,
    out: &mut Batch,
    is_bad: &mut Vec<bool>,
    bad: &mut Vec<(usize, String)>,
) {
    let k = run.len();
    let base = out.len();
    bad.clear();
    is_bad.clear();
    is_bad.resize(k, false);
    // A field the fast path cannot take: the general parser decides (NULL, a value, or the
    // record is malformed — the first such field in column order gives the reason).
    let mut general =
        |r: usize, i: usize, text: &[u8], bad: &mut Vec<(usize, String)>| match parse_field(
            text, i, schema, inferred,
        ) {
            Ok(v) if v == NULL_FIELD && is_null_text(text, schema.fields[i].ty) => None,
            Ok(v) => Some(v),
            Err(reason) => {
                if !std::mem::replace(&mut is_bad[r], true) {
                    bad.push((r, reason));
                }
                None
            }
        };
    let buf = run.buf();
    for (i, col) in out.columns.iter_mut().enumerate() {
        let f = &schema.fields[i];
        let stored = reads.get(i).copied().unwrap_or(true);
        let spans = run.spans(i).enumerate();
        match col {
            // A column the query does not read is validated only: a plain integer or
            // decimal is valid whatever its digits (the general parser decides the rest).
            Column::Int(c) if f.ty == DataType::Int && !stored => {
                c.extend(spans.map(|(r, (s, e))| {
                    if int_at(buf, s, e).is_none() {
                        general(r, i, &buf[s..e], bad);
                    }
                    NULL_INT
                }));
            }
            Column::Float(c) if !stored => {
                c.extend(spans.map(|(r, (s, e))| {
                    if !is_decimal_at(buf, s, e) {
                        general(r, i, &buf[s..e], bad);
                    }
                    null_float()
                }));
            }
            Column::Int(c) if f.ty == DataType::Int => {
                c.extend(spans.map(|(r, (s, e))| match int_at(buf, s, e) {
                    Some(v) => v,
                    None => general(r, i, &buf[s..e], bad).map_or(NULL_INT, |v| v as i64),
                }));
            }
            Column::Int(c) => {
                c.extend(spans.map(|(r, (s, e))| {
                    let v = match int_at(buf, s, e).and_then(|v| f.unit.to_ms(v)) {
                        Some(v) => v,
                        None => general(r, i, &buf[s..e], bad).map_or(NULL_INT, |v| v as i64),
                    };
                    if stored { v } else { NULL_INT }
                }));
            }
            Column::Float(c) => {
                c.extend(spans.map(|(r, (s, e))| match decimal_at(buf, s, e) {
                    Some(x) => x,
                    None => general(r, i, &buf[s..e], bad).map_or(null_float(), f64::from_bits),
                }));
            }
            Column::Str(c) => {
                c.extend(spans.map(|(r, (s, e))| {
                    let text = &buf[s..e];
                    // A short ASCII text is valid, and its padded words are the interner's key.
                    if let Some((lo, hi)) = short_ascii_at(buf, s, e) {
                        return match stored {
                            true => interner.intern_short(text, lo, hi),
                            false => NULL_STR,
                        };
                    }
                    let valid =
                        (!text.is_empty() && text.is_ascii()) || general(r, i, text, bad).is_some();
                    if valid && stored {
                        interner.intern_utf8(text)
                    } else {
                        NULL_STR
                    }
                }));
            }
            Column::Bool(c) => {
                c.extend(spans.map(|(r, (s, e))| {
                    let v = general(r, i, &buf[s..e], bad).map_or(NULL_BOOL, |v| v as u8);
                    if stored { v } else { NULL_BOOL }
                }));
            }
        }
    }
    if !bad.is_empty() {
        // Rare: take the malformed records' rows back out of every column.
        bad.sort_unstable_by_key(|b| b.0);
        for col in &mut out.columns {
            col.retain_rows(base, |r| !is_bad[r]);
        }
    }
}

/// Parses field `i` (of `schema`) from `text` into its staged bits (`NULL_FIELD` for NULL), or
/// says why it is invalid. The common cases come straight from the bytes: an integer, a
/// decimal number, a TIMESTAMP as an epoch number in its unit or as ISO-8601 text, ASCII.
#[inline]
pub(super) fn parse_field(
    text: &[u8],
    i: usize,
    schema: &Schema,
    inferred: &[Option<Inferred>],
) -> std::result::Result<u64, String> {
    let f = &schema.fields[i];
    let fast = match f.ty {
        DataType::Int => plain_int(text).map(|v| v as u64),
        DataType::Float => plain_decimal(text).map(f64::to_bits),
        // A VARCHAR needs valid UTF-8 only; ASCII is (an empty field is NULL).
        DataType::Str if !text.is_empty() && text.is_ascii() => Some(0),
        DataType::Timestamp => match plain_int(text) {
            Some(v) => f.unit.to_ms(v),
            None => time::parse_iso(text),
        }
        .map(|v| v as u64),
        _ => None,
    };
    if let Some(v) = fast {
        return Ok(v);
    }
    let text =
        std::str::from_utf8(text).map_err(|_| format!("column `{}` is not valid UTF-8", f.name))?;
    if is_null_text(text.as_bytes(), f.ty) {
        return Ok(NULL_FIELD);
    }
    parse_value(text, f).map_err(|e| with_inference_hint(schema, inferred, i, e))
}

/// Appends a value `parse_field` returned for `text` to `col` (of type `ty`): NULL, the
/// number, or the string's id; NULL whatever the value when the column is not `stored`.
#[inline]
pub(super) fn push_parsed(
    col: &mut Column,
    v: u64,
    text: &[u8],
    ty: DataType,
    stored: bool,
    interner: &mut Interner,
) {
    if !stored || (v == NULL_FIELD && is_null_text(text, ty)) {
        col.push_null();
        return;
    }
    match col {
        Column::Int(c) => c.push(v as i64),
        Column::Float(c) => c.push(f64::from_bits(v)),
        Column::Bool(c) => c.push(v as u8),
        Column::Str(c) => c.push(interner.intern_utf8(text)),
    }
}

/// A bad value's reason, saying so when column `i`'s type was inferred (the error path only).
fn with_inference_hint(
    schema: &Schema,
    inferred: &[Option<Inferred>],
    i: usize,
    reason: String,
) -> String {
    match inferred.get(i) {
        Some(Some(_)) => {
            let f = &schema.fields[i];
            format!(
                "{reason} (the column's type {} was inferred from the first {SAMPLE_ROWS} \
                 records; declare it with --schema {}:varchar or another type)",
                f.ty, f.name
            )
        }
        _ => reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swar_digits_equal_a_byte_loop() {
        let mut next = crate::test_rng::xorshift(0x1234_5678_9ABC_DEF1u64);
        for _ in 0..300_000 {
            let n = 1 + (next() % 19) as usize;
            let mut d: Vec<u8> = (0..n).map(|_| b'0' + (next() % 10) as u8).collect();
            if next().is_multiple_of(3) {
                d[(next() % n as u64) as usize] =
                    [b'/', b':', b'a', b' ', 0xB0, b'.'][(next() % 6) as usize];
            }
            let want = d.iter().try_fold(0u64, |v, &c| {
                c.is_ascii_digit().then(|| v * 10 + (c - b'0') as u64)
            });
            assert_eq!(digits_value(&d), want, "{:?}", String::from_utf8_lossy(&d));
        }
    }

    #[test]
    fn decimal_quotients_are_correctly_rounded() {
        let mut next = crate::test_rng::xorshift(0x9E37_79B9_7F4A_7C15u64);
        // Random mantissas of every length, and the hard cases: exact halfway points between
        // doubles (an odd multiple of 2^10 above 2^63 is one), and their neighbours.
        let mut cases: Vec<u64> = (0..300_000).map(|_| next() >> (next() % 64)).collect();
        for _ in 0..20_000 {
            let half = ((next() | 1) << 10) | (1 << 63);
            cases.extend([half, half - 1, half + 1, half >> 1, (half >> 1) + 1]);
        }
        cases.extend([0, 1, (1 << 53) - 1, 1 << 53, (1 << 53) + 1, u64::MAX]);
        let mut ties: Vec<(u64, usize)> = Vec::new();
        for (k, five) in POW5.iter().enumerate().take(5) {
            // (2^53 + odd) / 2^k lies halfway between two doubles: the quotient by 5^k is exact.
            for odd in [1, 3, 5, 7, 1001] {
                ties.push((five * ((1 << 53) + odd), k));
            }
        }
        let random = cases.iter().enumerate().map(|(i, &m)| (m, i % 20));
        for (m, k) in random.chain(ties) {
            let want: f64 = format!("{m}e-{k}").parse().expect("a number");
            assert_eq!(
                decimal_quotient(m, k).to_bits(),
                want.to_bits(),
                "{m} / 10^{k}"
            );
        }
    }

    #[test]
    fn plain_decimals_equal_the_standard_parser_or_defer_to_it() {
        let mut next = crate::test_rng::xorshift(0x2545_F491_4F6C_DD1Du64);
        let mut fast = 0;
        for _ in 0..200_000 {
            let digits = 1 + next() % 30;
            let mut s: String = (0..digits)
                .map(|_| (b'0' + (next() % 10) as u8) as char)
                .collect();
            if !next().is_multiple_of(4) {
                let at = (next() % (digits + 1)) as usize;
                s.insert(at, '.');
            }
            if next().is_multiple_of(3) {
                s.insert(0, '-');
            }
            let std = s.parse::<f64>().ok();
            assert_eq!(
                is_plain_decimal(s.as_bytes()),
                plain_decimal(s.as_bytes()).is_some(),
                "{s}"
            );
            if let Some(x) = plain_decimal(s.as_bytes()) {
                fast += 1;
                assert_eq!(Some(x.to_bits()), std.map(f64::to_bits), "{s}");
            }
        }
        assert!(fast > 100_000, "the fast path took only {fast}");
        for slow in [
            "",
            "-",
            ".",
            ".5",
            "5.",
            "1.2.3",
            "+1",
            "1e5",
            " 1",
            "1 ",
            "1x3456789012345678901",
        ] {
            assert_eq!(plain_decimal(slow.as_bytes()), None, "{slow:?}");
        }
        assert_eq!(
            plain_decimal(b"-0.0").map(f64::to_bits),
            Some((-0.0f64).to_bits())
        );
    }

    #[test]
    fn plain_integers_take_the_fast_path_and_the_rest_fall_back() {
        assert_eq!(plain_int(b"42"), Some(42));
        assert_eq!(plain_int(b"-7"), Some(-7));
        assert_eq!(plain_int(b"+0"), Some(0));
        assert_eq!(
            plain_int(b"99999999999999999"),
            Some(99_999_999_999_999_999)
        );
        for slow in [
            &b""[..],
            b"-",
            b" 1",
            b"1 ",
            b"1e3",
            b"123456789012345678",
            b"0x1",
        ] {
            assert_eq!(plain_int(slow), None, "{slow:?}");
        }
    }
}
