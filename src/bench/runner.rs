//! Runs a sweep: every cell (scenario × mode × cores × rate) in fresh processes of this same
//! binary with preloaded input, after warm-up runs, and keeps each cell's throughputs and the
//! latency of its median run.

use super::config::BenchConfig;
use crate::error::{Error, Result};
use crate::runtime::Mode;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// One point of the sweep.
#[derive(Clone, Debug, PartialEq)]
pub struct Cell {
    pub scenario: String,
    pub query: PathBuf,
    pub mode: Mode,
    pub cores: usize,
    pub rate: Option<f64>,
}

impl Cell {
    /// A file-name-safe label, e.g. `03_group_by-v2-4c` or `...-4c-1000000rps`.
    pub fn label(&self) -> String {
        let mode = format!("{:?}", self.mode).to_lowercase();
        let mut s = format!("{}-{mode}-{}c", self.scenario, self.cores);
        if let Some(r) = self.rate {
            s.push_str(&format!("-{}rps", r as u64));
        }
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    }
}

/// A measured cell.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct CellResult {
    pub scenario: String,
    pub mode: Mode,
    pub cores: usize,
    pub rate: Option<f64>,
    /// Records per second of each measured run.
    pub runs: Vec<f64>,
    pub median_rps: f64,
    pub min_rps: f64,
    pub max_rps: f64,
    /// Median over v1's median for the same scenario and rate.
    pub speedup_vs_v1: Option<f64>,
    /// Speedup divided by cores.
    pub efficiency: Option<f64>,
    pub p50_us: u64,
    pub p99_us: u64,
    pub p99_9_us: u64,
    /// Shards outnumber the host's CPUs.
    pub oversubscribed: bool,
    /// The median run's latency histogram, relative to the report folder.
    pub hgrm: Option<String>,
}

/// The cells of a sweep, in report order. v1 is one shard whatever `cores` says, so it runs
/// once per scenario.
pub fn cells(cfg: &BenchConfig) -> Vec<Cell> {
    let mut out = Vec::new();
    for &rate in &cfg.rates {
        for s in &cfg.scenarios {
            for &mode in &cfg.modes {
                let cores: Vec<usize> = if mode == Mode::V1 {
                    vec![1]
                } else {
                    cfg.cores.clone()
                };
                for c in cores {
                    out.push(Cell {
                        scenario: s.name.clone(),
                        query: s.query.clone(),
                        mode,
                        cores: c,
                        rate,
                    });
                }
            }
        }
    }
    out
}

pub fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

struct Run {
    rps: f64,
    stats: serde_json::Value,
    hgrm: PathBuf,
}

