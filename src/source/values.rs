//! Typed field values: parsing one field's text into its column type (integers, floats,
//! booleans, TIMESTAMPs in epoch units or ISO-8601), the messages for values that do not fit,
//! and type inference from sampled texts. Shared by every text format (CSV, JSON lines).
//! Pure functions, no state: callable from any thread.

use crate::data::time::{self, EpochUnit};
use crate::data::{DataType, Field};
use csv::ByteRecord;
use std::collections::VecDeque;

use crate::data::batch::NULL_INT;
use crate::data::time::{MAX_TIMESTAMP_MS, MIN_TIMESTAMP_MS};

/// A plain decimal integer of at most 17 digits with an optional sign, no spaces: it cannot
/// overflow or be the NULL value, so it needs none of `parse_value`'s checks. Anything else
/// (spaces, more digits, junk) returns `None` and takes the general path and its messages.
pub(super) fn plain_int(b: &[u8]) -> Option<i64> {
    let (neg, digits) = match b.first()? {
        b'-' => (true, &b[1..]),
        b'+' => (false, &b[1..]),
        _ => (false, b),
    };
    if digits.is_empty() || digits.len() > 17 {
        return None;
    }
    let mut v: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        v = v * 10 + (d - b'0') as i64;
    }
    Some(if neg { -v } else { v })
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

#[cfg(test)]
mod tests {
    use super::*;

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
