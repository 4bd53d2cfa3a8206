//! Numbers and short strings read a word at a time from a field of a read buffer: the field
//! is `buf[start..end]`, and the bytes after it (the next delimiter and fields) are loaded
//! with it, so a field of up to 16 bytes is two word loads whatever its length, no loop and
//! no branch per byte. Each reader here gives exactly what its byte-slice twin in `values`
//! gives (`plain_int`, `plain_decimal`, their grammars), deferring to that twin for what it
//! does not cover (long numbers); `differential_swar_equals_the_slice_readers` checks it.
//! Pure functions: callable from any thread.

use crate::source::values::{POW10_U64, decimal_quotient, plain_decimal, plain_int};

pub(super) const ZEROS: u64 = 0x3030_3030_3030_3030;

/// `buf[at..at + 16]` as two little-endian words; bytes past the buffer read as 0.
#[inline(always)]
pub(super) fn load16(buf: &[u8], at: usize) -> (u64, u64) {
    let word = |s: &[u8]| u64::from_le_bytes(s.try_into().expect("8 bytes"));
    match buf.get(at..at + 16) {
        Some(b) => (word(&b[..8]), word(&b[8..])),
        None => {
            let mut padded = [0u8; 16];
            let rest = buf.get(at..).unwrap_or(&[]);
            padded[..rest.len()].copy_from_slice(rest);
            (word(&padded[..8]), word(&padded[8..]))
        }
    }
}

/// How many of the bytes of `w` (little-endian) are ASCII digits before the first that is
/// not (0 to 8). A byte is a digit when its high nibble is 3 and adding 6 leaves it 3; a
/// carry out of a byte from 0xFA up can only disturb bytes above the first non-digit.
#[inline(always)]
pub(super) fn digit_run(w: u64) -> usize {
    const HIGH: u64 = 0xF0F0_F0F0_F0F0_F0F0;
    let non = ((w & HIGH) ^ ZEROS) | ((w.wrapping_add(0x0606_0606_0606_0606) & HIGH) ^ ZEROS);
    (non.trailing_zeros() / 8) as usize
}

/// The value of 8 digits (each byte 0 to 9, the first in the low byte), in three multiply
/// steps (as simdjson's `parse_eight_digits_unrolled`).
#[inline(always)]
pub(super) fn eight_value(v: u64) -> u64 {
    const MASK: u64 = 0x0000_00FF_0000_00FF;
    let v = v.wrapping_mul(10).wrapping_add(v >> 8);
    (v & MASK)
        .wrapping_mul(100 + (1_000_000 << 32))
        .wrapping_add(((v >> 16) & MASK).wrapping_mul(1 + (10_000 << 32)))
        >> 32
}

/// The value of the first `d` bytes (1 to 16) of `(w0, w1)`, all ASCII digits, or `None`
/// when one is not.
#[inline(always)]
fn digits(w0: u64, w1: u64, d: usize) -> Option<u64> {
    if d <= 8 {
        if digit_run(w0) < d {
            return None;
        }
        Some(eight_value(w0.wrapping_sub(ZEROS) << (8 * (8 - d))))
    } else {
        if digit_run(w0) < 8 || digit_run(w1) < d - 8 {
            return None;
        }
        let hi = eight_value(w0.wrapping_sub(ZEROS));
        Some(hi * POW10_U64[d - 8] + eight_value(w1.wrapping_sub(ZEROS) << (8 * (16 - d))))
    }
}

/// `plain_int(&buf[start..end])`.
#[inline(always)]
pub(super) fn int_at(buf: &[u8], start: usize, end: usize) -> Option<i64> {
    let (neg, s) = match *buf[start..end].first()? {
        b'-' => (true, start + 1),
        b'+' => (false, start + 1),
        _ => (false, start),
    };
    let d = end - s;
    if d == 0 || d > 16 {
        return plain_int(&buf[start..end]);
    }
    let (w0, w1) = load16(buf, s);
    let v = digits(w0, w1, d)? as i64;
    Some(if neg { -v } else { v })
}

