//! Routing: which shard owns a record, and the scatter of a block's rows into one batch per
//! owner. Ownership is FxHash of the key columns' 64-bit forms mapped onto `0..shards` by a
//! multiply-shift (no division); it depends only on the key, so it is deterministic across
//! runs, readers and core counts' reruns. Keys of dictionary ids look their owner up in a
//! per-reader table instead of hashing each row (`Partitioner`).

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
/// showed as the routing hot spot). Each destination's rows ascend (`Partitioner::partition`
/// keeps the input order), so the gather checks bounds once per list.
pub fn scatter<'a>(
    srcs: &[&Column],
    by_dest: impl IntoIterator<Item = &'a [u32]>,
    outs: &mut [Batch],
) {
    for (out, rows) in outs.iter_mut().zip(by_dest) {
        for (dst, src) in out.columns.iter_mut().zip(srcs) {
            dst.gather_ascending(src, rows);
        }
    }
}

/// Partitions a block's rows by owner shard, with each key's owner cached.
///
/// Keys of one or two dictionary ids (the common case: string columns) are not hashed per row:
/// an owner table indexed by the ids (`(a << bits_b) | b`) holds `shard_of(key_hash(..))` for
/// every id pair up to the largest seen, built when a block brings a larger id (rarely: ids are
/// dense, and the table is sized in powers of two) and capped at [`OWNER_TABLE_MAX`] entries,
/// past which rows are hashed. Per row that leaves two loads, a shift, one table load and the
/// append to its shard's list. Other keys are hashed per row. One per reader: nothing shared.
///
/// Up to [`FLAT_MAX_SHARDS`] shards the lists live in one buffer, a stretch of `stride` rows
/// per shard, each with its length: appending is a store and an add, with no capacity check
/// per row as a `Vec` push has. Beyond, where a stretch per shard would cost too much memory,
/// each shard's list is a `Vec`.
#[derive(Debug)]
pub struct Partitioner {
    shards: usize,
    /// `shard_of(..)` of the key `(a, b)` at `(a << bits_b) | b` (one-id keys: `bits_b == 0`).
    owners: Vec<u8>,
    bits_a: u32,
    bits_b: u32,
    /// Whether the table is of id pairs (two-id keys) or of single ids.
    pair: bool,
    /// The rows of the last block, shard `d`'s at `rows[d * stride..][..lens[d]]`, in input
    /// order (`Partitioner::by_dest`).
    rows: Vec<u32>,
    stride: usize,
    /// Indexed by a `u8` shard number: no bounds check per row.
    lens: [u32; 256],
    /// The lists past [`FLAT_MAX_SHARDS`] shards (empty up to it).
    vecs: Vec<Vec<u32>>,
}

/// The most shards whose lists share one buffer: each reader holds `shards × block rows` of
/// them (128 KiB at 8 shards and 4096-row blocks, 512 KiB at 32; 16 MiB over all 32 readers).
pub const FLAT_MAX_SHARDS: usize = 32;

/// The most entries an owner table holds (64 KiB: ids up to 256 × 256, or 65,536 for one id).
pub const OWNER_TABLE_MAX: usize = 1 << 16;

impl Partitioner {
    pub fn new(shards: usize) -> Partitioner {
        assert!(
            (1..=u8::MAX as usize + 1).contains(&shards),
            "internal: {shards} shards"
        );
        Partitioner {
            shards,
            owners: Vec::new(),
            bits_a: 0,
            bits_b: 0,
            pair: false,
            rows: Vec::new(),
            stride: 0,
            lens: [0; 256],
            vecs: if shards > FLAT_MAX_SHARDS {
                vec![Vec::new(); shards]
            } else {
                Vec::new()
            },
        }
    }

    /// The rows of the last block that shard `d` owns, ascending.
    pub fn by_dest(&self, d: usize) -> &[u32] {
        if self.shards > FLAT_MAX_SHARDS {
            &self.vecs[d]
        } else {
            &self.rows[d * self.stride..][..self.lens[d] as usize]
        }
    }

    /// Every shard's rows of the last block (`by_dest` for each shard in turn).
    pub fn lists(&self) -> impl Iterator<Item = &[u32]> {
        (0..self.shards).map(|d| self.by_dest(d))
    }

