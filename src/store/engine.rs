//! The redb engine: the only file that imports redb.
//!
//! One writer thread owns every write transaction. It takes all the writes queued while the
//! previous commit was being made durable, runs each closure against one redb transaction, and
//! commits once with fsync (group commit); only then is every caller of the batch answered.
//! Readers use redb's MVCC snapshots and never wait for the writer.

use std::collections::HashMap;
use std::fs;
use std::marker::PhantomData;
use std::ops::Bound;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;

use parking_lot::{Mutex, RwLock};
use redb::{
    Database, DatabaseError, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition, TableError,
    TableHandle,
};
use tokio::sync::{mpsc, oneshot};

use super::key::{self, Key};
use super::write::{Bounds, META, RawWrite, WriteTx, prefix_bounds, seq_key};
use super::{Collection, Index, Record, Result, SCHEMA_VERSION, STORE_FILE, StoreError, decode_record};

type Bytes = &'static [u8];

fn table(name: &str) -> TableDefinition<'_, Bytes, Bytes> {
    TableDefinition::new(name)
}

/// At most this many closures share one commit; bounds the work a commit can lose to an I/O error.
const MAX_BATCH: usize = 512;
/// Queued writes beyond this make writers wait (backpressure instead of unbounded memory).
const QUEUE: usize = 4096;

/// What a finished closure hands back: whether to keep its changes, and how to answer its caller
/// once the fate of the commit is known.
pub(crate) struct Finished {
    keep: bool,
    reply: Box<dyn FnOnce(Result<()>) + Send>,
}