/// `plain_decimal(&buf[start..end])`: a decimal of at most 19 digits with at most 16 on
/// either side of the point is `m / 10^k`, read by `decimal_quotient` as there; the rest
/// (longer, or 16 to 19 digits without a point) defers.
#[inline(always)]
pub(super) fn decimal_at(buf: &[u8], start: usize, end: usize) -> Option<f64> {
    let (neg, s) = match *buf[start..end].first()? {
        b'-' => (true, start + 1),
        _ => (false, start),
    };
    let l = end - s;
    if l == 0 || l > 20 {
        return plain_decimal(&buf[start..end]);
    }
    let (w0, w1) = load16(buf, s);
    let run = digit_run(w0);
    let point = if run < 8 { run } else { 8 + digit_run(w1) };
    if l > 16 {
        // 16 to 19 digits and a point (a shortest round-trip such as `13362.699999999999`):
        // the digits on each side of the point read from their own two words.
        let k = l.saturating_sub(point + 1);
        if point >= 16 || k > 16 {
            return plain_decimal(&buf[start..end]);
        }
        if point == 0 || k == 0 || buf[s + point] != b'.' {
            return None;
        }
        let (f0, f1) = load16(buf, s + point + 1);
        let m = digits(w0, w1, point)? * POW10_U64[k] + digits(f0, f1, k)?;
        let x = decimal_quotient(m, k);
        return Some(if neg { -x } else { x });
    }
    let (m, k) = if point >= l {
        if l > 15 {
            return plain_decimal(&buf[start..end]);
        }
        (digits(w0, w1, l)?, 0)
    } else {
        // A point after the first digit and before the last, then digits only (a second
        // point, or any other byte, is not a plain decimal).
        if point == 0 || point + 1 >= l {
            return None;
        }
        // The digits without the point: the bytes above it moved down one.
        let (y0, y1) = if l <= 9 {
            // All in `w0` but maybe the last digit, the first byte of `w1`.
            if (w0 >> (8 * point)) as u8 != b'.' {
                return None;
            }
            let below = (1u64 << (8 * point)) - 1;
            ((w0 & below) | ((w0 >> 8) & !below) | (w1 << 56), 0)
        } else {
            let x = w0 as u128 | (w1 as u128) << 64;
            if (x >> (8 * point)) as u8 != b'.' {
                return None;
            }
            let below = x & ((1u128 << (8 * point)) - 1);
            let y = below | (x >> (8 * (point + 1))) << (8 * point);
            (y as u64, (y >> 64) as u64)
        };
        (digits(y0, y1, l - 1)?, l - 1 - point)
    };
    let x = decimal_quotient(m, k);
    Some(if neg { -x } else { x })
}

