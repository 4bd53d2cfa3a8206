//! The commands end to end: read the query and input, plan, run, report. `main` calls
//! `run_cli` and turns an error into one message and an exit code.

use crate::cli::{Cli, Command, ExplainArgs, RunArgs};
use crate::data::time::EpochUnit;
use crate::data::{DataType, Dict, Field, Interner, Schema};
use crate::error::{Error, Result};
use crate::metrics::stats::Stats;
use crate::runtime::{self, RunConfig};
use crate::sink::Sink;
use crate::source::generator::{GenConfig, Generator};
use crate::source::text::TextReader;
use crate::source::{self, Input};
use crate::sql::{self, Routing};
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

mod diagnose;
mod generate;
use diagnose::{check_source_name, with_inference_notes, with_input_columns};
use generate::generate;

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
        if let Some(unit) = EpochUnit::parse_type(ty.trim()) {
            fields.push(Field::timestamp(name.trim(), unit));
            continue;
        }
        let ty = DataType::parse(ty.trim()).ok_or_else(|| {
            Error::Usage(format!(
                "--schema: unknown type `{ty}` (use BIGINT, DOUBLE, VARCHAR, BOOLEAN, TIMESTAMP \
                 (epoch ms or ISO-8601), TIMESTAMP_S, TIMESTAMP_US, TIMESTAMP_NS)"
            ))
        })?;
        fields.push(Field::new(name.trim(), ty));
    }
    Ok(Schema::new(fields))
}

