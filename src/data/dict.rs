//! String interning: every string value becomes a small `u32` id at ingestion, so the hot path
//! hashes and compares ids, never strings. Output converts ids back.
//!
//! Threading: one `Interner` per ingesting thread owns the string → id map (no lock on the
//! parse path); the `Dict` it appends to is shared by all threads and read without locks
//! (`boxcar` is an append-only vector whose reads are plain atomic loads). An id is always
//! published to the `Dict` before any batch holding it crosses a ring, and the ring's
//! release/acquire ordering makes the string visible to the reader.

use fxhash::FxHashMap;
use std::sync::{Arc, RwLock};

/// The shared id → string table, plus a string → id index for planning-time lookups.
#[derive(Default)]
pub struct Dict {
    strings: boxcar::Vec<Box<str>>,
    /// Written only when a new string is interned (rare); read per batch, never per record.
    index: RwLock<FxHashMap<Box<str>, u32>>,
}

impl Dict {
    pub fn new() -> Arc<Dict> {
        Arc::new(Dict::default())
    }

    /// The string of an id that has been published. Ids come only from `Interner::intern`.
    pub fn get(&self, id: u32) -> &str {
        self.strings.get(id as usize).map(|s| &**s).unwrap_or("")
    }

    /// The id of a string if it was ever interned.
    pub fn find(&self, s: &str) -> Option<u32> {
        self.index
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(s)
            .copied()
    }

    /// Interns `s` through the shared index (a lock per call): for strings computed by
    /// expressions (CAST to VARCHAR, UPPER, ||), which cache ids per batch in front of this.
    pub fn intern(&self, s: &str) -> u32 {
        if let Some(id) = self.find(s) {
            return id;
        }
        let mut index = self.index.write().unwrap_or_else(|e| e.into_inner());
        match index.get(s) {
            Some(&id) => id,
            None => {
                let id = self.strings.push(s.into()) as u32;
                index.insert(s.into(), id);
                id
            }
        }
    }

    pub fn len(&self) -> usize {
        self.strings.count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl std::fmt::Debug for Dict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Dict({} strings)", self.len())
    }
}

/// A thread's interning front end: a private map in front of the shared `Dict`, and in front
/// of that a small direct-mapped cache of short strings, which are most keys (symbols, ids,
/// codes): a hit costs two word compares, no hashing of the bytes one by one, no probing.
pub struct Interner {
    dict: Arc<Dict>,
    short: Box<[ShortEntry; SHORT_SLOTS]>,
    /// Keyed by the string's bytes, so lookups need no `&str` (the same hash as `str`'s keys
    /// would be: both hash their bytes).
    local: FxHashMap<Box<[u8]>, u32>,
    /// Whether `local` remembers the strings interned (`without_memo`: it stays empty).
    memo: bool,
}

/// Slots of the short-string cache.
const SHORT_SLOTS: usize = 512;

/// A string of at most 16 bytes as two words and its length (`tag` = length + 1; 0 = empty
/// slot): its bytes zero-padded to 16, the first eight in `lo` (little-endian); with the
/// length these determine the string.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
struct ShortKey {
    lo: u64,
    hi: u64,
    tag: u64,
}

#[derive(Clone, Copy, Default)]
struct ShortEntry {
    key: ShortKey,
    id: u32,
}

impl ShortKey {
    #[inline]
    fn of(b: &[u8]) -> Option<ShortKey> {
        let n = b.len();
        let word = |s: &[u8]| u64::from_le_bytes(s.try_into().expect("8 bytes"));
        let half = |s: &[u8]| u32::from_le_bytes(s.try_into().expect("4 bytes")) as u64;
        // Overlapping loads of the ends, shifted so the overlap drops out.
        let (lo, hi) = match n {
            8..=16 => (
                word(&b[..8]),
                word(&b[n - 8..])
                    .checked_shr(8 * (16 - n) as u32)
                    .unwrap_or(0),
            ),
            4..=7 => (
                half(&b[..4]) | (half(&b[n - 4..]) >> (8 * (8 - n))) << 32,
                0,
            ),
            0..=3 => (b.iter().rev().fold(0, |a, &x| a << 8 | x as u64), 0),
            _ => return None,
        };
        Some(ShortKey::new(lo, hi, n))
    }

    #[inline]
    fn new(lo: u64, hi: u64, len: usize) -> ShortKey {
        ShortKey {
            lo,
            hi,
            tag: len as u64 + 1,
        }
    }

    #[inline]
    fn slot(&self) -> usize {
        let h = (self.lo ^ self.hi.rotate_left(29) ^ self.tag).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        (h >> 55) as usize % SHORT_SLOTS
    }
}

