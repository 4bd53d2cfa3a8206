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
}

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
        let base_cents = (0..cfg.symbols as u64)
            .map(|s| 2_000 + (splitmix64(cfg.seed ^ 0x5eed_0000 ^ s) % 48_000) as i64)
            .collect();
        Generator {
            cfg,
            trader_ids,
            symbol_ids,
            base_cents,
        }
    }

    pub fn config(&self) -> &GenConfig {
        &self.cfg
    }

    /// Appends records `[start, start + count)` (clamped to the stream's end) to `out`, whose
    /// layout is `Schema::market_data()`.
    ///
    /// The columns are sized once and written in one loop over slices: no `Vec::push` per
    /// value, no division by a runtime divisor (the trader, symbol and disorder remainders use
    /// [`FastRem`]), and the disorder branch is decided once per call, not per record.
    pub fn fill(&self, start: u64, count: usize, out: &mut Batch) {
        let end = (start + count as u64).min(self.cfg.records);
        let n = end.saturating_sub(start) as usize;
        let [
            Column::Int(id),
            Column::Str(trader),
            Column::Str(symbol),
            Column::Float(price),
            Column::Int(qty),
            Column::Float(value),
            Column::Int(trade_time),
            Column::Int(event_time),
        ] = &mut out.columns[..]
        else {
            panic!("internal: generator batch is not market_data");
        };
        let at = id.len();
        id.extend((start..end).map(|i| i as i64));
        for c in [&mut *qty, trade_time] {
            c.resize(at + n, 0);
        }
        for c in [&mut *trader, symbol] {
            c.resize(at + n, 0);
        }
        for c in [&mut *price, value] {
            c.resize(at + n, 0.0);
        }
        let cols = Rows {
            trader: &mut trader[at..],
            symbol: &mut symbol[at..],
            price: &mut price[at..],
            qty: &mut qty[at..],
            value: &mut value[at..],
            time: &mut trade_time[at..],
        };
        if self.cfg.disorder_ms > 0 {
            self.fill_rows::<true>(start, cols);
        } else {
            self.fill_rows::<false>(start, cols);
        }
        event_time.extend_from_slice(&trade_time[at..]);
    }

    /// Writes records `start..start + rows.len()` into `rows` (all slices have that length).
    #[inline(always)]
    fn fill_rows<const DISORDER: bool>(&self, start: u64, rows: Rows<'_>) {
        let seed = self.cfg.seed;
        let traders = FastRem::new(self.cfg.traders.max(1) as u64);
        let symbols = FastRem::new(self.cfg.symbols.max(1) as u64);
        let disorder = FastRem::new(self.cfg.disorder_ms.wrapping_add(1).max(1));
        let (trader_ids, symbol_ids, base_cents) = (
            &self.trader_ids[..],
            &self.symbol_ids[..],
            &self.base_cents[..],
        );
        let Rows {
            trader,
            symbol,
            price,
            qty,
            value,
            time,
        } = rows;
        let n = time.len();
        let (trader, symbol, price, qty, value) = (
            &mut trader[..n],
            &mut symbol[..n],
            &mut price[..n],
            &mut qty[..n],
            &mut value[..n],
        );
        for k in 0..n {
            let i = start + k as u64;
            let h1 = splitmix64(seed ^ splitmix64(i));
            let h2 = splitmix64(h1);
            let s = symbols.rem(h1 >> 32) as usize;
            let cents = base_cents[s] * (9_000 + (h2 % 2_001) as i64) / 10_000;
            let lag = if DISORDER {
                disorder.rem(splitmix64(h2)) as i64
            } else {
                0
            };
            trader[k] = trader_ids[traders.rem(h1) as usize];
            symbol[k] = symbol_ids[s];
            price[k] = cents as f64;
            qty[k] = 1 + ((h2 >> 32) % 1_000) as i64;
            time[k] = BASE_TIME_MS + i as i64 - lag;
        }
        // The float division is the slowest instruction left: in a loop of its own it runs on
        // packed registers, two or more records per instruction (same correctly rounded result).
        for p in price.iter_mut() {
            *p /= 100.0;
        }
        for ((v, &p), &q) in value.iter_mut().zip(&*price).zip(&*qty) {
            *v = p * q as f64;
        }
    }
}

/// The generated columns of one `fill`, past the rows already in the batch.
struct Rows<'a> {
    trader: &'a mut [u32],
    symbol: &'a mut [u32],
    price: &'a mut [f64],
    qty: &'a mut [i64],
    value: &'a mut [f64],
    time: &'a mut [i64],
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
        for (d, traders, symbols) in [(0u64, 20u32, 10u32), (50, 7, 3), (1, 1, 1), (999, 64, 12)] {
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
