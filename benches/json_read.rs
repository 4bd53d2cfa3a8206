//! The JSON-lines reader alone, on one thread: records/s parsed into batches (fast path, or
//! the forced slow path), next to a plain `memchr` newline scan of the same file (the floor
//! any line reader pays). Not a criterion bench: it reads a large file once per mode and
//! reports wall time and this thread's CPU time (`/proc/thread-self/stat`), since the host
//! may be shared. See BENCHMARKS.md, "JSON lines reader (issue 12)".
//!
//! `cargo bench --bench json_read -- FILE [fast|slow|scan] [all|none|COL,COL,…]`

use shardsql::data::{Batch, Dict};
use shardsql::sink::Format;
use shardsql::source::text::{OnError, TextReader};
use std::io::{BufRead, BufReader};
use std::time::Instant;

/// This thread's user + system CPU seconds.
fn cpu_s() -> f64 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|t| t.parse::<f64>().ok()).unwrap_or(0.0);
    // Fields 14 and 15 of stat (utime, stime), counted from the state field (3).
    (ticks(11) + ticks(12)) / 100.0
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let Some(path) = args.first() else {
        eprintln!("usage: json_read FILE [fast|slow|scan] [all|none|COL,COL,…]");
        return;
    };
    let mode = args.get(1).map_or("fast", String::as_str);
    let (t0, c0) = (Instant::now(), cpu_s());
    if mode == "scan" {
        let mut r = BufReader::with_capacity(1 << 16, std::fs::File::open(path).unwrap());
        let (mut bytes, mut lines) = (0usize, 0usize);
        loop {
            let buf = r.fill_buf().unwrap();
            if buf.is_empty() {
                break;
            }
            lines += memchr::memchr_iter(b'\n', buf).count();
            let n = buf.len();
            bytes += n;
            r.consume(n);
        }
        let (wall, cpu) = (t0.elapsed().as_secs_f64(), cpu_s() - c0);
        println!(
            "scan lines={lines} bytes={bytes} wall_s={wall:.3} cpu_s={cpu:.2} MB/s_wall={:.0} MB/s_cpu={:.0}",
            bytes as f64 / wall / 1e6,
            bytes as f64 / cpu.max(0.01) / 1e6
        );
        return;
    }
    let mut r = TextReader::from_reader(
        Box::new(std::fs::File::open(path).unwrap()),
        path,
        Format::JsonLines,
        None,
        Dict::new(),
        OnError::Skip,
    )
    .unwrap();
    let n = r.schema().len();
    match args.get(2).map(String::as_str) {
        None | Some("all") => {}
        Some("none") => r.set_projection(vec![false; n]),
        Some(cols) => {
            let mut reads = vec![false; n];
            for c in cols.split(',') {
                reads[c.parse::<usize>().unwrap()] = true;
            }
            r.set_projection(reads);
        }
    }
    if mode == "slow" {
        r.force_json_slow_path();
    }
    let mut b = Batch::new(r.schema(), 4096);
    let mut records = 0;
    loop {
        b.clear();
        let seen = r.read_block(&mut b, 4096).unwrap();
        if seen == 0 {
            break;
        }
        records += seen;
    }
    let (wall, cpu) = (t0.elapsed().as_secs_f64(), cpu_s() - c0);
    let bytes = std::fs::metadata(path).map_or(0, |m| m.len());
    println!(
        "{mode} records={records} fast={} malformed={} wall_s={wall:.3} cpu_s={cpu:.2} Mrec/s_wall={:.2} Mrec/s_cpu={:.2} MB/s_cpu={:.0}",
        r.json_fast_lines,
        r.malformed,
        records as f64 / wall / 1e6,
        records as f64 / cpu.max(0.01) / 1e6,
        bytes as f64 / cpu.max(0.01) / 1e6
    );
}
