//! JSON lines, the fast path (`FastJson`, one per reader, owned by its thread): scans the
//! common line (a flat object, no escapes, numbers whose serde_json reading it reproduces)
//! straight into the batch columns and hands anything else to the general path (`json`), so
//! rows, malformed counts, reasons and line numbers never depend on which path read a line
//! (the differential tests in `json_fast_tests.rs` check this on hostile input).

use crate::data::batch::{Column, NULL_BOOL, NULL_INT, NULL_STR, null_float};
use crate::data::time::{self, EpochUnit};
use crate::data::{Batch, DataType, Field, Interner};
use crate::source::swar::{ZEROS, digit_run, eight_value, load16};
use crate::source::values::{POW10_F64, POW10_U64, plain_int};

/// What the fast path does with one column: its type (and epoch unit), and for VARCHAR
/// whether the query reads it (an unread one is validated but holds NULL, as in `append`).
#[derive(Clone, Copy, Debug)]
enum Slot {
    Int,
    Timestamp(EpochUnit),
    Float,
    Bool,
    Str { stored: bool },
}

/// A decimal `d.d` of at most 19 digits, read as serde_json reads it (without its
/// `float_roundtrip` feature): the digits as one integer `m` (exact: below 2^64), then
/// `m as f64 / 10^k`. Up to 15 digits `m` is exact too and the one division is correctly
/// rounded; from 16 digits two roundings can differ from the nearest double (e.g.
/// `3875334047727647.7`), and the slow path keeps serde_json's value, so this does too.
fn decimal_value(neg: bool, m: u64, k: usize) -> f64 {
    let x = m as f64 / POW10_F64[k];
    if neg { -x } else { x }
}

/// The most digits of a decimal the fast path reads: 19 when `decimal_value` reproduces
/// serde_json's reading of long decimals (checked once, on numbers where a correctly rounded
/// reader differs), else 15, where every exact reader agrees.
fn max_decimal_digits() -> usize {
    static MAX: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *MAX.get_or_init(|| {
        let same = [
            "3875334047727647.7",
            "549968344652.8355980",
            "410.458098536264801",
        ]
        .iter()
        .all(|t| {
            let (int, frac) = t.split_once('.').expect("a decimal");
            let m: u64 = format!("{int}{frac}").parse().expect("digits");
            serde_json::from_str::<f64>(t).ok() == Some(decimal_value(false, m, frac.len()))
        });
        if same { 19 } else { 15 }
    })
}

/// Per byte: 0 for a byte a string may hold as is (ASCII from space up, not `"` or `\`),
/// 1 for `"`, `\` and control characters (the string ends, or the line falls back), 2 for
/// a byte of a multi-byte UTF-8 sequence (the string is validated as UTF-8).
static STR_CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = if i < 0x20 || i == b'"' as usize || i == b'\\' as usize {
            1
        } else if i >= 0x80 {
            2
        } else {
            0
        };
        i += 1;
    }
    t
};

#[inline(always)]
fn load64(s: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(s[at..at + 8].try_into().expect("8 bytes"))
}

#[inline(always)]
fn load32(s: &[u8], at: usize) -> u64 {
    u32::from_le_bytes(s[at..at + 4].try_into().expect("4 bytes")) as u64
}

/// `short_words` of a string.
type Words = (u64, u64);

/// Two words that, with its length, are a string of at most 16 bytes (for longer ones they
/// are only its ends): overlapping loads, no copy, no loop.
#[inline(always)]
fn short_words(s: &[u8]) -> (u64, u64) {
    let len = s.len();
    match len {
        8.. => (load64(s, 0), load64(s, len - 8)),
        4..=7 => (load32(s, 0) | load32(s, len - 4) << 32, 0),
        1..=3 => (
            s[0] as u64 | (s[len / 2] as u64) << 8 | (s[len - 1] as u64) << 16,
            0,
        ),
        0 => (0, 0),
    }
}

