//! TIMESTAMP values: epoch milliseconds (UTC) in an `i64`. This module reads them from text
//! (ISO-8601 forms and epoch numbers in a declared unit), writes them as DuckDB writes a
//! TIMESTAMP (`2024-03-01 12:00:00.12`), and splits, truncates and formats them for the SQL
//! functions. Everything works on bytes and integers, without allocating (except `strftime`,
//! which appends to a caller's buffer), so the readers and the sink call it per value.
//!
//! Calendar arithmetic is the proleptic Gregorian calendar of Howard Hinnant's
//! `days_from_civil` / `civil_from_days`; there are no time zones beyond a parsed offset.

/// The earliest valid TIMESTAMP: 0001-01-01T00:00:00Z in epoch milliseconds.
pub const MIN_TIMESTAMP_MS: i64 = -62_135_596_800_000;
/// The latest valid TIMESTAMP: 9999-12-31T23:59:59.999Z in epoch milliseconds.
pub const MAX_TIMESTAMP_MS: i64 = 253_402_300_799_999;

const MS_PER_DAY: i64 = 86_400_000;

/// The unit of an epoch number in a TIMESTAMP column (`--schema col:timestamp_s`, …).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum EpochUnit {
    Seconds,
    #[default]
    Millis,
    Micros,
    Nanos,
}

impl EpochUnit {
    /// `timestamp` (milliseconds), `timestamp_s`, `timestamp_ms`, `timestamp_us`,
    /// `timestamp_ns`, any case.
    pub fn parse_type(name: &str) -> Option<EpochUnit> {
        Some(match name.to_ascii_lowercase().as_str() {
            "timestamp" | "timestamp_ms" => EpochUnit::Millis,
            "timestamp_s" => EpochUnit::Seconds,
            "timestamp_us" => EpochUnit::Micros,
            "timestamp_ns" => EpochUnit::Nanos,
            _ => return None,
        })
    }

    /// The `--schema` type that names this unit.
    pub fn type_name(self) -> &'static str {
        match self {
            EpochUnit::Seconds => "timestamp_s",
            EpochUnit::Millis => "timestamp",
            EpochUnit::Micros => "timestamp_us",
            EpochUnit::Nanos => "timestamp_ns",
        }
    }

    /// An epoch number in this unit as milliseconds (sub-millisecond digits truncated toward
    /// negative infinity, as a later millisecond would be wrong), or `None` outside years
    /// 0001–9999.
    #[inline]
    pub fn to_ms(self, v: i64) -> Option<i64> {
        let ms = match self {
            EpochUnit::Seconds => v.checked_mul(1000)?,
            EpochUnit::Millis => v,
            EpochUnit::Micros => v.div_euclid(1000),
            EpochUnit::Nanos => v.div_euclid(1_000_000),
        };
        in_range(ms).then_some(ms)
    }

    /// The unit that epoch numbers of this size most likely are, for dates between 1973 and
    /// 5138: seconds below 1e11, milliseconds below 1e14, microseconds below 1e17, else
    /// nanoseconds. `None` for values under 1e8 in magnitude (1970 in ms, or small numbers),
    /// which say nothing.
    pub fn guess(v: i64) -> Option<EpochUnit> {
        let a = v.unsigned_abs();
        Some(if a < 100_000_000 {
            return None;
        } else if a < 100_000_000_000 {
            EpochUnit::Seconds
        } else if a < 100_000_000_000_000 {
            EpochUnit::Millis
        } else if a < 100_000_000_000_000_000 {
            EpochUnit::Micros
        } else {
            EpochUnit::Nanos
        })
    }
}

/// Whether `ms` lies in years 0001–9999.
#[inline]
pub fn in_range(ms: i64) -> bool {
    (MIN_TIMESTAMP_MS..=MAX_TIMESTAMP_MS).contains(&ms)
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
#[inline]
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date `(year, month, day)` of a day count since 1970-01-01.
#[inline]
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + (m <= 2) as i64, m, d)
}

fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// `n` ASCII digits at `b[at..]` as a number.
#[inline]
fn digits(b: &[u8], at: usize, n: usize) -> Option<u32> {
    let s = b.get(at..at + n)?;
    let mut v = 0u32;
    for &c in s {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + (c - b'0') as u32;
    }
    Some(v)
}

