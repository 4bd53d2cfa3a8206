//! The fuzz targets on stable Rust: every committed corpus input (`fuzz/corpus/<target>/`: the
//! hand-written `seed-*` files and the inputs the 10-minute cargo-fuzz runs kept, minimized to
//! one per covered edge) and crash reproducer (`fuzz/regressions/<target>/`) goes through the
//! same entry points as the cargo-fuzz targets (`fuzz/fuzz_targets/`), then a short
//! deterministic mutation run (byte flips, insertions, deletions, splices of SQL tokens and
//! hostile values) over the seeds, so CI fuzzes a little without nightly. Any panic fails the
//! test.

mod common;
use common::Rng;
use shardsql::sink::Format;
use std::path::PathBuf;

/// Mutated inputs per seed.
const MUTATIONS: usize = 2000;

/// What `fuzz/fuzz_targets/{csv,jsonl}.rs` do with one input.
fn text_one(data: &[u8], format: Format) {
    if let Some((&first, rest)) = data.split_first() {
        shardsql::source::text::fuzz_read(rest, format, first & 1 == 1);
    }
}

fn files(dir: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut out: Vec<_> = std::fs::read_dir(&dir)
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file() && !p.ends_with(".gitkeep"))
                .map(|p| {
                    let bytes = std::fs::read(&p).unwrap();
                    (p, bytes)
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

const TOKENS: [&str; 34] = [
    "SELECT ",
    " FROM ",
    " WHERE ",
    " GROUP BY ",
    " HAVING ",
    " WINDOW TUMBLING (",
    " EMIT CHANGES",
    " EMIT FINAL",
    " OVER (ORDER BY event_time ROWS BETWEEN 5 PRECEDING AND CURRENT ROW)",
    " INTERVAL '",
    "9223372036854775807",
    "-9223372036854775808",
    "1e400",
    "NaN",
    "inf",
    "'",
    "\"",
    ",",
    "\n",
    "\r\n",
    "(",
    ")",
    "*",
    "/",
    "%",
    " CAST(",
    " AS DOUBLE)",
    " BETWEEN ",
    " IN (",
    "\u{0}",
    "\u{feff}",
    "é",
    "{\"a\":",
    "}",
];

fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut v = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(v.len() + 1);
        match rng.below(5) {
            0 if !v.is_empty() => {
                let i = at.min(v.len() - 1);
                v[i] ^= 1 << rng.below(8);
            }
            1 => {
                let end = (at + rng.below(16)).min(v.len());
                v.drain(at..end);
            }
            2 => {
                let t = TOKENS[rng.below(TOKENS.len())].as_bytes();
                v.splice(at..at, t.iter().copied());
            }
            3 if !v.is_empty() => {
                // Duplicate a slice of the input (repeats clauses, rows, keys).
                let a = rng.below(v.len());
                let b = (a + rng.below(64)).min(v.len());
                let piece = v[a..b].to_vec();
                v.splice(at..at, piece);
            }
            _ => v.insert(at, rng.next() as u8),
        }
    }
    v
}

fn replay_and_mutate(target: &str, one: impl Fn(&[u8]) + std::panic::RefUnwindSafe) {
    let corpus = files(&format!("fuzz/corpus/{target}"));
    for (path, bytes) in files(&format!("fuzz/regressions/{target}"))
        .iter()
        .chain(&corpus)
    {
        let r = std::panic::catch_unwind(|| one(bytes));
        assert!(r.is_ok(), "{}: panicked", path.display());
    }
    // Mutate the hand-written seeds (`seed-*`); the rest of the corpus is what libFuzzer kept
    // (minimized to one input per covered edge), replayed above.
    let seeds: Vec<_> = corpus
        .iter()
        .filter(|(p, _)| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("seed-"))
        })
        .collect();
    assert!(!seeds.is_empty(), "fuzz/corpus/{target} holds the seeds");
    let mut rng = Rng(0x5eed_cafe_f00d_1234);
    for (path, bytes) in seeds {
        for i in 0..MUTATIONS {
            let input = mutate(&mut rng, bytes);
            let r = std::panic::catch_unwind(|| one(&input));
            assert!(
                r.is_ok(),
                "{} mutation {i} panicked on {:?}",
                path.display(),
                String::from_utf8_lossy(&input)
            );
        }
    }
}

#[test]
fn fuzz_regressions_sql_front_end() {
    replay_and_mutate("sql", shardsql::sql::fuzz_compile);
}

#[test]
fn fuzz_regressions_csv_reader() {
    replay_and_mutate("csv", |d| text_one(d, Format::Csv));
}

#[test]
fn fuzz_regressions_json_lines_reader() {
    replay_and_mutate("jsonl", |d| text_one(d, Format::JsonLines));
}