fn run(args: RunArgs) -> Result<()> {
    // From here on SIGINT / SIGTERM stop the run gracefully (see runtime::signals), also while
    // the input's schema is being sampled (a second signal exits at once, saying what it has).
    let so_far = Arc::new(SoFar::default());
    let signals = runtime::signals::Signals::install({
        let so_far = so_far.clone();
        let stats = args.stats.clone();
        Box::new(move |name, status| so_far.report(name, status, stats.as_deref()))
    })?;
    let query_path = args.query.clone().expect("clap requires --query");
    let sql_text = read_query(&query_path)?;
    let dict = Dict::new();
    let fixed = args.schema.as_deref().map(parse_schema).transpose()?;

    enum Source {
        Gen(Generator),
        Text(Box<TextReader>),
        Kafka(Box<crate::source::kafka::KafkaInput>),
    }
    let kafka_in = args.input.as_deref().is_some_and(crate::kafka::is_kafka);
    check_kafka_flags(&args, kafka_in)?;
    if let Some(input) = &args.input
        && !kafka_in
    {
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
    let mut inferred = Vec::new();
    let (schema, mut source) = match &args.input {
        Some(url) if kafka_in => {
            let spec = crate::source::kafka::KafkaSpec {
                url,
                group: args.group.as_deref(),
                start: args.start,
                bounded: args.bounded,
                format: args.value_format,
                fixed: fixed.as_ref(),
                on_error: args.on_error.into(),
                query: &sql_text,
                idle_timeout: args
                    .idle_timeout
                    .map(|ms| std::time::Duration::from_millis(ms.max(0) as u64)),
            };
            let k = crate::source::kafka::KafkaInput::open(&spec, dict.clone())?;
            (k.schema().clone(), Source::Kafka(Box::new(k)))
        }
        Some(path) => {
            // A pipe, stdin or a followed file is live: records are framed as they arrive.
            let live =
                args.follow || path == "-" || std::fs::metadata(path).is_ok_and(|m| !m.is_file());
            let r = if live {
                let stop = signals.stop.clone();
                TextReader::open_live(
                    path,
                    fixed.as_ref(),
                    dict.clone(),
                    args.on_error.into(),
                    args.follow,
                    &move || stop.load(std::sync::atomic::Ordering::Relaxed),
                )?
            } else {
                TextReader::open(path, fixed.as_ref(), dict.clone(), args.on_error.into())?
            };
            inferred = r.inferred().to_vec();
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
    let file = query_path.display().to_string();
    let mut plan = sql::compile_query(&sql_text, &file, &schema)
        .map_err(|e| with_input_columns(e, args.input.as_deref(), &schema))
        .map_err(|e| with_inference_notes(e, args.input.as_deref(), &schema, &inferred))?;
    check_source_name(&plan, args.input.is_some(), &sql_text, &file)?;
    let mut repartition = None;
    if let (Source::Kafka(k), Some(g)) = (&mut source, &args.group) {
        // The query is checked against the declared topic key before joining the group.
        crate::source::kafka_group::check_keyed_by(
            &plan,
            &k.name(),
            g,
            args.members,
            args.keyed_by.as_deref(),
        )?;
        if crate::kafka::repartition::needed(&plan, args.members, args.keyed_by.as_deref()) {
            // Before joining: no member writes until the group has formed.
            repartition = Some(crate::kafka::repartition::Topic::prepare(
                k.url(),
                g,
                k.topic_partitions(),
            )?);
        }
        k.join(args.members)?;
        if args.members > 1 {
            eprintln!(
                "group {g}: this member reads partitions {:?} of {}'s {}",
                k.kafka_partitions(),
                k.name(),
                k.topic_partitions()
            );
        }
        if let Some(t) = &repartition {
            eprintln!(
                "group {g}: the records are re-keyed by the query's key through {} (this \
                 member owns the same partitions of it)",
                t.name()
            );
        }
    }
    if let Source::Kafka(k) = &source
        && !k.is_bounded()
        && let sql::Body::Aggregate(a) = &plan.body
        && a.window.is_none()
        && a.emit == sql::EmitMode::Final
    {
        return Err(Error::Usage(format!(
            "--input {}: a GROUP BY without a window emits its rows at the end of the input \
             (EMIT FINAL), and a topic read continuously never ends; add --bounded (read to the \
             end offsets seen at start, then finish), or EMIT CHANGES (a running result), or a \
             WINDOW (rows as each window closes)",
            k.name()
        )));
    }
    let source_partitions = match &source {
        Source::Kafka(k) => k.partitions(),
        _ if args.input.is_some() => 1,
        _ => args.generator.partitions,
    };
    // A topic written here is created (if missing) with the input topic's partition count,
    // or the source partitions' count.
    let partitions_of = |source: &Source| match source {
        Source::Kafka(k) => k.topic_partitions(),
        _ => source_partitions,
    };
    if let sql::Body::Aggregate(a) = &mut plan.body {
        a.retract = args.changelog == crate::cli::ChangelogArg::Retract;
    }
    if let (Source::Text(r), Some(c)) = (&source, plan.time_column)
        && let Some(warning) = r.unit_warning(c)
    {
        eprintln!("warning: {warning}");
    }
    let mut literals = Interner::new(dict.clone());
    plan.string_literals().iter().for_each(|s| {
        literals.intern(s);
    });
    let lateness_ms = args
        .allowed_lateness
        .or(plan.allowed_lateness_ms)
        .unwrap_or(0);
    // A Kafka output opens first: with checkpoints it is transactional, and its last committed
    // transaction names the checkpoint to resume (`kafka::txn`).
    let kafka_sink = if crate::kafka::is_kafka(&args.output) {
        let url = crate::kafka::KafkaUrl::parse("--output", &args.output)?;
        let layout = crate::kafka::producer::layout_of(&plan, &dict)?;
        if let Some(w) = &layout.warning {
            eprintln!("warning: {w}");
        }
        let txn_id = match &args.checkpoint_dir {
            Some(dir) => Some(crate::kafka::txn::transactional_id(dir)?),
            None => None,
        };
        let interval = std::time::Duration::from_millis(args.checkpoint_interval.max(1) as u64);
        let (out, _) = crate::kafka::producer::KafkaOut::open_with(
            "--output",
            &url,
            // A new output topic gets the input topic's partition count.
            partitions_of(&source),
            layout,
            txn_id.as_deref().map(|id| (id, interval)),
        )?;
        Some(Sink::kafka(
            "--output",
            out,
            &plan.output,
            dict.clone(),
            args.timestamps,
        )?)
    } else {
        None
    };
    let transactional = kafka_sink
        .as_ref()
        .is_some_and(|s| s.transactions().is_some());
    let committed = match kafka_sink.as_ref().and_then(|s| s.transactions()) {
        Some(t) => crate::checkpoint::Committed::Kafka {
            id: t.id.clone(),
            epoch: t.committed_epoch()?,
        },
        None => crate::checkpoint::Committed::Latest,
    };
    let (mut checkpoint, restored) = checkpoints(
        &args,
        &sql_text,
        &schema,
        lateness_ms,
        source_partitions,
        matches!(&source, Source::Text(r) if r.is_live() && !r.follows_file()),
        committed,
    )?;
    if let Source::Kafka(k) = &mut source {
        commit_as_it_goes(&args, &plan, k, &mut checkpoint, transactional)?;
    }
    let commits = checkpoint.as_ref().and_then(|c| c.commits.clone());
    if let Some(t) = kafka_sink.as_ref().and_then(|s| s.transactions()) {
        eprintln!(
            "kafka output: transactional id {}, run {:016x}: each checkpoint's rows commit in one \
             transaction (read them with isolation.level=read_committed)",
            t.id, t.run
        );
        if let Source::Kafka(k) = &source
            && let Some(group) = k.group_metadata()
        {
            t.set_input_group(&k.url().topic, group);
        }
    }
    if let (Some(r), Source::Kafka(k)) = (&restored, &mut source)
        && let crate::checkpoint::Position::Kafka { offsets, .. } = &r.manifest.position
    {
        k.resume_at(offsets)?;
    }
    let resume_at = |target: &str, len: Option<u64>| match target {
        "-" | "null" => None,
        _ => len,
    };
    let sink = if let Some(sink) = kafka_sink {
        sink
    } else {
        Sink::open_at(
            "--output",
            &args.output,
            &plan.output,
            dict.clone(),
            args.timestamps,
            resume_at(
                &args.output,
                restored.as_ref().and_then(|r| r.manifest.output_bytes),
            ),
        )?
    };
    let _ = so_far.sink.set(sink.clone());
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
            if crate::kafka::is_kafka(path) {
                // Late records are input rows, keyed by the query's key columns.
                let url = crate::kafka::KafkaUrl::parse("--late-output", path)?;
                let layout = crate::kafka::producer::Layout {
                    key: match &plan.routing {
                        crate::sql::plan::Routing::Hash(k) => k.clone(),
                        _ => Vec::new(),
                    },
                    ..Default::default()
                };
                let (out, _) = crate::kafka::producer::KafkaOut::open(
                    "--late-output",
                    &url,
                    partitions_of(&source),
                    layout,
                )?;
                Some(Sink::kafka(
                    "--late-output",
                    out,
                    &plan.input,
                    dict.clone(),
                    args.timestamps,
                )?)
            } else {
                Some(Sink::open_at(
                    "--late-output",
                    path,
                    &plan.input,
                    dict.clone(),
                    args.timestamps,
                    resume_at(path, restored.as_ref().and_then(|r| r.manifest.late_bytes)),
                )?)
            }
        }
        None => None,
    };

    // Readers store only the columns the query reads (the rest are validated, not kept).
    match &mut source {
        Source::Text(r) => r.set_projection(plan.reads_columns(late_output.is_some())),
        Source::Kafka(k) => k.set_projection(plan.reads_columns(late_output.is_some())),
        Source::Gen(_) => {}
    }
    let mut preload_malformed = None;
    let mut stage1 = None;
    let input = match (source, args.preload) {
        (Source::Gen(g), true) => Input::Preloaded(Arc::new(source::preload_generator(&g))),
        (Source::Gen(g), false) => Input::Generator(Arc::new(g)),
        (Source::Text(mut r), true) => {
            let blocks = source::preload_text(&mut r)?;
            preload_malformed = Some((r.malformed, r.examples.clone()));
            Input::Preloaded(Arc::new(blocks))
        }
        (Source::Text(r), false) => Input::Stream(r),
        (Source::Kafka(k), _) => match &repartition {
            None => Input::Kafka(k),
            Some(topic) => {
                let (input, writer) = crate::kafka::repartition::start(
                    topic,
                    *k,
                    Arc::new(plan.clone()),
                    dict.clone(),
                    lateness_ms,
                    signals.stop.clone(),
                    so_far.records_read.clone(),
                    sink.clone(),
                    late_output.clone(),
                    std::time::Duration::from_millis(args.linger.max(0) as u64),
                )?;
                stage1 = Some(writer);
                Input::Repartition(Box::new(input))
            }
        },
    };
    let source_partitions = match &input {
        Input::Repartition(r) => r.source_partitions(),
        _ => source_partitions,
    };

    let cfg = RunConfig {
        mode: args.mode,
        cores: args.cores as usize,
        lock_per: args.lock_per,
        runtime: args.runtime,
        lateness_ms,
        partitions: source_partitions,
        late_output,
        fault: args.inject_fault,
        rate: args.rate,
        linger: std::time::Duration::from_millis(args.linger.max(0) as u64),
        interrupt: signals.stop.clone(),
        records_read: so_far.records_read.clone(),
        checkpoint,
        restored: restored.map(Arc::new),
        range_bytes: args.range_bytes,
    };
    let routing = describe_routing(&plan);
    let run = runtime::run(&cfg, Arc::new(plan), input, sink, dict);
    let mut report = match stage1 {
        // A group member's writer stage: its counts and commit come from it.
        Some(writer) => writer.finish(run)?,
        None => run?,
    };
    // The results are written and acknowledged (the sink is closed): now the offsets they
    // depend on may be committed (with a repartition topic: once every member's are).
    if let Some(tail) = report.repartition_tail.take() {
        tail.wait_for_members()?;
    }
    if let Some(c) = report.kafka_commit.take() {
        c.commit()?;
    }
    if let Some((m, ex)) = preload_malformed {
        report.malformed = m;
        report.malformed_examples = ex;
    }
    let stats = Stats::new(&cfg, routing, &report, runtime::host_cpus());
    eprint!("{}", stats.summary());
    if let Some(dir) = &args.checkpoint_dir {
        let c = report.checkpoints;
        if report.restored.is_some() {
            eprintln!(
                "  restored     state in {:.1} ms",
                report.restore_time.as_secs_f64() * 1e3
            );
        }
        if c.written > 0 {
            eprintln!(
                "  checkpoints  {} into {}; the last {} of state, every part crossed in {:.1} ms, \
                 durable in {:.1} ms",
                c.written,
                dir.display(),
                crate::metrics::stats::bytes(c.bytes),
                c.crossed.as_secs_f64() * 1e3,
                c.durable.as_secs_f64() * 1e3
            );
        }
    }
    if let Some(c) = &commits {
        eprintln!(
            "  committed    the group's offsets {} times during the run, and at its end",
            c.made.load(std::sync::atomic::Ordering::Relaxed)
        );
    }
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
        if transactional {
            return Err(Error::Interrupted {
                message: format!(
                    "stopped by {name} after reading {} records: the Kafka output holds the rows \
                     of every checkpoint committed; the rows after the last one were aborted, and \
                     --resume writes them again",
                    crate::metrics::stats::group(stats.records_in),
                ),
                status,
            });
        }
        return Err(Error::Interrupted {
            message: format!(
                "stopped by {name} after reading {} records and writing {} rows: the output holds \
                 the results of every record read (open windows flushed as at end of input); \
                 the stats are marked interrupted",
                crate::metrics::stats::group(stats.records_in),
                crate::metrics::stats::group(stats.rows_out)
            ),
            status,
        });
    }
    Ok(())
}