/// A queued write. Called with `None` when its batch failed before reaching it: it then only
/// answers its caller with the batch's error.
pub(crate) type Job = Box<dyn FnOnce(Option<&mut WriteTx<'_>>) -> Finished + Send>;

/// A write waiting for the writer; a lazy one may share a commit that is not fsynced.
pub(crate) struct Queued {
    pub job: Job,
    pub durable: bool,
}

/// A batch of lazy writes only is still made durable when the last durable commit is older than
/// this: what a crash can lose stays bounded, and redb can reuse freed pages.
const LAZY_AT_MOST: std::time::Duration = std::time::Duration::from_millis(500);

pub(crate) fn job<R, E, F>(f: F) -> (Job, oneshot::Receiver<Result<R, E>>)
where
    F: FnOnce(&mut WriteTx<'_>) -> Result<R, E> + Send + 'static,
    R: Send + 'static,
    E: From<StoreError> + Send + 'static,
{
    let (tx, rx) = oneshot::channel();
    let job: Job = Box::new(move |w| {
        let Some(w) = w else {
            let reply = Box::new(move |commit: Result<()>| {
                let _ = tx.send(Err(E::from(commit.err().unwrap_or(StoreError::Closed))));
            });
            return Finished { keep: false, reply };
        };
        let outcome = f(w);
        Finished {
            keep: outcome.is_ok(),
            reply: Box::new(move |commit| {
                let answer = match (outcome, commit) {
                    (Ok(r), Ok(())) => Ok(r),
                    (Ok(_), Err(e)) => Err(E::from(e)),
                    (Err(e), _) => Err(e),
                };
                let _ = tx.send(answer); // the caller may have gone away; the write stands
            }),
        }
    });
    (job, rx)
}

/// Woken after a commit that wrote one of their tables.
pub(crate) type Watchers = Arc<RwLock<Vec<(&'static str, Arc<tokio::sync::Notify>)>>>;

pub(crate) struct Engine {
    db: Arc<RwLock<Option<Arc<Database>>>>,
    /// A commit failed: redb refuses every write until the file is opened again, which the
    /// writer does before its next batch once the disk has room.
    broken: Arc<std::sync::atomic::AtomicBool>,
    watchers: Watchers,
    sender: RwLock<Option<mpsc::Sender<Queued>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    stats: Arc<Counters>,
}

/// Totals since open, for metrics and benchmarks.
#[derive(Default)]
pub(crate) struct Counters {
    pub commits: AtomicU64,
    pub writes: AtomicU64,
}

/// redb's page cache. Its default (1 GiB) lets a busy shop's process grow far past what one
/// small machine should give it; the working set of a shop (catalog, recent orders) fits here.
const CACHE_BYTES: usize = 64 * 1024 * 1024;

fn open_db(path: &Path) -> Result<Database> {
    Database::builder().set_cache_size(CACHE_BYTES).create(path).map_err(|e| match e {
        DatabaseError::DatabaseAlreadyOpen => StoreError::Locked(path.to_path_buf()),
        other => StoreError::io(format!("{}: {other}", path.display())),
    })
}

/// Checks (or, in a new file, writes) the schema version.
fn check_schema(db: &Database, path: &Path) -> Result<()> {
    let txn = db.begin_write().map_err(StoreError::io)?;
    {
        let tables: Vec<String> = txn.list_tables().map_err(StoreError::io)?.map(|t| t.name().to_string()).collect();
        let mut meta = txn.open_table(table(META)).map_err(StoreError::io)?;
        let version_key = key::encode(&("schema_version",));
        let found = meta.get(version_key.as_slice()).map_err(StoreError::io)?.map(|v| v.value().to_vec());
        match found {
            Some(v) => {
                let found =
                    u32::from_be_bytes(v.as_slice().try_into().map_err(|_| StoreError::NotAStore(path.into()))?);
                if found > SCHEMA_VERSION {
                    return Err(StoreError::TooNew { found, supported: SCHEMA_VERSION });
                }
                // Migrations from older versions go here when there are any.
            }
            None if tables.iter().all(|t| t == META) => {
                meta.insert(version_key.as_slice(), SCHEMA_VERSION.to_be_bytes().as_slice()).map_err(StoreError::io)?;
            }
            None => return Err(StoreError::NotAStore(path.into())),
        }
    }
    txn.commit().map_err(StoreError::io)
}

impl Engine {
    pub(crate) fn open(path: &Path) -> Result<Engine> {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(|e| StoreError::io(format!("{}: {e}", dir.display())))?;
        }
        let db = Arc::new(open_db(path)?);
        check_schema(&db, path)?;
        let (sender, receiver) = mpsc::channel(QUEUE);
        let slot = Arc::new(RwLock::new(Some(db)));
        let broken = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stats = Arc::new(Counters::default());
        let watchers = Watchers::default();
        let writer = Writer {
            slot: slot.clone(),
            path: path.to_path_buf(),
            broken: broken.clone(),
            last_reopen: Mutex::new(None),
            stats: stats.clone(),
            watchers: watchers.clone(),
        };
        let writer = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || writer.run(receiver))
            .map_err(StoreError::io)?;
        Ok(Engine {
            watchers,
            broken,
            db: slot,
            sender: RwLock::new(Some(sender)),
            writer: Mutex::new(Some(writer)),
            stats,
        })
    }

    fn db(&self) -> Result<Arc<Database>> {
        self.db.read().clone().ok_or(StoreError::Closed)
    }

    pub(crate) fn read(&self) -> Result<ReadTx> {
        let txn = self.db()?.begin_read().map_err(StoreError::io)?;
        Ok(ReadTx { txn })
    }

    fn sender(&self) -> Result<mpsc::Sender<Queued>> {
        self.sender.read().clone().ok_or(StoreError::Closed)
    }

    pub(crate) async fn submit(&self, job: Job, durable: bool) -> Result<()> {
        self.sender()?.send(Queued { job, durable }).await.map_err(|_| StoreError::Closed)
    }

    pub(crate) fn submit_blocking(&self, job: Job) -> Result<()> {
        self.sender()?.blocking_send(Queued { job, durable: true }).map_err(|_| StoreError::Closed)
    }

    /// Whether the last commit failed (the disk was full): writes wait for the store to reopen.
    pub(crate) fn is_broken(&self) -> bool {
        self.broken.load(Ordering::Relaxed)
    }

    pub(crate) fn is_healthy(&self) -> bool {
        let writer_alive = self.writer.lock().as_ref().is_some_and(|w| !w.is_finished());
        writer_alive && self.sender.read().is_some() && self.read().and_then(|r| r.meta_ok()).is_ok()
    }

    pub(crate) fn watch(&self, table: &'static str) -> Arc<tokio::sync::Notify> {
        let notify = Arc::new(tokio::sync::Notify::new());
        self.watchers.write().push((table, notify.clone()));
        notify
    }

    pub(crate) fn stats(&self) -> (u64, u64) {
        (self.stats.commits.load(Ordering::Relaxed), self.stats.writes.load(Ordering::Relaxed))
    }

    pub(crate) fn close(&self) {
        // Dropping the sender lets the writer finish the queued writes and stop.
        self.sender.write().take();
        if let Some(writer) = self.writer.lock().take() {
            let _ = writer.join();
        }
        self.db.write().take();
    }

    pub(crate) fn backup_to(&self, out: &Path) -> Result<BackupInfo> {
        let snapshot = self.read()?;
        copy_snapshot(&snapshot.txn, out).map_err(|e| StoreError::io(format!("backup to {}: {e}", out.display())))
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.close();
    }
}

/// What the writer thread owns: the database slot it shares with readers (so it can reopen the
/// file after a failed commit), and what it reports to.
struct Writer {
    slot: Arc<RwLock<Option<Arc<Database>>>>,
    path: std::path::PathBuf,
    broken: Arc<std::sync::atomic::AtomicBool>,
    last_reopen: Mutex<Option<std::time::Instant>>,
    stats: Arc<Counters>,
    watchers: Watchers,
}

/// Free space below which a broken store does not try to reopen yet: reopening may repair the
/// file, which writes too. At least this, or a hundredth of the file, whichever is more.
const REOPEN_FREE_BYTES: u64 = 16 * 1024 * 1024;
/// Reopen attempts are this far apart at least (`/ready` asks on every call, and anyone may
/// call it).
const REOPEN_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

impl Writer {
    /// After a failed commit redb answers every write with "previous I/O error" until the file
    /// is opened again. Readers keep the old handle meanwhile (reads still work on a full disk);
    /// once the disk has room the slot is emptied for a moment, the file reopened and put back.
    /// Should that fail (a read still holds the file, or the repair runs out of room), the
    /// slot is filled again by the next attempt, which is tried until one succeeds.
    fn recover(&self) -> Result<Arc<Database>> {
        {
            let mut last = self.last_reopen.lock();
            if last.is_some_and(|t| t.elapsed() < REOPEN_EVERY) {
                return Err(StoreError::DiskFull("the store waits for room to reopen".into()));
            }
            *last = Some(std::time::Instant::now());
        }
        let size = std::fs::metadata(&self.path).map(|m| m.len()).unwrap_or(0);
        let free = self.path.parent().and_then(super::disk::free_bytes);
        if free.is_some_and(|f| f < REOPEN_FREE_BYTES.max(size / 100)) {
            return Err(StoreError::DiskFull("no room yet to reopen the store".into()));
        }
        let old = self.slot.write().take();
        drop(old);
        // Read transactions still open hold the file a moment longer.
        let mut last = None;
        for _ in 0..500 {
            match open_db(&self.path) {
                Ok(db) => {
                    let db = Arc::new(db);
                    *self.slot.write() = Some(db.clone());
                    self.broken.store(false, Ordering::Relaxed);
                    tracing::info!(path = %self.path.display(), "the store was reopened; writes work again");
                    return Ok(db);
                }
                Err(e @ StoreError::Locked(_)) => last = Some(e),
                Err(e) => {
                    last = Some(e);
                    break;
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let e = last.unwrap_or(StoreError::Closed);
        tracing::error!(error = %e, "the store could not be reopened yet; reads and writes wait for the next attempt");
        Err(e)
    }

    fn db(&self) -> Result<Arc<Database>> {
        if self.broken.load(Ordering::Relaxed) {
            return self.recover();
        }
        self.slot.read().clone().ok_or(StoreError::Closed)
    }

    fn run(self, mut receiver: mpsc::Receiver<Queued>) {
        let mut jobs = Vec::with_capacity(MAX_BATCH);
        let mut touched = Vec::new();
        let mut last_durable = std::time::Instant::now();
        let mut unsynced = false;
        while let Some(first) = receiver.blocking_recv() {
            jobs.push(first);
            while jobs.len() < MAX_BATCH {
                match receiver.try_recv() {
                    Ok(job) => jobs.push(job),
                    Err(_) => break,
                }
            }
            let mut replies = Vec::with_capacity(jobs.len());
            touched.clear();
            let durable = jobs.iter().any(|q| q.durable) || last_durable.elapsed() >= LAZY_AT_MOST;
            let outcome = self.db().and_then(|db| run_batch(&db, &mut jobs, durable, &mut replies, &mut touched));
            if outcome.is_ok() {
                if durable {
                    last_durable = std::time::Instant::now();
                }
                unsynced = !durable;
                self.stats.commits.fetch_add(1, Ordering::Relaxed);
                self.stats.writes.fetch_add(replies.len() as u64, Ordering::Relaxed);
                for (table, notify) in self.watchers.read().iter() {
                    if touched.contains(table) {
                        notify.notify_one();
                    }
                }
            }
            if let Err(e) = &outcome {
                if matches!(e, StoreError::DiskFull(_) | StoreError::Io(_))
                    && !self.broken.swap(true, Ordering::Relaxed)
                    && unsynced
                {
                    // The reopened file goes back to the last durable commit: outbox jobs whose
                    // end was recorded lazily since then run again (each repeat is harmless).
                    tracing::warn!("writes made since the last durable commit are lost with the failed one");
                }
                tracing::error!(error = %e, writes = replies.len(), "store commit failed; the batch was rolled back");
            }
            for reply in replies {
                reply(outcome.clone());
            }
            // Jobs a failed batch did not reach are answered with the batch's error.
            if let Err(e) = &outcome {
                for Queued { job, .. } in jobs.drain(..) {
                    (job(None).reply)(Err(e.clone()));
                }
            }
            jobs.clear();
        }
        // Closing: lazy writes are made durable too.
        let db = self.slot.read().clone();
        if unsynced
            && let Some(db) = db
            && let Err(e) = db.begin_write().map_err(StoreError::io).and_then(|t| t.commit().map_err(StoreError::io))
        {
            tracing::error!(error = %e, "the last lazy writes could not be made durable");
        }
    }
}

fn run_batch(
    db: &Database,
    jobs: &mut Vec<Queued>,
    durable: bool,
    replies: &mut Vec<Box<dyn FnOnce(Result<()>) + Send>>,
    touched: &mut Vec<&'static str>,
) -> Result<()> {
    let mut txn = db.begin_write().map_err(failed)?;
    if !durable {
        txn.set_durability(redb::Durability::None).map_err(failed)?;
    }
    {
        let mut batch = Batch { txn: &txn, tables: HashMap::new() };
        let mut queued = std::mem::take(jobs).into_iter();
        while let Some(Queued { job, .. }) = queued.next() {
            let mut w = WriteTx::new(&mut batch);
            match catch_unwind(AssertUnwindSafe(|| job(Some(&mut w)))) {
                Ok(finished) => {
                    let applied = if finished.keep { w.apply(touched) } else { Ok(()) };
                    replies.push(finished.reply);
                    if let Err(e) = applied {
                        // The batch fails: this caller and those not reached get its error.
                        jobs.extend(queued);
                        return Err(e);
                    }
                }
                // The closure panicked: its changes are dropped with `w` and its caller sees
                // `Aborted` when the reply channel closes. The other writes go on.
                Err(_) => tracing::error!("a write transaction panicked; its changes were discarded"),
            }
        }
    }
    txn.commit().map_err(failed)
}

/// The shared redb write transaction of one batch, with its tables kept open across closures.
struct Batch<'t> {
    txn: &'t redb::WriteTransaction,
    tables: HashMap<&'static str, redb::Table<'t, Bytes, Bytes>>,
}

impl<'t> Batch<'t> {
    fn table(&mut self, name: &'static str) -> Result<&mut redb::Table<'t, Bytes, Bytes>> {
        if !self.tables.contains_key(name) {
            let t = self.txn.open_table(table(name)).map_err(failed)?;
            self.tables.insert(name, t);
        }
        Ok(self.tables.get_mut(name).expect("inserted above"))
    }
}

/// A redb failure; the disk filling up is `DiskFull`, which the client sees as 507.
fn failed(e: impl Into<redb::Error>) -> StoreError {
    match e.into() {
        redb::Error::Io(io) if super::is_disk_full(&io) => StoreError::DiskFull(io.to_string().into()),
        other => StoreError::io(other),
    }
}

fn as_ref_bounds(b: &Bounds) -> (Bound<&[u8]>, Bound<&[u8]>) {
    (b.0.as_ref().map(Vec::as_slice), b.1.as_ref().map(Vec::as_slice))
}

impl RawWrite for Batch<'_> {
    fn get(&mut self, name: &'static str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.table(name)?.get(key).map_err(failed)?.map(|v| v.value().to_vec()))
    }

    fn range(
        &mut self,
        name: &'static str,
        bounds: &Bounds,
        reverse: bool,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let t = self.table(name)?;
        let range = t.range::<&[u8]>(as_ref_bounds(bounds)).map_err(failed)?;
        let entries: Box<dyn Iterator<Item = _>> = if reverse { Box::new(range.rev()) } else { Box::new(range) };
        entries.take(limit).map(|e| e.map(|(k, v)| (k.value().to_vec(), v.value().to_vec())).map_err(failed)).collect()
    }

    fn put(&mut self, name: &'static str, key: &[u8], value: &[u8]) -> Result<()> {
        self.table(name)?.insert(key, value).map_err(failed)?;
        Ok(())
    }

    fn delete(&mut self, name: &'static str, key: &[u8]) -> Result<()> {
        self.table(name)?.remove(key).map_err(failed)?;
        Ok(())
    }
}

/// A consistent snapshot of the store.
pub struct ReadTx {
    txn: redb::ReadTransaction,
}

impl ReadTx {
    fn open(&self, name: &str) -> Result<Option<redb::ReadOnlyTable<Bytes, Bytes>>> {
        match self.txn.open_table(table(name)) {
            Ok(t) => Ok(Some(t)),
            Err(TableError::TableDoesNotExist(_)) => Ok(None),
            Err(e) => Err(StoreError::io(e)),
        }
    }

    fn get_raw(&self, name: &str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let Some(t) = self.open(name)? else { return Ok(None) };
        Ok(t.get(key).map_err(StoreError::io)?.map(|v| v.value().to_vec()))
    }

    fn meta_ok(&self) -> Result<()> {
        self.get_raw(META, &key::encode(&("schema_version",)))?.map(|_| ()).ok_or(StoreError::Closed)
    }

    fn range_raw(&self, name: &str, bounds: &Bounds, reverse: bool) -> Result<RawScan> {
        let Some(t) = self.open(name)? else { return Ok(RawScan { range: None, reverse }) };
        let range = t.range::<&[u8]>(as_ref_bounds(bounds)).map_err(StoreError::io)?;
        Ok(RawScan { range: Some(range), reverse })
    }

    /// The record under `key`, if any.
    pub fn get<K: Key + ?Sized, V: Record>(&self, c: &Collection<K, V>, key: &K) -> Result<Option<V>> {
        self.get_raw(c.name, &key::encode(key))?.map(|b| decode_record(c.name, &b)).transpose()
    }

    /// Records whose key starts with `prefix` (`&()` for all), lazily, in key order or reversed.
    pub fn scan<K: ?Sized, V: Record, P: Key + ?Sized>(
        &self,
        c: &Collection<K, V>,
        prefix: &P,
        reverse: bool,
    ) -> Result<Scan<V>> {
        let raw = self.range_raw(c.name, &prefix_bounds(key::encode(prefix)), reverse)?;
        Ok(Scan { raw, collection: c.name, _v: PhantomData })
    }

    /// Records with keys from `start` (inclusive) on, lazily; reversed, from `start` down.
    pub fn scan_from<K: Key + ?Sized, V: Record>(
        &self,
        c: &Collection<K, V>,
        start: &K,
        reverse: bool,
    ) -> Result<Scan<V>> {
        let start = Bound::Included(key::encode(start));
        let bounds = if reverse { (Bound::Unbounded, start) } else { (start, Bound::Unbounded) };
        let raw = self.range_raw(c.name, &bounds, reverse)?;
        Ok(Scan { raw, collection: c.name, _v: PhantomData })
    }

    /// The number of records in a collection.
    pub fn count<K: ?Sized, V>(&self, c: &Collection<K, V>) -> Result<u64> {
        match self.open(c.name)? {
            Some(t) => t.len().map_err(StoreError::io),
            None => Ok(0),
        }
    }

    /// The record a unique index points to for `value`.
    pub fn get_unique<K: ?Sized, V: Record, I: Key + ?Sized>(
        &self,
        c: &Collection<K, V>,
        idx: &Index<V>,
        value: &I,
    ) -> Result<Option<V>> {
        match self.get_raw(idx.name, &key::encode(value))? {
            Some(pk) => self.get_raw(c.name, &pk)?.map(|b| decode_record(c.name, &b)).transpose(),
            None => Ok(None),
        }
    }

    /// Records whose index key starts with `prefix`, lazily, in index order or reversed.
    pub fn scan_index<K: ?Sized, V: Record, P: Key + ?Sized>(
        &self,
        c: &Collection<K, V>,
        idx: &Index<V>,
        prefix: &P,
        reverse: bool,
    ) -> Result<IndexScan<V>> {
        let entries = self.range_raw(idx.name, &prefix_bounds(key::encode(prefix)), reverse)?;
        Ok(IndexScan { entries, records: self.open(c.name)?, collection: c.name, _v: PhantomData })
    }

    /// How many index entries start with `prefix` (the records are not read).
    pub fn count_index<V, P: Key + ?Sized>(&self, idx: &Index<V>, prefix: &P) -> Result<u64> {
        self.count_entries(idx.name, &prefix_bounds(key::encode(prefix)))
    }

    /// How many records have keys from `lo` (inclusive) to `hi` (exclusive); `None` is open.
    /// Only keys are walked: the total of a date range of v7-keyed records costs the range.
    pub fn count_between<K: Key + ?Sized, V>(
        &self,
        c: &Collection<K, V>,
        lo: Option<&K>,
        hi: Option<&K>,
    ) -> Result<u64> {
        let bounds = (
            lo.map_or(Bound::Unbounded, |k| Bound::Included(key::encode(k))),
            hi.map_or(Bound::Unbounded, |k| Bound::Excluded(key::encode(k))),
        );
        self.count_entries(c.name, &bounds)
    }

    /// How many entries of a non-unique index under `prefix` point to primary keys from `lo`
    /// (inclusive) to `hi` (exclusive).
    pub fn count_index_between<K: Key + ?Sized, V, P: Key + ?Sized>(
        &self,
        idx: &Index<V>,
        prefix: &P,
        lo: Option<&K>,
        hi: Option<&K>,
    ) -> Result<u64> {
        let start = key::encode(prefix);
        let (plo, phi) = prefix_bounds(start.clone());
        let with = |k: &K| [start.as_slice(), key::encode(k).as_slice()].concat();
        let bounds = (lo.map_or(plo, |k| Bound::Included(with(k))), hi.map_or(phi, |k| Bound::Excluded(with(k))));
        self.count_entries(idx.name, &bounds)
    }

    fn count_entries(&self, table: &str, bounds: &Bounds) -> Result<u64> {
        let mut raw = self.range_raw(table, bounds, false)?;
        let Some(range) = raw.range.as_mut() else { return Ok(0) };
        let mut n = 0;
        for entry in range {
            entry.map_err(StoreError::io)?;
            n += 1;
        }
        Ok(n)
    }

    /// Whether the index was built for the records written before it ([`Store::ensure_index`]).
    pub fn index_built<V>(&self, idx: &Index<V>) -> Result<bool> {
        Ok(self.get_raw(META, &super::write::built_key(idx.name))?.is_some())
    }

    /// How many records hold `key` in a counted index (one read).
    pub fn count_key<V, P: Key + ?Sized>(&self, idx: &Index<V>, key: &P) -> Result<u64> {
        debug_assert!(idx.counted, "{} keeps no counts", idx.name);
        Ok(self
            .get_raw(META, &super::write::count_key(idx.name, &key::encode(key)))?
            .and_then(|b| b.as_slice().try_into().ok().map(u64::from_be_bytes))
            .unwrap_or(0))
    }

    /// One page of a collection in key order (or reversed), from after `from` (a key the
    /// previous page ended on) or after skipping `skip` entries: the skipped entries are not
    /// decoded, so a page costs its records and a walk over the keys before it.
    pub fn page<K: Key + ?Sized, V: Record>(
        &self,
        c: &Collection<K, V>,
        reverse: bool,
        at: At<'_, K>,
    ) -> Result<Vec<V>> {
        let At { from, skip, limit } = at;
        let bounds = match (from.map(key::encode), reverse) {
            (None, _) => (Bound::Unbounded, Bound::Unbounded),
            (Some(k), false) => (Bound::Excluded(k), Bound::Unbounded),
            (Some(k), true) => (Bound::Unbounded, Bound::Excluded(k)),
        };
        let raw = self.range_raw(c.name, &bounds, reverse)?;
        raw.skip(skip).take(limit).map(|e| e.and_then(|(_, v)| decode_record(c.name, &v))).collect()
    }

    /// One page of the records whose index key starts with `prefix`, in index order (or
    /// reversed), after `skip` entries or from after the index entry of `from` (its primary key
    /// under the same prefix); only the page's records are read.
    pub fn page_index<K: Key + ?Sized, V: Record, P: Key + ?Sized>(
        &self,
        c: &Collection<K, V>,
        idx: &Index<V>,
        prefix: &P,
        reverse: bool,
        at: At<'_, K>,
    ) -> Result<Vec<V>> {
        let At { from, skip, limit } = at;
        let start = key::encode(prefix);
        let (lo, hi) = prefix_bounds(start.clone());
        let bounds = match (from.map(|k| [start.as_slice(), key::encode(k).as_slice()].concat()), reverse) {
            (None, _) => (lo, hi),
            (Some(entry), false) => (Bound::Excluded(entry), hi),
            (Some(entry), true) => (lo, Bound::Excluded(entry)),
        };
        let entries = self.range_raw(idx.name, &bounds, reverse)?;
        let Some(records) = self.open(c.name)? else { return Ok(Vec::new()) };
        let mut out = Vec::new();
        for entry in entries.skip(skip).take(limit) {
            let (_, pk) = entry?;
            if let Some(v) = records.get(pk.as_slice()).map_err(StoreError::io)? {
                out.push(decode_record(c.name, v.value())?);
            }
        }
        Ok(out)
    }

    /// The last id [`WriteTx::next_id`] handed out for a collection (0 if none).
    pub fn last_id<K: ?Sized, V>(&self, c: &Collection<K, V>) -> Result<u64> {
        Ok(self
            .get_raw(META, &seq_key(c.name))?
            .and_then(|b| b.as_slice().try_into().ok().map(u64::from_be_bytes))
            .unwrap_or(0))
    }
}

struct RawScan {
    range: Option<redb::Range<'static, Bytes, Bytes>>,
    reverse: bool,
}

impl Iterator for RawScan {
    type Item = Result<(Vec<u8>, Vec<u8>)>;
    fn next(&mut self) -> Option<Self::Item> {
        let range = self.range.as_mut()?;
        let entry = if self.reverse { range.next_back() } else { range.next() }?;
        Some(entry.map(|(k, v)| (k.value().to_vec(), v.value().to_vec())).map_err(StoreError::io))
    }
}

/// Where a page starts: after the record keyed `from` (a cursor), or after `skip` entries; and
/// how many records it holds.
#[derive(Debug)]
pub struct At<'k, K: ?Sized> {
    pub from: Option<&'k K>,
    pub skip: usize,
    pub limit: usize,
}

impl<K: ?Sized> Clone for At<'_, K> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<K: ?Sized> Copy for At<'_, K> {}

/// A lazy scan over a collection's records.
pub struct Scan<V> {
    raw: RawScan,
    collection: &'static str,
    _v: PhantomData<fn() -> V>,
}

impl<V: Record> Iterator for Scan<V> {
    type Item = Result<V>;
    fn next(&mut self) -> Option<Result<V>> {
        Some(self.raw.next()?.and_then(|(_, v)| decode_record(self.collection, &v)))
    }
}

/// A lazy scan over an index, yielding the records it points to.
pub struct IndexScan<V> {
    entries: RawScan,
    records: Option<redb::ReadOnlyTable<Bytes, Bytes>>,
    collection: &'static str,
    _v: PhantomData<fn() -> V>,
}

impl<V: Record> Iterator for IndexScan<V> {
    type Item = Result<V>;
    fn next(&mut self) -> Option<Result<V>> {
        loop {
            let pk = match self.entries.next()? {
                Ok((_, pk)) => pk,
                Err(e) => return Some(Err(e)),
            };
            let records = self.records.as_ref()?;
            match records.get(pk.as_slice()) {
                Ok(Some(v)) => return Some(decode_record(self.collection, v.value())),
                Ok(None) => continue, // cannot happen: entries are written with their record
                Err(e) => return Some(Err(StoreError::io(e))),
            }
        }
    }
}

/// What a backup wrote.
#[derive(Debug, Clone)]
pub struct BackupInfo {
    pub bytes: u64,
    pub records: u64,
}

fn copy_snapshot(
    from: &redb::ReadTransaction,
    out: &Path,
) -> Result<BackupInfo, Box<dyn std::error::Error + Send + Sync>> {
    let partial = out.with_extension("partial");
    let _ = fs::remove_file(&partial);
    let mut records = 0;
    {
        let copy = Database::builder().create(&partial)?;
        let txn = copy.begin_write()?;
        for handle in from.list_tables()? {
            let name = handle.name().to_string();
            let source = from.open_table(table(&name))?;
            let mut target = txn.open_table(table(&name))?;
            for entry in source.iter()? {
                let (k, v) = entry?;
                target.insert(k.value(), v.value())?;
                records += 1;
            }
        }
        txn.commit()?;
    }
    fs::rename(&partial, out)?;
    sync_dir(out)?;
    Ok(BackupInfo { bytes: fs::metadata(out)?.len(), records })
}

fn sync_dir(file: &Path) -> std::io::Result<()> {
    match file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => fs::File::open(dir)?.sync_all(),
        _ => fs::File::open(".")?.sync_all(),
    }
}

/// Restores a backup file into `data_dir`, which must be empty or not exist yet. The backup is
/// checked (a shopd store this build can read) on a copy; the source file is never modified.
pub fn restore(backup: &Path, data_dir: &Path) -> Result<()> {
    let io = |e: std::io::Error| StoreError::io(e);
    if data_dir.exists() && fs::read_dir(data_dir).map_err(io)?.next().is_some() {
        return Err(StoreError::io(format!(
            "{} is not empty: restore only into an empty data dir",
            data_dir.display()
        )));
    }
    if !backup.is_file() {
        return Err(StoreError::io(format!("{}: no such file", backup.display())));
    }
    fs::create_dir_all(data_dir).map_err(io)?;
    let target = data_dir.join(STORE_FILE);
    let partial = target.with_extension("partial");
    fs::copy(backup, &partial).map_err(io)?;
    fs::File::open(&partial).and_then(|f| f.sync_all()).map_err(io)?;
    let checked = Database::builder()
        .create(&partial)
        .map_err(|_| StoreError::NotAStore(backup.to_path_buf()))
        .and_then(|db| check_existing(&db, backup));
    if let Err(e) = checked {
        let _ = fs::remove_file(&partial);
        return Err(e);
    }
    fs::rename(&partial, &target).map_err(io)?;
    sync_dir(&target).map_err(io)
}

/// Like [`check_schema`] but never initialises: the file must already be a shopd store.
fn check_existing(db: &Database, path: &Path) -> Result<()> {
    let txn = db.begin_read().map_err(StoreError::io)?;
    let snapshot = ReadTx { txn };
    let raw = snapshot
        .get_raw(META, &key::encode(&("schema_version",)))
        .map_err(|_| StoreError::NotAStore(path.into()))?
        .ok_or_else(|| StoreError::NotAStore(path.into()))?;
    let found = u32::from_be_bytes(raw.as_slice().try_into().map_err(|_| StoreError::NotAStore(path.into()))?);
    if found > SCHEMA_VERSION {
        return Err(StoreError::TooNew { found, supported: SCHEMA_VERSION });
    }
    Ok(())
}