/// Parses an ISO-8601 date or date-time into epoch milliseconds (UTC), or `None`:
/// `YYYY-MM-DD`, then optionally `T` or a space and `HH:MM[:SS[.fffffffff]]` (fractions to
/// nanoseconds, truncated to milliseconds), then optionally `Z`, `±HH:MM`, `±HHMM` or `±HH`
/// (the offset is subtracted to give UTC). Surrounding ASCII spaces are ignored. Years must be
/// 0001–9999 after the offset is applied; dates must exist (no February 30).
pub fn parse_iso(b: &[u8]) -> Option<i64> {
    let b = b.trim_ascii();
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (y, m, d) = (digits(b, 0, 4)?, digits(b, 5, 2)?, digits(b, 8, 2)?);
    if y == 0 || !(1..=12).contains(&m) || d == 0 || d > days_in_month(y as i64, m) {
        return None;
    }
    let mut ms = days_from_civil(y as i64, m, d) * MS_PER_DAY;
    let mut i = 10;
    if i < b.len() {
        if !matches!(b[i], b'T' | b't' | b' ') {
            return None;
        }
        i += 1;
        let h = digits(b, i, 2)?;
        if b.get(i + 2) != Some(&b':') {
            return None;
        }
        let mi = digits(b, i + 3, 2)?;
        i += 5;
        let mut s = 0;
        if b.get(i) == Some(&b':') {
            s = digits(b, i + 1, 2)?;
            i += 3;
            if b.get(i) == Some(&b'.') {
                i += 1;
                let start = i;
                let mut frac = 0u32;
                while i < b.len() && b[i].is_ascii_digit() {
                    if i - start < 3 {
                        frac = frac * 10 + (b[i] - b'0') as u32;
                    }
                    i += 1;
                }
                let n = i - start;
                if n == 0 || n > 9 {
                    return None;
                }
                for _ in n..3 {
                    frac *= 10;
                }
                ms += frac as i64;
            }
        }
        if h > 23 || mi > 59 || s > 59 {
            return None;
        }
        ms += ((h * 60 + mi) * 60 + s) as i64 * 1000;
        match b.get(i) {
            None => {}
            Some(b'Z' | b'z') if i + 1 == b.len() => {}
            Some(&sign @ (b'+' | b'-')) => {
                let oh = digits(b, i + 1, 2)?;
                let om = match b.len() - (i + 3) {
                    0 => 0,
                    2 => digits(b, i + 3, 2)?,
                    3 if b[i + 3] == b':' => digits(b, i + 4, 2)?,
                    _ => return None,
                };
                if oh > 23 || om > 59 {
                    return None;
                }
                let off = ((oh * 60 + om) * 60_000) as i64;
                ms -= if sign == b'+' { off } else { -off };
            }
            _ => return None,
        }
    }
    in_range(ms).then_some(ms)
}

/// A TIMESTAMP split into its calendar fields (UTC).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Parts {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub milli: u32,
    /// Days since 1970-01-01.
    pub days: i64,
}

impl Parts {
    #[inline]
    pub fn of(ms: i64) -> Parts {
        let days = ms.div_euclid(MS_PER_DAY);
        let rem = ms.rem_euclid(MS_PER_DAY) as u32;
        let (year, month, day) = civil_from_days(days);
        Parts {
            year,
            month,
            day,
            hour: rem / 3_600_000,
            minute: rem / 60_000 % 60,
            second: rem / 1000 % 60,
            milli: rem % 1000,
            days,
        }
    }

    /// Day of the week, Sunday = 0 (as DuckDB's `dow`).
    pub fn dow(&self) -> u32 {
        (self.days + 4).rem_euclid(7) as u32
    }

    /// Day of the year, 1-based.
    pub fn doy(&self) -> u32 {
        (self.days - days_from_civil(self.year, 1, 1) + 1) as u32
    }
}

fn push_2(out: &mut Vec<u8>, v: u32) {
    out.push(b'0' + (v / 10) as u8);
    out.push(b'0' + (v % 10) as u8);
}

/// Writes `ms` as DuckDB writes a TIMESTAMP: `YYYY-MM-DD HH:MM:SS`, then `.` and the
/// milliseconds with trailing zeros dropped, when there are any (`12:00:00.12`).
#[inline]
pub fn write_iso(out: &mut Vec<u8>, ms: i64) {
    let p = Parts::of(ms);
    let y = p.year as u32;
    push_2(out, y / 100);
    push_2(out, y % 100);
    out.push(b'-');
    push_2(out, p.month);
    out.push(b'-');
    push_2(out, p.day);
    out.push(b' ');
    push_2(out, p.hour);
    out.push(b':');
    push_2(out, p.minute);
    out.push(b':');
    push_2(out, p.second);
    if p.milli != 0 {
        out.push(b'.');
        let d = [p.milli / 100, p.milli / 10 % 10, p.milli % 10];
        let n = if d[2] != 0 {
            3
        } else if d[1] != 0 {
            2
        } else {
            1
        };
        out.extend(d[..n].iter().map(|&x| b'0' + x as u8));
    }
}

