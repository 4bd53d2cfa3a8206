//! Checkpoints (`--checkpoint-dir DIR --checkpoint-interval 10s`, `--resume`): consistent
//! snapshots of a run's state with the input position and output lengths they cover, written
//! atomically; a resumed run restores the latest one and goes on from there.
//!
//! - **The cut** (`barrier`): a checkpoint is "everything before input block `B`". The blocks
//!   already have one global order that every shard consumes; `B` is agreed as a graceful stop
//!   agrees its cut, and each reader and each shard records its part as it crosses `B`, without
//!   stopping the others: no lock or per-record cost on the hot path.
//! - **Contents** (`Manifest`): the input position at `B` (a file's byte offset and line, the
//!   generator's block), the run's counters over blocks below `B`, the per-partition maximum
//!   event times and idle flags (the watermark state), the output and `--late-output` files'
//!   lengths, and one state section per shard (`state`: operator state as rows, dictionary
//!   independent, so a checkpoint taken at N shards restores at M: keys are re-hashed).
//! - **Files**: `DIR/ckpt-<epoch>/manifest.json` and `state.bin`, written into a temporary
//!   directory, fsynced, renamed; the manifest names the state file's length and checksum, so
//!   a torn or foreign file is refused, never half-read. The last `KEEP` are kept.
//! - **Exactly-once files**: a shard that has crossed `B` holds its further output in memory
//!   until every part has crossed, so the recorded lengths hold exactly the rows of blocks
//!   below `B`; resuming truncates the files back to them and appends. stdout cannot be
//!   truncated: at-least-once.
//!
//! Threading: the coordinator (`barrier::Coordinator`) runs on its own thread; shards and
//! readers only touch the barrier's atomics once per block and hand their parts over a mutex
//! once per checkpoint.

pub mod barrier;
pub mod state;

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// The manifest's format; a change to the manifest or to a state table's layout bumps it.
pub const FORMAT: u32 = 1;
/// Checkpoints kept in the directory.
pub const KEEP: usize = 3;

/// `--checkpoint-dir` and friends.
#[derive(Clone, Debug)]
pub struct CheckpointConfig {
    pub dir: PathBuf,
    pub interval: std::time::Duration,
    /// What must match for a checkpoint to be resumed (`Fingerprint`).
    pub fingerprint: Fingerprint,
    /// The epoch of a fresh run's first checkpoint (after a transactional output's last
    /// committed one: epochs only grow).
    pub first_epoch: u64,
    /// Whether checkpoints are written to `dir`. Without (a stateless query reading a
    /// consumer group, no `--checkpoint-dir`), the barriers are commit barriers: they only
    /// find where the output written and acknowledged ends in the input, for `commits`.
    pub write: bool,
    /// `--group`: each barrier's input offsets are committed to the consumer group once its
    /// checkpoint is durable (or, for commit barriers, its output acknowledged); a
    /// transactional output commits them in its transaction instead.
    pub commits: Option<std::sync::Arc<crate::source::kafka_group::CommitRequests>>,
}

/// What a run's output has committed, for choosing the checkpoint to resume.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Committed {
    /// Files (cut back to a checkpoint's lengths) or stdout: the latest checkpoint.
    Latest,
    /// A transactional Kafka output (`kafka::txn`) with transactional id `id`: the epoch of
    /// its last committed transaction, whose checkpoint is the one to resume.
    Kafka { id: String, epoch: Option<u64> },
}

/// What a checkpoint's state depends on: a resumed run must have the same.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    /// The query text.
    pub query: String,
    /// The input's columns and types.
    pub schema: String,
    /// The input (file name or generator settings) and the options the results depend on
    /// (allowed lateness, partitions, changelog form).
    pub options: String,
}

