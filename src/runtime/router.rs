//! Routing: which shard owns a record, and the scatter of a block's rows into one batch per
//! owner. Ownership is FxHash of the key columns' 64-bit forms mapped onto `0..shards` by a
//! multiply-shift (no division); it depends only on the key, so it is deterministic across
//! runs, readers and core counts' reruns.

use crate::data::Batch;
use crate::data::batch::Column;

const FX_SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

/// FxHash's combining step.
#[inline]
pub fn fx_combine(h: u64, v: u64) -> u64 {
    (h.rotate_left(5) ^ v).wrapping_mul(FX_SEED)
}

/// FxHash over the key columns of `row`.
#[inline]
pub fn key_hash(batch: &Batch, keys: &[usize], row: usize) -> u64 {
    keys.iter()
        .fold(0, |h, &k| fx_combine(h, batch.columns[k].key_at(row)))
}

/// Maps a hash onto `0..n` using its high bits.
#[inline]
pub fn shard_of(hash: u64, n: usize) -> usize {
    ((hash as u128 * n as u128) >> 64) as usize
}

/// Appends, for each destination `d`, the rows `by_dest[d]` of `src`'s columns `cols` to
/// `outs[d]` (whose column `i` receives `src` column `cols[i]`). Rows are first partitioned by
/// destination, then each column is gathered per destination: sequential writes of a known
/// length, instead of one push to a random destination per row and column (which the profile
/// showed as the routing hot spot).
pub fn scatter(srcs: &[&Column], by_dest: &[Vec<u32>], outs: &mut [Batch]) {
    for (out, rows) in outs.iter_mut().zip(by_dest) {
        for (dst, src) in out.columns.iter_mut().zip(srcs) {
            dst.gather_from(src, rows);
        }
    }
}

/// Partitions `rows` by the shard owning each row's key (`shard_of(key_hash(..))`), keeping
/// order, into `by_dest` (one list per shard). Keys that are one or two dictionary ids — the
/// common case — hash in a typed loop without per-row dispatch on the column type.
pub fn partition_by_key(
    batch: &Batch,
    keys: &[usize],
    rows: &[u32],
    shards: usize,
    by_dest: &mut Vec<Vec<u32>>,
) {
    by_dest.resize_with(shards, Vec::new);
    by_dest.iter_mut().for_each(Vec::clear);
    let cols: Vec<&Column> = keys.iter().map(|&k| &batch.columns[k]).collect();
    match cols.as_slice() {
        [Column::Str(a)] => {
            for &r in rows {
                let h = fx_combine(0, a[r as usize] as u64);
                by_dest[shard_of(h, shards)].push(r);
            }
        }
        [Column::Str(a), Column::Str(b)] => {
            for &r in rows {
                let h = fx_combine(fx_combine(0, a[r as usize] as u64), b[r as usize] as u64);
                by_dest[shard_of(h, shards)].push(r);
            }
        }
        _ => {
            for &r in rows {
                by_dest[shard_of(key_hash(batch, keys, r as usize), shards)].push(r);
            }
        }
    }
}

/// Partitions `rows` by destination (`dest[k]` for `rows[k]`) into `by_dest`, keeping order.
pub fn partition(rows: &[u32], dest: &[u32], by_dest: &mut [Vec<u32>]) {
    by_dest.iter_mut().for_each(Vec::clear);
    for (&r, &d) in rows.iter().zip(dest) {
        by_dest[d as usize].push(r);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::DataType;

    fn keyed(keys: &[u32]) -> Batch {
        Batch {
            columns: vec![
                Column::Str(keys.to_vec()),
                Column::Int((0..keys.len() as i64).collect()),
            ],
        }
    }

    #[test]
    fn routing_is_deterministic_and_in_range() {
        let b = keyed(&[1, 2, 3, 1, 2, 3, 99]);
        for n in 1..9 {
            let owners: Vec<usize> = (0..7).map(|r| shard_of(key_hash(&b, &[0], r), n)).collect();
            assert!(owners.iter().all(|&o| o < n));
            assert_eq!(owners[0], owners[3]);
            assert_eq!(owners[1], owners[4]);
            let again: Vec<usize> = (0..7).map(|r| shard_of(key_hash(&b, &[0], r), n)).collect();
            assert_eq!(owners, again);
        }
    }

    #[test]
    fn hash_spreads_200_keys_over_8_shards() {
        let b = keyed(&(0..200).collect::<Vec<_>>());
        let mut load = [0; 8];
        for r in 0..200 {
            load[shard_of(key_hash(&b, &[0], r), 8)] += 1;
        }
        assert!(load.iter().all(|&l| l > 0), "{load:?}");
    }

    #[test]
    fn the_typed_partition_agrees_with_key_hash() {
        let b = Batch {
            columns: vec![
                Column::Str((0..500).map(|i| i % 37).collect()),
                Column::Str((0..500).map(|i| i % 11).collect()),
                Column::Int((0..500).collect()),
            ],
        };
        let rows: Vec<u32> = (0..500).filter(|r| r % 3 != 0).collect();
        for shards in 1..=6 {
            for keys in [vec![0], vec![0, 1], vec![0, 2]] {
                // Lists left over from a previous block (and too many of them) are reset.
                let mut fast = vec![vec![7]; 9];
                partition_by_key(&b, &keys, &rows, shards, &mut fast);
                let dest: Vec<u32> = rows
                    .iter()
                    .map(|&r| shard_of(key_hash(&b, &keys, r as usize), shards) as u32)
                    .collect();
                let mut slow = vec![Vec::new(); shards];
                partition(&rows, &dest, &mut slow);
                assert_eq!(fast, slow, "keys {keys:?}, {shards} shards");
            }
        }
    }

    #[test]
    fn scatter_can_send_a_subset_of_columns() {
        let b = keyed(&[5, 6, 7]);
        let mut outs = vec![Batch::with_types([DataType::Int], 0); 2];
        let mut by_dest = vec![Vec::new(); 2];
        partition(&[0, 1, 2], &[0, 1, 0], &mut by_dest);
        scatter(&[&b.columns[1]], &by_dest, &mut outs);
        assert_eq!(outs[0].columns[0].as_int(), &[0, 2]);
        assert_eq!(outs[1].columns[0].as_int(), &[1]);
    }

    #[test]
    fn scatter_keeps_every_row_once_in_order() {
        let b = keyed(&[5, 6, 7, 8, 9]);
        let mut outs = vec![Batch::with_types([DataType::Str, DataType::Int], 0); 2];
        let mut by_dest = vec![Vec::new(); 2];
        partition(&[0, 1, 2, 4], &[1, 0, 1, 1], &mut by_dest);
        scatter(&[&b.columns[0], &b.columns[1]], &by_dest, &mut outs);
        assert_eq!(outs[0].columns[1].as_int(), &[1]);
        assert_eq!(outs[1].columns[1].as_int(), &[0, 2, 4]);
    }
}
