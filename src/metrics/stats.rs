//! The run's statistics: one serialisable struct that is both the `--stats` JSON and the
//! source of the summary printed on stderr. Conservation holds by construction and is checked
//! by tests: `records_in = Σ shards.records + filtered + late_dropped + malformed`.

use crate::metrics::latency::{Latency, LatencySummary};
use crate::runtime::{Mode, RunConfig, RunReport, RuntimeKind};
use crate::source::text::Malformed;
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct ShardLoad {
    pub id: usize,
    /// Records this shard's operator processed.
    pub records: u64,
}

#[derive(Debug, Serialize)]
pub struct Stats {
    pub records_in: u64,
    pub rows_out: u64,
    pub late_dropped: u64,
    pub malformed: u64,
    /// Records removed by WHERE.
    pub filtered: u64,
    pub elapsed_s: f64,
    pub records_per_s: f64,
    pub mode: Mode,
    pub cores: usize,
    pub host_cpus: usize,
    pub oversubscribed: bool,
    pub runtime: RuntimeKind,
    pub routing: String,
    pub shards: Vec<ShardLoad>,
    /// Per batch, ingestion to results leaving the shard (µs).
    pub latency_us: LatencySummary,
    /// EMIT FINAL windows: the watermark passing a window's end to its emission (µs).
    pub window_latency_us: LatencySummary,
    /// `--rate`, if the input was paced.
    pub rate: Option<f64>,
    /// Source partitions (each has its own watermark) and the allowed lateness in force.
    pub partitions: u32,
    pub allowed_lateness_ms: i64,
    /// The most a record's event time lagged behind the maximum before it in its partition
    /// (ms): the allowed lateness that would have kept every record. 0 for in-order input and
    /// for queries that drop nothing late.
    pub max_disorder_ms: i64,
    /// Stopped early by SIGINT / SIGTERM: the results cover the records read (`records_in`),
    /// open windows flushed as at end of input.
    pub interrupted: bool,
    /// `--checkpoint-dir`: checkpoints this run wrote, and the input block a resumed run
    /// started at (its counters above cover the whole input all the same).
    pub checkpoints: u64,
    pub resumed_at_block: Option<u64>,
    /// The first few malformed records (by line) with the reason each was rejected.
    pub malformed_examples: Vec<Malformed>,
    #[serde(skip)]
    pub latency: Latency,
    #[serde(skip)]
    pub window_latency: Latency,
}

impl Stats {
    pub fn new(cfg: &RunConfig, routing: String, report: &RunReport, host_cpus: usize) -> Stats {
        let sum = |f: fn(&crate::runtime::core::CoreStats) -> u64| {
            report.cores.iter().map(f).sum::<u64>()
        };
        let up = report.upstream;
        // A resumed run: the counters of what its checkpoint covered come first.
        let base = report.restored.clone().unwrap_or_default();
        let records_in =
            up.map_or_else(|| sum(|c| c.read), |u| u.read) + report.malformed + base.read;
        let elapsed_s = report.elapsed.as_secs_f64();
        let shards = cfg.shards();
        let mut latency = Latency::default();
        let mut window_latency = Latency::default();
        for c in &report.cores {
            latency.merge(&c.latency);
            window_latency.merge(&c.window_latency);
        }
        Stats {
            records_in,
            rows_out: sum(|c| c.rows_out) + base.rows_out,
            late_dropped: sum(|c| c.late_dropped)
                + up.map_or(0, |u| u.late_dropped)
                + base.late_dropped,
            malformed: report.malformed,
            filtered: sum(|c| c.filtered) + up.map_or(0, |u| u.filtered) + base.filtered,
            elapsed_s,
            records_per_s: if elapsed_s > 0.0 {
                records_in as f64 / elapsed_s
            } else {
                0.0
            },
            mode: cfg.mode,
            cores: shards,
            host_cpus,
            oversubscribed: shards > host_cpus,
            runtime: cfg.effective_runtime(),
            routing,
            shards: report
                .cores
                .iter()
                .map(|c| ShardLoad {
                    id: c.id,
                    // A resumed run's checkpoint covered records of the shards of the run
                    // that took it: counted on the first shard, so the totals still balance.
                    records: c.processed + if c.id == 0 { base.processed } else { 0 },
                })
                .collect(),
            malformed_examples: report.malformed_examples.clone(),
            latency_us: latency.summary(),
            window_latency_us: window_latency.summary(),
            rate: cfg.rate,
            partitions: cfg.partitions,
            allowed_lateness_ms: cfg.lateness_ms,
            max_disorder_ms: report
                .cores
                .iter()
                .map(|c| c.max_lag_ms)
                .max()
                .unwrap_or(0)
                .max(base.max_lag_ms),
            interrupted: report.interrupted,
            checkpoints: report.checkpoints.written,
            resumed_at_block: report.resumed_at_block,
            latency,
            window_latency,
        }
    }

