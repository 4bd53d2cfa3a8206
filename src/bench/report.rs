//! The sweep's report: one serialisable `BenchReport` written by one exporter per format —
//! the printed matrix, `results.csv`, `results.json`, `report.md` — plus an SVG chart of
//! throughput against cores (one line per mode) per scenario. Every output names the host and
//! marks oversubscribed cells (shards > host CPUs) with `*`.

use super::runner::CellResult;
use crate::error::{Error, Result};
use crate::runtime::Mode;
use serde::Serialize;
use std::fmt::Write as _;
use std::path::Path;

/// Where the numbers were measured.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Host {
    pub cpu_model: String,
    pub host_cpus: usize,
    pub kernel: String,
    pub date: String,
    pub git_commit: String,
}

impl Host {
    pub fn detect() -> Host {
        let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|t| {
                t.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split(':').nth(1))
                    .map(|s| s.trim().to_string())
            })
            .unwrap_or_else(|| "unknown".into());
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "unknown".into());
        let git_commit = std::process::Command::new("git")
            .args(["rev-parse", "--short", "HEAD"])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_else(|| "unknown".into());
        Host {
            cpu_model,
            host_cpus: crate::runtime::host_cpus(),
            kernel,
            date: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
            git_commit,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct BenchReport {
    pub name: String,
    pub command: String,
    pub host: Host,
    pub records: u64,
    pub repetitions: usize,
    pub warmup: usize,
    pub results: Vec<CellResult>,
}

fn mode_name(m: Mode) -> &'static str {
    match m {
        Mode::V1 => "v1",
        Mode::Mutex => "mutex",
        Mode::V2 => "v2",
    }
}

/// `123456789.0` → `123.5M`.
pub fn rate(x: f64) -> String {
    if x >= 1e9 {
        format!("{:.2}G", x / 1e9)
    } else if x >= 1e6 {
        format!("{:.1}M", x / 1e6)
    } else if x >= 1e3 {
        format!("{:.1}K", x / 1e3)
    } else {
        format!("{x:.0}")
    }
}

fn cell_rows(r: &BenchReport) -> Vec<[String; 10]> {
    r.results
        .iter()
        .map(|c| {
            [
                c.scenario.clone(),
                mode_name(c.mode).into(),
                format!("{}{}", c.cores, if c.oversubscribed { "*" } else { "" }),
                c.rate.map_or("max".into(), rate),
                format!(
                    "{} ({}–{})",
                    rate(c.median_rps),
                    rate(c.min_rps),
                    rate(c.max_rps)
                ),
                c.speedup_vs_v1.map_or("-".into(), |s| format!("{s:.2}x")),
                c.efficiency
                    .map_or("-".into(), |e| format!("{:.0}%", e * 100.0)),
                c.p50_us.to_string(),
                c.p99_us.to_string(),
                c.p99_9_us.to_string(),
            ]
        })
        .collect()
}

const HEADER: [&str; 10] = [
    "scenario",
    "mode",
    "cores",
    "rate",
    "records/s median (min–max)",
    "vs v1",
    "efficiency",
    "p50 µs",
    "p99 µs",
    "p99.9 µs",
];

fn host_line(r: &BenchReport) -> String {
    format!(
        "host: {} ({} CPUs), Linux {}, {}, commit {}",
        r.host.cpu_model, r.host.host_cpus, r.host.kernel, r.host.date, r.host.git_commit
    )
}

/// The summary matrix as aligned text.
pub fn matrix(r: &BenchReport) -> String {
    let rows = cell_rows(r);
    let mut widths: Vec<usize> = HEADER.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, (c, w)) in cells.iter().zip(&widths).enumerate() {
            let pad = w - c.chars().count();
            if i < 3 {
                s.push_str(c);
                s.push_str(&" ".repeat(pad));
            } else {
                s.push_str(&" ".repeat(pad));
                s.push_str(c);
            }
            s.push_str("  ");
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = format!(
        "{} — {} records, median of {} runs\n{}\n\n",
        r.name,
        r.records,
        r.repetitions,
        host_line(r)
    );
    out.push_str(&line(HEADER.to_vec()));
    for row in &rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    if r.results.iter().any(|c| c.oversubscribed) {
        out.push_str(&format!(
            "* oversubscribed: more shards than the host's {} CPUs\n",
            r.host.host_cpus
        ));
    }
    out
}

