//! The built-in `market_data` generator. Record `i` is a pure function of `(seed, i)` (a
//! SplitMix64 hash), so any range of the stream can be produced independently: each core
//! generates its own blocks and together they are exactly the single stream.

use crate::data::batch::Column;
use crate::data::{Batch, Interner};

/// 2023-11-14T22:13:20Z: the generator's first event time.
pub const BASE_TIME_MS: i64 = 1_700_000_000_000;

const SYMBOLS: [&str; 10] = [
    "AAPL", "MSFT", "GOOGL", "AMZN", "TSLA", "NVDA", "META", "JPM", "V", "WMT",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GenConfig {
    pub records: u64,
    pub traders: u32,
    pub symbols: u32,
    pub seed: u64,
    /// A record's times lag the maximum so far by up to this many ms (0: in order).
    pub disorder_ms: u64,
}

#[inline]
fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

pub struct Generator {
    cfg: GenConfig,
    trader_ids: Vec<u32>,
    symbol_ids: Vec<u32>,
    /// Each symbol's reference price in cents.
    base_cents: Vec<i64>,
    /// Every price the stream can hold, `price_of(s, r)` at `s * PRICE_STEPS + r`, when there
    /// are few enough symbols for the table to stay in cache (empty otherwise).
    prices: Vec<f64>,
}

/// A price is its symbol's reference price scaled by one of this many factors (0.9000–1.1000).
const PRICE_STEPS: u64 = 2_001;

/// The most symbols the price table covers (64 × 2001 × 8 bytes = 1 MiB).
const PRICE_TABLE_SYMBOLS: u32 = 64;

/// Records generated per pass of `fill`: its per-record scratch (hashes, symbol indices) lives
/// on the stack, one L1-sized chunk at a time.
const CHUNK: usize = 256;

impl Generator {
    /// Interns the trader and symbol names up front, so generation never touches strings.
    pub fn new(cfg: GenConfig, interner: &mut Interner) -> Generator {
        let trader_ids = (0..cfg.traders)
            .map(|t| interner.intern(&format!("TRADER_{t:04}")))
            .collect();
        let symbol_ids = (0..cfg.symbols)
            .map(|s| match SYMBOLS.get(s as usize) {
                Some(name) => interner.intern(name),
                None => interner.intern(&format!("SYM{s:04}")),
            })
            .collect();
        let base_cents: Vec<i64> = (0..cfg.symbols as u64)
            .map(|s| 2_000 + (splitmix64(cfg.seed ^ 0x5eed_0000 ^ s) % 48_000) as i64)
            .collect();
        let prices = if cfg.symbols <= PRICE_TABLE_SYMBOLS {
            base_cents
                .iter()
                .flat_map(|&base| (0..PRICE_STEPS).map(move |r| price_of(base, r)))
                .collect()
        } else {
            Vec::new()
        };
        Generator {
            cfg,
            trader_ids,
            symbol_ids,
            base_cents,
            prices,
        }
    }

    pub fn config(&self) -> &GenConfig {
        &self.cfg
    }

    /// Appends records `[start, start + count)` (clamped to the stream's end) to `out`, whose
    /// layout is `Schema::market_data()`.
    ///
    /// Column at a time, in chunks of [`CHUNK`] records: one pass computes the two hashes of
    /// each record into stack arrays, then each column is appended by its own loop over them
    /// (`extend` of a sized iterator: no zero-fill, no per-value capacity check). No runtime
    /// division: the trader, symbol and disorder remainders are multiply-shifts ([`FastRem`]),
    /// the others have constant divisors, and a price is one load from a table of every price
    /// the stream can hold. The disorder branch is decided once per call.
    pub fn fill(&self, start: u64, count: usize, out: &mut Batch) {
        let end = (start + count as u64).min(self.cfg.records);
        let cols = Cols::of(out);
        // The widest instruction set this CPU has (AVX-512, AVX2, or the baseline), detected
        // once per call; the chunks below are compiled for each (see `Chunks`).
        self.fill_on(pulp::Arch::new(), start, end, cols);
    }

    /// `fill` on the instruction set `arch` (tests pin every set to the same output).
    fn fill_on(&self, arch: pulp::Arch, start: u64, end: u64, cols: Cols<'_>) {
        if self.cfg.disorder_ms > 0 {
            arch.dispatch(Chunks::<true> {
                g: self,
                start,
                end,
                cols,
            });
        } else {
            arch.dispatch(Chunks::<false> {
                g: self,
                start,
                end,
                cols,
            });
        }
    }

    /// Appends records `start..start + n` (`n <= CHUNK`) to `cols`.
    #[inline(always)]
    fn fill_chunk<const DISORDER: bool>(&self, start: u64, n: usize, cols: &mut Cols<'_>) {
        let seed = self.cfg.seed;
        let traders = FastRem::new(self.cfg.traders.max(1) as u64);
        let symbols = FastRem::new(self.cfg.symbols.max(1) as u64);
        let mut h1 = [0u64; CHUNK];
        let mut h2 = [0u64; CHUNK];
        let mut sym = [0u32; CHUNK];
        let (h1, h2, sym) = (&mut h1[..n], &mut h2[..n], &mut sym[..n]);
        for (k, (a, b)) in h1.iter_mut().zip(h2.iter_mut()).enumerate() {
            let h = splitmix64(seed ^ splitmix64(start + k as u64));
            *a = h;
            *b = splitmix64(h);
        }
        for (s, &h) in sym.iter_mut().zip(&*h1) {
            *s = symbols.rem(h >> 32) as u32;
        }
        let (h1, h2, sym) = (&*h1, &*h2, &*sym);
        cols.id.extend((start..start + n as u64).map(|i| i as i64));
        let trader_ids = &self.trader_ids[..];
        cols.trader
            .extend(h1.iter().map(|&h| trader_ids[traders.rem(h) as usize]));
        let symbol_ids = &self.symbol_ids[..];
        cols.symbol
            .extend(sym.iter().map(|&s| symbol_ids[s as usize]));
        let p0 = cols.price.len();
        if self.prices.is_empty() {
            let base = &self.base_cents[..];
            cols.price.extend(
                sym.iter()
                    .zip(h2)
                    .map(|(&s, &h)| price_of(base[s as usize], h % PRICE_STEPS)),
            );
        } else {
            let prices = &self.prices[..];
            cols.price.extend(sym.iter().zip(h2).map(|(&s, &h)| {
                prices[s as usize * PRICE_STEPS as usize + (h % PRICE_STEPS) as usize]
            }));
        }
        let q0 = cols.qty.len();
        cols.qty
            .extend(h2.iter().map(|&h| 1 + ((h >> 32) % 1_000) as i64));
        let (p, q) = (&cols.price[p0..], &cols.qty[q0..]);
        cols.value
            .extend(p.iter().zip(q).map(|(&p, &q)| p * q as f64));
        let t0 = cols.time.len();
        let first = BASE_TIME_MS + start as i64;
        if DISORDER {
            let disorder = FastRem::new(self.cfg.disorder_ms.wrapping_add(1).max(1));
            cols.time.extend(
                h2.iter()
                    .enumerate()
                    .map(|(k, &h)| first + k as i64 - disorder.rem(splitmix64(h)) as i64),
            );
        } else {
            cols.time.extend((0..n as i64).map(|k| first + k));
        }
        cols.event_time.extend_from_slice(&cols.time[t0..]);
    }
}

/// A price in currency units: the symbol's reference price `base` cents scaled by factor
/// `(9000 + r) / 10000`, in whole cents.
#[inline(always)]
fn price_of(base: i64, r: u64) -> f64 {
    (base * (9_000 + r as i64) / 10_000) as f64 / 100.0
}

/// `fill`'s loop over chunks, as a [`pulp::WithSimd`] operation: `pulp` compiles it once per
/// instruction set and runs the best one the CPU has. The code is plain scalar Rust; what the
/// wider sets buy is the compiler vectorising the hash pass (the SplitMix64 multiplies, 8
/// records per AVX-512 `vpmullq`) and the simple columns. The output does not depend on the
/// instruction set: every operation is exact integer arithmetic or a correctly rounded float
/// operation, the same in every lane.
struct Chunks<'g, 'c, const DISORDER: bool> {
    g: &'g Generator,
    start: u64,
    end: u64,
    cols: Cols<'c>,
}

impl<const DISORDER: bool> pulp::WithSimd for Chunks<'_, '_, DISORDER> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) {
        let Chunks {
            g,
            start,
            end,
            mut cols,
        } = self;
        let mut at = start;
        while at < end {
            let n = (end - at).min(CHUNK as u64) as usize;
            g.fill_chunk::<DISORDER>(at, n, &mut cols);
            at += n as u64;
        }
    }
}