/// The digits from `line[q]` on, appended to `m` (which holds `count` digits): the offset
/// after them, the value and the digit count; `None` past `max` digits in all (so `m` stays
/// below 10^19 and cannot overflow). Eight bytes at a time while the line has them.
#[inline(always)]
fn read_digits(
    line: &[u8],
    mut q: usize,
    mut m: u64,
    mut count: usize,
    max: usize,
) -> Option<(usize, u64, usize)> {
    while q + 8 <= line.len() {
        let (n, v) = digits_in_word(load64(line, q));
        if count + n > max {
            return None;
        }
        m = m * POW10_U64[n] + v;
        q += n;
        count += n;
        if n < 8 {
            return Some((q, m, count));
        }
    }
    while let Some(&b) = line.get(q) {
        if !b.is_ascii_digit() {
            break;
        }
        if count == max {
            return None;
        }
        m = m * 10 + (b - b'0') as u64;
        q += 1;
        count += 1;
    }
    Some((q, m, count))
}

/// How many of the 8 bytes of `w` (loaded little-endian) are ASCII digits before the first
/// that is not (`swar::digit_run`), and their value: shifted to the top of the word they read
/// as eight digits with leading zeros (`swar::eight_value`).
#[inline(always)]
fn digits_in_word(w: u64) -> (usize, u64) {
    let n = digit_run(w);
    if n == 0 {
        return (0, 0);
    }
    (n, eight_value(w.wrapping_sub(ZEROS) << (8 * (8 - n))))
}

/// The JSON-lines fast path: reads a common line (one flat object, keys among the columns,
/// no escapes, numbers whose rendering it can prove) straight into the batch's columns,
/// exactly as `parse_object` + `json_record` + `TextReader::append` would; for anything else
/// it says so and appends nothing, and the caller takes that slow path for the line. Built
/// once per reader from the columns (the first object's keys) and the projection.
pub(super) struct FastJson {
    keys: Vec<Box<[u8]>>,
    /// Per column: `short_words` of its name, to compare a key in two word compares.
    key_words: Vec<Words>,
    /// Per column: what precedes its value in the compact layout (`{"k0":`, then `,"ki":`),
    /// and, up to 16 bytes, its `Prefix` words: a line in that layout is read without looking
    /// for whitespace.
    prefixes: Vec<(Box<[u8]>, Prefix)>,
    slots: Vec<Slot>,
    /// Per column: whether the query reads it (`TextReader::set_projection`).
    stored: Vec<bool>,
    /// Per column: the stamp of the last record that held its key (duplicates and missing
    /// keys, without clearing anything per record).
    seen: Vec<u32>,
    stamp: u32,
    /// `max_decimal_digits()`.
    max_digits: usize,
}