/// `plain_decimal(&buf[start..end]).is_some()`, without computing a long one's value.
#[inline(always)]
pub(super) fn is_decimal_at(buf: &[u8], start: usize, end: usize) -> bool {
    if end - start <= 16 {
        return decimal_at(buf, start, end).is_some();
    }
    let s = start + (buf[start] == b'-') as usize;
    let l = end - s;
    if l > 40 {
        return false;
    }
    // Eight bytes at a time: every byte that is not a digit must be a point, one at most,
    // neither first nor last (`is_plain_decimal`'s grammar; each byte's test is exact).
    const HIGH: u64 = 0x8080_8080_8080_8080;
    const LOW7: u64 = 0x7F7F_7F7F_7F7F_7F7F;
    let (mut points, mut point_at) = (0, 0);
    let mut i = 0;
    while i < l {
        let (w, _) = load16(buf, s + i);
        let keep = match l - i {
            8.. => HIGH,
            k => HIGH & ((1u64 << (8 * k)) - 1),
        };
        let x = w ^ ZEROS;
        let non_digit = (((x | HIGH) - 0x0A0A_0A0A_0A0A_0A0A) | x) & keep;
        let y = w ^ 0x2E2E_2E2E_2E2E_2E2E;
        let point = !(((y & LOW7) + LOW7) | y) & keep;
        if non_digit != point {
            return false;
        }
        if point != 0 {
            points += point.count_ones();
            point_at = i + (point.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    points == 0 || (points == 1 && point_at > 0 && point_at + 1 < l)
}

/// A short string field: `Some((lo, hi))`, its bytes zero-padded to 16 (the interner's
/// short key), when it is 1 to 16 ASCII bytes; `None` otherwise (empty, longer, non-ASCII).
#[inline(always)]
pub(super) fn short_ascii_at(buf: &[u8], start: usize, end: usize) -> Option<(u64, u64)> {
    let len = end - start;
    if len == 0 || len > 16 {
        return None;
    }
    let (w0, w1) = load16(buf, start);
    let keep = |bytes: usize| match bytes {
        0 => 0,
        8.. => u64::MAX,
        b => (1u64 << (8 * b)) - 1,
    };
    let (lo, hi) = (w0 & keep(len), w1 & keep(len.saturating_sub(8)));
    ((lo | hi) & 0x8080_8080_8080_8080 == 0).then_some((lo, hi))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Random number-like texts (digits, points, signs, spaces, letters, lengths around the
    /// 8- and 16-byte boundaries) inside random buffers, read by both readers.
    #[test]
    fn differential_swar_equals_the_slice_readers() {
        let mut rng = crate::test_rng::xorshift(0x6A09_E667_F3BC_C908u64);
        let mut next = move |n: u64| rng() % n;
        let alphabet = b"0123456789012345678901234567890123456789..--+ eE,x\n\x80\xff";
        let fixed: &[&[u8]] = &[
            b"0",
            b"-0",
            b"+0",
            b"-0.0",
            b".5",
            b"5.",
            b"1.2.3",
            b"9223372036854775807",
            b"9223372036854775808",
            b"-9223372036854775808",
            b"12345678901234567",
            b"123456789012345678",
            b"9999999999999999",
            b"999999999999999",
            b"9007199254740993",
            b"900719925474099.3",
            b"0.000000000000001",
            b"00000000000000.1",
            b"1234567.12345678",
            b"1234567.123456789",
            b"13362.699999999999",
            b"-13362.699999999999",
            b"1.23456789012345678",
            b"1.2345678901234567",
            b"1234567890123456.7",
            b"123456789012345.6789",
            b"12345678901234567.89",
            b"1234.5678901234567.8",
            b"1234.567890123456 8",
            b"1e5",
            b" 1",
            b"1 ",
            b"",
            b"-",
            b"+",
            b"162.8",
            b"1700000000000",
            b"1234567890123456789012345678901234567890",
            b"12345678901234567890123456789012345678901",
            b"-1234567890123456789012345678901234567890",
            b"1234567890123456789.012345678901234567890",
            b"123456789012345678901234567890123456789.",
            b".23456789012345678901234567890123456789",
            b"12345678.0123456789.12345",
            b"123456789012345678.9",
            b"12345678901234567\xff8",
            b"1234567890123456789012345678901234567.89",
        ];
        let mut ints = 0;
        let mut decimals = 0;
        for case in 0..400_000 {
            let text: Vec<u8> = match fixed.get(case) {
                Some(t) => t.to_vec(),
                None => {
                    let len = next(22) as usize;
                    let mut t: Vec<u8> = (0..len)
                        .map(|_| alphabet[next(alphabet.len() as u64) as usize])
                        .collect();
                    if next(2) == 0 {
                        t.retain(u8::is_ascii_digit);
                        if next(2) == 0 && !t.is_empty() {
                            let at = next(t.len() as u64 + 1) as usize;
                            t.insert(at, b'.');
                        }
                        if next(3) == 0 {
                            t.insert(0, if next(2) == 0 { b'-' } else { b'+' });
                        }
                    }
                    t
                }
            };
            let before = next(20) as usize;
            let after = next(20) as usize;
            let mut buf: Vec<u8> = (0..before)
                .map(|_| alphabet[next(alphabet.len() as u64) as usize])
                .collect();
            let start = buf.len();
            buf.extend_from_slice(&text);
            let end = buf.len();
            buf.extend((0..after).map(|_| alphabet[next(alphabet.len() as u64) as usize]));
            let shown = String::from_utf8_lossy(&text);
            let want = plain_int(&text);
            assert_eq!(int_at(&buf, start, end), want, "{shown:?}");
            ints += want.is_some() as usize;
            let want = plain_decimal(&text).map(f64::to_bits);
            assert_eq!(
                decimal_at(&buf, start, end).map(f64::to_bits),
                want,
                "{shown:?}"
            );
            decimals += want.is_some() as usize;
            assert_eq!(is_decimal_at(&buf, start, end), want.is_some(), "{shown:?}");
            let want = (!text.is_empty() && text.len() <= 16 && text.is_ascii()).then(|| {
                let mut padded = [0u8; 16];
                padded[..text.len()].copy_from_slice(&text);
                let word = |s: &[u8]| u64::from_le_bytes(s.try_into().unwrap());
                (word(&padded[..8]), word(&padded[8..]))
            });
            assert_eq!(short_ascii_at(&buf, start, end), want, "{shown:?}");
        }
        assert!(ints > 50_000 && decimals > 100_000, "{ints} {decimals}");
    }
}