/// The columns `fill` appends to.
struct Cols<'a> {
    id: &'a mut Vec<i64>,
    trader: &'a mut Vec<u32>,
    symbol: &'a mut Vec<u32>,
    price: &'a mut Vec<f64>,
    qty: &'a mut Vec<i64>,
    value: &'a mut Vec<f64>,
    time: &'a mut Vec<i64>,
    event_time: &'a mut Vec<i64>,
}

impl Cols<'_> {
    /// The columns of `batch`, whose layout is `Schema::market_data()`.
    fn of(batch: &mut Batch) -> Cols<'_> {
        let [
            Column::Int(id),
            Column::Str(trader),
            Column::Str(symbol),
            Column::Float(price),
            Column::Int(qty),
            Column::Float(value),
            Column::Int(trade_time),
            Column::Int(event_time),
        ] = &mut batch.columns[..]
        else {
            panic!("internal: generator batch is not market_data");
        };
        Cols {
            id,
            trader,
            symbol,
            price,
            qty,
            value,
            time: trade_time,
            event_time,
        }
    }
}

/// `n % d` for a divisor fixed at run time, as a multiply-shift (libdivide's branch-free
/// unsigned 64-bit algorithm): exact for every `n` and every `d >= 1`.
#[derive(Clone, Copy, Debug)]
struct FastRem {
    magic: u64,
    shift: u32,
    d: u64,
    /// `0` when `d == 1` (every remainder is 0, which the quotient formula cannot express).
    mask: u64,
}