/// One scanned JSON value: its kind and, for strings and numbers, its bytes in the line.
enum Scalar<'a> {
    /// A string's contents: no escapes, valid UTF-8.
    Str(&'a [u8]),
    /// An integer of at most 17 digits, not `-0`: its text renders unchanged.
    Int(i64, &'a [u8]),
    /// `-?d+.d+` of at most 19 digits: its value as serde_json reads it (`decimal_value`;
    /// only a DOUBLE column takes it).
    Dec(f64),
    Bool(bool),
    Null,
}

impl FastJson {
    /// The fast path for `keys` (the columns, in order) typed by `fields`; `stores(i)` says
    /// whether the query reads column `i`. `None` when a column name holds a byte that a raw
    /// key compare could mistake (`"`, `\`, a control character): such inputs take the slow
    /// path throughout.
    pub(super) fn new(
        keys: &[String],
        fields: &[Field],
        stores: impl Fn(usize) -> bool,
    ) -> Option<FastJson> {
        if keys.len() != fields.len()
            || keys
                .iter()
                .any(|k| k.bytes().any(|b| STR_CLASS[b as usize] == 1))
        {
            return None;
        }
        let slots: Vec<Slot> = fields
            .iter()
            .enumerate()
            .map(|(i, f)| match f.ty {
                DataType::Int => Slot::Int,
                DataType::Timestamp => Slot::Timestamp(f.unit),
                DataType::Float => Slot::Float,
                DataType::Bool => Slot::Bool,
                DataType::Str => Slot::Str { stored: stores(i) },
            })
            .collect();
        Some(FastJson {
            keys: keys.iter().map(|k| k.as_bytes().into()).collect(),
            key_words: keys.iter().map(|k| short_words(k.as_bytes())).collect(),
            prefixes: keys
                .iter()
                .enumerate()
                .map(|(i, k)| {
                    let p = format!("{}\"{k}\":", if i == 0 { '{' } else { ',' });
                    let w = Prefix::of(p.as_bytes());
                    (p.into_bytes().into_boxed_slice(), w)
                })
                .collect(),
            stored: (0..fields.len()).map(&stores).collect(),
            slots,
            seen: vec![0; keys.len()],
            stamp: 0,
            max_digits: max_decimal_digits(),
        })
    }

    /// Appends `line` (one input line, its newline included or not) to `out` and returns
    /// true, or returns false with `out` unchanged: the line needs the slow path.
    pub(super) fn append(&mut self, line: &[u8], out: &mut Batch, interner: &mut Interner) -> bool {
        let rows = out.len();
        match self.scan_compact(line, out, interner) {
            Some(true) => return true,
            Some(false) => {
                truncate(out, rows);
                if self.scan(line, out, interner).is_some() {
                    return true;
                }
            }
            None => {}
        }
        truncate(out, rows);
        false
    }

    /// Reads a line in the compact layout (`{"k0":v0,"k1":v1,…}`, every column in order, no
    /// whitespace but after the `}`): `Some(true)` when it was one, `Some(false)` at the first
    /// byte that differs (then `scan` reads the line afresh), `None` for a value that only
    /// the slow path reads.
    #[inline]
    fn scan_compact(
        &mut self,
        line: &[u8],
        out: &mut Batch,
        interner: &mut Interner,
    ) -> Option<bool> {
        let mut p = 0;
        for col in 0..self.prefixes.len() {
            let (pre, words) = &self.prefixes[col];
            let end = p + pre.len();
            if end > line.len()
                || !words.matches(line, p)
                || (pre.len() > 16 && line[p..end] != pre[..])
            {
                return Some(false);
            }
            let (value, q) = scan_scalar(line, end, self.max_digits)?;
            self.put(col, value, out, interner)?;
            p = q;
        }
        Some(line.get(p) == Some(&b'}') && skip_ws(line, p + 1) == line.len())
    }

    /// Reads the object into `out` column by column; `None` at the first thing the fast path
    /// does not cover (then some columns may hold one value more than others).
    #[inline]
    fn scan(&mut self, line: &[u8], out: &mut Batch, interner: &mut Interner) -> Option<()> {
        self.stamp = self.stamp.wrapping_add(1);
        if self.stamp == 0 {
            self.seen.fill(0);
            self.stamp = 1;
        }
        self.scan_object(line, out, interner)
    }
}

/// A key prefix of the compact layout as the 16 bytes loaded where it should be: its bytes
/// (the first 16 of a longer one) zero-padded, and the masks that keep them.
#[derive(Clone, Copy, Debug)]
struct Prefix {
    words: (u64, u64),
    masks: (u64, u64),
}

impl Prefix {
    fn of(p: &[u8]) -> Prefix {
        let mut bytes = [0u8; 16];
        let mut keep = [0u8; 16];
        let n = p.len().min(16);
        bytes[..n].copy_from_slice(&p[..n]);
        keep[..n].fill(0xFF);
        let word = |s: &[u8]| u64::from_le_bytes(s.try_into().expect("8 bytes"));
        Prefix {
            words: (word(&bytes[..8]), word(&bytes[8..])),
            masks: (word(&keep[..8]), word(&keep[8..])),
        }
    }

    /// Whether `line[p..]` starts with the prefix (its first 16 bytes).
    #[inline(always)]
    fn matches(&self, line: &[u8], p: usize) -> bool {
        let (w0, w1) = load16(line, p);
        (w0 & self.masks.0) == self.words.0 && (w1 & self.masks.1) == self.words.1
    }
}

/// Drops what a partly read record appended: every column back to `rows` values.
fn truncate(out: &mut Batch, rows: usize) {
    for c in &mut out.columns {
        match c {
            Column::Int(v) => v.truncate(rows),
            Column::Float(v) => v.truncate(rows),
            Column::Str(v) => v.truncate(rows),
            Column::Bool(v) => v.truncate(rows),
        }
    }
}

impl FastJson {
    /// `scan`'s reading of one object, in any layout JSON allows.
    #[inline]
    fn scan_object(&mut self, line: &[u8], out: &mut Batch, interner: &mut Interner) -> Option<()> {
        let n = self.keys.len();
        let mut p = skip_ws(line, 0);
        if line.get(p) != Some(&b'{') {
            return None;
        }
        p = skip_ws(line, p + 1);
        let mut found = 0usize;
        if line.get(p) == Some(&b'}') {
            p += 1;
        } else {
            loop {
                if line.get(p) != Some(&b'"') {
                    return None;
                }
                p += 1;
                // The key: expected to be column `found` (keys in the first object's order).
                let col = match self.keys.get(found) {
                    Some(k)
                        if line.len() > p + k.len()
                            && line[p + k.len()] == b'"'
                            && short_words(&line[p..p + k.len()]) == self.key_words[found]
                            && (k.len() <= 16 || line[p..p + k.len()] == k[..]) =>
                    {
                        p += k.len() + 1;
                        found
                    }
                    _ => {
                        let (key, end) = scan_str(line, p)?;
                        p = end;
                        self.keys.iter().position(|k| &k[..] == key)?
                    }
                };
                if self.seen[col] == self.stamp {
                    return None;
                }
                self.seen[col] = self.stamp;
                found += 1;
                p = skip_ws(line, p);
                if line.get(p) != Some(&b':') {
                    return None;
                }
                p = skip_ws(line, p + 1);
                let (value, end) = scan_scalar(line, p, self.max_digits)?;
                self.put(col, value, out, interner)?;
                p = skip_ws(line, end);
                match line.get(p) {
                    Some(b',') => p = skip_ws(line, p + 1),
                    Some(b'}') => {
                        p += 1;
                        break;
                    }
                    _ => return None,
                }
            }
        }
        if skip_ws(line, p) != line.len() {
            return None;
        }
        if found < n {
            // A missing key is NULL, like an explicit null.
            for (c, &s) in out.columns.iter_mut().zip(&self.seen) {
                if s != self.stamp {
                    c.push_null();
                }
            }
        }
        Some(())
    }

    /// Appends `value` to column `col` as `append` would store its rendered text, or `None`
    /// when that text would not parse there (the slow path then reports it) or the fast path
    /// cannot prove what the text would be.
    #[inline(always)]
    fn put(
        &mut self,
        col: usize,
        value: Scalar,
        out: &mut Batch,
        interner: &mut Interner,
    ) -> Option<()> {
        let column = &mut out.columns[col];
        if let Scalar::Null = value {
            column.push_null();
            return Some(());
        }
        // An unread column is validated as its type but holds NULL, as in `append_record`.
        let stored = self.stored[col];
        match (self.slots[col], column) {
            (Slot::Int, Column::Int(c)) => {
                let v = match value {
                    Scalar::Int(v, _) => v,
                    Scalar::Str(s) => plain_int(s)?,
                    _ => return None,
                };
                c.push(if stored { v } else { NULL_INT });
            }
            (Slot::Timestamp(unit), Column::Int(c)) => {
                let v = match value {
                    Scalar::Int(v, _) => unit.to_ms(v)?,
                    Scalar::Str(s) => match plain_int(s) {
                        Some(v) => unit.to_ms(v)?,
                        None => time::parse_iso(s)?,
                    },
                    _ => return None,
                };
                c.push(if stored { v } else { NULL_INT });
            }
            (Slot::Float, Column::Float(c)) => {
                let v = match value {
                    Scalar::Int(v, _) => v as f64,
                    Scalar::Dec(x) => x,
                    _ => return None,
                };
                c.push(if stored { v } else { null_float() });
            }
            (Slot::Bool, Column::Bool(c)) => {
                let v = match value {
                    Scalar::Bool(b) => b as u8,
                    _ => return None,
                };
                c.push(if stored { v } else { NULL_BOOL });
            }
            (Slot::Str { stored }, Column::Str(c)) => {
                let text: &[u8] = match value {
                    Scalar::Str(s) => s,
                    Scalar::Int(_, text) => text,
                    Scalar::Bool(true) => b"true",
                    Scalar::Bool(false) => b"false",
                    _ => return None,
                };
                // An empty string is NULL (`is_null_text`); an unread column holds NULL.
                c.push(if text.is_empty() || !stored {
                    NULL_STR
                } else {
                    // Validated UTF-8; a short one is found in the interner's short-string
                    // cache without hashing its bytes.
                    interner.intern_utf8(text)
                });
            }
            _ => return None,
        }
        Some(())
    }
}

/// The first byte at or after `p` that is not JSON whitespace (space, tab, LF, CR).
#[inline]
fn skip_ws(line: &[u8], mut p: usize) -> usize {
    while let Some(&b) = line.get(p) {
        if b > b' ' || !matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
            break;
        }
        p += 1;
    }
    p
}

