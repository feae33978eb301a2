//! Write transactions: every change of one [`Store::write`](super::Store::write) closure is
//! buffered here and handed to the engine only when the closure returns `Ok`, so a failed
//! business check leaves nothing behind even though many closures share one engine commit.

use std::collections::BTreeMap;
use std::ops::Bound;

use super::key::{self, Key, prefix_end};
use super::{Collection, Index, Record, Result, StoreError, decode_record, encode_record};

/// Byte-level access to the engine's write transaction that all closures of a batch share.
pub(crate) trait RawWrite {
    fn get(&mut self, table: &'static str, key: &[u8]) -> Result<Option<Vec<u8>>>;
    /// Entries of `table` within the bounds, in key order (descending when `reverse`), at most
    /// `limit` of them.
    fn range(
        &mut self,
        table: &'static str,
        bounds: &Bounds,
        reverse: bool,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>>;
    fn put(&mut self, table: &'static str, key: &[u8], value: &[u8]) -> Result<()>;
    fn delete(&mut self, table: &'static str, key: &[u8]) -> Result<()>;
}

pub(crate) type Bounds = (Bound<Vec<u8>>, Bound<Vec<u8>>);

pub(crate) const META: &str = "_meta";

pub(crate) fn prefix_bounds(prefix: Vec<u8>) -> Bounds {
    let end = prefix_end(&prefix).map_or(Bound::Unbounded, Bound::Excluded);
    (Bound::Included(prefix), end)
}

pub(crate) fn seq_key(collection: &str) -> Vec<u8> {
    key::encode(&("seq", collection))
}

/// Where a counted index keeps the number of records under one of its keys.
pub(crate) fn count_key(index: &str, index_key: &[u8]) -> Vec<u8> {
    [key::encode(&("count", index)).as_slice(), index_key].concat()
}

/// Where the store notes that an index was built for the records written before it existed.
pub(crate) fn built_key(index: &str) -> Vec<u8> {
    key::encode(&("index_built", index))
}

fn within(bounds: &Bounds, key: &[u8]) -> bool {
    let above = match &bounds.0 {
        Bound::Included(lo) => key >= lo.as_slice(),
        Bound::Excluded(lo) => key > lo.as_slice(),
        Bound::Unbounded => true,
    };
    let below = match &bounds.1 {
        Bound::Included(hi) => key <= hi.as_slice(),
        Bound::Excluded(hi) => key < hi.as_slice(),
        Bound::Unbounded => true,
    };
    above && below
}

/// One closure's view of a write transaction: its own uncommitted changes over the state left by
/// the closures before it in the batch.
pub struct WriteTx<'a> {
    raw: &'a mut dyn RawWrite,
    /// (table, key) → new value, or `None` for a deletion.
    changes: BTreeMap<(&'static str, Vec<u8>), Option<Vec<u8>>>,
}

impl<'a> WriteTx<'a> {
    pub(crate) fn new(raw: &'a mut dyn RawWrite) -> Self {
        WriteTx { raw, changes: BTreeMap::new() }
    }

    /// Hands the buffered changes to the engine transaction; `touched` gets the name of every
    /// table written.
    pub(crate) fn apply(self, touched: &mut Vec<&'static str>) -> Result<()> {
        for ((table, key), value) in self.changes {
            if touched.last() != Some(&table) && !touched.contains(&table) {
                touched.push(table);
            }
            match value {
                Some(value) => self.raw.put(table, &key, &value)?,
                None => self.raw.delete(table, &key)?,
            }
        }
        Ok(())
    }

    fn get_raw(&mut self, table: &'static str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        match self.changes.get(&(table, key.to_vec())) {
            Some(change) => Ok(change.clone()),
            None => self.raw.get(table, key),
        }
    }

    fn set_raw(&mut self, table: &'static str, key: Vec<u8>, value: Option<Vec<u8>>) {
        self.changes.insert((table, key), value);
    }

    fn range_raw(
        &mut self,
        table: &'static str,
        bounds: &Bounds,
        reverse: bool,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let start = match &bounds.0 {
            Bound::Included(k) | Bound::Excluded(k) => k.clone(),
            Bound::Unbounded => Vec::new(),
        };
        let mut mine: Vec<(Vec<u8>, Option<Vec<u8>>)> = self
            .changes
            .range((table, start)..)
            .take_while(|((t, _), _)| *t == table)
            .filter(|((_, k), _)| within(bounds, k))
            .map(|((_, k), v)| (k.clone(), v.clone()))
            .collect();
        if reverse {
            mine.reverse();
        }
        // Each of our own changes can hide at most one engine entry, so this many always suffice.
        let base = self.raw.range(table, bounds, reverse, limit.saturating_add(mine.len()))?;

        let before = |a: &[u8], b: &[u8]| if reverse { a > b } else { a < b };
        let mut out = Vec::new();
        let (mut base, mut mine) = (base.into_iter().peekable(), mine.into_iter().peekable());
        while out.len() < limit {
            let take_mine = match (base.peek(), mine.peek()) {
                (None, None) => break,
                (Some(_), None) => false,
                (None, Some(_)) => true,
                (Some((bk, _)), Some((mk, _))) => {
                    if bk == mk {
                        base.next(); // our change replaces the engine's entry
                        true
                    } else {
                        before(mk, bk)
                    }
                }
            };
            if take_mine {
                let (k, v) = mine.next().expect("peeked");
                if let Some(v) = v {
                    out.push((k, v));
                }
            } else {
                out.push(base.next().expect("peeked"));
            }
        }
        Ok(out)
    }

    /// The record under `key`, if any.
    pub fn get<K: Key + ?Sized, V: Record>(&mut self, c: &Collection<K, V>, key: &K) -> Result<Option<V>> {
        self.get_raw(c.name, &key::encode(key))?.map(|bytes| decode_record(c.name, &bytes)).transpose()
    }

    /// Stores `value` under `key`, replacing any record there and updating every index of the
    /// collection. A unique index that already holds one of the new keys for another record fails
    /// with [`StoreError::Conflict`] before anything is written.
    pub fn put<K: Key + ?Sized, V: Record>(&mut self, c: &Collection<K, V>, key: &K, value: &V) -> Result<()> {
        let pk = key::encode(key);
        let bytes = encode_record(value)?;
        let old: Option<V> = if c.indexes.is_empty() && c.derive.is_none() {
            None
        } else {
            self.get_raw(c.name, &pk)?.map(|b| decode_record(c.name, &b)).transpose()?
        };
        if !c.indexes.is_empty() {
            // Per index: its keys for the old record and for the new one.
            type Plan<'i, V> = (&'i Index<V>, Vec<Vec<u8>>, Vec<Vec<u8>>);
            let plans: Vec<Plan<V>> = c
                .indexes
                .iter()
                .map(|idx| {
                    let old_keys = old.as_ref().map(|o| (idx.keys)(o)).unwrap_or_default();
                    let new_keys = (idx.keys)(value);
                    (idx, old_keys, new_keys)
                })
                .collect();
            // Check every unique key first so a conflict leaves no partial index update.
            for (idx, old_keys, new_keys) in &plans {
                if idx.unique {
                    for k in new_keys.iter().filter(|k| !old_keys.contains(k)) {
                        if self.get_raw(idx.name, k)?.is_some_and(|owner| owner != pk) {
                            return Err(StoreError::Conflict { index: idx.name });
                        }
                    }
                }
            }
            for (idx, old_keys, new_keys) in plans {
                for k in old_keys.iter().filter(|k| !new_keys.contains(k)) {
                    self.set_raw(idx.name, index_entry(idx, k, &pk), None);
                    self.count(idx, k, -1)?;
                }
                for k in new_keys.iter().filter(|k| !old_keys.contains(k)) {
                    self.set_raw(idx.name, index_entry(idx, k, &pk), Some(pk.clone()));
                    self.count(idx, k, 1)?;
                }
            }
        }
        if let Some(derive) = c.derive {
            derive(self, old.as_ref(), Some(value))?;
        }
        self.set_raw(c.name, pk, Some(bytes));
        Ok(())
    }

    /// Moves a counted index's count for `index_key` by `delta`.
    fn count<V>(&mut self, idx: &Index<V>, index_key: &[u8], delta: i64) -> Result<()> {
        if !idx.counted {
            return Ok(());
        }
        let key = count_key(idx.name, index_key);
        let now = self.get_raw(META, &key)?.and_then(|b| b.as_slice().try_into().ok()).map_or(0, u64::from_be_bytes);
        let next = now.saturating_add_signed(delta);
        self.set_raw(META, key, (next > 0).then(|| next.to_be_bytes().to_vec()));
        Ok(())
    }

    /// Writes the index entries (and counts) of records stored before `idx` existed, `limit`
    /// records from `after` on; returns the last key done, `None` when the collection is done
    /// (and the index marked built).
    pub fn build_index<K: Key + ?Sized, V: Record>(
        &mut self,
        c: &Collection<K, V>,
        idx: &Index<V>,
        after: Option<Vec<u8>>,
        limit: usize,
    ) -> Result<Option<Vec<u8>>> {
        let lower = after.map_or(Bound::Unbounded, Bound::Excluded);
        let records = self.range_raw(c.name, &(lower, Bound::Unbounded), false, limit)?;
        let last = records.last().map(|(k, _)| k.clone());
        for (pk, bytes) in &records {
            let record: V = decode_record(c.name, bytes)?;
            for k in (idx.keys)(&record) {
                let entry = index_entry(idx, &k, pk);
                if self.get_raw(idx.name, &entry)?.is_none() {
                    self.set_raw(idx.name, entry, Some(pk.clone()));
                    self.count(idx, &k, 1)?;
                }
            }
        }
        if records.len() < limit {
            self.set_raw(META, built_key(idx.name), Some(vec![1]));
            return Ok(None);
        }
        Ok(last)
    }

    /// Whether [`WriteTx::build_index`] finished for `idx`.
    pub fn index_built<V>(&mut self, idx: &Index<V>) -> Result<bool> {
        Ok(self.get_raw(META, &built_key(idx.name))?.is_some())
    }

    /// Removes the record under `key` and its index entries; returns it.
    pub fn delete<K: Key + ?Sized, V: Record>(&mut self, c: &Collection<K, V>, key: &K) -> Result<Option<V>> {
        let pk = key::encode(key);
        let Some(bytes) = self.get_raw(c.name, &pk)? else {
            return Ok(None);
        };
        let old: V = decode_record(c.name, &bytes)?;
        for idx in c.indexes {
            for k in (idx.keys)(&old) {
                self.set_raw(idx.name, index_entry(idx, &k, &pk), None);
                self.count(idx, &k, -1)?;
            }
        }
        if let Some(derive) = c.derive {
            derive(self, Some(&old), None)?;
        }
        self.set_raw(c.name, pk, None);
        Ok(Some(old))
    }

    /// Records whose key starts with `prefix` (a leading part of a tuple key, or `&()` for all),
    /// in key order or reversed, at most `limit`.
    pub fn scan<K: ?Sized, V: Record, P: Key + ?Sized>(
        &mut self,
        c: &Collection<K, V>,
        prefix: &P,
        reverse: bool,
        limit: usize,
    ) -> Result<Vec<V>> {
        let bounds = prefix_bounds(key::encode(prefix));
        self.range_raw(c.name, &bounds, reverse, limit)?.into_iter().map(|(_, v)| decode_record(c.name, &v)).collect()
    }

    /// The record a unique index points to for `value`.
    pub fn get_unique<K: ?Sized, V: Record, I: Key + ?Sized>(
        &mut self,
        c: &Collection<K, V>,
        idx: &Index<V>,
        value: &I,
    ) -> Result<Option<V>> {
        match self.get_raw(idx.name, &key::encode(value))? {
            Some(pk) => self.get_raw(c.name, &pk)?.map(|b| decode_record(c.name, &b)).transpose(),
            None => Ok(None),
        }
    }

    /// Records whose index key starts with `prefix`, in index order or reversed, at most `limit`.
    pub fn scan_index<K: ?Sized, V: Record, P: Key + ?Sized>(
        &mut self,
        c: &Collection<K, V>,
        idx: &Index<V>,
        prefix: &P,
        reverse: bool,
        limit: usize,
    ) -> Result<Vec<V>> {
        let bounds = prefix_bounds(key::encode(prefix));
        let pks = self.range_raw(idx.name, &bounds, reverse, limit)?;
        let mut out = Vec::with_capacity(pks.len());
        for (_, pk) in pks {
            if let Some(bytes) = self.get_raw(c.name, &pk)? {
                out.push(decode_record(c.name, &bytes)?);
            }
        }
        Ok(out)
    }

    /// The next integer id of a collection: 1, 2, 3, ... Never reused, even after deletes.
    pub fn next_id<K: ?Sized, V>(&mut self, c: &Collection<K, V>) -> Result<u64> {
        let k = seq_key(c.name);
        let current = match self.get_raw(META, &k)? {
            Some(b) => u64::from_be_bytes(b.as_slice().try_into().map_err(|_| StoreError::Corrupt {
                collection: META.into(),
                reason: "sequence is not 8 bytes".into(),
            })?),
            None => 0,
        };
        let next = current + 1;
        self.set_raw(META, k, Some(next.to_be_bytes().to_vec()));
        Ok(next)
    }
}

/// The key of an index entry: the index key alone when unique, else followed by the primary key
/// so that records sharing an index key each get their own entry.
fn index_entry<V>(idx: &Index<V>, index_key: &[u8], pk: &[u8]) -> Vec<u8> {
    if idx.unique { index_key.to_vec() } else { [index_key, pk].concat() }
}
