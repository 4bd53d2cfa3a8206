//! The commands end to end: read the query and input, plan, run, report. `main` calls
//! `run_cli` and turns an error into one message and an exit code.

use crate::cli::{Cli, Command, ExplainArgs, GenArgs, RunArgs};
use crate::data::{Batch, DataType, Dict, Field, Interner, Schema};
use crate::error::{Error, Result};
use crate::metrics::stats::Stats;
use crate::runtime::{self, RunConfig};
use crate::sink::{self, Format, Sink};
use crate::source::generator::{GenConfig, Generator};
use crate::source::text::TextReader;
use crate::source::{self, BLOCK_ROWS, Input};
use crate::sql::{self, Routing};
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

pub fn run_cli(cli: Cli) -> Result<()> {
    match cli.command {
        Some(Command::Gen(a)) => generate(a),
        Some(Command::Explain(a)) => explain(a),
        Some(Command::Bench(a)) => crate::bench::bench(&a.config),
        None => run(cli.run),
    }
}

fn gen_config(a: &crate::cli::GeneratorArgs) -> GenConfig {
    GenConfig {
        records: a.records,
        traders: a.traders,
        symbols: a.symbols,
        seed: a.seed,
        disorder_ms: a.disorder_ms,
    }
}

fn read_query(path: &Path) -> Result<String> {
    std::fs::read_to_string(path)
        .map_err(|e| Error::io(format!("--query {}: cannot read", path.display()), e))
}

/// Parses `--schema name:type,...`.
fn parse_schema(spec: &str) -> Result<Schema> {
    let mut fields = Vec::new();
    for part in spec.split(',').filter(|p| !p.trim().is_empty()) {
        let (name, ty) = part
            .split_once(':')
            .ok_or_else(|| Error::Usage(format!("--schema: `{part}` is not name:type")))?;
        let ty = DataType::parse(ty.trim()).ok_or_else(|| {
            Error::Usage(format!(
                "--schema: unknown type `{ty}` (use BIGINT, DOUBLE, VARCHAR, TIMESTAMP, BOOLEAN)"
            ))
        })?;
        fields.push(Field::new(name.trim(), ty));
    }
    Ok(Schema::new(fields))
}

fn run(args: RunArgs) -> Result<()> {
    // From here on SIGINT / SIGTERM stop the run gracefully (see runtime::signals), also while
    // the input's schema is being sampled (a second signal exits at once).
    let signals = runtime::signals::Signals::install()?;
    let query_path = args.query.clone().expect("clap requires --query");
    let sql_text = read_query(&query_path)?;
    let dict = Dict::new();
    let fixed = args.schema.as_deref().map(parse_schema).transpose()?;

    enum Source {
        Gen(Generator),
        Text(Box<TextReader>),
    }
    if let Some(input) = &args.input {
        let same = |a: &str, b: &str| match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
            (Ok(x), Ok(y)) => x == y,
            _ => false,
        };
        if input != "-" && same(input, &args.output) {
            return Err(Error::Usage(format!(
                "--output is the --input file ({input}): writing results would destroy the input"
            )));
        }
    }
    if args.input.is_some() && args.generator.partitions > 1 {
        return Err(Error::Usage(
            "--partitions applies to the built-in generator; a file is one partition".into(),
        ));
    }
    let (schema, source) = match &args.input {
        Some(path) => {
            let r = TextReader::open(path, fixed.as_ref(), dict.clone(), args.on_error.into())?;
            (r.schema().clone(), Source::Text(Box::new(r)))
        }
        None => {
            let g = Generator::new(
                gen_config(&args.generator),
                &mut Interner::new(dict.clone()),
            );
            (Schema::market_data(), Source::Gen(g))
        }
    };
    let mut plan = sql::compile_query(&sql_text, &query_path.display().to_string(), &schema)
        .map_err(|e| with_input_columns(e, args.input.as_deref(), &schema))?;
    if let sql::Body::Aggregate(a) = &mut plan.body {
        a.retract = args.changelog == crate::cli::ChangelogArg::Retract;
    }
    let mut literals = Interner::new(dict.clone());
    plan.string_literals().iter().for_each(|s| {
        literals.intern(s);
    });
    let sink = Sink::open(&args.output, &plan.output, dict.clone())?;
    let late_output = match &args.late_output {
        Some(path) => {
            if plan.lateness_window().is_none() {
                return Err(Error::Usage(
                    "--late-output needs a windowed query or a ROWS window ordered by event time (only those drop late records)"
                        .into(),
                ));
            }
            if Some(path) == args.input.as_ref() || *path == args.output {
                return Err(Error::Usage(format!(
                    "--late-output {path} is also the --input or --output"
                )));
            }
            Some(Sink::open_for(
                "--late-output",
                path,
                &plan.input,
                dict.clone(),
            )?)
        }
        None => None,
    };

    let mut preload_malformed = None;
    let input = match (source, args.preload) {
        (Source::Gen(g), true) => Input::Preloaded(Arc::new(source::preload_generator(&g))),
        (Source::Gen(g), false) => Input::Generator(Arc::new(g)),
        (Source::Text(mut r), true) => {
            let blocks = source::preload_text(&mut r)?;
            preload_malformed = Some((r.malformed, r.examples.clone()));
            Input::Preloaded(Arc::new(blocks))
        }
        (Source::Text(r), false) => Input::Stream(r),
    };

    let cfg = RunConfig {
        mode: args.mode,
        cores: args.cores as usize,
        lock_per: args.lock_per,
        runtime: args.runtime,
        lateness_ms: args
            .allowed_lateness
            .or(plan.allowed_lateness_ms)
            .unwrap_or(0),
        partitions: if args.input.is_some() {
            1
        } else {
            args.generator.partitions
        },
        late_output,
        fault: args.inject_fault,
        rate: args.rate,
        interrupt: signals.stop.clone(),
    };
    let routing = describe_routing(&plan);
    let mut report = runtime::run(&cfg, Arc::new(plan), input, sink, dict)?;
    if let Some((m, ex)) = preload_malformed {
        report.malformed = m;
        report.malformed_examples = ex;
    }
    let stats = Stats::new(&cfg, routing, &report, runtime::host_cpus());
    eprint!("{}", stats.summary());
    if args.latency {
        eprint!("{}", stats.latency_report());
    }
    if let Some(path) = &args.hgrm {
        write_hgrm(path, &stats.latency)?;
        if !stats.window_latency.is_empty() {
            let stem = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("latency");
            write_hgrm(
                &path.with_file_name(format!("{stem}-window.hgrm")),
                &stats.window_latency,
            )?;
        }
    }
    if let Some(path) = &args.stats {
        let json = serde_json::to_string_pretty(&stats).expect("stats serialise");
        std::fs::write(path, json + "\n")
            .map_err(|e| Error::io(format!("--stats {}: cannot write", path.display()), e))?;
    }
    if report.interrupted {
        let (name, status) = signals.received().unwrap_or(("a signal", 130));
        return Err(Error::Interrupted {
            message: format!(
                "interrupted by {name}: stopped reading after {} records; the output holds the \
                 results of every record read (open windows flushed as at end of input) and the \
                 stats are marked interrupted",
                stats.records_in
            ),
            status,
        });
    }
    Ok(())
}