impl FastRem {
    fn new(d: u64) -> FastRem {
        assert!(d >= 1, "internal: FastRem of 0");
        let log2 = 63 - d.leading_zeros();
        let (magic, shift) = if d.is_power_of_two() {
            // The quotient formula shifts right by one before `shift`.
            (0, log2.saturating_sub(1))
        } else {
            // floor(2^(64 + log2) / d) fits in 64 bits because d > 2^log2.
            let num = 1u128 << (64 + log2);
            let mut m = (num / d as u128) as u64;
            let rem = (num % d as u128) as u64;
            m = m.wrapping_add(m);
            let twice = rem.wrapping_add(rem);
            if twice >= d || twice < rem {
                m = m.wrapping_add(1);
            }
            (m.wrapping_add(1), log2)
        };
        FastRem {
            magic,
            shift,
            d,
            mask: if d == 1 { 0 } else { u64::MAX },
        }
    }

    #[inline(always)]
    fn rem(&self, n: u64) -> u64 {
        let q = ((self.magic as u128 * n as u128) >> 64) as u64;
        let t = ((n - q) >> 1) + q;
        (n - (t >> self.shift) * self.d) & self.mask
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{Dict, Schema};

    fn generator(disorder_ms: u64) -> Generator {
        let cfg = GenConfig {
            records: 10_000,
            traders: 20,
            symbols: 10,
            seed: 7,
            disorder_ms,
        };
        Generator::new(cfg, &mut Interner::new(Dict::new()))
    }

    #[test]
    fn any_split_gives_the_same_records() {
        let g = generator(0);
        let mut whole = Batch::new(&Schema::market_data(), 0);
        g.fill(0, 10_000, &mut whole);
        let mut parts = Batch::new(&Schema::market_data(), 0);
        for start in (0..10_000).step_by(777) {
            g.fill(start, 777, &mut parts);
        }
        assert_eq!(whole, parts);
        assert_eq!(whole.len(), 10_000);
    }

    #[test]
    fn fast_rem_is_exact() {
        let mut ds: Vec<u64> = (1..=2_100).collect();
        ds.extend((1..64).flat_map(|b| [(1u64 << b) - 1, 1 << b, (1 << b) + 1]));
        ds.extend([u64::MAX, u64::MAX - 1, 1_000_000_007, u32::MAX as u64]);
        let mut ns = vec![0, 1, 2, u64::MAX, u64::MAX - 1, 1 << 63, (1 << 63) - 1];
        ns.extend((0..2_000).map(splitmix64));
        ns.extend((0..200).map(|i| splitmix64(i) >> 32));
        for &d in &ds {
            let f = FastRem::new(d);
            for &n in &ns {
                assert_eq!(f.rem(n), n % d, "{n} % {d}");
            }
        }
    }

    /// The stream is pinned: these values are what the differential and oracle tests were
    /// written against, so `fill` may get faster but never different.
    #[test]
    fn fill_matches_the_reference_formula() {
        for (d, traders, symbols) in [
            (0u64, 20u32, 10u32),
            (50, 7, 3),
            (1, 1, 1),
            (999, 64, 12),
            // More symbols than the price table covers: prices computed per record.
            (3, 20, PRICE_TABLE_SYMBOLS + 36),
        ] {
            let cfg = GenConfig {
                records: 5_000,
                traders,
                symbols,
                seed: 42,
                disorder_ms: d,
            };
            let g = Generator::new(cfg, &mut Interner::new(Dict::new()));
            let mut b = Batch::new(&Schema::market_data(), 0);
            g.fill(0, 3_000, &mut b);
            g.fill(3_000, 3_000, &mut b);
            assert_eq!(b.len(), 5_000);
            for i in 0..5_000u64 {
                let r = i as usize;
                let h1 = splitmix64(cfg.seed ^ splitmix64(i));
                let h2 = splitmix64(h1);
                let s = ((h1 >> 32) % symbols as u64) as usize;
                let cents = g.base_cents[s] * (9_000 + (h2 % 2_001) as i64) / 10_000;
                let p = cents as f64 / 100.0;
                let q = 1 + ((h2 >> 32) % 1_000) as i64;
                let lag = if d > 0 {
                    (splitmix64(h2) % (d + 1)) as i64
                } else {
                    0
                };
                let t = BASE_TIME_MS + i as i64 - lag;
                assert_eq!(b.columns[0].as_int()[r], i as i64);
                assert_eq!(
                    b.columns[1].as_str_ids()[r],
                    g.trader_ids[(h1 % traders as u64) as usize]
                );
                assert_eq!(b.columns[2].as_str_ids()[r], g.symbol_ids[s]);
                assert_eq!(b.columns[3].key_at(r), Column::Float(vec![p]).key_at(0));
                assert_eq!(b.columns[4].as_int()[r], q);
                assert_eq!(
                    b.columns[5].key_at(r),
                    Column::Float(vec![p * q as f64]).key_at(0)
                );
                assert_eq!(b.columns[6].as_int()[r], t);
                assert_eq!(b.columns[7].as_int()[r], t);
            }
        }
    }

    #[test]
    fn every_instruction_set_gives_the_same_records() {
        for d in [0u64, 40] {
            let g = generator(d);
            let mut arches = vec![pulp::Arch::Scalar];
            arches.extend(pulp::x86::V3::try_new().map(pulp::Arch::V3));
            arches.extend(pulp::x86::V4::try_new().map(pulp::Arch::V4));
            let batches: Vec<Batch> = arches
                .into_iter()
                .map(|arch| {
                    let mut b = Batch::new(&Schema::market_data(), 0);
                    for start in (0..10_000).step_by(3_000) {
                        let cols = Cols::of(&mut b);
                        g.fill_on(arch, start, (start + 3_000).min(10_000), cols);
                    }
                    b
                })
                .collect();
            let mut whole = Batch::new(&Schema::market_data(), 0);
            g.fill(0, 10_000, &mut whole);
            for b in &batches {
                assert_eq!(b, &whole);
            }
        }
    }

    #[test]
    fn disorder_is_bounded_and_zero_means_in_order() {
        for d in [0u64, 50] {
            let g = generator(d);
            let mut b = Batch::new(&Schema::market_data(), 0);
            g.fill(0, 10_000, &mut b);
            let mut max = i64::MIN;
            for &t in b.columns[7].as_int() {
                assert!(max == i64::MIN || t >= max - d as i64);
                max = max.max(t);
            }
        }
    }
}
