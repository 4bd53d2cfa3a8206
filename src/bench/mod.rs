//! `shardsql bench CONFIG.yaml`: YAML-described sweeps over scenarios, modes and core counts,
//! each cell in fresh processes, reported as a matrix, CSV, JSON, Markdown, `.hgrm` files and
//! SVG charts. `config` checks the YAML, `runner` measures, `report` writes.

pub mod config;
pub mod report;
pub mod runner;

use crate::error::{Error, Result};
use config::BenchConfig;
use report::{BenchReport, Host};
use std::io::IsTerminal;
use std::path::Path;

/// Runs the sweep in `config_path`; prints the matrix and writes the report folder.
pub fn bench(config_path: &Path) -> Result<()> {
    let cfg = BenchConfig::load(config_path)?;
    let exe = std::env::current_exe()
        .map_err(|e| Error::io("bench: cannot find the shardsql binary", e))?;
    let out = &cfg.output;
    std::fs::create_dir_all(out.join("hgrm"))
        .map_err(|e| Error::io(format!("bench: cannot create {}", out.display()), e))?;
    let tmp = out.join(".runs");
    std::fs::create_dir_all(&tmp)
        .map_err(|e| Error::io(format!("bench: cannot create {}", tmp.display()), e))?;

    let cells = runner::cells(&cfg);
    let total = (cells.len() * (cfg.warmup + cfg.repetitions)) as u64;
    let bar = if std::io::stderr().is_terminal() {
        let b = indicatif::ProgressBar::new(total);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} runs  {msg}",
            )
            .expect("valid template"),
        );
        b
    } else {
        indicatif::ProgressBar::hidden()
    };
    let mut results = Vec::new();
    for cell in &cells {
        bar.set_message(cell.label());
        results.push(runner::run_cell(&cfg, cell, &exe, &tmp, out, || {
            bar.inc(1)
        })?);
    }
    bar.finish_and_clear();
    let _ = std::fs::remove_dir_all(&tmp);
    runner::fill_speedups(&mut results);

    let report = BenchReport {
        name: cfg.name.clone(),
        command: format!("shardsql bench {}", config_path.display()),
        host: Host::detect(),
        records: cfg.records,
        repetitions: cfg.repetitions,
        warmup: cfg.warmup,
        results,
    };
    let mut charts = Vec::new();
    if cfg.rates.contains(&None) {
        for s in &cfg.scenarios {
            let file = format!("throughput-{}.svg", s.name);
            report::write_svg(&report, &s.name, &out.join(&file))?;
            charts.push((s.name.clone(), file));
        }
    }
    report::write_csv(&report, &out.join("results.csv"))?;
    report::write_json(&report, &out.join("results.json"))?;
    report::write_markdown(&report, &out.join("report.md"), &charts)?;
    print!("{}", report::matrix(&report));
    eprintln!("report written to {}", out.display());
    Ok(())
}