/// The contents of the string whose first byte is `line[p]` (just after its opening quote)
/// and the offset just past its closing quote; `None` for an escape, a control character,
/// invalid UTF-8 or no closing quote.
#[inline]
fn scan_str(line: &[u8], p: usize) -> Option<(&[u8], usize)> {
    let mut q = p;
    // Eight bytes at a time while the line has them: the first byte that is a quote, a
    // backslash, a control character or non-ASCII ends the word loop.
    while q + 8 <= line.len() {
        let hits = special_bytes(load64(line, q));
        if hits != 0 {
            q += (hits.trailing_zeros() / 8) as usize;
            match line[q] {
                b'"' => return Some((&line[p..q], q + 1)),
                0x80.. => break,
                _ => return None,
            }
        }
        q += 8;
    }
    scan_str_bytes(line, p, q)
}

/// Flags (the high bit of each byte) the bytes of `w` a string cannot hold as they are: `"`,
/// `\`, control characters, and non-ASCII bytes (which need UTF-8 validation). Only the
/// lowest flag is exact (a borrow can flag bytes above it), which is the one `scan_str` uses.
#[inline(always)]
fn special_bytes(w: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGHS;
    zero(w ^ (ONES * b'"' as u64))
        | zero(w ^ (ONES * b'\\' as u64))
        | (w.wrapping_sub(ONES * 0x20) & !w & HIGHS)
        | (w & HIGHS)
}