    /// Partitions `rows` (ascending: a selection of the block's rows) by the shard owning each
    /// row's key (`shard_of(key_hash(..))`), keeping order (read back with `by_dest`).
    pub fn partition(&mut self, batch: &Batch, keys: &[usize], rows: &[u32]) {
        debug_assert!(rows.windows(2).all(|w| w[0] < w[1]), "rows must ascend");
        let cols: Vec<&Column> = keys.iter().map(|&k| &batch.columns[k]).collect();
        let table = match cols.as_slice() {
            [Column::Str(a)] => self.covers(a, None),
            [Column::Str(a), Column::Str(b)] => self.covers(a, Some(b)),
            _ => false,
        };
        let owners = Owners {
            table: table.then_some(&self.owners[..]),
            bits_b: self.bits_b,
            shards: self.shards,
        };
        if self.shards > FLAT_MAX_SHARDS {
            let vecs = &mut self.vecs;
            vecs.iter_mut().for_each(Vec::clear);
            owners.assign(batch, keys, &cols, rows, move |d, r| {
                vecs[d as usize].push(r)
            });
        } else {
            self.lens[..self.shards].fill(0);
            if self.stride < rows.len() {
                // Room for every row in each shard's stretch (grows rarely: blocks are of a size).
                self.stride = rows.len();
                self.rows.resize(self.shards * self.stride, 0);
            }
            let (out, lens, stride) = (&mut self.rows[..], &mut self.lens, self.stride);
            // Appends row `r` to shard `d`'s list (`d < shards <= 32`).
            owners.assign(batch, keys, &cols, rows, move |d, r| {
                let l = lens[d as usize];
                out[d as usize * stride + l as usize] = r;
                lens[d as usize] = l + 1;
            });
        }
    }
    /// Whether the owner table covers every key of columns `a` and `b` (`None`: one-id keys),
    /// growing it to do so unless that would pass [`OWNER_TABLE_MAX`]. (Ids are checked over
    /// whole columns, a vectorised pass, not over the selected rows.)
    fn covers(&mut self, a: &[u32], b: Option<&[u32]>) -> bool {
        // The bit length of the largest id, from the OR of all (one packed OR per 4 ids).
        let bits = |c: &[u32]| u32::BITS - c.iter().fold(0, |m, &x| m | x).leading_zeros();
        let (mut bits_a, mut bits_b) = (bits(a), b.map_or(0, bits));
        let pair = b.is_some();
        if pair == self.pair && !self.owners.is_empty() {
            if bits_a <= self.bits_a && bits_b <= self.bits_b {
                return true;
            }
            (bits_a, bits_b) = (bits_a.max(self.bits_a), bits_b.max(self.bits_b));
        }
        if bits_a + bits_b > OWNER_TABLE_MAX.trailing_zeros() {
            return false;
        }
        let shards = self.shards;
        self.owners = (0..1u64 << (bits_a + bits_b))
            .map(|i| {
                let h = fx_combine(0, i >> bits_b);
                let h = if pair {
                    fx_combine(h, i & ((1 << bits_b) - 1))
                } else {
                    h
                };
                shard_of(h, shards) as u8
            })
            .collect();
        (self.bits_a, self.bits_b, self.pair) = (bits_a, bits_b, pair);
        true
    }
}

/// What `Partitioner::partition` reads to find each row's owner.
struct Owners<'a> {
    /// The owner table when it covers the block's keys.
    table: Option<&'a [u8]>,
    bits_b: u32,
    shards: usize,
}