pub fn write_csv(r: &BenchReport, path: &Path) -> Result<()> {
    let mut w = csv::Writer::from_path(path).map_err(|e| Error::Io {
        context: format!("{}: cannot write", path.display()),
        source: e.into(),
    })?;
    let io = |e: csv::Error| Error::Io {
        context: format!("{}: cannot write", path.display()),
        source: e.into(),
    };
    w.write_record([
        "scenario",
        "mode",
        "cores",
        "rate",
        "records",
        "repetitions",
        "median_rps",
        "min_rps",
        "max_rps",
        "speedup_vs_v1",
        "efficiency",
        "p50_us",
        "p99_us",
        "p99_9_us",
        "oversubscribed",
        "host_cpus",
        "cpu_model",
    ])
    .map_err(io)?;
    let opt = |x: Option<f64>| x.map_or(String::new(), |v| format!("{v:.4}"));
    for c in &r.results {
        w.write_record([
            c.scenario.clone(),
            mode_name(c.mode).into(),
            c.cores.to_string(),
            c.rate.map_or(String::new(), |x| x.to_string()),
            r.records.to_string(),
            c.runs.len().to_string(),
            format!("{:.0}", c.median_rps),
            format!("{:.0}", c.min_rps),
            format!("{:.0}", c.max_rps),
            opt(c.speedup_vs_v1),
            opt(c.efficiency),
            c.p50_us.to_string(),
            c.p99_us.to_string(),
            c.p99_9_us.to_string(),
            c.oversubscribed.to_string(),
            r.host.host_cpus.to_string(),
            r.host.cpu_model.clone(),
        ])
        .map_err(io)?;
    }
    w.flush()
        .map_err(|e| Error::io(format!("{}: cannot write", path.display()), e))
}

pub fn write_json(r: &BenchReport, path: &Path) -> Result<()> {
    let text = serde_json::to_string_pretty(r).expect("report serialises");
    std::fs::write(path, text + "\n")
        .map_err(|e| Error::io(format!("{}: cannot write", path.display()), e))
}

pub fn write_markdown(r: &BenchReport, path: &Path, charts: &[(String, String)]) -> Result<()> {
    let mut s = format!("# {}\n\n", r.name);
    let _ = writeln!(s, "- {}", host_line(r));
    let _ = writeln!(s, "- command: `{}`", r.command);
    let _ = writeln!(
        s,
        "- {} records per run, preloaded, `--output null`; median of {} runs after {} warm-up run(s), each in a fresh process",
        r.records, r.repetitions, r.warmup
    );
    let _ = writeln!(
        s,
        "- speedup is over v1 (one shard) for the same scenario; efficiency = speedup / cores\n"
    );
    let _ = writeln!(s, "| {} |", HEADER.join(" | "));
    let _ = writeln!(s, "|{}", "---|".repeat(HEADER.len()));
    for row in cell_rows(r) {
        let _ = writeln!(s, "| {} |", row.join(" | "));
    }
    if r.results.iter().any(|c| c.oversubscribed) {
        let _ = writeln!(
            s,
            "\n`*` oversubscribed: more shards than the host's {} CPUs.",
            r.host.host_cpus
        );
    }
    if !charts.is_empty() {
        s.push_str("\n## Throughput against cores\n\n");
        for (scenario, file) in charts {
            let _ = writeln!(s, "![{scenario}]({file})\n");
        }
    }
    std::fs::write(path, s).map_err(|e| Error::io(format!("{}: cannot write", path.display()), e))
}

/// One SVG chart for `scenario`: median records/s against cores, one line per mode.
pub fn write_svg(r: &BenchReport, scenario: &str, path: &Path) -> Result<()> {
    use plotters::prelude::*;
    let cells: Vec<&CellResult> = r
        .results
        .iter()
        .filter(|c| c.scenario == scenario && c.rate.is_none())
        .collect();
    // An integer axis: core counts are whole, so are its ticks (0 and max + 1 pad the ends).
    let max_cores = cells.iter().map(|c| c.cores).max().unwrap_or(1).max(2) as i64;
    let max_rps = cells.iter().map(|c| c.max_rps).fold(0.0, f64::max).max(1.0) / 1e6 * 1.15;
    let draw = || -> std::result::Result<(), Box<dyn std::error::Error>> {
        let root = SVGBackend::new(path, (720, 440)).into_drawing_area();
        root.fill(&WHITE)?;
        let title = format!(
            "{scenario} — {} ({} CPUs)",
            r.host.cpu_model, r.host.host_cpus
        );
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(16)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0i64..max_cores + 1, 0f64..max_rps)?;
        let whole_cores = |x: &i64| {
            if (1..=max_cores).contains(x) {
                x.to_string()
            } else {
                String::new()
            }
        };
        chart
            .configure_mesh()
            .x_labels((max_cores + 2).min(17) as usize)
            .x_label_formatter(&whole_cores)
            .x_desc("cores (shards)")
            .y_desc("million records/s (median)")
            .draw()?;
        let colours = [
            RGBColor(0x99, 0x99, 0x99),
            RGBColor(0xd6, 0x27, 0x28),
            RGBColor(0x1f, 0x77, 0xb4),
        ];
        for (i, mode) in [Mode::V1, Mode::Mutex, Mode::V2].into_iter().enumerate() {
            let mut pts: Vec<(i64, f64)> = cells
                .iter()
                .filter(|c| c.mode == mode)
                .map(|c| (c.cores as i64, c.median_rps / 1e6))
                .collect();
            if pts.is_empty() {
                continue;
            }
            pts.sort_by_key(|p| p.0);
            let colour = colours[i];
            chart
                .draw_series(LineSeries::new(pts.clone(), colour.stroke_width(2)))?
                .label(mode_name(mode))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(2))
                });
            chart.draw_series(pts.into_iter().map(|p| Circle::new(p, 4, colour.filled())))?;
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()?;
        root.present()?;
        Ok(())
    };
    draw().map_err(|e| Error::Internal(format!("drawing {}: {e}", path.display())))
}