/// `scan_str` a byte at a time from `q` (the string started at `p`; `line[p..q]` is ASCII).
fn scan_str_bytes(line: &[u8], p: usize, mut q: usize) -> Option<(&[u8], usize)> {
    let mut ascii = true;
    loop {
        let b = *line.get(q)?;
        match STR_CLASS[b as usize] {
            0 => {}
            2 => ascii = false,
            _ if b == b'"' => break,
            _ => return None,
        }
        q += 1;
    }
    let s = &line[p..q];
    if !ascii {
        std::str::from_utf8(s).ok()?;
    }
    Some((s, q + 1))
}

/// The scalar value starting at `line[p]` and the offset just past it; `None` for anything
/// the fast path does not read (objects, arrays, escapes, exponents, long or odd numbers).
#[inline(always)]
fn scan_scalar(line: &[u8], p: usize, max_digits: usize) -> Option<(Scalar<'_>, usize)> {
    match *line.get(p)? {
        b'"' => scan_str(line, p + 1).map(|(s, end)| (Scalar::Str(s), end)),
        b't' if line[p..].starts_with(b"true") => Some((Scalar::Bool(true), p + 4)),
        b'f' if line[p..].starts_with(b"false") => Some((Scalar::Bool(false), p + 5)),
        b'n' if line[p..].starts_with(b"null") => Some((Scalar::Null, p + 4)),
        b'-' | b'0'..=b'9' => scan_number(line, p, max_digits),
        _ => None,
    }
}

/// A JSON number the fast path can read exactly as the slow path does: an integer of at
/// most 17 digits (not `-0`, which serde_json reads as the float -0.0) or `-?d+.d+` of at most
/// `max_digits` digits; no leading zeros (invalid JSON), no exponent.
#[inline(always)]
fn scan_number(line: &[u8], p: usize, max_digits: usize) -> Option<(Scalar<'_>, usize)> {
    let neg = line[p] == b'-';
    let start = p + neg as usize;
    let (q, m, int_digits) = read_digits(line, start, 0, 0, max_digits)?;
    if int_digits == 0 || (int_digits > 1 && line[start] == b'0') {
        return None;
    }
    match line.get(q) {
        Some(b'.') => {
            let (q, m, digits) = read_digits(line, q + 1, m, int_digits, max_digits)?;
            let k = digits - int_digits;
            if k == 0 || matches!(line.get(q), Some(b'e' | b'E')) {
                return None;
            }
            Some((Scalar::Dec(decimal_value(neg, m, k)), q))
        }
        Some(b'e' | b'E') => None,
        _ if int_digits > 17 || (neg && m == 0) => None,
        _ => {
            let v = m as i64;
            Some((Scalar::Int(if neg { -v } else { v }, &line[p..q]), q))
        }
    }
}

#[cfg(test)]
#[path = "json_fast_tests.rs"]
mod tests;
