//! The storage interface every domain uses: typed collections of MessagePack records in one
//! embedded, transactional file.
//!
//! - [`Store::read`] gives a consistent snapshot that never waits for writers.
//! - [`Store::write`] runs a closure as one all-or-nothing transaction. Concurrent writes are
//!   batched into a single durable commit (group commit) and every caller is answered only after
//!   the commit holding its write is on disk. A closure that returns `Err` leaves nothing behind.
//! - Secondary and unique indexes are declared on the [`Collection`] and maintained by `put` and
//!   `delete` in the same transaction as the record.
//!
//! Nothing outside this folder sees the engine (redb); only `engine.rs` imports it.

pub mod disk;
mod engine;
pub mod key;
mod write;

use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

pub use engine::{At, BackupInfo, ReadTx, restore};
pub use key::Key;
pub use write::WriteTx;

/// The version of the on-disk layout this build writes. A file written by a newer version is
/// refused; older versions are migrated at open (none exist yet).
pub const SCHEMA_VERSION: u32 = 1;

/// File name of the store inside the data dir.
pub const STORE_FILE: &str = "shopd.redb";

/// A stored record: any serde type. Records are MessagePack maps with field names, so a field
/// added later with `#[serde(default)]` reads old records, and old builds skip new fields.
pub trait Record: Serialize + DeserializeOwned + Send + 'static {}
impl<T: Serialize + DeserializeOwned + Send + 'static> Record for T {}

/// A typed collection: records of type `V` under keys of type `K`.
pub struct Collection<K: ?Sized, V: 'static> {
    pub name: &'static str,
    pub indexes: &'static [Index<V>],
    /// Data derived from the records, kept in the same transaction as each change: called with
    /// the record before and after every `put` and `delete` (sales figures follow their orders
    /// whichever code path writes them).
    pub derive: Option<Derive<V>>,
    _types: PhantomData<fn(&K, V)>,
}

/// See [`Collection::derive`]: `(tx, before, after)`.
pub type Derive<V> = for<'t, 'a> fn(&'t mut WriteTx<'a>, Option<&V>, Option<&V>) -> Result<()>;

impl<K: ?Sized, V: 'static> Collection<K, V> {
    pub const fn new(name: &'static str) -> Self {
        Self::with_indexes(name, &[])
    }

    pub const fn with_indexes(name: &'static str, indexes: &'static [Index<V>]) -> Self {
        Collection { name, indexes, derive: None, _types: PhantomData }
    }

    /// The collection with [`Collection::derive`] set.
    pub const fn deriving(self, derive: Derive<V>) -> Self {
        Collection { derive: Some(derive), ..self }
    }
}

/// A secondary index of a collection. `keys` returns the encoded index keys of a record (use
/// [`key::encode`]); a unique index refuses a second record with the same index key.
pub struct Index<V> {
    /// The index's own table name, e.g. `"users.by_email"`.
    pub name: &'static str,
    pub unique: bool,
    pub keys: fn(&V) -> Vec<Vec<u8>>,
    /// Keep, in the same transaction, how many records hold each index key: the total of a
    /// filtered list ([`ReadTx::count_key`]) then costs one read, not a walk of the index.
    pub counted: bool,
}

impl<V> Index<V> {
    /// A non-unique index without counts.
    pub const fn new(name: &'static str, keys: fn(&V) -> Vec<Vec<u8>>) -> Self {
        Index { name, unique: false, keys, counted: false }
    }

    pub const fn unique(name: &'static str, keys: fn(&V) -> Vec<Vec<u8>>) -> Self {
        Index { name, unique: true, keys, counted: false }
    }

    /// A non-unique index that counts the records of each key.
    pub const fn counted(name: &'static str, keys: fn(&V) -> Vec<Vec<u8>>) -> Self {
        Index { name, unique: false, keys, counted: true }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// A unique index already holds this key for another record.
    #[error("unique index {index} already holds this key")]
    Conflict { index: &'static str },
    #[error(
        "the data dir was written by shopd schema version {found}; this build reads up to {supported}: upgrade shopd"
    )]
    TooNew { found: u32, supported: u32 },
    #[error("{0} is not a shopd store")]
    NotAStore(PathBuf),
    #[error("the store at {0} is open in another process")]
    Locked(PathBuf),
    #[error("the store is closed")]
    Closed,
    #[error("the write was aborted: {0}")]
    Aborted(Arc<str>),
    #[error("record in {collection} could not be decoded: {reason}")]
    Corrupt { collection: String, reason: Arc<str> },
    #[error("storage failure: {0}")]
    Io(Arc<str>),
    /// The disk is full: nothing of the write was kept.
    #[error("the disk is full: {0}")]
    DiskFull(Arc<str>),
}

/// Whether an I/O error means the filesystem has no space (or quota) left.
pub fn is_disk_full(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::StorageFull
        || e.kind() == std::io::ErrorKind::QuotaExceeded
        || e.raw_os_error().is_some_and(|c| c == libc::ENOSPC || c == libc::EDQUOT)
}

