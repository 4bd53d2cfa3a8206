//! Columnar batches: the unit that crosses threads. A batch owns one typed vector per column;
//! batches are cleared and reused (never reallocated once warm), so moving records costs
//! copies into existing capacity, not allocations.
//!
//! SQL NULL is one reserved value per representation (`NULL_INT`, `NULL_FLOAT_BITS`,
//! `NULL_STR`, `NULL_BOOL`) rather than a separate validity bitmap: columns stay plain vectors
//! that copy, gather and hash as before, a column without NULLs costs nothing extra, and the
//! operators that must treat NULL specially (expressions, aggregates, the sink) test for it.
//! The price is that `i64::MIN` cannot be an input value (the readers reject it).

use super::schema::{DataType, Schema};

/// NULL in an integer or timestamp column.
pub const NULL_INT: i64 = i64::MIN;
/// NULL in a float column: one NaN payload no arithmetic produces (NaN results of arithmetic
/// are the default NaN, and expressions never compute on a NULL operand).
pub const NULL_FLOAT_BITS: u64 = 0x7FF8_0000_4E55_4C4C;
/// NULL in a string column (never a dictionary id).
pub const NULL_STR: u32 = u32::MAX;
/// Booleans are bytes: 0 false, 1 true, `NULL_BOOL` unknown (SQL's three-valued logic).
pub const NULL_BOOL: u8 = 2;

#[inline]
pub fn null_float() -> f64 {
    f64::from_bits(NULL_FLOAT_BITS)
}

#[inline]
pub fn is_null_float(x: f64) -> bool {
    x.to_bits() == NULL_FLOAT_BITS
}

/// One column of a batch. Timestamps use `Int`; strings are dictionary ids; booleans are
/// 0 / 1 / `NULL_BOOL`.
#[derive(Clone, Debug, PartialEq)]
pub enum Column {
    Int(Vec<i64>),
    Float(Vec<f64>),
    Str(Vec<u32>),
    Bool(Vec<u8>),
}