/// A query's text as a checkpoint compares it: comments dropped and whitespace runs made
/// one space (outside quotes), so reformatting or commenting a query keeps its checkpoints.
pub fn normalized_query(sql: &str) -> String {
    let (b, mut out, mut i) = (sql.as_bytes(), Vec::with_capacity(sql.len()), 0);
    let mut space = false;
    while i < b.len() {
        match b[i] {
            q @ (b'\'' | b'"') => {
                // A quoted string or name, doubled quotes included, copied as it is.
                let start = i;
                i += 1;
                while i < b.len() && !(b[i] == q && b.get(i + 1) != Some(&q)) {
                    i += if b[i] == q { 2 } else { 1 };
                }
                i = (i + 1).min(b.len());
                if space && !out.is_empty() {
                    out.push(b' ');
                }
                space = false;
                out.extend_from_slice(&b[start..i]);
            }
            b'-' if b.get(i + 1) == Some(&b'-') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                space = true;
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i < b.len() && !(b[i] == b'*' && b.get(i + 1) == Some(&b'/')) {
                    i += 1;
                }
                i = (i + 2).min(b.len());
                space = true;
            }
            c if c.is_ascii_whitespace() => {
                space = true;
                i += 1;
            }
            c => {
                if space && !out.is_empty() {
                    out.push(b' ');
                }
                space = false;
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Where the input resumes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Position {
    /// The generator (or a preloaded input): the first block not consumed.
    Block { block: u64 },
    /// A file: the byte offset (of the decompressed text) and 1-based line of the first
    /// record not consumed, which starts input block `block`.
    File { block: u64, byte: u64, line: u64 },
    /// A Kafka topic: per Kafka partition read, the offset of the first message not consumed.
    Kafka {
        block: u64,
        offsets: Vec<(i32, i64)>,
    },
}

impl Position {
    pub fn block(&self) -> u64 {
        match *self {
            Position::Block { block }
            | Position::File { block, .. }
            | Position::Kafka { block, .. } => block,
        }
    }
}

/// The run's counters over the blocks a checkpoint covers.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Counters {
    pub read: u64,
    pub filtered: u64,
    pub late_dropped: u64,
    pub processed: u64,
    pub rows_out: u64,
    pub malformed: u64,
    /// The first malformed records, by line: (line, reason).
    pub malformed_examples: Vec<(u64, String)>,
    pub max_lag_ms: i64,
}

impl Counters {
    pub fn add(&mut self, o: &Counters) {
        self.read += o.read;
        self.filtered += o.filtered;
        self.late_dropped += o.late_dropped;
        self.processed += o.processed;
        self.rows_out += o.rows_out;
        self.malformed += o.malformed;
        self.malformed_examples
            .extend(o.malformed_examples.iter().cloned());
        self.malformed_examples.sort_by_key(|e| e.0);
        self.malformed_examples
            .truncate(crate::source::text::EXAMPLES_KEPT);
        self.max_lag_ms = self.max_lag_ms.max(o.max_lag_ms);
    }
}

/// One checkpoint's description (`manifest.json`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub epoch: u64,
    pub fingerprint: Fingerprint,
    pub position: Position,
    pub counters: Counters,
    /// Per source partition: the maximum event time seen (`i64::MIN`: none) and whether it
    /// is idle.
    pub part_max: Vec<i64>,
    pub part_idle: Vec<bool>,
    /// The output file's and `--late-output` file's lengths (`None`: not a file).
    pub output_bytes: Option<u64>,
    pub late_bytes: Option<u64>,
    /// Each shard's section of `state.bin`: its length (sections follow one another).
    pub sections: Vec<u64>,
    /// `state.bin`'s CRC-32.
    pub state_crc: u32,
    /// A transactional Kafka output's transactional id (`kafka::txn`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kafka_transactional_id: Option<String>,
}

/// A checkpoint read back: its manifest and each shard's state section.
#[derive(Debug)]
pub struct Restored {
    pub manifest: Manifest,
    pub sections: Vec<Vec<u8>>,
    pub path: PathBuf,
}

fn dir_name(epoch: u64) -> String {
    format!("ckpt-{epoch:010}")
}

fn io(what: impl Into<String>, e: std::io::Error) -> Error {
    Error::io(what, e)
}

/// Writes checkpoint `m` with its state sections under `dir`, atomically, removing the oldest
/// so that the last `KEEP` remain.
pub fn write(dir: &Path, mut m: Manifest, sections: &[Vec<u8>]) -> Result<PathBuf> {
    let tmp = dir.join(format!(".tmp-{}", dir_name(m.epoch)));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| {
        io(
            format!("--checkpoint-dir {}: cannot write", dir.display()),
            e,
        )
    })?;
    let mut crc = crc32fast::Hasher::new();
    let mut state = std::fs::File::create(tmp.join("state.bin")).map_err(|e| {
        io(
            format!("--checkpoint-dir {}: cannot write", dir.display()),
            e,
        )
    })?;
    m.sections.clear();
    for s in sections {
        crc.update(s);
        state.write_all(s).map_err(|e| {
            io(
                format!("--checkpoint-dir {}: cannot write", dir.display()),
                e,
            )
        })?;
        m.sections.push(s.len() as u64);
    }
    m.state_crc = crc.finalize();
    state.sync_all().map_err(|e| {
        io(
            format!("--checkpoint-dir {}: cannot sync", dir.display()),
            e,
        )
    })?;
    let json = serde_json::to_vec_pretty(&m).expect("a manifest serialises");
    let mut f = std::fs::File::create(tmp.join("manifest.json")).map_err(|e| {
        io(
            format!("--checkpoint-dir {}: cannot write", dir.display()),
            e,
        )
    })?;
    f.write_all(&json)
        .and_then(|()| f.sync_all())
        .map_err(|e| {
            io(
                format!("--checkpoint-dir {}: cannot write", dir.display()),
                e,
            )
        })?;
    // Make room first, so that a crash at any point leaves at most `KEEP`.
    let mut all = list(dir);
    while all.len() >= KEEP {
        // Renamed away first: a crash mid-removal leaves no half `ckpt-*`.
        let (epoch, old) = all.remove(0);
        let gone = dir.join(format!(".old-{}", dir_name(epoch)));
        if std::fs::rename(&old, &gone).is_ok() {
            let _ = std::fs::remove_dir_all(gone);
        }
    }
    let done = dir.join(dir_name(m.epoch));
    std::fs::rename(&tmp, &done).map_err(|e| {
        io(
            format!("--checkpoint-dir {}: cannot rename", dir.display()),
            e,
        )
    })?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(done)
}

