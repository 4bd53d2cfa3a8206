//! `shardsql bench` end to end on a tiny sweep: the matrix is printed and every report file is
//! written and readable. Nothing here asserts a timing.

mod common;
use common::*;
use std::process::Command;

#[test]
fn bench_writes_every_report_file() {
    let dir = scratch("bench-e2e");
    let cfg = dir.join("tiny.yaml");
    std::fs::write(
        &cfg,
        format!(
            "name: tiny\nrecords: 20000\nscenarios:\n  - queries/03_group_by.sql\n  - {{name: changes, query: queries/05_tumbling_emit_changes.sql}}\n\
             modes: [v1, mutex, v2]\ncores: [1, 3]\nrepetitions: 2\nwarmup: 0\noutput: {}\n",
            dir.join("out").display()
        ),
    )
    .unwrap();
    let out = shardsql(&["bench", cfg.to_str().unwrap()]);
    let matrix = String::from_utf8(out.stdout).unwrap();
    assert!(matrix.contains("03_group_by"), "{matrix}");
    assert!(matrix.contains("changes"), "{matrix}");
    // 3 shards on a 2-CPU host are oversubscribed; on a bigger host they are not.
    if shardsql::runtime::host_cpus() < 3 {
        assert!(
            matrix.contains("3*") && matrix.contains("oversubscribed"),
            "{matrix}"
        );
    }
    let report = dir.join("out");
    let csv = read_csv(&report.join("results.csv"));
    // Per scenario: v1 at 1 core, mutex and v2 at 1 and 3.
    assert_eq!(csv.rows.len(), 2 * 5);
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report.join("results.json")).unwrap())
            .unwrap();
    assert!(json["host"]["cpu_model"].is_string());
    for cell in json["results"].as_array().unwrap() {
        assert_eq!(cell["runs"].as_array().unwrap().len(), 2);
        assert!(cell["median_rps"].as_f64().unwrap() > 0.0);
        assert!(cell["speedup_vs_v1"].as_f64().is_some());
        let hgrm = std::fs::read_to_string(report.join(cell["hgrm"].as_str().unwrap())).unwrap();
        shardsql::metrics::latency::parse_hgrm(&hgrm).unwrap();
    }
    let md = std::fs::read_to_string(report.join("report.md")).unwrap();
    assert!(
        md.contains("| scenario |") && md.contains("throughput-changes.svg"),
        "{md}"
    );
    let svg = std::fs::read_to_string(report.join("throughput-03_group_by.svg")).unwrap();
    assert!(
        svg.starts_with("<svg") && svg.contains("<polyline") && svg.contains("v2"),
        "{svg}"
    );
    // The x axis counts cores: its tick labels (centred texts below the plot, on one line)
    // are whole numbers, never 0.5 or 2.5.
    let mut ticks: Vec<(String, String)> = Vec::new();
    for t in svg.split("<text ").skip(1) {
        let attr = |name: &str| {
            t.split(&format!("{name}=\""))
                .nth(1)
                .map(|r| r.split('"').next().unwrap().to_string())
        };
        let label = t
            .split('>')
            .nth(1)
            .unwrap_or("")
            .split('<')
            .next()
            .unwrap()
            .trim();
        if attr("text-anchor").as_deref() == Some("middle") && attr("transform").is_none() {
            ticks.push((attr("y").unwrap_or_default(), label.to_string()));
        }
    }
    let axis_y = ticks
        .iter()
        .map(|t| t.0.clone())
        .max_by_key(|y| ticks.iter().filter(|t| &t.0 == y).count());
    let labels: Vec<&str> = ticks
        .iter()
        .filter(|t| Some(&t.0) == axis_y.as_ref() && !t.1.is_empty())
        .map(|t| t.1.as_str())
        .collect();
    assert_eq!(labels, ["1", "2", "3"], "x-axis labels of {svg}");
}

#[test]
fn bench_refuses_a_bad_config_with_one_clear_error() {
    let dir = scratch("bench-bad");
    for (yaml, expect) in [
        (
            "name: x\nscenarios: [queries/01_passthrough.sql]\ncores: [1, two]\n",
            "bad.yaml:3",
        ),
        (
            "name: x\nscenarios: [queries/01_passthrough.sql]\nrepeat: 3\n",
            "unknown field `repeat`",
        ),
        (
            "name: x\nscenarios:\n  - queries/missing.sql\n",
            "cannot read query file `queries/missing.sql`",
        ),
    ] {
        let cfg = dir.join("bad.yaml");
        std::fs::write(&cfg, yaml).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_shardsql"))
            .args(["bench", cfg.to_str().unwrap()])
            .current_dir(repo())
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expect), "{yaml}: expected `{expect}` in {err}");
        assert_eq!(
            err.trim()
                .lines()
                .filter(|l| l.starts_with("Error"))
                .count(),
            1,
            "{err}"
        );
    }
}