    /// The latency percentiles for `--latency`.
    pub fn latency_report(&self) -> String {
        let line = |name: &str, l: &LatencySummary| {
            format!(
                "  {name:<12} p50 {} µs  p90 {}  p99 {}  p99.9 {}  p99.99 {}  max {}  ({} samples)\n",
                l.p50, l.p90, l.p99, l.p99_9, l.p99_99, l.max, l.count
            )
        };
        let mut s =
            String::from("latency (µs; per batch, ingestion to results leaving the shard)\n");
        s.push_str(&line("batch", &self.latency_us));
        if self.window_latency_us.count > 0 {
            s.push_str(&line("window emit", &self.window_latency_us));
        }
        if self.rate.is_none() {
            s.push_str("  (unthrottled: at saturation latency mostly measures queueing; use --rate R to measure below it)\n");
        }
        s
    }

    /// The short human summary for stderr.
    pub fn summary(&self) -> String {
        let mode = match self.mode {
            Mode::V1 => "v1",
            Mode::Mutex => "mutex",
            Mode::V2 => "v2",
        };
        let runtime = match self.runtime {
            RuntimeKind::Glommio => "glommio",
            RuntimeKind::Threads => "threads",
        };
        let over = if self.oversubscribed {
            format!(
                " — oversubscribed: {} shards on {} CPUs",
                self.cores, self.host_cpus
            )
        } else {
            String::new()
        };
        let mut s = format!(
            "shardsql: {mode} on {} shard(s), {runtime} runtime, {} host CPUs{over}\n",
            self.cores, self.host_cpus
        );
        s.push_str(&format!("  routing      {}\n", self.routing));
        s.push_str(&format!(
            "  records in   {}  (malformed {}, filtered {}, late dropped {})\n",
            group(self.records_in),
            group(self.malformed),
            group(self.filtered),
            group(self.late_dropped)
        ));
        s.push_str(&format!("  rows out     {}\n", group(self.rows_out)));
        s.push_str(&self.late_warning());
        if self.interrupted {
            s.push_str(
                "  interrupted  stopped reading on a signal; results cover the records in\n",
            );
        }
        s.push_str(&format!(
            "  elapsed      {:.3} s   {:.2} M records/s\n",
            self.elapsed_s,
            self.records_per_s / 1e6
        ));
        let loads: Vec<u64> = self.shards.iter().map(|s| s.records).collect();
        let busy = loads.iter().filter(|&&l| l > 0).count().max(1);
        let mean = loads.iter().sum::<u64>() as f64 / busy as f64;
        let max = loads.iter().copied().max().unwrap_or(0) as f64;
        let per: Vec<String> = self
            .shards
            .iter()
            .map(|s| format!("[{}] {}", s.id, group(s.records)))
            .collect();
        s.push_str(&format!("  per shard    {}", per.join("  ")));
        if mean > 0.0 && loads.len() > 1 {
            s.push_str(&format!("   (busiest / mean of busy: {:.2})", max / mean));
        }
        s.push('\n');
        for m in &self.malformed_examples {
            // Line 0: a record that is not a line of a file (a Kafka message says where it is
            // in its reason).
            if m.line == 0 {
                s.push_str(&format!("  malformed    {}\n", m.reason));
            } else {
                s.push_str(&format!("  malformed    line {}: {}\n", m.line, m.reason));
            }
        }
        if self.malformed > self.malformed_examples.len() as u64 {
            s.push_str(&format!(
                "  malformed    ... and {} more\n",
                self.malformed - self.malformed_examples.len() as u64
            ));
        }
        s
    }
}