/// `--group`: how a run commits its offsets before it ends. With checkpoints, each durable
/// checkpoint's (a transactional output commits them in its transactions). Without, a
/// continuous stateless query (its rows depend on no earlier record) commits every
/// `--commit-interval` through commit barriers (`CheckpointConfig::write` false): the offsets
/// at a cut whose rows before it are written and acknowledged. A stateful query's offsets
/// can only be committed with its state, so without checkpoints it commits at its end.
fn commit_as_it_goes(
    args: &RunArgs,
    plan: &sql::Plan,
    input: &mut crate::source::kafka::KafkaInput,
    checkpoint: &mut Option<crate::checkpoint::CheckpointConfig>,
    transactional: bool,
) -> Result<()> {
    let Some(commits) = input.commit_requests() else {
        return Ok(());
    };
    if args.commit_interval <= 0 {
        return Err(Error::Usage(
            "--commit-interval must be more than 0 (e.g. 5s)".into(),
        ));
    }
    if let Some(c) = checkpoint {
        if !transactional {
            c.commits = Some(commits);
        }
        return Ok(());
    }
    if args.bounded {
        return Ok(()); // it commits at its end, soon
    }
    let stateless = matches!(plan.body, sql::Body::Project(_));
    if !stateless
        || args.mode == runtime::Mode::Mutex
        || args.on_error == crate::cli::OnErrorArg::Fail
    {
        eprintln!(
            "note: group `{}` commits its offsets when the run ends or is stopped: {}",
            args.group.as_deref().unwrap_or_default(),
            if stateless {
                "commit barriers need v1 or v2 and --on-error skip"
            } else {
                "a stateful query's offsets are committed with its state (add --checkpoint-dir \
                 to commit with each checkpoint)"
            }
        );
        return Ok(());
    }
    *checkpoint = Some(crate::checkpoint::CheckpointConfig {
        dir: std::path::PathBuf::new(),
        interval: std::time::Duration::from_millis(args.commit_interval as u64),
        fingerprint: Default::default(),
        first_epoch: 1,
        write: false,
        commits: Some(commits),
    });
    Ok(())
}