fn run_once(cfg: &BenchConfig, cell: &Cell, exe: &Path, tmp: &Path, tag: &str) -> Result<Run> {
    let stats = tmp.join(format!("{}-{tag}.json", cell.label()));
    let hgrm = tmp.join(format!("{}-{tag}.hgrm", cell.label()));
    let mode = format!("{:?}", cell.mode).to_lowercase();
    let mut cmd = Command::new(exe);
    cmd.arg("--query")
        .arg(&cell.query)
        .args(["--mode", &mode, "--cores", &cell.cores.to_string()])
        .args(["--records", &cfg.records.to_string()])
        .args(["--traders", &cfg.generator.traders.to_string()])
        .args(["--symbols", &cfg.generator.symbols.to_string()])
        .args(["--seed", &cfg.generator.seed.to_string()])
        .args(["--disorder-ms", &cfg.generator.disorder_ms.to_string()])
        .args(["--lock-per", &format!("{:?}", cfg.lock_per).to_lowercase()])
        .args(["--runtime", &format!("{:?}", cfg.runtime).to_lowercase()])
        .args(["--preload", "--output", "null", "--stats"])
        .arg(&stats)
        .arg("--hgrm")
        .arg(&hgrm);
    if let Some(r) = cell.rate {
        cmd.args(["--rate", &r.to_string()]);
    }
    let out = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| Error::io("bench: cannot start shardsql", e))?;
    if !out.status.success() {
        return Err(Error::Runtime(format!(
            "bench: cell {} failed:\n{}",
            cell.label(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let text =
        std::fs::read_to_string(&stats).map_err(|e| Error::io("bench: reading run stats", e))?;
    let stats: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| Error::Internal(format!("bench: run stats are not JSON: {e}")))?;
    let rps = stats["records_per_s"].as_f64().unwrap_or(0.0);
    Ok(Run { rps, stats, hgrm })
}

/// Runs one cell: warm-up runs, then `repetitions` measured runs.
pub fn run_cell(
    cfg: &BenchConfig,
    cell: &Cell,
    exe: &Path,
    tmp: &Path,
    report_dir: &Path,
    mut tick: impl FnMut(),
) -> Result<CellResult> {
    for w in 0..cfg.warmup {
        run_once(cfg, cell, exe, tmp, &format!("warmup{w}"))?;
        tick();
    }
    let mut runs = Vec::new();
    for r in 0..cfg.repetitions {
        runs.push(run_once(cfg, cell, exe, tmp, &format!("run{r}"))?);
        tick();
    }
    let rps: Vec<f64> = runs.iter().map(|r| r.rps).collect();
    let med = median(&rps);
    let median_run = runs
        .iter()
        .min_by(|a, b| (a.rps - med).abs().total_cmp(&(b.rps - med).abs()))
        .expect("at least one repetition");
    let lat = &median_run.stats["latency_us"];
    let hgrm_name = format!("hgrm/{}.hgrm", cell.label());
    let hgrm = match std::fs::copy(&median_run.hgrm, report_dir.join(&hgrm_name)) {
        Ok(_) => Some(hgrm_name),
        Err(_) => None,
    };
    Ok(CellResult {
        scenario: cell.scenario.clone(),
        mode: cell.mode,
        cores: cell.cores,
        rate: cell.rate,
        median_rps: med,
        min_rps: rps.iter().copied().fold(f64::INFINITY, f64::min),
        max_rps: rps.iter().copied().fold(0.0, f64::max),
        runs: rps,
        speedup_vs_v1: None,
        efficiency: None,
        p50_us: lat["p50"].as_u64().unwrap_or(0),
        p99_us: lat["p99"].as_u64().unwrap_or(0),
        p99_9_us: lat["p99_9"].as_u64().unwrap_or(0),
        oversubscribed: median_run.stats["oversubscribed"]
            .as_bool()
            .unwrap_or(false),
        hgrm,
    })
}

/// Fills speedup over v1 and scaling efficiency once every cell is measured. Paced cells
/// (`rate`) run at the rate by design, so they get neither.
pub fn fill_speedups(results: &mut [CellResult]) {
    let base: Vec<(String, Option<u64>, f64)> = results
        .iter()
        .filter(|r| r.mode == Mode::V1)
        .map(|r| (r.scenario.clone(), r.rate.map(|x| x as u64), r.median_rps))
        .collect();
    for r in results.iter_mut().filter(|r| r.rate.is_none()) {
        let v1 = base
            .iter()
            .find(|(s, rate, _)| *s == r.scenario && *rate == r.rate.map(|x| x as u64))
            .map(|b| b.2);
        if let Some(v1) = v1.filter(|v| *v > 0.0) {
            let speedup = r.median_rps / v1;
            r.speedup_vs_v1 = Some(speedup);
            r.efficiency = Some(speedup / r.cores as f64);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
    }

    #[test]
    fn speedup_is_relative_to_v1_of_the_same_scenario() {
        let cell = |scenario: &str, mode, cores, rps| CellResult {
            scenario: scenario.into(),
            mode,
            cores,
            rate: None,
            runs: vec![rps],
            median_rps: rps,
            min_rps: rps,
            max_rps: rps,
            speedup_vs_v1: None,
            efficiency: None,
            p50_us: 0,
            p99_us: 0,
            p99_9_us: 0,
            oversubscribed: false,
            hgrm: None,
        };
        let mut r = vec![
            cell("a", Mode::V1, 1, 10.0),
            cell("a", Mode::V2, 4, 30.0),
            cell("b", Mode::V2, 2, 5.0),
        ];
        fill_speedups(&mut r);
        assert_eq!(r[1].speedup_vs_v1, Some(3.0));
        assert_eq!(r[1].efficiency, Some(0.75));
        assert_eq!(r[2].speedup_vs_v1, None, "no v1 for scenario b");
    }
}
