//! Latency histograms (hdrhistogram, microseconds). Each shard records into its own histograms
//! — one value per batch, never per record — and the run merges them at the end. Two are kept:
//! `batch` (a block's ingestion by its reader to its results leaving the shard) and `window`
//! (EMIT FINAL: the watermark passing a window's end to the window's rows being emitted).

use hdrhistogram::Histogram;
use serde::Serialize;
use std::io::Write;
use std::time::Instant;

/// Highest trackable latency: one hour, in µs.
const MAX_US: u64 = 3_600_000_000;

#[derive(Clone, Debug)]
pub struct Latency {
    hist: Histogram<u64>,
}

impl Default for Latency {
    fn default() -> Self {
        Latency {
            hist: Histogram::new_with_bounds(1, MAX_US, 3).expect("valid histogram bounds"),
        }
    }
}

/// Percentiles in µs, as printed by `--latency` and written into the stats JSON.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct LatencySummary {
    pub count: u64,
    pub mean: f64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p99_9: u64,
    pub p99_99: u64,
    pub max: u64,
}

impl Latency {
    /// Records the time since `since`, in µs (at least 1).
    #[inline]
    pub fn record_since(&mut self, since: Instant) {
        let us = since.elapsed().as_micros().min(MAX_US as u128) as u64;
        self.hist.saturating_record(us.max(1));
    }

    pub fn record_us(&mut self, us: u64) {
        self.hist.saturating_record(us.clamp(1, MAX_US));
    }

    pub fn merge(&mut self, other: &Latency) {
        self.hist.add(&other.hist).expect("histograms share bounds");
    }

    pub fn is_empty(&self) -> bool {
        self.hist.is_empty()
    }

    pub fn summary(&self) -> LatencySummary {
        if self.hist.is_empty() {
            return LatencySummary::default();
        }
        let q = |p: f64| self.hist.value_at_quantile(p);
        LatencySummary {
            count: self.hist.len(),
            mean: self.hist.mean(),
            p50: q(0.50),
            p90: q(0.90),
            p99: q(0.99),
            p99_9: q(0.999),
            p99_99: q(0.9999),
            max: self.hist.max(),
        }
    }

    /// Writes HdrHistogram's percentile-distribution text (as `outputPercentileDistribution`
    /// prints it, values in µs), which HdrHistogram's plotters read.
    pub fn write_hgrm(&self, out: &mut impl Write) -> std::io::Result<()> {
        writeln!(
            out,
            "{:>12} {:>14} {:>10} {:>14}\n",
            "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
        )?;
        let mut last = None;
        for v in self.hist.iter_quantiles(5) {
            let value = v.value_iterated_to() as f64;
            let p = v.quantile_iterated_to();
            let total = self.hist.count_between(0, v.value_iterated_to());
            if p < 1.0 {
                writeln!(
                    out,
                    "{value:12.3} {p:2.12} {total:10} {:14.2}",
                    1.0 / (1.0 - p)
                )?;
            } else {
                last = Some((value, p, total));
            }
        }
        if let Some((value, p, total)) = last {
            writeln!(out, "{value:12.3} {p:2.12} {total:10}")?;
        }
        let (mean, stddev, max, total) = if self.hist.is_empty() {
            (0.0, 0.0, 0.0, 0)
        } else {
            (
                self.hist.mean(),
                self.hist.stdev(),
                self.hist.max() as f64,
                self.hist.len(),
            )
        };
        writeln!(
            out,
            "#[Mean    = {mean:12.3}, StdDeviation   = {stddev:12.3}]"
        )?;
        writeln!(out, "#[Max     = {max:12.3}, Total count    = {total:12}]")?;
        writeln!(
            out,
            "#[Buckets = {:12}, SubBuckets     = {:12}]",
            self.hist.buckets(),
            (2 * 10u64.pow(u32::from(self.hist.sigfig()))).next_power_of_two()
        )
    }
}

/// Reads the (value, percentile) rows back from `.hgrm` text; used by tests and the bench.
pub fn parse_hgrm(text: &str) -> Result<Vec<(f64, f64)>, String> {
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with("Value") {
            continue;
        }
        let mut parts = line.split_whitespace();
        let value = parts.next().and_then(|v| v.parse::<f64>().ok());
        let pct = parts.next().and_then(|v| v.parse::<f64>().ok());
        match (value, pct) {
            (Some(v), Some(p)) => rows.push((v, p)),
            _ => return Err(format!("line {}: not a percentile row: {line}", i + 1)),
        }
    }
    if rows.is_empty() {
        return Err("no percentile rows".into());
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_histograms_equal_one_that_saw_everything() {
        let (mut a, mut b, mut all) = (Latency::default(), Latency::default(), Latency::default());
        for v in 1..=1000u64 {
            if v % 3 == 0 {
                a.record_us(v)
            } else {
                b.record_us(v)
            }
            all.record_us(v);
        }
        a.merge(&b);
        assert_eq!(a.summary(), all.summary());
        assert_eq!(a.summary().count, 1000);
        assert_eq!(a.summary().max, 1000);
        assert!((499..=501).contains(&a.summary().p50));
    }

    #[test]
    fn hgrm_text_parses_back_and_ends_at_the_max() {
        let mut l = Latency::default();
        for v in [5u64, 10, 10, 20, 400] {
            l.record_us(v);
        }
        let mut out = Vec::new();
        l.write_hgrm(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let rows = parse_hgrm(&text).unwrap();
        assert_eq!(rows.last().unwrap().1, 1.0);
        assert!((rows.last().unwrap().0 - 400.0).abs() < 1.0, "{text}");
        assert!(rows.windows(2).all(|w| w[0].1 <= w[1].1));
        assert!(text.contains("#[Max     ="));
    }

    #[test]
    fn an_empty_histogram_summarises_to_zeros() {
        assert_eq!(Latency::default().summary(), LatencySummary::default());
    }
}