/// `write_iso` into a `String`.
pub fn iso_string(ms: i64) -> String {
    let mut v = Vec::with_capacity(23);
    write_iso(&mut v, ms);
    String::from_utf8(v).expect("ASCII")
}

/// A `DATE_TRUNC` unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TruncUnit {
    Millisecond,
    Second,
    Minute,
    Hour,
    Day,
    /// Monday-based, as DuckDB.
    Week,
    Month,
    Quarter,
    Year,
}

impl TruncUnit {
    pub fn parse(name: &str) -> Option<TruncUnit> {
        Some(
            match name.trim().to_ascii_lowercase().trim_end_matches('s') {
                "millisecond" | "ms" => TruncUnit::Millisecond,
                "second" | "sec" => TruncUnit::Second,
                "minute" | "min" => TruncUnit::Minute,
                "hour" | "h" => TruncUnit::Hour,
                "day" | "d" => TruncUnit::Day,
                "week" | "w" => TruncUnit::Week,
                "month" | "mon" => TruncUnit::Month,
                "quarter" => TruncUnit::Quarter,
                "year" | "y" | "yr" => TruncUnit::Year,
                _ => return None,
            },
        )
    }
}

/// `ms` truncated to the start of its `unit`.
pub fn trunc(ms: i64, unit: TruncUnit) -> i64 {
    let floor = |n: i64| ms.div_euclid(n) * n;
    match unit {
        TruncUnit::Millisecond => ms,
        TruncUnit::Second => floor(1000),
        TruncUnit::Minute => floor(60_000),
        TruncUnit::Hour => floor(3_600_000),
        TruncUnit::Day => floor(MS_PER_DAY),
        TruncUnit::Week => {
            // 1970-01-01 was a Thursday; Mondays are days ≡ 4 (mod 7).
            let days = ms.div_euclid(MS_PER_DAY);
            (days - (days - 4).rem_euclid(7)) * MS_PER_DAY
        }
        TruncUnit::Month | TruncUnit::Quarter | TruncUnit::Year => {
            let p = Parts::of(ms);
            let m = match unit {
                TruncUnit::Month => p.month,
                TruncUnit::Quarter => (p.month - 1) / 3 * 3 + 1,
                _ => 1,
            };
            days_from_civil(p.year, m, 1) * MS_PER_DAY
        }
    }
}

/// An `EXTRACT` field (and the `YEAR(t)`, … shorthands).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    Year,
    Quarter,
    Month,
    Day,
    Hour,
    Minute,
    Second,
    /// Seconds × 1000 + milliseconds, as DuckDB.
    Millisecond,
    /// Day of week, Sunday = 0.
    Dow,
    /// Day of year, 1-based.
    Doy,
    /// Seconds since the epoch (a DOUBLE, with the milliseconds as a fraction).
    Epoch,
}

impl Field {
    pub fn parse(name: &str) -> Option<Field> {
        Some(match name.trim().to_ascii_lowercase().as_str() {
            "year" | "years" => Field::Year,
            "quarter" => Field::Quarter,
            "month" | "months" => Field::Month,
            "day" | "days" | "dayofmonth" => Field::Day,
            "hour" | "hours" => Field::Hour,
            "minute" | "minutes" => Field::Minute,
            "second" | "seconds" => Field::Second,
            "millisecond" | "milliseconds" => Field::Millisecond,
            "dow" | "dayofweek" => Field::Dow,
            "doy" | "dayofyear" => Field::Doy,
            "epoch" => Field::Epoch,
            _ => return None,
        })
    }

    /// The field of `ms` (for `Epoch`, whole seconds; see `epoch_seconds`).
    pub fn of(self, ms: i64) -> i64 {
        let p = Parts::of(ms);
        match self {
            Field::Year => p.year,
            Field::Quarter => ((p.month - 1) / 3 + 1) as i64,
            Field::Month => p.month as i64,
            Field::Day => p.day as i64,
            Field::Hour => p.hour as i64,
            Field::Minute => p.minute as i64,
            Field::Second => p.second as i64,
            Field::Millisecond => (p.second * 1000 + p.milli) as i64,
            Field::Dow => p.dow() as i64,
            Field::Doy => p.doy() as i64,
            Field::Epoch => ms.div_euclid(1000),
        }
    }
}