impl StoreError {
    pub(crate) fn io(e: impl std::fmt::Display) -> Self {
        StoreError::Io(e.to_string().into())
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

pub(crate) fn encode_record<V: Serialize>(value: &V) -> Result<Vec<u8>> {
    rmp_serde::to_vec_named(value).map_err(StoreError::io)
}

pub(crate) fn decode_record<V: DeserializeOwned>(collection: &str, bytes: &[u8]) -> Result<V> {
    rmp_serde::from_slice(bytes)
        .map_err(|e| StoreError::Corrupt { collection: collection.to_string(), reason: e.to_string().into() })
}

/// The handle to an open store. Cheap to clone; the file closes when the last clone is dropped
/// or [`Store::close`] is called.
#[derive(Clone)]
pub struct Store {
    engine: Arc<engine::Engine>,
}

/// The most records one write of [`Store::sweep`] deletes.
pub const SWEEP_BATCH: usize = 1000;

impl Store {
    /// Opens (or creates) the store in `data_dir`, repairing it after an unclean stop.
    pub fn open(data_dir: &Path) -> Result<Store> {
        Ok(Store { engine: Arc::new(engine::Engine::open(&data_dir.join(STORE_FILE))?) })
    }

    /// A consistent snapshot of the whole store. Never waits for writers.
    pub fn read(&self) -> Result<ReadTx> {
        self.engine.read()
    }

    /// Runs `f` as one transaction and answers once it is durable. `Err` from `f` discards every
    /// change it made; the error is returned as is.
    pub async fn write<R, E, F>(&self, f: F) -> Result<R, E>
    where
        F: FnOnce(&mut WriteTx<'_>) -> Result<R, E> + Send + 'static,
        R: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let (job, reply) = engine::job(f);
        self.engine.submit(job, true).await?;
        reply.await.unwrap_or_else(|_| Err(StoreError::Aborted("the writer stopped".into()).into()))
    }

    /// Builds `idx` for the records written before it existed (once: it is then marked built),
    /// in batches so the writer is never held long. New writes keep it up to date meanwhile.
    pub async fn ensure_index<K, V>(&self, c: &'static Collection<K, V>, idx: &'static Index<V>) -> Result<()>
    where
        K: key::Key + ?Sized + 'static,
        V: Record + 'static,
    {
        // Built already (every start but the first): a read, no commit.
        if self.read()?.index_built(idx)? {
            return Ok(());
        }
        let mut after: Option<Vec<u8>> = None;
        let mut batches = 0u64;
        loop {
            let from = after.clone();
            let next = self
                .write(move |w| {
                    if w.index_built(idx)? {
                        return Ok::<_, StoreError>(None);
                    }
                    w.build_index(c, idx, from, 2_000)
                })
                .await?;
            match next {
                Some(last) => {
                    after = Some(last);
                    batches += 1;
                }
                None => break,
            }
        }
        if batches > 0 {
            tracing::info!(index = idx.name, records = batches * 2_000, "built a new index for the existing records");
        }
        Ok(())
    }

    /// Deletes old records in writes of their own, [`SWEEP_BATCH`] at most each, so that a
    /// long sweep never holds the writer for long: `batch` deletes up to that many and says how
    /// many it found; fewer means done. Returns how many went.
    pub async fn sweep<F>(&self, batch: F) -> Result<usize, StoreError>
    where
        F: Fn(&mut WriteTx<'_>) -> Result<usize, StoreError> + Clone + Send + 'static,
    {
        let mut removed = 0;
        loop {
            let n = self.write(batch.clone()).await?;
            removed += n;
            if n < SWEEP_BATCH {
                return Ok(removed);
            }
        }
    }

    /// [`Store::write`] for a write that a repeat restores (an outbox job's completion: lost,
    /// the job runs again). It is answered once committed, maybe before it is on disk: it rides
    /// on the next durable commit, at most half a second later, and a crash before that loses
    /// it. All-or-nothing as ever; it saves an fsync per write when nothing else is writing.
    pub async fn write_lazy<R, E, F>(&self, f: F) -> Result<R, E>
    where
        F: FnOnce(&mut WriteTx<'_>) -> Result<R, E> + Send + 'static,
        R: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let (job, reply) = engine::job(f);
        self.engine.submit(job, false).await?;
        reply.await.unwrap_or_else(|_| Err(StoreError::Aborted("the writer stopped".into()).into()))
    }

    /// [`Store::write`] for code outside the async runtime (command-line tools).
    pub fn write_blocking<R, E, F>(&self, f: F) -> Result<R, E>
    where
        F: FnOnce(&mut WriteTx<'_>) -> Result<R, E> + Send + 'static,
        R: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let (job, reply) = engine::job(f);
        self.engine.submit_blocking(job)?;
        reply.blocking_recv().unwrap_or_else(|_| Err(StoreError::Aborted("the writer stopped".into()).into()))
    }

    /// Writes a consistent copy of the store to `out` (atomically: a partial copy is never left
    /// under that name). Runs against a read snapshot, so writers go on meanwhile.
    pub fn backup_to(&self, out: &Path) -> Result<BackupInfo> {
        self.engine.backup_to(out)
    }

    /// Notified after every durable commit that wrote to `table` (a collection's or an index's
    /// name): how a worker learns of new work without polling. A commit while nobody waits
    /// leaves one permit, so a wake-up between two waits is not lost.
    pub fn watch(&self, table: &'static str) -> Arc<tokio::sync::Notify> {
        self.engine.watch(table)
    }

    /// Whether the store answers: a snapshot can be read, the writer is running and the last
    /// commit did not fail (a full disk).
    pub fn is_healthy(&self) -> bool {
        self.engine.is_healthy() && !self.engine.is_broken()
    }

    /// After a failed commit: an empty write, which reopens the store once the disk has room.
    /// Readiness checks call it, so a store nobody writes to still comes back.
    pub async fn probe(&self) -> Result<()> {
        if !self.engine.is_broken() {
            return Ok(());
        }
        self.write(|_| Ok::<_, StoreError>(())).await
    }

    /// (durable commits, write transactions in them) since the store was opened; their ratio is
    /// the average group-commit batch.
    pub fn stats(&self) -> (u64, u64) {
        self.engine.stats()
    }

    /// Stops the writer after the writes already queued and closes the file. Later calls fail
    /// with [`StoreError::Closed`].
    pub fn close(&self) {
        self.engine.close();
    }
}