impl Stats {
    /// When more than 1% of the records arrived late and were dropped: a warning with the
    /// disorder seen and the lateness that would keep them (empty otherwise).
    pub fn late_warning(&self) -> String {
        if self.late_dropped == 0 || self.late_dropped * 100 <= self.records_in {
            return String::new();
        }
        let share = self.late_dropped as f64 * 100.0 / self.records_in.max(1) as f64;
        let advice = if self.max_disorder_ms > self.allowed_lateness_ms {
            let d = round_up_duration(self.max_disorder_ms);
            format!(
                "event time ran up to {} behind its maximum; --allowed-lateness {d} (or \
                 ALLOWED LATENESS INTERVAL '{} in the query) would keep them",
                humanize_ms(self.max_disorder_ms),
                interval_text(&d)
            )
        } else {
            "they fell in windows already closed; a larger --allowed-lateness keeps windows \
             open longer"
                .to_string()
        };
        format!(
            "  warning      {} records ({share:.1}%) arrived late and were dropped: {advice} \
             (--late-output FILE or kafka://… keeps late records)\n",
            group(self.late_dropped)
        )
    }
}

/// A lateness that covers `ms`, in a round unit: `1234` → `2s`, `80` → `100ms`, `61000` → `2m`.
fn round_up_duration(ms: i64) -> String {
    let ms = ms.max(1) as u64;
    if ms < 1000 {
        let step = if ms <= 10 {
            1
        } else if ms <= 100 {
            10
        } else {
            100
        };
        format!("{}ms", ms.div_ceil(step) * step)
    } else if ms <= 120_000 {
        format!("{}s", ms.div_ceil(1000))
    } else if ms <= 7_200_000 {
        format!("{}m", ms.div_ceil(60_000))
    } else {
        format!("{}h", ms.div_ceil(3_600_000))
    }
}

/// `2s` → `2' SECOND`: the SQL interval spelling of a flag duration.
fn interval_text(d: &str) -> String {
    let split = d.find(|c: char| !c.is_ascii_digit()).unwrap_or(d.len());
    let unit = match &d[split..] {
        "ms" => "MILLISECOND",
        "s" => "SECOND",
        "m" => "MINUTE",
        _ => "HOUR",
    };
    format!("{}' {unit}", &d[..split])
}

/// `4200` → `4.2 s`, `80` → `80 ms`.
fn humanize_ms(ms: i64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else {
        format!("{:.1} s", ms as f64 / 1000.0)
    }
}

/// A size: "512 B", "14.1 KB", "3.2 MB", "1.1 GB".
pub fn bytes(n: u64) -> String {
    match n {
        n if n < 1 << 10 => format!("{n} B"),
        n if n < 1 << 20 => format!("{:.1} KB", n as f64 / 1024.0),
        n if n < 1 << 30 => format!("{:.1} MB", n as f64 / 1048576.0),
        n => format!("{:.1} GB", n as f64 / 1073741824.0),
    }
}

/// 1234567 → "1,234,567".
pub fn group(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn groups_thousands() {
        assert_eq!(super::group(0), "0");
        assert_eq!(super::group(1234567), "1,234,567");
        assert_eq!(super::group(100), "100");
    }

    #[test]
    fn lateness_advice_rounds_up_to_a_round_unit() {
        assert_eq!(super::round_up_duration(1234), "2s");
        assert_eq!(super::round_up_duration(80), "80ms");
        assert_eq!(super::round_up_duration(81), "90ms");
        assert_eq!(super::round_up_duration(250), "300ms");
        assert_eq!(super::round_up_duration(61_000), "61s");
        assert_eq!(super::round_up_duration(600_001), "11m");
        assert_eq!(super::interval_text("2s"), "2' SECOND");
    }
}