/// `--checkpoint-dir`: refuses what checkpoints do not cover yet, and with `--resume` reads
/// the latest checkpoint, checked against this run.
fn checkpoints(
    args: &RunArgs,
    sql_text: &str,
    schema: &Schema,
    lateness_ms: i64,
    partitions: u32,
    live: bool,
    committed: crate::checkpoint::Committed,
) -> Result<(
    Option<crate::checkpoint::CheckpointConfig>,
    Option<crate::checkpoint::Restored>,
)> {
    let Some(dir) = &args.checkpoint_dir else {
        return Ok((None, None));
    };
    let refuse = |why: &str| {
        Err(Error::Usage(format!(
            "--checkpoint-dir: {why}; run without checkpoints"
        )))
    };
    let input = args.input.as_deref();
    if input.is_some_and(crate::kafka::is_kafka) && args.members > 1 {
        return refuse("a group of several members (--members) cannot be checkpointed yet");
    }
    if input == Some("-") || live {
        return refuse(
            "stdin or a pipe cannot be read again from a checkpoint's position (checkpoint \
             a regular file, a file followed with --follow, Kafka or the generator)",
        );
    }
    if args.mode == runtime::Mode::Mutex {
        return refuse("the mutex baseline cannot be checkpointed (use v1 or v2)");
    }
    if args.on_error == crate::cli::OnErrorArg::Fail {
        return refuse("--on-error fail cannot be checkpointed yet");
    }
    if args
        .late_output
        .as_deref()
        .is_some_and(crate::kafka::is_kafka)
    {
        return refuse(
            "--late-output kafka://… cannot be checkpointed yet (its rows would need the \
             output's transactions); write late records to a file",
        );
    }
    if args.checkpoint_interval <= 0 {
        return Err(Error::Usage(
            "--checkpoint-interval must be more than 0 (e.g. 10s)".into(),
        ));
    }
    std::fs::create_dir_all(dir).map_err(|e| {
        Error::io(
            format!("--checkpoint-dir {}: cannot create it", dir.display()),
            e,
        )
    })?;
    let source = match input {
        Some(url) if crate::kafka::is_kafka(url) => format!(
            "input {url}; group {}; bounded {}",
            args.group.as_deref().unwrap_or("none"),
            args.bounded
        ),
        Some(path) => format!("input {path}"),
        None => format!("generator {:?}", gen_config(&args.generator)),
    };
    let cfg = crate::checkpoint::CheckpointConfig {
        dir: dir.clone(),
        interval: std::time::Duration::from_millis(args.checkpoint_interval as u64),
        fingerprint: crate::checkpoint::Fingerprint {
            query: crate::checkpoint::normalized_query(sql_text),
            schema: schema
                .fields
                .iter()
                .map(|f| format!("{} {}", f.name, f.ty))
                .collect::<Vec<_>>()
                .join(", "),
            // Not the output's name: a copied or moved output file resumes (its length is
            // checked against the checkpoint's).
            options: format!(
                "{source}; late output {}; allowed lateness {lateness_ms} ms; partitions \
                 {partitions}; changelog {:?}",
                if args.late_output.is_some() {
                    "yes"
                } else {
                    "none"
                },
                args.changelog
            ),
        },
        first_epoch: match &committed {
            crate::checkpoint::Committed::Kafka { epoch: Some(e), .. } => e + 1,
            _ => 1,
        },
        write: true,
        commits: None,
    };
    let restored = crate::checkpoint::resume(&cfg, args.resume, committed)?;
    if let Some(r) = &restored {
        let is_file = |t: &str| !matches!(t, "-" | "null") && !crate::kafka::is_kafka(t);
        for (flag, target, len) in [
            (
                "--output",
                Some(args.output.as_str()),
                r.manifest.output_bytes,
            ),
            (
                "--late-output",
                args.late_output.as_deref(),
                r.manifest.late_bytes,
            ),
        ] {
            if let Some(t) = target
                && is_file(t)
                && len.is_none()
            {
                return Err(Error::Usage(format!(
                    "--resume: {flag} {t} is a file, but the checkpoint was taken writing to \
                     stdout, null or Kafka: the file would lack every row before it; resume with \
                     the same {flag}, or start fresh with another --checkpoint-dir"
                )));
            }
        }
    }
    if let Some(r) = &restored {
        eprintln!(
            "resuming from checkpoint {} (input block {}, {} records read before it)",
            r.path.display(),
            r.manifest.position.block(),
            crate::metrics::stats::group(r.manifest.counters.read + r.manifest.counters.malformed)
        );
    }
    Ok((Some(cfg), restored))
}