impl Column {
    pub fn with_capacity(ty: DataType, cap: usize) -> Column {
        match ty {
            DataType::Int | DataType::Timestamp => Column::Int(Vec::with_capacity(cap)),
            DataType::Float => Column::Float(Vec::with_capacity(cap)),
            DataType::Str => Column::Str(Vec::with_capacity(cap)),
            DataType::Bool => Column::Bool(Vec::with_capacity(cap)),
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Column::Int(v) => v.len(),
            Column::Float(v) => v.len(),
            Column::Str(v) => v.len(),
            Column::Bool(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn clear(&mut self) {
        match self {
            Column::Int(v) => v.clear(),
            Column::Float(v) => v.clear(),
            Column::Str(v) => v.clear(),
            Column::Bool(v) => v.clear(),
        }
    }

    pub fn as_int(&self) -> &[i64] {
        match self {
            Column::Int(v) => v,
            _ => panic!("internal: column is not an integer column"),
        }
    }

    pub fn as_float(&self) -> &[f64] {
        match self {
            Column::Float(v) => v,
            _ => panic!("internal: column is not a float column"),
        }
    }

    pub fn as_str_ids(&self) -> &[u32] {
        match self {
            Column::Str(v) => v,
            _ => panic!("internal: column is not a string column"),
        }
    }

    pub fn as_bool(&self) -> &[u8] {
        match self {
            Column::Bool(v) => v,
            _ => panic!("internal: column is not a boolean column"),
        }
    }

    /// Whether the value at `row` is NULL.
    #[inline]
    pub fn is_null(&self, row: usize) -> bool {
        match self {
            Column::Int(v) => v[row] == NULL_INT,
            Column::Float(v) => is_null_float(v[row]),
            Column::Str(v) => v[row] == NULL_STR,
            Column::Bool(v) => v[row] == NULL_BOOL,
        }
    }

    /// Whether any value in `rows` is NULL (one vectorisable pass; operators take their
    /// NULL-free fast path when it is false).
    pub fn has_nulls(&self, rows: std::ops::Range<usize>) -> bool {
        // Folds without an early exit, so the compiler vectorises them.
        fn any<T: Copy>(v: &[T], null: impl Fn(T) -> bool) -> bool {
            v.iter().fold(false, |acc, &x| acc | null(x))
        }
        match self {
            Column::Int(v) => any(&v[rows], |x| x == NULL_INT),
            Column::Float(v) => any(&v[rows], |x: f64| x.to_bits() == NULL_FLOAT_BITS),
            Column::Str(v) => any(&v[rows], |x| x == NULL_STR),
            Column::Bool(v) => any(&v[rows], |x| x == NULL_BOOL),
        }
    }

    /// Keeps the rows from `from` on for which `keep(row - from)` holds (in order), and every
    /// row before `from`.
    pub fn retain_rows(&mut self, from: usize, mut keep: impl FnMut(usize) -> bool) {
        fn retain<T: Copy>(v: &mut Vec<T>, from: usize, keep: &mut impl FnMut(usize) -> bool) {
            let mut to = from;
            for r in from..v.len() {
                if keep(r - from) {
                    v[to] = v[r];
                    to += 1;
                }
            }
            v.truncate(to);
        }
        match self {
            Column::Int(v) => retain(v, from, &mut keep),
            Column::Float(v) => retain(v, from, &mut keep),
            Column::Str(v) => retain(v, from, &mut keep),
            Column::Bool(v) => retain(v, from, &mut keep),
        }
    }

    /// Appends a NULL.
    pub fn push_null(&mut self) {
        match self {
            Column::Int(v) => v.push(NULL_INT),
            Column::Float(v) => v.push(null_float()),
            Column::Str(v) => v.push(NULL_STR),
            Column::Bool(v) => v.push(NULL_BOOL),
        }
    }

    /// The value at `row` as a 64-bit key (for hashing and grouping).
    #[inline]
    pub fn key_at(&self, row: usize) -> u64 {
        match self {
            Column::Int(v) => v[row] as u64,
            Column::Float(v) => float_key(v[row]),
            Column::Str(v) => v[row] as u64,
            Column::Bool(v) => v[row] as u64,
        }
    }

    /// Appends `src[range]` (same variant) to this column.
    pub fn extend_from(&mut self, src: &Column, range: std::ops::Range<usize>) {
        match (self, src) {
            (Column::Int(d), Column::Int(s)) => d.extend_from_slice(&s[range]),
            (Column::Float(d), Column::Float(s)) => d.extend_from_slice(&s[range]),
            (Column::Str(d), Column::Str(s)) => d.extend_from_slice(&s[range]),
            (Column::Bool(d), Column::Bool(s)) => d.extend_from_slice(&s[range]),
            _ => panic!("internal: column type mismatch in extend_from"),
        }
    }

    /// Appends the rows of `src` named by `rows` (same variant).
    pub fn gather_from(&mut self, src: &Column, rows: &[u32]) {
        fn gather<T: Copy>(d: &mut Vec<T>, s: &[T], rows: &[u32]) {
            d.extend(rows.iter().map(|&r| s[r as usize]));
        }
        match (self, src) {
            (Column::Int(d), Column::Int(s)) => gather(d, s, rows),
            (Column::Float(d), Column::Float(s)) => gather(d, s, rows),
            (Column::Str(d), Column::Str(s)) => gather(d, s, rows),
            (Column::Bool(d), Column::Bool(s)) => gather(d, s, rows),
            _ => panic!("internal: column type mismatch in gather_from"),
        }
    }

    /// [`Column::gather_from`] for `rows` in ascending order (a router's per-shard row lists):
    /// one bounds check for the whole list (against its last row) instead of one per row, and
    /// eight rows per step. Rows out of order still read inside `src`, but maybe the wrong
    /// ones: callers must pass ascending rows (checked in debug builds).
    pub fn gather_ascending(&mut self, src: &Column, rows: &[u32]) {
        fn gather<T: Copy>(d: &mut Vec<T>, s: &[T], rows: &[u32]) {
            debug_assert!(rows.windows(2).all(|w| w[0] < w[1]), "rows must ascend");
            let Some(&last) = rows.last() else { return };
            d.reserve(rows.len());
            // A full block (the usual source): rows below `BLOCK_ROWS`, a power of two, index a
            // fixed-size array through a mask (one AND a row, no bounds check or clamp).
            const FULL: usize = crate::source::BLOCK_ROWS;
            const _: () = assert!(FULL.is_power_of_two());
            if let Some(s) = s.first_chunk::<FULL>()
                && (last as usize) < FULL
            {
                let mut chunks = rows.chunks_exact(8);
                for c in &mut chunks {
                    let c: &[u32; 8] = c.try_into().expect("chunks of 8");
                    d.extend(c.iter().map(|&r| s[r as usize & (FULL - 1)]));
                }
                d.extend(
                    chunks
                        .remainder()
                        .iter()
                        .map(|&r| s[r as usize & (FULL - 1)]),
                );
                return;
            }
            // Every row is at most `last`, so clamping to it changes none, and lets the
            // compiler drop the per-row bounds check (a compare and move instead of a branch).
            let s = &s[..=last as usize];
            let m = last as usize;
            let mut chunks = rows.chunks_exact(8);
            for c in &mut chunks {
                let c: &[u32; 8] = c.try_into().expect("chunks of 8");
                d.extend(c.iter().map(|&r| s[(r as usize).min(m)]));
            }
            d.extend(chunks.remainder().iter().map(|&r| s[(r as usize).min(m)]));
        }
        match (self, src) {
            (Column::Int(d), Column::Int(s)) => gather(d, s, rows),
            (Column::Float(d), Column::Float(s)) => gather(d, s, rows),
            (Column::Str(d), Column::Str(s)) => gather(d, s, rows),
            (Column::Bool(d), Column::Bool(s)) => gather(d, s, rows),
            _ => panic!("internal: column type mismatch in gather_ascending"),
        }
    }

    /// Appends one value from `src[row]`.
    #[inline]
    pub fn push_from(&mut self, src: &Column, row: usize) {
        match (self, src) {
            (Column::Int(d), Column::Int(s)) => d.push(s[row]),
            (Column::Float(d), Column::Float(s)) => d.push(s[row]),
            (Column::Str(d), Column::Str(s)) => d.push(s[row]),
            (Column::Bool(d), Column::Bool(s)) => d.push(s[row]),
            _ => panic!("internal: column type mismatch in push_from"),
        }
    }

    /// Appends a value given as a 64-bit key (the inverse of `key_at`).
    #[inline]
    pub fn push_key(&mut self, key: u64) {
        match self {
            Column::Int(v) => v.push(key as i64),
            Column::Float(v) => v.push(f64::from_bits(key)),
            Column::Str(v) => v.push(key as u32),
            Column::Bool(v) => v.push(key as u8),
        }
    }
}

/// A float as a grouping key: NULL is one key, all other NaNs are one key, and -0.0 equals
/// 0.0.
#[inline]
pub fn float_key(x: f64) -> u64 {
    if is_null_float(x) {
        NULL_FLOAT_BITS
    } else if x.is_nan() {
        f64::NAN.to_bits()
    } else if x == 0.0 {
        0
    } else {
        x.to_bits()
    }
}

/// A set of equally long columns.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Batch {
    pub columns: Vec<Column>,
}

impl Batch {
    pub fn new(schema: &Schema, cap: usize) -> Batch {
        Batch::with_types(schema.fields.iter().map(|f| f.ty), cap)
    }

    pub fn with_types(types: impl IntoIterator<Item = DataType>, cap: usize) -> Batch {
        Batch {
            columns: types
                .into_iter()
                .map(|t| Column::with_capacity(t, cap))
                .collect(),
        }
    }

    pub fn len(&self) -> usize {
        self.columns.first().map_or(0, Column::len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn clear(&mut self) {
        self.columns.iter_mut().for_each(Column::clear);
    }

    /// Appends `src[range]`, column by column.
    pub fn extend_from(&mut self, src: &Batch, range: std::ops::Range<usize>) {
        for (d, s) in self.columns.iter_mut().zip(&src.columns) {
            d.extend_from(s, range.clone());
        }
    }

    /// Appends the rows of `src` named by `rows`.
    pub fn gather_from(&mut self, src: &Batch, rows: &[u32]) {
        for (d, s) in self.columns.iter_mut().zip(&src.columns) {
            d.gather_from(s, rows);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gather_and_extend_keep_row_alignment() {
        let mut src = Batch::with_types([DataType::Int, DataType::Str], 4);
        if let Column::Int(v) = &mut src.columns[0] {
            v.extend([10, 11, 12, 13]);
        }
        if let Column::Str(v) = &mut src.columns[1] {
            v.extend([0, 1, 2, 3]);
        }
        let mut dst = Batch::with_types([DataType::Int, DataType::Str], 4);
        dst.gather_from(&src, &[3, 1]);
        dst.extend_from(&src, 0..1);
        assert_eq!(dst.columns[0].as_int(), &[13, 11, 10]);
        assert_eq!(dst.columns[1].as_str_ids(), &[3, 1, 0]);
        assert_eq!(dst.len(), 3);
    }

    #[test]
    fn gather_ascending_agrees_with_gather_from() {
        // A full block's column (the masked path) and a shorter one.
        for len in [crate::source::BLOCK_ROWS, 100] {
            let src = Column::Int((0..len as i64).map(|i| i * 3 - 7).collect());
            let n = len as u32;
            for rows in [
                vec![],
                vec![0],
                vec![n - 1],
                (0..n).collect(),
                (0..n).filter(|r| r % 3 != 1).collect::<Vec<u32>>(),
                (5..30).step_by(2).collect(),
            ] {
                let (mut a, mut b) = (Column::Int(vec![42]), Column::Int(vec![42]));
                a.gather_from(&src, &rows);
                b.gather_ascending(&src, &rows);
                assert_eq!(a, b, "rows {rows:?}, {len} long");
            }
        }
    }

    #[test]
    fn float_keys_unify_zero_and_nan() {
        assert_eq!(float_key(0.0), float_key(-0.0));
        assert_eq!(float_key(f64::NAN), float_key(-f64::NAN));
        assert_ne!(float_key(1.0), float_key(2.0));
        assert_ne!(float_key(null_float()), float_key(f64::NAN));
        assert!(is_null_float(null_float()) && !is_null_float(f64::NAN));
    }
}