impl Interner {
    pub fn new(dict: Arc<Dict>) -> Interner {
        Interner {
            dict,
            short: Box::new([ShortEntry::default(); SHORT_SLOTS]),
            local: FxHashMap::default(),
            memo: true,
        }
    }

    /// An interner for a thread that sees most strings once (a checkpoint's decoder): only
    /// the short-string cache in front of the shared index, no private map to fill.
    pub fn without_memo(dict: Arc<Dict>) -> Interner {
        Interner {
            memo: false,
            ..Interner::new(dict)
        }
    }

    pub fn dict(&self) -> &Arc<Dict> {
        &self.dict
    }

    /// The id of `bytes`, which the caller has checked are UTF-8, interning them on first
    /// sight: a known string costs one lookup, with no UTF-8 check of its own.
    #[inline]
    pub fn intern_utf8(&mut self, bytes: &[u8]) -> u32 {
        let Some(key) = ShortKey::of(bytes) else {
            return self.intern_utf8_map(bytes);
        };
        self.intern_keyed(key, bytes)
    }

    /// `intern_utf8(bytes)` for 1 to 16 bytes whose zero-padded words `lo` and `hi` (the first
    /// eight bytes little-endian, then the rest) the caller has loaded.
    #[inline]
    pub fn intern_short(&mut self, bytes: &[u8], lo: u64, hi: u64) -> u32 {
        self.intern_keyed(ShortKey::new(lo, hi, bytes.len()), bytes)
    }

    /// The id of short `bytes` whose key is `key`: from the short-string cache, or interned
    /// and cached.
    #[inline(always)]
    fn intern_keyed(&mut self, key: ShortKey, bytes: &[u8]) -> u32 {
        let slot = key.slot();
        let e = self.short[slot];
        if e.key == key {
            return e.id;
        }
        let id = self.intern_utf8_map(bytes);
        self.short[slot] = ShortEntry { key, id };
        id
    }

    fn intern_utf8_map(&mut self, bytes: &[u8]) -> u32 {
        match self.local.get(bytes) {
            Some(&id) => id,
            None => self.intern(std::str::from_utf8(bytes).expect("the caller checked UTF-8")),
        }
    }

    /// The id of `s`, interning it on first sight. A string another thread has interned
    /// costs a read lock of the shared index, so threads interning the same strings (a
    /// checkpoint's decoders, readers of one input) do not queue for the write lock.
    pub fn intern(&mut self, s: &str) -> u32 {
        if let Some(&id) = self.local.get(s.as_bytes()) {
            return id;
        }
        let id = self.dict.find(s).unwrap_or_else(|| self.dict.intern(s));
        if self.memo {
            self.local.insert(s.as_bytes().into(), id);
        }
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interning_is_stable_and_shared_between_interners() {
        let dict = Dict::new();
        let mut a = Interner::new(dict.clone());
        let mut b = Interner::new(dict.clone());
        let x = a.intern("AAPL");
        assert_eq!(a.intern("AAPL"), x);
        assert_eq!(b.intern("AAPL"), x);
        let y = b.intern("MSFT");
        // The short-string cache agrees with the map, whatever the length and collisions.
        let words: Vec<String> = (0..5000).map(|i| format!("{:x}", i * 7919)).collect();
        let mut c = Interner::new(dict.clone());
        for _ in 0..2 {
            for w in &words {
                assert_eq!(c.intern_utf8(w.as_bytes()), a.intern(w));
                assert_eq!(dict.get(c.intern_utf8(w.as_bytes())), w);
            }
        }
        for w in [
            "",
            "a",
            "abc",
            "abcd",
            "abcdefg",
            "abcdefgh",
            "0123456789abcdef",
            "0123456789abcdefX",
        ] {
            assert_eq!(dict.get(c.intern_utf8(w.as_bytes())), w);
        }
        // `intern_short`'s caller-loaded words are `ShortKey::of`'s key: one cache serves both.
        for w in words
            .iter()
            .map(String::as_bytes)
            .chain([&b"a"[..], b"ab", b"abcdefgh"])
        {
            let mut padded = [0u8; 16];
            padded[..w.len()].copy_from_slice(w);
            let lo = u64::from_le_bytes(padded[..8].try_into().unwrap());
            let hi = u64::from_le_bytes(padded[8..].try_into().unwrap());
            assert!(ShortKey::of(w) == Some(ShortKey::new(lo, hi, w.len())));
            assert_eq!(c.intern_short(w, lo, hi), c.intern_utf8(w));
        }
        assert_ne!(x, y);
        assert_eq!(dict.get(y), "MSFT");
        assert_eq!(dict.find("MSFT"), Some(y));
        assert_eq!(dict.find("nope"), None);
    }
}