/// The checkpoints in `dir`, oldest first: (epoch, path).
pub fn list(dir: &Path) -> Vec<(u64, PathBuf)> {
    let mut all: Vec<(u64, PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let epoch = name.strip_prefix("ckpt-")?.parse().ok()?;
            Some((epoch, e.path()))
        })
        .collect();
    all.sort();
    all
}

/// Reads the checkpoint at `path`, checking its format, length and checksum.
pub fn read(path: &Path) -> Result<Restored> {
    let bad = |why: String| {
        Error::Usage(format!(
            "checkpoint {}: {why}; start without --resume or with another --checkpoint-dir",
            path.display()
        ))
    };
    let json = std::fs::read(path.join("manifest.json"))
        .map_err(|e| bad(format!("cannot read manifest.json ({e})")))?;
    let m: Manifest = serde_json::from_slice(&json)
        .map_err(|e| bad(format!("manifest.json does not parse ({e})")))?;
    if m.format != FORMAT {
        return Err(bad(format!(
            "written in checkpoint format {}, this shardsql reads format {FORMAT}",
            m.format
        )));
    }
    let state = std::fs::read(path.join("state.bin"))
        .map_err(|e| bad(format!("cannot read state.bin ({e})")))?;
    if state.len() as u64 != m.sections.iter().sum::<u64>()
        || crc32fast::hash(&state) != m.state_crc
    {
        return Err(bad("state.bin does not match its manifest (damaged)".into()));
    }
    let mut sections = Vec::new();
    let mut at = 0usize;
    for &len in &m.sections {
        sections.push(state[at..at + len as usize].to_vec());
        at += len as usize;
    }
    Ok(Restored {
        manifest: m,
        sections,
        path: path.to_path_buf(),
    })
}

