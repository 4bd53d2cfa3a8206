//! Restoring a checkpoint's state sections into the shards' operator states, at start-up,
//! before the cores run. Each section is decoded exactly once, by a decoder thread with its
//! own `Interner` (each string interned from a slice of the section's buffer, with no
//! private map to fill: a key is in one section); each decoded table is split by the owner
//! of each row's key (the router's hash at this run's shard count, which may differ from the
//! checkpoint's: keys are re-hashed, since dictionary ids are the process's own), and each
//! owner's rows go to the thread that applies them to that owner's state.
//!
//! Threading: scoped threads, all joined before `restore` returns: decoders (at most one
//! per section and per host CPU) and one applier per owner, linked by bounded channels. A
//! decoder sends a section's tables in the order written, so each owner receives a group
//! before its COUNT(DISTINCT) sets.

use super::router::{key_hash, shard_of};
use super::state::State;
use crate::checkpoint::state::{StateReader, StateTable, corrupt, decode};
use crate::data::{Batch, Dict, Interner};
use crate::error::Result;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

/// A decoded table's rows for one owner: its tag and rows.
type Rows = (u8, Batch);

/// Decoded tables in flight per owner (each at most a wire message's rows).
const IN_FLIGHT: usize = 4;

/// Adds the rows of `sections` (a checkpoint's, taken at any shard count) to `states`, one
/// per owner: each row goes to the owner of its key among `states.len()`. With
/// `decoders` threads decoding (at least one).
pub fn restore(
    sections: &[Vec<u8>],
    states: &mut [State],
    dict: &Arc<Dict>,
    decoders: usize,
) -> Result<()> {
    if sections.is_empty() || states.is_empty() {
        return Ok(());
    }
    // The layouts, by tag, from any state: every owner's operator is built from one plan.
    let tables: Vec<Option<StateTable>> = (0..=u8::MAX).map(|t| states[0].state_table(t)).collect();
    let decoders = decoders.clamp(1, sections.len());
    let (senders, receivers): (Vec<SyncSender<Rows>>, Vec<Receiver<Rows>>) =
        (0..states.len()).map(|_| sync_channel(IN_FLIGHT)).unzip();
    std::thread::scope(|scope| {
        let appliers: Vec<_> = states
            .iter_mut()
            .zip(receivers)
            .enumerate()
            .map(|(owner, (state, rx))| {
                scope.spawn(move || -> Result<()> {
                    for (tag, rows) in rx {
                        state.restore(tag, &rows, owner)?;
                    }
                    Ok(())
                })
            })
            .collect();
        let decoding: Vec<_> = (0..decoders)
            .map(|d| {
                let (senders, tables) = (senders.clone(), &tables);
                let mine = sections.iter().skip(d).step_by(decoders);
                let mut interner = Interner::without_memo(dict.clone());
                scope.spawn(move || -> Result<()> {
                    for section in mine {
                        if !decode_section(section, tables, &mut interner, &senders)? {
                            break;
                        }
                    }
                    Ok(())
                })
            })
            .collect();
        drop(senders);
        // A failed applier's error comes first: its decoders stopped because of it.
        let mut first = Ok(());
        for h in appliers.into_iter().chain(decoding) {
            let r = h.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
            if first.is_ok() {
                first = r;
            }
        }
        first
    })
}

