//! The YAML sweep description (`shardsql bench CONFIG.yaml`), parsed with serde_norway — the
//! maintained fork of the deprecated serde_yaml, same API — and checked once into a typed
//! `BenchConfig`. Every error names the field and the line.

use crate::data::Schema;
use crate::error::{Error, Result};
use crate::runtime::state::LockPer;
use crate::runtime::{Mode, RuntimeKind};
use serde::Deserialize;
use std::path::{Path, PathBuf};

fn default_records() -> u64 {
    1_000_000
}
fn default_modes() -> Vec<Mode> {
    vec![Mode::V1, Mode::Mutex, Mode::V2]
}
fn default_cores() -> Vec<usize> {
    vec![1, 2]
}
fn default_repetitions() -> usize {
    3
}
fn default_warmup() -> usize {
    1
}
fn default_lock_per() -> LockPer {
    LockPer::Batch
}
fn default_runtime() -> RuntimeKind {
    RuntimeKind::Glommio
}

/// Generator options (the same flags as `shardsql gen`).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct GeneratorOptions {
    pub traders: u32,
    pub symbols: u32,
    pub seed: u64,
    pub disorder_ms: u64,
}

impl Default for GeneratorOptions {
    fn default() -> Self {
        GeneratorOptions {
            traders: 20,
            symbols: 10,
            seed: 42,
            disorder_ms: 0,
        }
    }
}

/// A scenario: a query file, optionally with a display name.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum ScenarioSpec {
    Path(PathBuf),
    Named { name: String, query: PathBuf },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    pub name: String,
    pub query: PathBuf,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub name: String,
    #[serde(default = "default_records")]
    pub records: u64,
    #[serde(default)]
    pub generator: GeneratorOptions,
    pub scenarios: Vec<ScenarioSpec>,
    #[serde(default = "default_modes")]
    pub modes: Vec<Mode>,
    #[serde(default = "default_cores")]
    pub cores: Vec<usize>,
    #[serde(default = "default_repetitions")]
    pub repetitions: usize,
    #[serde(default = "default_warmup")]
    pub warmup: usize,
    /// Records per second to pace the input at (one value).
    #[serde(default)]
    pub rate: Option<f64>,
    /// Several rates: one cell per rate (a latency sweep).
    #[serde(default)]
    pub rates: Vec<f64>,
    #[serde(default = "default_lock_per")]
    pub lock_per: LockPer,
    #[serde(default = "default_runtime")]
    pub runtime: RuntimeKind,
    /// The report folder (default `results/<name>`).
    #[serde(default)]
    pub output: Option<PathBuf>,
}

/// A checked sweep.
#[derive(Clone, Debug, PartialEq)]
pub struct BenchConfig {
    pub name: String,
    pub records: u64,
    pub generator: GeneratorOptions,
    pub scenarios: Vec<Scenario>,
    pub modes: Vec<Mode>,
    pub cores: Vec<usize>,
    pub repetitions: usize,
    pub warmup: usize,
    /// `None` = unthrottled; otherwise one cell per rate.
    pub rates: Vec<Option<f64>>,
    pub lock_per: LockPer,
    pub runtime: RuntimeKind,
    pub output: PathBuf,
}

/// The 1-based line of the first occurrence of `needle` in `text`.
fn line_of(text: &str, needle: &str) -> Option<usize> {
    text.lines().position(|l| l.contains(needle)).map(|i| i + 1)
}

