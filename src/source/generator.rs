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
    pub fn fill(&self, start: u64, count: usize, out: &mut Batch) {
        let end = (start + count as u64).min(self.cfg.records);
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
        let traders = self.cfg.traders.max(1) as u64;
        let symbols = self.cfg.symbols.max(1) as u64;
        for i in start..end {
            let h1 = splitmix64(self.cfg.seed ^ splitmix64(i));
            let h2 = splitmix64(h1);
            let s = ((h1 >> 32) % symbols) as usize;
            let cents = self.base_cents[s] * (9_000 + (h2 % 2_001) as i64) / 10_000;
            let p = cents as f64 / 100.0;
            let q = 1 + ((h2 >> 32) % 1_000) as i64;
            let lag = if self.cfg.disorder_ms > 0 {
                (splitmix64(h2) % (self.cfg.disorder_ms + 1)) as i64
            } else {
                0
            };
            let t = BASE_TIME_MS + i as i64 - lag;
            id.push(i as i64);
            trader.push(self.trader_ids[(h1 % traders) as usize]);
            symbol.push(self.symbol_ids[s]);
            price.push(p);
            qty.push(q);
            value.push(p * q as f64);
            trade_time.push(t);
            event_time.push(t);
        }
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