/// `--resume`: the latest checkpoint in `cfg.dir`, checked against this run (`None`: the
/// directory holds none, start fresh). Without `--resume`, a directory that holds checkpoints
/// is an error: a fresh run would overwrite the output they cover.
pub fn resume(
    cfg: &CheckpointConfig,
    resume: bool,
    committed: Committed,
) -> Result<Option<Restored>> {
    // What a crash left half-written or half-removed.
    for e in std::fs::read_dir(&cfg.dir).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with(".tmp-ckpt-") || name.starts_with(".old-ckpt-") {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
    let all = list(&cfg.dir);
    let Some((_, latest)) = all.last() else {
        return Ok(None);
    };
    if !resume {
        return Err(Error::Usage(format!(
            "--checkpoint-dir {} holds checkpoints of an earlier run ({}): pass --resume to go \
             on from the latest, or remove them (or choose another directory) to start fresh",
            cfg.dir.display(),
            latest.display()
        )));
    }
    let newest = read(latest)?;
    let r = match committed {
        Committed::Latest => newest,
        Committed::Kafka { id, epoch } => {
            if newest.manifest.kafka_transactional_id.as_deref() != Some(id.as_str()) {
                return Err(Error::Usage(format!(
                    "--resume: the checkpoints in {} were taken writing to {}, not to this \
                     Kafka output: the topic would lack every row before them; resume with the \
                     same --output, or start fresh with another --checkpoint-dir",
                    cfg.dir.display(),
                    if newest.manifest.kafka_transactional_id.is_some() {
                        "another Kafka output"
                    } else {
                        "a file, stdout or null"
                    }
                )));
            }
            match committed_checkpoint(cfg, &all, epoch.unwrap_or(0))? {
                Some(path) if path == newest.path => newest,
                Some(path) => read(&path)?,
                None => return Ok(None),
            }
        }
    };
    let (had, now) = (&r.manifest.fingerprint, &cfg.fingerprint);
    let differs = if had.query != now.query {
        Some(("query", &had.query, &now.query))
    } else if had.schema != now.schema {
        Some(("input columns", &had.schema, &now.schema))
    } else if had.options != now.options {
        Some(("input or options", &had.options, &now.options))
    } else {
        None
    };
    if let Some((what, was, is)) = differs {
        return Err(Error::Usage(format!(
            "--resume: the checkpoint in {} was taken for another {what}, which its state \
             cannot serve:\n  checkpoint: {}\n  this run:   {}\nresume with the same query, \
             input and options, or start fresh with another --checkpoint-dir",
            cfg.dir.display(),
            was.trim(),
            is.trim()
        )));
    }
    Ok(Some(r))
}

/// A transactional output committed epoch `epoch` (0: none): its checkpoint, with those
/// after it removed (their transactions were aborted); `None` when every checkpoint is after it
/// (none committed: start fresh, removing them). An output committed past every checkpoint
/// holds a finished run's results: an error, as is a committed checkpoint that is gone. A
/// committed epoch behind what the checkpoints prove is not trusted (see below).
fn committed_checkpoint(
    cfg: &CheckpointConfig,
    all: &[(u64, PathBuf)],
    epoch: u64,
) -> Result<Option<PathBuf>> {
    let dir = cfg.dir.display();
    let newest = all.last().map_or(0, |(e, _)| *e);
    // Checkpoint `e` is written only once epoch `e - 1` has committed: a committed epoch
    // further behind is wrong (the group's offsets expired, or the broker reads them stale:
    // Tansu 0.6 lags transactional offset commits). Trust the proof: resume from `e - 1`,
    // whose rows are committed; epoch `e`'s may be written twice (never lost).
    let epoch = if epoch + 1 < newest {
        eprintln!(
            "warning: the Kafka output's committed epoch reads {epoch}, but {dir} holds \
             checkpoint {newest}, which is written only once epoch {} has committed: the \
             broker's committed offsets are stale or lost; going on from checkpoint {}, so \
             the rows of epoch {newest} may be written twice",
            newest - 1,
            newest - 1
        );
        newest - 1
    } else {
        epoch
    };
    let found = all
        .iter()
        .find(|(e, _)| *e == epoch)
        .map(|(_, p)| p.clone());
    if found.is_none() && all.iter().any(|(e, _)| *e < epoch) {
        return Err(Error::Usage(if epoch > newest {
            format!(
                "--resume: the Kafka output already holds this run's complete results (committed \
                at the end of its input, after checkpoint {newest} in {dir}): there is nothing \
                to resume; remove {dir} to run the query again"
            )
        } else {
            format!(
                "--resume: the Kafka output's last committed transaction is checkpoint epoch \
                {epoch}, which {dir} no longer holds; start fresh with another --checkpoint-dir"
            )
        }));
    }
    for (e, path) in all {
        if *e > epoch {
            eprintln!(
                "checkpoint {} was written but its Kafka transaction did not commit: removed \
                (its rows are written again)",
                path.display()
            );
            let old = cfg.dir.join(format!(".old-{}", dir_name(*e)));
            std::fs::rename(path, &old)
                .and_then(|()| std::fs::remove_dir_all(&old))
                .map_err(|e| io(format!("cannot remove {}", path.display()), e))?;
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A transactional output's committed epoch picks the checkpoint: its own (later ones
    /// removed), none (all later: fresh), or an error (a finished run, or a lost marker).
    #[test]
    fn the_committed_epoch_picks_the_checkpoint_to_resume() {
        let dir = std::env::temp_dir().join(format!("shardsql-committed-{}", std::process::id()));
        let cfg = CheckpointConfig {
            dir: dir.clone(),
            interval: std::time::Duration::from_secs(1),
            fingerprint: Fingerprint::default(),
            first_epoch: 1,
            write: true,
            commits: None,
        };
        let make = |epochs: &[u64]| {
            let _ = std::fs::remove_dir_all(&dir);
            for e in epochs {
                std::fs::create_dir_all(dir.join(dir_name(*e))).unwrap();
            }
            list(&dir)
        };
        let epochs = |dir: &Path| list(dir).iter().map(|(e, _)| *e).collect::<Vec<_>>();
        // Crash between writing 7 and committing it: 6 is resumed, 7 removed.
        let all = make(&[5, 6, 7]);
        let got = committed_checkpoint(&cfg, &all, 6).unwrap().unwrap();
        assert!(got.ends_with(dir_name(6)));
        assert_eq!(epochs(&dir), [5, 6]);
        // Committed the newest.
        let all = make(&[5, 6, 7]);
        assert!(committed_checkpoint(&cfg, &all, 7).unwrap().is_some());
        assert_eq!(epochs(&dir), [5, 6, 7]);
        // The first checkpoint never committed: fresh, removed.
        let all = make(&[1]);
        assert!(committed_checkpoint(&cfg, &all, 0).unwrap().is_none());
        assert!(epochs(&dir).is_empty());
        // The input's end committed past every checkpoint: nothing to resume.
        let all = make(&[5, 6, 7]);
        let e = committed_checkpoint(&cfg, &all, 9).unwrap_err().to_string();
        assert!(e.contains("complete results"), "{e}");
        // A lost or stale marker is never taken for "nothing committed": checkpoint 7 proves
        // that epoch 6 committed.
        let all = make(&[5, 6, 7]);
        let got = committed_checkpoint(&cfg, &all, 0).unwrap().unwrap();
        assert!(got.ends_with(dir_name(6)));
        assert_eq!(epochs(&dir), [5, 6]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn reformatted_and_commented_queries_compare_equal_and_changed_ones_do_not() {
        let a = normalized_query("SELECT a, COUNT(*) FROM t -- note\nGROUP BY a;");
        let b = normalized_query("/* v2 */ SELECT a,\n   COUNT(*)\tFROM t GROUP BY a;\n");
        assert_eq!(a, b);
        assert_ne!(a, normalized_query("SELECT a, COUNT(*) FROM t GROUP BY b;"));
        // Inside quotes nothing changes.
        assert_ne!(
            normalized_query("SELECT 'x  -- y' FROM t"),
            normalized_query("SELECT 'x -- y' FROM t")
        );
        assert_eq!(
            normalized_query("SELECT 'it''s' FROM t"),
            "SELECT 'it''s' FROM t"
        );
        assert_eq!(normalized_query("'open"), "'open");
    }
}
