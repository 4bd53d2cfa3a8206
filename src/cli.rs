//! The command line (clap): `shardsql [run flags]`, `shardsql gen`, `shardsql explain`.
//! Flags are checked here once into typed values; errors name the flag.

use crate::runtime::core::Fault;
use crate::runtime::state::LockPer;
use crate::runtime::{Mode, RuntimeKind};
use crate::sink::Timestamps;
use crate::source::text::OnError;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "shardsql",
    version,
    about = "A thread-per-core, shard-nothing streaming SQL runtime",
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Write the built-in generator's stream (CSV, or JSON lines for a .jsonl --output).
    Gen(GenArgs),
    /// Print the plan of a query: operators, partition key and routing, window, emit mode.
    Explain(ExplainArgs),
    /// Run a YAML-described sweep over scenarios, modes and core counts; print the matrix and
    /// write the report folder (CSV, JSON, Markdown, .hgrm, SVG charts).
    Bench(BenchArgs),
}

/// The built-in market_data generator.
#[derive(Args, Debug, Clone)]
pub struct GeneratorArgs {
    /// Records to generate.
    #[arg(long, default_value_t = 1_000_000)]
    pub records: u64,
    /// Distinct traders.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    pub traders: u32,
    /// Distinct symbols.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    pub symbols: u32,
    /// Seed: the same seed gives the same stream.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Bounded out-of-orderness: a record's times lag the maximum so far by up to this (ms).
    #[arg(long, default_value_t = 0)]
    pub disorder_ms: u64,
    /// Source partitions: block b (records b*4096 .. (b+1)*4096) belongs to partition b mod P;
    /// each partition has its own watermark.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=65_536))]
    pub partitions: u32,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// The query file to run.
    #[arg(long, short = 'q', required = true)]
    pub query: Option<PathBuf>,
    /// Shards (one pinned core each). More than the host's CPUs is allowed (oversubscribed).
    #[arg(long, short = 'c', default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub cores: u16,
    /// v2: sharded; v1: one shard; mutex: N workers sharing one locked state.
    #[arg(long, value_enum, default_value_t = Mode::V2)]
    pub mode: Mode,
    /// Mutex mode: take the lock per record or per batch.
    #[arg(long, value_enum, default_value_t = LockPer::Batch)]
    pub lock_per: LockPer,
    /// glommio executors, or plain pinned threads where io_uring is unavailable.
    #[arg(long, value_enum, default_value_t = RuntimeKind::Glommio)]
    pub runtime: RuntimeKind,
    /// Input file (CSV with a header; .jsonl for JSON lines); `-` for stdin;
    /// `kafka://HOST:PORT/TOPIC[?librdkafka.property=value&…]` for a Kafka topic. Default: the
    /// built-in generator.
    #[arg(long, short = 'i')]
    pub input: Option<String>,
    /// Kafka input (`--input kafka://…`): the consumer group. Its committed offsets are where
    /// `--start committed` (the default with a group) begins, and the run commits the offsets
    /// it read once their results are written and acknowledged (at-least-once).
    #[arg(long)]
    pub group: Option<String>,
    /// Kafka input with --group: how many processes share the topic's partitions through the
    /// group protocol (each waits until the group gives it its share, ⌊P/N⌋ to ⌈P/N⌉ of the P
    /// partitions, then reads only those). Membership is fixed for a run: a member that joins
    /// or leaves mid-run stops the others with an error. Default 1.
    #[arg(long, default_value_t = 1)]
    pub members: u32,
    /// Kafka input with --group --members N > 1: the columns the topic's messages are keyed
    /// by (each key in one partition, e.g. `shardsql gen --key trader_id`), comma-separated. A
    /// GROUP BY / PARTITION BY must include them: then the members' outputs together are one
    /// process's output.
    #[arg(long, value_delimiter = ',')]
    pub keyed_by: Option<Vec<String>>,
    /// Kafka input: where each partition starts: earliest, latest, committed, or a time
    /// (ISO-8601 or epoch ms: the first message at or after it). Default: committed with
    /// --group, else earliest.
    #[arg(long, value_parser = crate::source::kafka::Start::parse)]
    pub start: Option<crate::source::kafka::Start>,
    /// Kafka input: read each partition up to the end offsets seen at start, then finish like
    /// a file. Without it the run is continuous until SIGINT / SIGTERM.
    #[arg(long)]
    pub bounded: bool,
    /// Kafka input, continuous: a partition with no new message for this long (e.g. 2s) is
    /// idle and stops holding back the watermark (windows close on the other partitions'
    /// event time) until its next message. Off by default: then results never depend on
    /// timing, and a quiet partition holds windows open.
    #[arg(long, value_parser = parse_duration_ms)]
    pub idle_timeout: Option<i64>,
    /// Kafka input: each message value is a JSON object, or one CSV record (then --schema
    /// names every column in order).
    #[arg(long, value_enum, default_value_t = crate::source::kafka::ValueFormat::Json)]
    pub value_format: crate::source::kafka::ValueFormat,
    /// Column types for --input, e.g. `price:double,qty:bigint,ts:timestamp_s` (others are
    /// inferred). TIMESTAMP reads ISO-8601 or epoch ms; TIMESTAMP_S / _US / _NS epoch numbers
    /// in seconds, microseconds, nanoseconds.
    #[arg(long)]
    pub schema: Option<String>,
    /// Results: a file (CSV; .jsonl for JSON lines), `-` for stdout, `null` to count and discard,
    /// or `kafka://HOST:PORT/TOPIC[?…]` (one JSON message per row, keyed by the GROUP BY key).
    #[arg(long, short = 'o', default_value = "-")]
    pub output: String,
    /// How TIMESTAMP results are written: ISO-8601 UTC as DuckDB writes them
    /// (`2024-03-01 12:00:00.123`), or epoch milliseconds.
    #[arg(long, value_enum, default_value_t = Timestamps::Iso)]
    pub timestamps: Timestamps,
    /// A live input (stdin, a pipe, --follow) cuts a block when it is full or when its first
    /// record has waited this long (e.g. 5ms, 100ms), so a slow source still moves.
    #[arg(long, value_parser = parse_duration_ms, default_value = "5ms")]
    pub linger: i64,
    /// Keep reading --input as it grows (as `tail -f`) until SIGINT / SIGTERM.
    #[arg(long)]
    pub follow: bool,
    /// Materialise the input in memory before the clock starts.
    #[arg(long)]
    pub preload: bool,
    /// Write run statistics as JSON to this file.
    #[arg(long)]
    pub stats: Option<PathBuf>,
    /// Print latency percentiles (p50 … max, µs) on stderr.
    #[arg(long)]
    pub latency: bool,
    /// Write the latency histogram in HdrHistogram's percentile-distribution format (a
    /// `-window.hgrm` file beside it holds window-emission latency when there is any).
    #[arg(long)]
    pub hgrm: Option<PathBuf>,
    /// Pace the input to this many records per second (measure latency below saturation).
    #[arg(long, value_parser = parse_rate)]
    pub rate: Option<f64>,
    /// Allowed lateness of event time, e.g. 5s, 250ms, 1m (default: the query's ALLOWED
    /// LATENESS clause, else 0).
    #[arg(long, value_parser = parse_duration_ms)]
    pub allowed_lateness: Option<i64>,
    /// Write late records (input columns, CSV or .jsonl) here as well as counting them; or
    /// to a topic (`kafka://HOST:PORT/TOPIC`: a JSON message each, keyed by the query's key).
    #[arg(long)]
    pub late_output: Option<String>,
    /// What to do with a malformed input record: skip and count it, or stop.
    #[arg(long, value_enum, default_value_t = OnErrorArg::Skip)]
    pub on_error: OnErrorArg,
    /// The form of an EMIT CHANGES changelog: `upsert` (an update is one `+U` row) or `retract`
    /// (Flink's retract stream: `-U` with the old values before each `+U`, and `-D` with the
    /// last emitted values).
    #[arg(long, value_enum, default_value_t = ChangelogArg::Upsert)]
    pub changelog: ChangelogArg,
    /// Take checkpoints into this directory (`DIR/ckpt-<epoch>/`, the last 3 kept): the
    /// state, the input position and the output length, so a run that dies can go on with
    /// --resume. Output files are then exactly-once (cut back to the checkpoint on resume), a
    /// Kafka output too (one transaction per checkpoint; read it with read_committed), stdout
    /// at-least-once.
    #[arg(long)]
    pub checkpoint_dir: Option<PathBuf>,
    /// How often to take a checkpoint (e.g. 10s, 500ms).
    #[arg(long, value_parser = parse_duration_ms, default_value = "10s")]
    pub checkpoint_interval: i64,
    /// Kafka input with --group: how often a continuous run of a stateless query (no
    /// aggregate, no window) commits the offsets whose rows are written and acknowledged.
    /// With --checkpoint-dir the offsets are committed with each checkpoint instead; other
    /// queries without checkpoints commit when the run ends or is stopped.
    #[arg(long, value_parser = parse_duration_ms, default_value = "5s")]
    pub commit_interval: i64,
    /// Go on from the latest checkpoint in --checkpoint-dir (start fresh if there is none).
    /// The query, input and options must be the same; --cores may differ.
    #[arg(long, requires = "checkpoint_dir")]
    pub resume: bool,
    #[command(flatten)]
    pub generator: GeneratorArgs,
    /// Testing only: inject a fault to prove the differential tests catch it.
    #[arg(long, value_enum, hide = true)]
    pub inject_fault: Option<Fault>,
    /// Testing and benchmarks: a regular file read by the cores themselves is scanned in byte
    /// ranges of this size (default 1 MiB), also on one core; 0 reads it through one cutter
    /// thread instead (`source::ranges`).
    #[arg(long, hide = true)]
    pub range_bytes: Option<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ChangelogArg {
    Upsert,
    Retract,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum OnErrorArg {
    Skip,
    Fail,
}

impl From<OnErrorArg> for OnError {
    fn from(a: OnErrorArg) -> OnError {
        match a {
            OnErrorArg::Skip => OnError::Skip,
            OnErrorArg::Fail => OnError::Fail,
        }
    }
}

#[derive(Args, Debug)]
pub struct GenArgs {
    #[command(flatten)]
    pub generator: GeneratorArgs,
    /// Where to write: a file (.jsonl for JSON lines), `-` for stdout, or
    /// `kafka://HOST:PORT/TOPIC[?…]` (one JSON message per record; the topic is created with
    /// --partitions partitions if missing).
    #[arg(long, short = 'o', default_value = "-")]
    pub output: String,
    /// Kafka output: the column whose value keys each message (the key's hash picks the
    /// partition). Without it record block b goes to partition b mod --partitions, the
    /// generator's own source partitions.
    #[arg(long)]
    pub key: Option<String>,
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// The sweep's YAML file, e.g. bench-configs/quick.yaml.
    pub config: PathBuf,
}

#[derive(Args, Debug)]
pub struct ExplainArgs {
    /// The query file.
    #[arg(long, short = 'q')]
    pub query: PathBuf,
    /// Plan against this input's columns instead of market_data: a file, or a topic
    /// (`kafka://HOST:PORT/TOPIC`, whose first messages give the columns, as a run's do).
    #[arg(long, short = 'i')]
    pub input: Option<String>,
    /// Column types for --input, as for a run (`price:double,ts:timestamp_s`).
    #[arg(long)]
    pub schema: Option<String>,
    /// Kafka input: each message value is a JSON object, or one CSV record.
    #[arg(long, value_enum, default_value_t = crate::source::kafka::ValueFormat::Json)]
    pub value_format: crate::source::kafka::ValueFormat,
}

/// A positive, finite records-per-second rate (`1e6` and `1000000` both work).
pub fn parse_rate(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 => Ok(r),
        _ => Err(format!(
            "`{s}` is not a positive number of records per second"
        )),
    }
}

/// Parses `250ms`, `5s`, `1m`, `2h`, or a bare number of milliseconds.
pub fn parse_duration_ms(s: &str) -> Result<i64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: i64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a duration: write e.g. 500ms, 5s, 1m"))?;
    let mult = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "ms" => 1,
        "s" | "sec" | "secs" | "second" | "seconds" => 1_000,
        "m" | "min" | "mins" | "minute" | "minutes" => 60_000,
        "h" | "hour" | "hours" => 3_600_000,
        other => {
            return Err(format!(
                "unknown duration unit `{other}`: use ms, s, m or h"
            ));
        }
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("`{s}` is too long a duration"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration_ms("5s"), Ok(5_000));
        assert_eq!(parse_duration_ms("250ms"), Ok(250));
        assert_eq!(parse_duration_ms("0"), Ok(0));
        assert_eq!(parse_duration_ms("1m"), Ok(60_000));
        assert!(parse_duration_ms("5 parsecs").is_err());
    }

    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