impl Owners<'_> {
    /// Calls `put(owner, row)` for each of `rows`, in order.
    #[inline(always)]
    fn assign(
        &self,
        batch: &Batch,
        keys: &[usize],
        cols: &[&Column],
        rows: &[u32],
        mut put: impl FnMut(u8, u32),
    ) {
        // `rows` ascending and as many as the block's: every row, read straight from the columns.
        let all = rows.len() == batch.len();
        let (table, owners) = (self.table.is_some(), self.table.unwrap_or_default());
        let (bits_b, shards) = (self.bits_b, self.shards);
        match cols {
            [Column::Str(a)] if table && all => {
                for (r, &x) in (0..).zip(a.iter()) {
                    put(owners[x as usize], r);
                }
            }
            [Column::Str(a), Column::Str(b)] if table && all => {
                for (r, (&x, &y)) in (0..).zip(a.iter().zip(b)) {
                    put(owners[((x as usize) << bits_b) | y as usize], r);
                }
            }
            [Column::Str(a)] if table => {
                for &r in rows {
                    put(owners[a[r as usize] as usize], r);
                }
            }
            [Column::Str(a), Column::Str(b)] if table => {
                for &r in rows {
                    let i = ((a[r as usize] as usize) << bits_b) | b[r as usize] as usize;
                    put(owners[i], r);
                }
            }
            _ => {
                for &r in rows {
                    put(shard_of(key_hash(batch, keys, r as usize), shards) as u8, r);
                }
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
        let some: Vec<u32> = (0..500).filter(|r| r % 3 != 0).collect();
        let all: Vec<u32> = (0..500).collect();
        // Past FLAT_MAX_SHARDS the lists are `Vec`s.
        for (shards, rows) in (1..=6)
            .chain([FLAT_MAX_SHARDS, FLAT_MAX_SHARDS + 1, 256])
            .flat_map(|n| [(n, &some), (n, &all)])
        {
            for keys in [vec![0], vec![0, 1], vec![0, 2]] {
                // Lists left over from a previous block are reset.
                let mut fast = Partitioner::new(shards);
                fast.partition(&b, &keys, &[0, 1, 2]);
                fast.partition(&b, &keys, rows);
                let dest: Vec<u32> = rows
                    .iter()
                    .map(|&r| shard_of(key_hash(&b, &keys, r as usize), shards) as u32)
                    .collect();
                let mut slow = vec![Vec::new(); shards];
                partition(rows, &dest, &mut slow);
                let lists: Vec<Vec<u32>> = fast.lists().map(<[u32]>::to_vec).collect();
                assert_eq!(lists, slow, "keys {keys:?}, {shards} shards");
            }
        }
    }

    #[test]
    fn the_owner_table_grows_with_the_ids_and_hashes_past_its_cap() {
        let mut p = Partitioner::new(3);
        // Blocks with ever larger ids, then ids past the cap (hashed), then small ones again.
        for (i, top) in [4u32, 3, 40, 300, 70_000, 9].into_iter().enumerate() {
            let b = Batch {
                columns: vec![
                    Column::Str((0..400).map(|r| (r * 7 + i as u32) % (top + 1)).collect()),
                    Column::Str((0..400).map(|r| (r * 13) % (top / 2 + 1)).collect()),
                ],
            };
            let rows: Vec<u32> = (0..400).collect();
            for keys in [vec![0], vec![0, 1]] {
                p.partition(&b, &keys, &rows);
                let dest: Vec<u32> = rows
                    .iter()
                    .map(|&r| shard_of(key_hash(&b, &keys, r as usize), 3) as u32)
                    .collect();
                let mut slow = vec![Vec::new(); 3];
                partition(&rows, &dest, &mut slow);
                let lists: Vec<Vec<u32>> = p.lists().map(<[u32]>::to_vec).collect();
                assert_eq!(lists, slow, "ids up to {top}, keys {keys:?}");
            }
        }
        assert!(p.owners.len() <= OWNER_TABLE_MAX);
    }

    #[test]
    fn scatter_can_send_a_subset_of_columns() {
        let b = keyed(&[5, 6, 7]);
        let mut outs = vec![Batch::with_types([DataType::Int], 0); 2];
        let mut by_dest = vec![Vec::new(); 2];
        partition(&[0, 1, 2], &[0, 1, 0], &mut by_dest);
        scatter(
            &[&b.columns[1]],
            by_dest.iter().map(Vec::as_slice),
            &mut outs,
        );
        assert_eq!(outs[0].columns[0].as_int(), &[0, 2]);
        assert_eq!(outs[1].columns[0].as_int(), &[1]);
    }

    #[test]
    fn scatter_keeps_every_row_once_in_order() {
        let b = keyed(&[5, 6, 7, 8, 9]);
        let mut outs = vec![Batch::with_types([DataType::Str, DataType::Int], 0); 2];
        let mut by_dest = vec![Vec::new(); 2];
        partition(&[0, 1, 2, 4], &[1, 0, 1, 1], &mut by_dest);
        scatter(
            &[&b.columns[0], &b.columns[1]],
            by_dest.iter().map(Vec::as_slice),
            &mut outs,
        );
        assert_eq!(outs[0].columns[1].as_int(), &[1]);
        assert_eq!(outs[1].columns[1].as_int(), &[0, 2, 4]);
    }
}
