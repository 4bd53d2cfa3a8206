//! Typed field values: parsing one field's text into its column type (integers, floats,
//! booleans, TIMESTAMPs in epoch units or ISO-8601), the messages for values that do not fit,
//! and type inference from sampled texts. Shared by every text format (CSV, JSON lines).
//! Pure functions, no state: callable from any thread.

use crate::data::time::{self, EpochUnit};
use crate::data::{DataType, Field};
use csv::ByteRecord;
use std::collections::VecDeque;

use crate::data::batch::{Column, NULL_INT, NULL_STR};
use crate::data::time::{MAX_TIMESTAMP_MS, MIN_TIMESTAMP_MS};
use crate::data::{Batch, Interner, Schema};
use crate::source::csv_fields::FieldTexts;

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

/// A plain decimal number: an optional `-`, digits, and optionally `.` and more digits, at most
/// 19 digits in all, at most 22 after the point, and a value below 2^53 without the point.
/// Such a number is `m / 10^k` with `m` and `10^k` exact doubles, so one division gives the
/// correctly rounded result (Clinger's fast path), which is what `str::parse::<f64>` returns
/// for the same text. Anything else returns `None` and takes the general path.
#[inline]
pub(super) fn plain_decimal(b: &[u8]) -> Option<f64> {
    /// Powers of ten that are exact doubles.
    const POW10: [f64; 23] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
        1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
    ];
    let (neg, rest) = match b.first()? {
        b'-' => (true, &b[1..]),
        _ => (false, b),
    };
    if rest.is_empty() || rest.len() > 20 {
        return None;
    }
    // One pass: digits into `m`, and where the point is.
    let mut m = 0u64;
    let mut dot = None;
    for (i, &c) in rest.iter().enumerate() {
        let digit = c.wrapping_sub(b'0');
        if digit <= 9 {
            // Wraps only past 19 digits, which are refused below.
            m = m.wrapping_mul(10).wrapping_add(digit as u64);
        } else if c == b'.' && dot.is_none() {
            dot = Some(i);
        } else {
            return None;
        }
    }
    let frac = match dot {
        // `.5`, `5.`: the general path decides.
        Some(d) if d == 0 || d + 1 == rest.len() => return None,
        Some(d) => rest.len() - d - 1,
        None => 0,
    };
    if rest.len() - dot.is_some() as usize > 19 || m >= 1 << 53 {
        return None;
    }
    let x = m as f64 / POW10[frac];
    Some(if neg { -x } else { x })
}

/// The value of 1 to 19 ASCII digits (`None` if any byte is not a digit), eight at a time:
/// SWAR digit check and conversion (as in simdjson / fast_float).
#[inline]
fn digits_value(d: &[u8]) -> Option<u64> {
    let mut v = 0u64;
    let mut rest = d;
    while let Some(chunk) = rest.get(..8) {
        let w = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        // Every byte in 0x30..=0x39: high nibble 3, and adding 6 does not carry into it.
        let digits = (w & 0xF0F0_F0F0_F0F0_F0F0)
            | (((w.wrapping_add(0x0606_0606_0606_0606)) & 0xF0F0_F0F0_F0F0_F0F0) >> 4);
        if digits != 0x3333_3333_3333_3333 {
            return None;
        }
        let w = w - 0x3030_3030_3030_3030;
        let w = (w * 10) + (w >> 8);
        let w = (((w & 0x0000_00FF_0000_00FF).wrapping_mul(100 + (1_000_000 << 32)))
            .wrapping_add(((w >> 16) & 0x0000_00FF_0000_00FF).wrapping_mul(1 + (10_000 << 32))))
            >> 32;
        v = v * 100_000_000 + w;
        rest = &rest[8..];
    }
    for &c in rest {
        let digit = c.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        v = v * 10 + digit as u64;
    }
    Some(v)
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
    for (i, f) in schema.fields.iter().enumerate() {
        let text = rec.field(i);
        // The common cases, straight from the bytes: an integer, a decimal number, a
        // TIMESTAMP as an epoch number in its unit or as ISO-8601 text.
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
            staged.push(v);
            continue;
        }
        let text = std::str::from_utf8(text)
            .map_err(|_| format!("column `{}` is not valid UTF-8", f.name))?;
        if is_null_text(text.as_bytes(), f.ty) {
            staged.push(NULL_FIELD);
            continue;
        }
        let v = parse_value(text, f).map_err(|e| with_inference_hint(schema, inferred, i, e))?;
        staged.push(v);
    }
    for (i, (col, &v)) in out.columns.iter_mut().zip(staged.iter()).enumerate() {
        if v == NULL_FIELD && is_null_text(rec.field(i), schema.fields[i].ty) {
            col.push_null();
            continue;
        }
        match col {
            Column::Int(c) => c.push(v as i64),
            Column::Float(c) => c.push(f64::from_bits(v)),
            Column::Bool(c) => c.push(v as u8),
            Column::Str(c) if !reads.get(i).copied().unwrap_or(true) => c.push(NULL_STR),
            Column::Str(c) => c.push(interner.intern_utf8(rec.field(i))),
        }
    }
    Ok(())
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
    fn plain_decimals_equal_the_standard_parser_or_defer_to_it() {
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut fast = 0;
        for _ in 0..200_000 {
            let digits = 1 + next() % 21;
            let mut s: String = (0..digits)
                .map(|_| (b'0' + (next() % 10) as u8) as char)
                .collect();
            if next() % 4 != 0 {
                let at = (next() % (digits + 1)) as usize;
                s.insert(at, '.');
            }
            if next() % 3 == 0 {
                s.insert(0, '-');
            }
            let std = s.parse::<f64>().ok();
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
            "12345678901234567890",
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