/// The name of the built-in generator's stream: without `--input` the query must read it.
pub const GENERATOR_STREAM: &str = "market_data";

/// What a run has done so far, for a second signal, which exits at once.
#[derive(Default)]
struct SoFar {
    /// Records the readers have taken (per block).
    records_read: Arc<std::sync::atomic::AtomicU64>,
    sink: std::sync::OnceLock<Arc<Sink>>,
}

impl SoFar {
    /// Says what was done, flushes what the output has, writes the stats it can (marked
    /// incomplete).
    fn report(&self, name: &str, status: i32, stats: Option<&Path>) {
        let records = self.records_read.load(std::sync::atomic::Ordering::Relaxed);
        let rows = self.sink.get().map_or(0, |s| {
            s.try_flush();
            s.rows_written()
        });
        eprintln!(
            "shardsql: stopped at once by a second {name} after reading {} records and writing \
             {} rows; open windows were not flushed",
            crate::metrics::stats::group(records),
            crate::metrics::stats::group(rows)
        );
        if let Some(path) = stats {
            let json = serde_json::json!({
                "records_in": records,
                "rows_out": rows,
                "interrupted": true,
                "complete": false,
                "exit_status": status,
            });
            let _ = std::fs::write(path, format!("{json:#}\n"));
        }
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

/// The Kafka input flags go with `--input kafka://…` only, and some file flags not with it.
fn check_kafka_flags(args: &RunArgs, kafka_in: bool) -> Result<()> {
    let kafka_only = [
        ("--group", args.group.is_some()),
        ("--members", args.members != 1),
        ("--keyed-by", args.keyed_by.is_some()),
        ("--start", args.start.is_some()),
        ("--bounded", args.bounded),
        ("--idle-timeout", args.idle_timeout.is_some()),
        (
            "--value-format",
            args.value_format != crate::source::kafka::ValueFormat::Json,
        ),
    ];
    if !kafka_in && let Some((flag, _)) = kafka_only.iter().find(|(_, set)| *set) {
        return Err(Error::Usage(format!(
            "{flag} applies to a Kafka input (--input kafka://HOST:PORT/TOPIC)"
        )));
    }
    if args.group.is_none() {
        for (flag, set) in [
            ("--members", args.members != 1),
            ("--keyed-by", args.keyed_by.is_some()),
        ] {
            if set {
                return Err(Error::Usage(format!(
                    "{flag} applies to a consumer group: add --group NAME"
                )));
            }
        }
    }
    if args.bounded && args.idle_timeout.is_some() {
        return Err(Error::Usage(
            "--idle-timeout applies to a continuous run: a --bounded run reads every partition \
             to its end"
                .into(),
        ));
    }
    if kafka_in {
        for (flag, set) in [("--follow", args.follow), ("--preload", args.preload)] {
            if set {
                return Err(Error::Usage(format!(
                    "{flag} does not apply to a Kafka input (a topic is read continuously unless \
                     --bounded)"
                )));
            }
        }
    }
    Ok(())
}

fn explain(a: ExplainArgs) -> Result<()> {
    let sql_text = read_query(&a.query)?;
    let fixed = a.schema.as_deref().map(parse_schema).transpose()?;
    let schema = match &a.input {
        Some(url) if crate::kafka::is_kafka(url) => {
            // The topic's first messages give the columns, exactly as a run's (nothing is
            // consumed: no group, read from the earliest offsets).
            let spec = crate::source::kafka::KafkaSpec {
                url,
                group: None,
                start: Some(crate::source::kafka::Start::Earliest),
                bounded: true,
                format: a.value_format,
                fixed: fixed.as_ref(),
                on_error: Default::default(),
                query: &sql_text,
                idle_timeout: None,
            };
            crate::source::kafka::KafkaInput::open(&spec, Dict::new())?
                .schema()
                .clone()
        }
        Some(path) => TextReader::open(path, fixed.as_ref(), Dict::new(), Default::default())?
            .schema()
            .clone(),
        None => Schema::market_data(),
    };
    let file = a.query.display().to_string();
    let plan = sql::compile_query(&sql_text, &file, &schema)
        .map_err(|e| with_input_columns(e, a.input.as_deref(), &schema))?;
    check_source_name(&plan, a.input.is_some(), &sql_text, &file)?;
    print!("{}", plan.explain());
    Ok(())
}