/// A query naming a column the input file lacks (a header without it) gets a note listing
/// the columns the file does have, so the user sees it is the input, not the query, at fault.
fn with_input_columns(e: Error, input: Option<&str>, schema: &Schema) -> Error {
    match (e, input) {
        (Error::Query(msg), Some(path)) if msg.starts_with("unknown column") => {
            let cols = schema.names().collect::<Vec<_>>().join(", ");
            Error::Query(format!(
                "{msg}\n = note: --input {path} has the columns: {cols}"
            ))
        }
        (e, _) => e,
    }
}

fn write_hgrm(path: &Path, latency: &crate::metrics::latency::Latency) -> Result<()> {
    let io = |e| Error::io(format!("--hgrm {}: cannot write", path.display()), e);
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).map_err(io)?);
    latency
        .write_hgrm(&mut f)
        .and_then(|_| f.flush())
        .map_err(io)
}

fn describe_routing(plan: &sql::Plan) -> String {
    let names = |k: &[usize]| {
        k.iter()
            .map(|&i| plan.input.fields[i].name.clone())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match &plan.routing {
        Routing::Local => "local (stateless: each core processes the blocks it reads)".into(),
        Routing::Hash(k) => format!("hash({})", names(k)),
        Routing::Single => match &plan.body {
            sql::Body::Rows(_) => {
                "single shard (ROWS window without PARTITION BY keeps one global order on shard 0)"
                    .into()
            }
            _ => "single shard (no GROUP BY key: one global group on shard 0)".into(),
        },
    }
}

fn generate(a: GenArgs) -> Result<()> {
    let dict = Dict::new();
    let g = Generator::new(gen_config(&a.generator), &mut Interner::new(dict.clone()));
    let schema = Schema::market_data();
    let (format, mut out): (Format, Box<dyn Write>) = if a.output == "-" {
        (Format::Csv, Box::new(std::io::stdout().lock()))
    } else {
        let f = std::fs::File::create(&a.output)
            .map_err(|e| Error::io(format!("--output {}: cannot create", a.output), e))?;
        (sink::format_of(Path::new(&a.output)), Box::new(f))
    };
    let io_err = |e| Error::io("gen: writing failed", e);
    let mut buf = Vec::with_capacity(1 << 20);
    if format == Format::Csv {
        buf.extend_from_slice(schema.names().collect::<Vec<_>>().join(",").as_bytes());
        buf.push(b'\n');
    }
    let mut batch = Batch::new(&schema, BLOCK_ROWS);
    for start in (0..a.generator.records).step_by(BLOCK_ROWS) {
        batch.clear();
        g.fill(start, BLOCK_ROWS, &mut batch);
        sink::encode(&batch, format, &schema, &dict, &mut buf);
        if buf.len() >= 1 << 20 {
            if let Err(e) = out.write_all(&buf) {
                return if e.kind() == std::io::ErrorKind::BrokenPipe {
                    Ok(())
                } else {
                    Err(io_err(e))
                };
            }
            buf.clear();
        }
    }
    match out.write_all(&buf).and_then(|_| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(io_err(e)),
        _ => Ok(()),
    }
}

fn explain(a: ExplainArgs) -> Result<()> {
    let sql_text = read_query(&a.query)?;
    let schema = match &a.input {
        Some(path) => TextReader::open(path, None, Dict::new(), Default::default())?
            .schema()
            .clone(),
        None => Schema::market_data(),
    };
    let plan = sql::compile_query(&sql_text, &a.query.display().to_string(), &schema)
        .map_err(|e| with_input_columns(e, a.input.as_deref(), &schema))?;
    print!("{}", plan.explain());
    Ok(())
}