const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];
const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// The `%` codes `strftime` knows (as DuckDB writes them).
pub const STRFTIME_CODES: &str = "aAbBdHIjmMpSfgyYwuFTz%";

/// Checks a `STRFTIME` format: `Err` names the first unknown `%` code.
pub fn check_format(fmt: &str) -> Result<(), String> {
    let mut it = fmt.chars();
    while let Some(c) = it.next() {
        if c == '%' {
            match it.next() {
                Some(k) if STRFTIME_CODES.contains(k) => {}
                Some(k) => return Err(format!("%{k}")),
                None => return Err("%".into()),
            }
        }
    }
    Ok(())
}

/// Appends `ms` formatted by `fmt` (strftime codes: `%Y %y %m %d %H %I %M %S %p %j %a %A %b
/// %B %f` (microseconds, 6 digits) `%g` (milliseconds, 3 digits) `%w %u %F %T %z %%`). Unknown
/// codes are copied as written (the planner refuses them first).
pub fn strftime(out: &mut String, ms: i64, fmt: &str) {
    use std::fmt::Write;
    let p = Parts::of(ms);
    let mut it = fmt.chars();
    while let Some(c) = it.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let _ = match it.next() {
            Some('Y') => write!(out, "{:04}", p.year),
            Some('y') => write!(out, "{:02}", p.year % 100),
            Some('m') => write!(out, "{:02}", p.month),
            Some('d') => write!(out, "{:02}", p.day),
            Some('H') => write!(out, "{:02}", p.hour),
            Some('I') => write!(out, "{:02}", (p.hour + 11) % 12 + 1),
            Some('M') => write!(out, "{:02}", p.minute),
            Some('S') => write!(out, "{:02}", p.second),
            Some('p') => write!(out, "{}", if p.hour < 12 { "AM" } else { "PM" }),
            Some('j') => write!(out, "{:03}", p.doy()),
            Some('a') => write!(out, "{}", &DAYS[p.dow() as usize][..3]),
            Some('A') => write!(out, "{}", DAYS[p.dow() as usize]),
            Some('b') => write!(out, "{}", &MONTHS[p.month as usize - 1][..3]),
            Some('B') => write!(out, "{}", MONTHS[p.month as usize - 1]),
            Some('f') => write!(out, "{:06}", p.milli * 1000),
            Some('g') => write!(out, "{:03}", p.milli),
            Some('w') => write!(out, "{}", p.dow()),
            Some('u') => write!(out, "{}", (p.dow() + 6) % 7 + 1),
            Some('F') => write!(out, "{:04}-{:02}-{:02}", p.year, p.month, p.day),
            Some('T') => write!(out, "{:02}:{:02}:{:02}", p.hour, p.minute, p.second),
            Some('z') => write!(out, "+00"),
            Some('%') => write!(out, "%"),
            Some(k) => write!(out, "%{k}"),
            None => write!(out, "%"),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iso(s: &str) -> Option<i64> {
        parse_iso(s.as_bytes())
    }

    #[test]
    fn iso_forms_parse_to_utc_milliseconds() {
        let noon = 1_709_294_400_000; // 2024-03-01 12:00:00 UTC
        assert_eq!(iso("2024-03-01T12:00:00Z"), Some(noon));
        assert_eq!(iso("2024-03-01 12:00:00"), Some(noon));
        assert_eq!(iso("2024-03-01t12:00"), Some(noon));
        assert_eq!(iso("2024-03-01 12:00:00.123"), Some(noon + 123));
        assert_eq!(iso("2024-03-01 12:00:00.1"), Some(noon + 100));
        assert_eq!(iso("2024-03-01T12:00:00.123456789Z"), Some(noon + 123));
        assert_eq!(iso("2024-03-01T14:00:00+02:00"), Some(noon));
        assert_eq!(iso("2024-03-01T14:30:00+0230"), Some(noon));
        assert_eq!(iso("2024-03-01T10:00:00-02"), Some(noon));
        assert_eq!(iso(" 2024-03-01 "), Some(noon - 12 * 3_600_000));
        assert_eq!(iso("1970-01-01"), Some(0));
        assert_eq!(iso("1969-12-31 23:59:59.999"), Some(-1));
        assert_eq!(iso("0001-01-01"), Some(MIN_TIMESTAMP_MS));
        assert_eq!(iso("9999-12-31 23:59:59.999"), Some(MAX_TIMESTAMP_MS));
        assert_eq!(iso("2024-02-29"), Some(1_709_164_800_000));
    }

    #[test]
    fn iso_rejects_what_is_not_a_valid_time() {
        for bad in [
            "",
            "2024",
            "2024-3-01",
            "2024-02-30",
            "2023-02-29",
            "2024-13-01",
            "0000-01-01",
            "2024-03-01X12:00",
            "2024-03-01 24:00:00",
            "2024-03-01 12:60",
            "2024-03-01 12:00:61",
            "2024-03-01 12:00:00.",
            "2024-03-01 12:00:00.1234567890",
            "2024-03-01 12:00:00Zx",
            "2024-03-01 12:00:00+2",
            "2024-03-01 12:00:00+02:0",
            "0001-01-01T00:00:00+01:00",
            "9999-12-31T23:00:00-01:00",
            "12345",
            "2024-03-01 12",
        ] {
            assert_eq!(iso(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn writes_round_trip_through_parse_as_duckdb_prints() {
        for (ms, text) in [
            (1_709_294_400_000, "2024-03-01 12:00:00"),
            (1_709_294_400_120, "2024-03-01 12:00:00.12"),
            (1_709_294_400_123, "2024-03-01 12:00:00.123"),
            (1_709_294_400_100, "2024-03-01 12:00:00.1"),
            (5, "1970-01-01 00:00:00.005"),
            (-1, "1969-12-31 23:59:59.999"),
            (MIN_TIMESTAMP_MS, "0001-01-01 00:00:00"),
            (MAX_TIMESTAMP_MS, "9999-12-31 23:59:59.999"),
        ] {
            assert_eq!(iso_string(ms), text);
            assert_eq!(iso(text), Some(ms));
        }
        // Every day of four centuries round-trips through the calendar.
        for days in (-730_000..2_930_000).step_by(7) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn epoch_units_convert_and_guess() {
        assert_eq!(
            EpochUnit::Seconds.to_ms(1_709_294_400),
            Some(1_709_294_400_000)
        );
        assert_eq!(EpochUnit::Micros.to_ms(-1), Some(-1));
        assert_eq!(
            EpochUnit::Nanos.to_ms(1_709_294_400_123_456_789),
            Some(1_709_294_400_123)
        );
        assert_eq!(EpochUnit::Seconds.to_ms(i64::MAX), None);
        assert_eq!(EpochUnit::Millis.to_ms(MAX_TIMESTAMP_MS + 1), None);
        assert_eq!(EpochUnit::guess(1_709_294_400), Some(EpochUnit::Seconds));
        assert_eq!(EpochUnit::guess(1_709_294_400_000), Some(EpochUnit::Millis));
        assert_eq!(
            EpochUnit::guess(1_709_294_400_000_000),
            Some(EpochUnit::Micros)
        );
        assert_eq!(
            EpochUnit::guess(1_709_294_400_000_000_000),
            Some(EpochUnit::Nanos)
        );
        assert_eq!(EpochUnit::guess(60_000), None);
        assert_eq!(
            EpochUnit::parse_type("TIMESTAMP_S"),
            Some(EpochUnit::Seconds)
        );
    }

    #[test]
    fn fields_truncation_and_formats() {
        let t = iso("2024-03-03 14:05:09.120").unwrap(); // a Sunday
        let p = Parts::of(t);
        assert_eq!(
            (p.year, p.month, p.day, p.hour, p.minute, p.second, p.milli),
            (2024, 3, 3, 14, 5, 9, 120)
        );
        assert_eq!(Field::Dow.of(t), 0);
        assert_eq!(Field::Doy.of(t), 63);
        assert_eq!(Field::Millisecond.of(t), 9120);
        assert_eq!(Field::Quarter.of(t), 1);
        assert_eq!(iso_string(trunc(t, TruncUnit::Week)), "2024-02-26 00:00:00");
        assert_eq!(
            iso_string(trunc(t, TruncUnit::Month)),
            "2024-03-01 00:00:00"
        );
        assert_eq!(
            iso_string(trunc(t, TruncUnit::Quarter)),
            "2024-01-01 00:00:00"
        );
        assert_eq!(iso_string(trunc(t, TruncUnit::Hour)), "2024-03-03 14:00:00");
        assert_eq!(
            iso_string(trunc(-1, TruncUnit::Second)),
            "1969-12-31 23:59:59"
        );
        let mut s = String::new();
        strftime(
            &mut s,
            t,
            "%Y/%m/%d %H:%M:%S.%g %f %j %a %A %b %B %y %I %p %w %u %%",
        );
        assert_eq!(
            s,
            "2024/03/03 14:05:09.120 120000 063 Sun Sunday Mar March 24 02 PM 0 7 %"
        );
        assert_eq!(check_format("%Y %q"), Err("%q".into()));
    }
}