/// Decodes one section and sends each table's rows to their owners; false if an owner has
/// stopped (its applier failed).
fn decode_section(
    section: &[u8],
    tables: &[Option<StateTable>],
    interner: &mut Interner,
    owners: &[SyncSender<Rows>],
) -> Result<bool> {
    let mut reader = StateReader::new(section);
    let mut by_owner: Vec<Vec<u32>> = vec![Vec::new(); owners.len()];
    while let Some((tag, msg)) = reader.next_message()? {
        let Some(table) = &tables[tag as usize] else {
            return Err(corrupt(&format!("a state table tagged {tag}")));
        };
        let batch = decode(msg, &table.types, interner)?;
        if owners.len() == 1 {
            if owners[0].send((tag, batch)).is_err() {
                return Ok(false);
            }
            continue;
        }
        by_owner.iter_mut().for_each(Vec::clear);
        for row in 0..batch.len() {
            let owner = shard_of(key_hash(&batch, &table.keys, row), owners.len());
            by_owner[owner].push(row as u32);
        }
        for (to, rows) in owners.iter().zip(&by_owner) {
            if rows.is_empty() {
                continue;
            }
            let mut part = Batch::with_types(table.types.iter().copied(), rows.len());
            part.gather_from(&batch, rows);
            if to.send((tag, part)).is_err() {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::state::StateWriter;
    use crate::data::Schema;
    use crate::data::batch::Column;
    use crate::runtime::router::fx_combine;
    use crate::sink::{ShardOutput, Sink};

    const SQL: &str = "SELECT trader_id, COUNT(*) AS n, SUM(quantity) AS q, \
                       COUNT(DISTINCT symbol) AS d FROM market_data GROUP BY trader_id";

    fn plan() -> crate::sql::Plan {
        crate::sql::compile_query(SQL, "t.sql", &Schema::market_data()).unwrap()
    }

    fn records(dict: &Arc<Dict>, n: usize) -> Batch {
        let mut b = Batch::new(&Schema::market_data(), n);
        for i in 0..n {
            let row: [Column; 8] = [
                Column::Int(vec![i as i64]),
                Column::Str(vec![dict.intern(&format!("trader-{}", i % 37))]),
                Column::Str(vec![dict.intern(&format!("s{}", i % 5 + i % 3))]),
                Column::Float(vec![1.0]),
                Column::Int(vec![i as i64]),
                Column::Float(vec![i as f64]),
                Column::Int(vec![i as i64]),
                Column::Int(vec![i as i64]),
            ];
            for (c, v) in row.iter().enumerate() {
                b.columns[c].push_from(v, 0);
            }
        }
        b
    }

    /// Each owner's final rows as text (trader first), and whether each row's key is its own.
    fn finish(states: &mut [State], plan: &crate::sql::Plan, dict: &Arc<Dict>) -> Vec<String> {
        let (mut rows, shards) = (Vec::new(), states.len());
        for (owner, state) in states.iter_mut().enumerate() {
            let sink = Sink::open("null", &plan.output, dict.clone(), Default::default()).unwrap();
            let mut out = ShardOutput::new(sink);
            state.finish(owner, &mut out);
            let cols = &out.batch.columns;
            for r in 0..out.batch.len() {
                let key = cols[0].key_at(r);
                assert_eq!(shard_of(fx_combine(0, key), shards), owner);
                let text: Vec<String> = cols
                    .iter()
                    .map(|c| match c {
                        Column::Str(v) => dict.get(v[r]).to_string(),
                        Column::Int(v) => v[r].to_string(),
                        Column::Float(v) => v[r].to_string(),
                        Column::Bool(v) => v[r].to_string(),
                    })
                    .collect();
                rows.push(text.join(","));
            }
        }
        rows.sort();
        rows
    }

    fn states(plan: &crate::sql::Plan, dict: &Arc<Dict>, n: usize) -> Vec<State> {
        (0..n)
            .map(|_| State::Owned(crate::ops::build(plan, dict)))
            .collect()
    }

    #[test]
    fn sections_of_2_shards_restore_the_same_groups_at_1_2_and_3_shards() {
        let plan = plan();
        let dict = Dict::new();
        let batch = records(&dict, 500);
        // Uninterrupted: one shard sees every record.
        let mut whole = states(&plan, &dict, 1);
        if let State::Owned(op) = &mut whole[0] {
            let sink = Sink::open("null", &plan.output, dict.clone(), Default::default()).unwrap();
            op.process(&batch, 0..batch.len(), 0, &mut ShardOutput::new(sink));
        }
        let want = finish(&mut whole, &plan, &dict);
        assert_eq!(want.len(), 37);
        // Checkpointed at 2 shards: each owns the rows its keys hash to.
        let mut two = states(&plan, &dict, 2);
        let sink = Sink::open("null", &plan.output, dict.clone(), Default::default()).unwrap();
        let mut out = ShardOutput::new(sink);
        for r in 0..batch.len() {
            let owner = shard_of(key_hash(&batch, &[1], r), 2);
            two[owner].process(&batch, r..r + 1, owner, &mut out);
        }
        let sections: Vec<Vec<u8>> = two
            .iter()
            .enumerate()
            .map(|(owner, s)| {
                let mut w = StateWriter::new(&dict);
                s.snapshot(owner, &mut w);
                w.bytes
            })
            .collect();
        assert!(sections.iter().all(|s| !s.is_empty()));
        for shards in [1, 2, 3] {
            for decoders in [1, 2] {
                // Another process: another dictionary, whose ids differ.
                let other = Dict::new();
                for i in 0..11 {
                    other.intern(&format!("unrelated-{i}"));
                }
                let mut restored = states(&plan, &other, shards);
                restore(&sections, &mut restored, &other, decoders).unwrap();
                assert_eq!(
                    finish(&mut restored, &plan, &other),
                    want,
                    "{shards} shards, {decoders} decoders"
                );
            }
        }
    }

    #[test]
    fn a_foreign_table_is_refused_at_any_shard_count() {
        let plan = plan();
        let dict = Dict::new();
        let mut section = vec![200u8];
        section.extend_from_slice(&0u32.to_le_bytes());
        for shards in [1, 3] {
            let mut s = states(&plan, &dict, shards);
            let e = restore(&[section.clone()], &mut s, &dict, 1).unwrap_err();
            assert!(e.to_string().contains("tagged 200"), "{e}");
        }
    }
}