impl BenchConfig {
    pub fn load(path: &Path) -> Result<BenchConfig> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::io(format!("bench config {}: cannot read", path.display()), e))?;
        BenchConfig::parse(&text, &path.display().to_string())
    }

    /// Parses and checks a config; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<BenchConfig> {
        let raw: RawConfig = serde_norway::from_str(text).map_err(|e| {
            let at = e
                .location()
                .map(|l| format!(":{}:{}", l.line(), l.column()))
                .unwrap_or_default();
            let msg = e.to_string();
            let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
            Error::Usage(format!("bench config {file}{at}: {msg}"))
        })?;
        let fail = |field: &str, needle: &str, what: String| {
            let at = line_of(text, needle)
                .map(|l| format!(":{l}"))
                .unwrap_or_default();
            Error::Usage(format!("bench config {file}{at}: `{field}`: {what}"))
        };
        if raw.name.trim().is_empty() || raw.name.contains(['/', '\\']) {
            return Err(fail(
                "name",
                "name",
                "must be a non-empty name without slashes".into(),
            ));
        }
        if raw.scenarios.is_empty() {
            return Err(fail(
                "scenarios",
                "scenarios",
                "list at least one query file".into(),
            ));
        }
        if raw.modes.is_empty() {
            return Err(fail(
                "modes",
                "modes",
                "list at least one of v1, mutex, v2".into(),
            ));
        }
        if raw.cores.is_empty() || raw.cores.iter().any(|&c| c == 0 || c > 1024) {
            return Err(fail(
                "cores",
                "cores",
                "list core counts from 1 to 1024".into(),
            ));
        }
        if raw.repetitions == 0 {
            return Err(fail(
                "repetitions",
                "repetitions",
                "must be at least 1".into(),
            ));
        }
        if raw.rate.is_some() && !raw.rates.is_empty() {
            return Err(fail(
                "rates",
                "rate",
                "give `rate` or `rates`, not both".into(),
            ));
        }
        let rates: Vec<Option<f64>> = match (raw.rate, raw.rates.is_empty()) {
            (Some(r), _) => vec![Some(r)],
            (None, false) => raw.rates.iter().map(|&r| Some(r)).collect(),
            (None, true) => vec![None],
        };
        if rates.iter().flatten().any(|r| !r.is_finite() || *r <= 0.0) {
            return Err(fail(
                "rates",
                "rate",
                "rates are positive records per second".into(),
            ));
        }
        let mut scenarios = Vec::new();
        for spec in &raw.scenarios {
            let (name, query) = match spec {
                ScenarioSpec::Path(p) => (
                    p.file_stem()
                        .and_then(|s| s.to_str())
                        .unwrap_or("scenario")
                        .to_string(),
                    p.clone(),
                ),
                ScenarioSpec::Named { name, query } => (name.clone(), query.clone()),
            };
            let shown = query.display().to_string();
            let sql = std::fs::read_to_string(&query).map_err(|e| {
                fail(
                    "scenarios",
                    &shown,
                    format!("cannot read query file `{shown}`: {e}"),
                )
            })?;
            crate::sql::compile_query(&sql, &shown, &Schema::market_data()).map_err(|e| {
                fail(
                    "scenarios",
                    &shown,
                    format!("query `{shown}` does not plan:\n{e}"),
                )
            })?;
            if scenarios.iter().any(|s: &Scenario| s.name == name) {
                return Err(fail(
                    "scenarios",
                    &shown,
                    format!("two scenarios are named `{name}`"),
                ));
            }
            scenarios.push(Scenario { name, query });
        }
        let mut cores = raw.cores.clone();
        cores.sort_unstable();
        cores.dedup();
        let mut modes = Vec::new();
        for m in [Mode::V1, Mode::Mutex, Mode::V2] {
            if raw.modes.contains(&m) {
                modes.push(m);
            }
        }
        Ok(BenchConfig {
            output: raw
                .output
                .clone()
                .unwrap_or_else(|| PathBuf::from("results").join(&raw.name)),
            name: raw.name,
            records: raw.records,
            generator: raw.generator,
            scenarios,
            modes,
            cores,
            repetitions: raw.repetitions,
            warmup: raw.warmup,
            rates,
            lock_per: raw.lock_per,
            runtime: raw.runtime,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<BenchConfig> {
        // Query paths are relative to the repository root, where `cargo test` runs.
        BenchConfig::parse(text, "t.yaml")
    }

    #[test]
    fn a_full_config_parses_with_defaults_filled_in() {
        let c = parse(
            "name: quick\nrecords: 1000\nscenarios:\n  - queries/01_passthrough.sql\n  - {name: gb, query: queries/03_group_by.sql}\ncores: [2, 1, 2]\nrates: [1000, 2e6]\n",
        )
        .unwrap();
        assert_eq!(c.scenarios[0].name, "01_passthrough");
        assert_eq!(c.scenarios[1].name, "gb");
        assert_eq!(c.cores, vec![1, 2]);
        assert_eq!(c.modes, vec![Mode::V1, Mode::Mutex, Mode::V2]);
        assert_eq!(c.rates, vec![Some(1000.0), Some(2e6)]);
        assert_eq!(c.output, PathBuf::from("results/quick"));
        assert_eq!(c.generator, GeneratorOptions::default());
    }

    #[test]
    fn a_misspelt_field_is_named_with_its_line() {
        let e = parse("name: x\nscenarios: [queries/01_passthrough.sql]\nrepetitons: 3\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("t.yaml:3"), "{e}");
        assert!(e.contains("unknown field `repetitons`"), "{e}");
    }

    #[test]
    fn a_wrong_type_is_named_with_its_line() {
        let e = parse("name: x\nscenarios: [queries/01_passthrough.sql]\ncores: two\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("t.yaml:3"), "{e}");
        let e = parse("name: x\nscenarios: [queries/01_passthrough.sql]\nmodes: [v3]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("v3"), "{e}");
    }

    #[test]
    fn an_unknown_scenario_file_is_named_with_its_line() {
        let e =
            parse("name: x\nscenarios:\n  - queries/01_passthrough.sql\n  - queries/nope.sql\n")
                .unwrap_err()
                .to_string();
        assert!(e.contains("t.yaml:4"), "{e}");
        assert!(
            e.contains("cannot read query file `queries/nope.sql`"),
            "{e}"
        );
    }

    #[test]
    fn nonsense_values_are_refused() {
        assert!(parse("name: x\nscenarios: []\n").is_err());
        assert!(parse("name: x\nscenarios: [queries/01_passthrough.sql]\ncores: [0]\n").is_err());
        assert!(
            parse("name: x\nscenarios: [queries/01_passthrough.sql]\nrepetitions: 0\n").is_err()
        );
        assert!(parse("name: x\nscenarios: [queries/01_passthrough.sql]\nrate: -5\n").is_err());
    }
}
