//! The storage interface's contract. Everything here goes through `shopd::store` only (except
//! the one test that forges a newer schema in the file), so a future engine must pass it as is.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use shopd::store::{At, Collection, Index, STORE_FILE, Store, StoreError, key};
use tempfile::TempDir;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct User {
    id: u64,
    email: String,
    city: String,
}

fn by_email(u: &User) -> Vec<Vec<u8>> {
    vec![key::encode(&u.email.to_lowercase())]
}

fn by_city(u: &User) -> Vec<Vec<u8>> {
    vec![key::encode(&u.city)]
}

static USER_INDEXES: [Index<User>; 2] =
    [Index::unique("users.by_email", by_email), Index::new("users.by_city", by_city)];
static USERS: Collection<u64, User> = Collection::with_indexes("users", &USER_INDEXES);

/// A composite key: (user id, line id).
static LINES: Collection<(u64, u64), String> = Collection::new("lines");
static COUNTERS: Collection<str, i64> = Collection::new("counters");

fn user(id: u64, email: &str, city: &str) -> User {
    User { id, email: email.into(), city: city.into() }
}

fn open() -> (TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    (dir, store)
}

async fn put_user(store: &Store, u: User) -> Result<(), StoreError> {
    store.write(move |w| w.put(&USERS, &u.id, &u)).await
}

#[tokio::test]
async fn put_get_delete_round_trip() {
    let (_dir, store) = open();
    put_user(&store, user(1, "a@x.io", "Oslo")).await.unwrap();
    let r = store.read().unwrap();
    assert_eq!(r.get(&USERS, &1).unwrap(), Some(user(1, "a@x.io", "Oslo")));
    assert_eq!(r.get(&USERS, &2).unwrap(), None);
    assert_eq!(r.count(&USERS).unwrap(), 1);

    let removed = store.write(|w| w.delete(&USERS, &1u64)).await.unwrap();
    assert_eq!(removed, Some(user(1, "a@x.io", "Oslo")));
    let r = store.read().unwrap();
    assert_eq!(r.get(&USERS, &1).unwrap(), None);
    assert_eq!(r.get_unique(&USERS, &USER_INDEXES[0], "a@x.io").unwrap(), None, "the index entry goes with the record");
    assert_eq!(store.write(|w| w.delete(&USERS, &1u64)).await.unwrap(), None);
}

#[tokio::test]
async fn prefix_scans_follow_key_order_both_ways() {
    let (_dir, store) = open();
    store
        .write(|w| {
            for (user, line) in [(2u64, 10u64), (1, 3), (1, 1), (2, 1), (1, 2), (300, 1)] {
                w.put(&LINES, &(user, line), &format!("{user}/{line}"))?;
            }
            Ok::<_, StoreError>(())
        })
        .await
        .unwrap();
    let r = store.read().unwrap();
    let of_user = |u: u64, rev| r.scan(&LINES, &(u,), rev).unwrap().collect::<Result<Vec<_>, _>>().unwrap();
    assert_eq!(of_user(1, false), ["1/1", "1/2", "1/3"]);
    assert_eq!(of_user(1, true), ["1/3", "1/2", "1/1"]);
    assert_eq!(of_user(2, false), ["2/1", "2/10"]);
    assert!(of_user(3, false).is_empty());
    let all: Vec<String> = r.scan(&LINES, &(), false).unwrap().map(Result::unwrap).collect();
    assert_eq!(all, ["1/1", "1/2", "1/3", "2/1", "2/10", "300/1"]);
    let from: Vec<String> = r.scan_from(&LINES, &(2, 0), false).unwrap().map(Result::unwrap).collect();
    assert_eq!(from, ["2/1", "2/10", "300/1"]);
    let down: Vec<String> = r.scan_from(&LINES, &(2, 1), true).unwrap().map(Result::unwrap).collect();
    assert_eq!(down, ["2/1", "1/3", "1/2", "1/1"]);
    // Scanning a collection that was never written is empty, not an error.
    assert_eq!(r.scan(&COUNTERS, &(), false).unwrap().count(), 0);

    // Inside a write, scans see the closure's own changes merged with the stored ones.
    let seen = store
        .write(|w| {
            w.put(&LINES, &(1, 0), &"1/0".to_string())?;
            w.delete(&LINES, &(1, 2))?;
            let forward = w.scan(&LINES, &(1u64,), false, 10)?;
            let backward = w.scan(&LINES, &(1u64,), true, 2)?;
            Ok::<_, StoreError>((forward, backward))
        })
        .await
        .unwrap();
    assert_eq!(seen.0, ["1/0", "1/1", "1/3"]);
    assert_eq!(seen.1, ["1/3", "1/1"]);
}

#[tokio::test]
async fn unique_index_refuses_a_second_owner_and_writes_nothing() {
    let (_dir, store) = open();
    put_user(&store, user(1, "a@x.io", "Oslo")).await.unwrap();
    let err = put_user(&store, user(2, "A@x.io", "Rome")).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict { index: "users.by_email" }), "{err:?}");
    let r = store.read().unwrap();
    assert_eq!(r.get(&USERS, &2).unwrap(), None);
    assert_eq!(r.scan_index(&USERS, &USER_INDEXES[1], "Rome", false).unwrap().count(), 0, "no stray index entry");

    // The owner may rewrite itself; changing the email frees the old one.
    put_user(&store, user(1, "a@x.io", "Bergen")).await.unwrap();
    put_user(&store, user(1, "new@x.io", "Bergen")).await.unwrap();
    put_user(&store, user(2, "a@x.io", "Rome")).await.unwrap();
    let r = store.read().unwrap();
    assert_eq!(r.get_unique(&USERS, &USER_INDEXES[0], "a@x.io").unwrap().map(|u| u.id), Some(2));
    assert_eq!(r.get_unique(&USERS, &USER_INDEXES[0], "new@x.io").unwrap().map(|u| u.id), Some(1));
}

#[tokio::test]
async fn secondary_index_follows_updates_and_deletes() {
    let (_dir, store) = open();
    for (id, city) in [(1, "Oslo"), (2, "Rome"), (3, "Oslo"), (4, "Oslo")] {
        put_user(&store, user(id, &format!("u{id}@x.io"), city)).await.unwrap();
    }
    let ids = |city: &str, rev| {
        let r = store.read().unwrap();
        r.scan_index(&USERS, &USER_INDEXES[1], city, rev).unwrap().map(|u| u.unwrap().id).collect::<Vec<_>>()
    };
    assert_eq!(ids("Oslo", false), [1, 3, 4]);
    assert_eq!(ids("Oslo", true), [4, 3, 1]);
    put_user(&store, user(3, "u3@x.io", "Rome")).await.unwrap();
    store.write(|w| w.delete(&USERS, &4u64)).await.unwrap();
    assert_eq!(ids("Oslo", false), [1]);
    assert_eq!(ids("Rome", false), [2, 3]);
    let in_write = store.write(|w| w.scan_index(&USERS, &USER_INDEXES[1], "Rome", false, 1)).await.unwrap();
    assert_eq!(in_write.iter().map(|u| u.id).collect::<Vec<_>>(), [2]);
}

#[tokio::test]
async fn sequences_count_up_never_reuse_and_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let a = store.write(|w| w.next_id(&USERS)).await.unwrap();
    let (b, c) = store.write(|w| Ok::<_, StoreError>((w.next_id(&USERS)?, w.next_id(&USERS)?))).await.unwrap();
    assert_eq!((a, b, c), (1, 2, 3));
    // A failed transaction does not consume its id.
    let failed: Result<u64, StoreError> = store
        .write(|w| {
            w.next_id(&USERS)?;
            Err(StoreError::Closed)
        })
        .await;
    assert!(failed.is_err());
    assert_eq!(store.read().unwrap().last_id(&USERS).unwrap(), 3);
    assert_eq!(store.write(|w| w.next_id(&COUNTERS)).await.unwrap(), 1, "each collection has its own sequence");
    store.close();
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.write(|w| w.next_id(&USERS)).await.unwrap(), 4);
}

#[derive(Debug)]
struct Refused;
impl From<StoreError> for Refused {
    fn from(_: StoreError) -> Self {
        Refused
    }
}

#[tokio::test]
async fn a_failed_transaction_leaves_nothing_behind() {
    let (_dir, store) = open();
    put_user(&store, user(1, "a@x.io", "Oslo")).await.unwrap();
    let out: Result<(), Refused> = store
        .write(|w| {
            w.put(&USERS, &2, &user(2, "b@x.io", "Rome"))?;
            w.delete(&USERS, &1)?;
            w.put(&COUNTERS, "stock", &5)?;
            Err(Refused) // a business check fails after the writes
        })
        .await;
    assert!(out.is_err());
    let r = store.read().unwrap();
    assert_eq!(r.get(&USERS, &1).unwrap(), Some(user(1, "a@x.io", "Oslo")));
    assert_eq!(r.get(&USERS, &2).unwrap(), None);
    assert_eq!(r.get(&COUNTERS, "stock").unwrap(), None);
    assert_eq!(r.get_unique(&USERS, &USER_INDEXES[0], "b@x.io").unwrap(), None);
}

#[tokio::test]
async fn a_panicking_transaction_is_aborted_and_the_store_goes_on() {
    let (_dir, store) = open();
    let out: Result<(), StoreError> = store
        .write(|w| {
            w.put(&COUNTERS, "x", &1)?;
            panic!("a bug in a handler");
        })
        .await;
    assert!(matches!(out, Err(StoreError::Aborted(_))), "{out:?}");
    store.write(|w| w.put(&COUNTERS, "y", &2)).await.unwrap();
    let r = store.read().unwrap();
    assert_eq!(r.get(&COUNTERS, "x").unwrap(), None);
    assert_eq!(r.get(&COUNTERS, "y").unwrap(), Some(2));
    assert!(store.is_healthy());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_are_batched_and_lose_no_update() {
    let (_dir, store) = open();
    store.write(|w| w.put(&COUNTERS, "n", &0)).await.unwrap();
    let (commits_before, writes_before) = store.stats();
    let tasks: Vec<_> = (0..64)
        .map(|t| {
            let store = store.clone();
            tokio::spawn(async move {
                for i in 0..20u64 {
                    store
                        .write(move |w| {
                            // Read-modify-write: a lost update would show in the final count.
                            let n = w.get(&COUNTERS, "n")?.unwrap_or(0);
                            w.put(&COUNTERS, "n", &(n + 1))?;
                            w.put(&LINES, &(t, i), &format!("{t}/{i}"))
                        })
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let r = store.read().unwrap();
    assert_eq!(r.get(&COUNTERS, "n").unwrap(), Some(64 * 20));
    assert_eq!(r.count(&LINES).unwrap(), 64 * 20);
    let (commits, writes) = store.stats();
    assert_eq!(writes - writes_before, 64 * 20);
    assert!(commits - commits_before < writes - writes_before, "concurrent writes share commits ({commits} commits)");
}

#[tokio::test]
async fn readers_see_a_stable_snapshot_while_writers_go_on() {
    let (_dir, store) = open();
    store.write(|w| w.put(&COUNTERS, "v", &1)).await.unwrap();
    let snapshot = store.read().unwrap();
    store.write(|w| w.put(&COUNTERS, "v", &2)).await.unwrap();
    assert_eq!(snapshot.get(&COUNTERS, "v").unwrap(), Some(1), "an open snapshot does not move");
    assert_eq!(store.read().unwrap().get(&COUNTERS, "v").unwrap(), Some(2), "a write is visible once acknowledged");
}

#[tokio::test]
async fn old_records_read_with_new_fields_and_back() {
    #[derive(Serialize, Deserialize)]
    struct V1 {
        id: u64,
        name: String,
    }
    #[derive(Serialize, Deserialize)]
    struct V2 {
        id: u64,
        name: String,
        #[serde(default)]
        stock: u32,
    }
    static OLD: Collection<u64, V1> = Collection::new("things");
    static NEW: Collection<u64, V2> = Collection::new("things");
    let (_dir, store) = open();
    store.write(|w| w.put(&OLD, &1, &V1 { id: 1, name: "old".into() })).await.unwrap();
    let read = store.read().unwrap().get(&NEW, &1).unwrap().unwrap();
    assert_eq!((read.id, read.name.as_str(), read.stock), (1, "old", 0));
    store.write(|w| w.put(&NEW, &2, &V2 { id: 2, name: "new".into(), stock: 7 })).await.unwrap();
    assert_eq!(store.read().unwrap().get(&OLD, &2).unwrap().unwrap().name, "new");
}

#[tokio::test]
async fn a_second_open_of_the_same_store_is_refused() {
    let (dir, _store) = open();
    assert!(matches!(Store::open(dir.path()), Err(StoreError::Locked(_))));
}

#[tokio::test]
async fn a_closed_store_answers_closed() {
    let (_dir, store) = open();
    store.close();
    assert!(!store.is_healthy());
    assert!(matches!(store.write(|w| w.put(&COUNTERS, "x", &1)).await, Err(StoreError::Closed)));
    assert!(matches!(store.read(), Err(StoreError::Closed)));
}

#[test]
fn a_store_from_a_newer_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    Store::open(dir.path()).unwrap().close();
    {
        // The one engine-specific step: forge a newer schema version in the file.
        let db = redb::Database::create(dir.path().join(STORE_FILE)).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut meta = txn.open_table(redb::TableDefinition::<&[u8], &[u8]>::new("_meta")).unwrap();
            meta.insert(key::encode(&("schema_version",)).as_slice(), 99u32.to_be_bytes().as_slice()).unwrap();
        }
        txn.commit().unwrap();
    }
    let err = Store::open(dir.path()).err().expect("refused");
    assert!(matches!(err, StoreError::TooNew { found: 99, .. }), "{err:?}");
    assert!(err.to_string().contains("upgrade shopd"), "{err}");
}

#[test]
fn a_file_that_is_not_a_store_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(STORE_FILE), b"this is not a database, just text").unwrap();
    assert!(Store::open(dir.path()).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_during_writes_restores_to_a_consistent_store() {
    static ACCOUNTS: Collection<u64, i64> = Collection::new("accounts");
    static LOG: Collection<u64, u64> = Collection::new("log");
    let (_dir, store) = open();
    store
        .write(|w| {
            for a in 0..10u64 {
                w.put(&ACCOUNTS, &a, &1000)?;
            }
            Ok::<_, StoreError>(())
        })
        .await
        .unwrap();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> = (0..8u64)
        .map(|t| {
            let (store, stop) = (store.clone(), stop.clone());
            tokio::spawn(async move {
                let mut i = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    i += 1;
                    let (from, to) = ((t + i) % 10, (t + 3 * i + 1) % 10);
                    store
                        .write(move |w| {
                            let a = w.get(&ACCOUNTS, &from)?.unwrap();
                            w.put(&ACCOUNTS, &from, &(a - 7))?;
                            let b = w.get(&ACCOUNTS, &to)?.unwrap();
                            w.put(&ACCOUNTS, &to, &(b + 7))?;
                            let id = w.next_id(&LOG)?;
                            w.put(&LOG, &id, &id)
                        })
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("during.redb");
    let backup_store = store.clone();
    let backup_file = file.clone();
    let info = tokio::task::spawn_blocking(move || backup_store.backup_to(&backup_file)).await.unwrap().unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for w in writers {
        w.await.unwrap();
    }
    assert!(info.records > 10 && info.bytes > 0);

    let restored_dir = out.path().join("restored");
    shopd::store::restore(&file, &restored_dir).unwrap();
    let restored = Store::open(&restored_dir).unwrap();
    let r = restored.read().unwrap();
    let total: i64 = r.scan(&ACCOUNTS, &(), false).unwrap().map(Result::unwrap).sum();
    assert_eq!(total, 10_000, "no transfer is half in the backup");
    let ids: Vec<u64> = r.scan(&LOG, &(), false).unwrap().map(Result::unwrap).collect();
    assert!(!ids.is_empty(), "writes happened before the backup");
    assert_eq!(ids, (1..=ids.len() as u64).collect::<Vec<_>>(), "the backup is a prefix of the history, no gaps");
    assert_eq!(r.last_id(&LOG).unwrap(), ids.len() as u64);

    // Once writes stop, a backup restores to an identical store.
    let quiet = out.path().join("quiet.redb");
    store.backup_to(&quiet).unwrap();
    let same_dir = out.path().join("same");
    shopd::store::restore(&quiet, &same_dir).unwrap();
    let same = Store::open(&same_dir).unwrap();
    let dump = |s: &Store| {
        let r = s.read().unwrap();
        let accounts: BTreeMap<u64, i64> = (0..10).map(|a| (a, r.get(&ACCOUNTS, &a).unwrap().unwrap())).collect();
        let log: Vec<u64> = r.scan(&LOG, &(), false).unwrap().map(Result::unwrap).collect();
        (accounts, log, r.last_id(&LOG).unwrap())
    };
    assert_eq!(dump(&store), dump(&same));
}

#[test]
fn restore_refuses_a_non_empty_dir_and_a_non_store_file() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("src");
    let store = Store::open(&source).unwrap();
    let file = dir.path().join("b.redb");
    store.backup_to(&file).unwrap();
    store.close();
    let before = std::fs::read(&file).unwrap();

    let busy = dir.path().join("busy");
    std::fs::create_dir_all(&busy).unwrap();
    std::fs::write(busy.join("something"), b"x").unwrap();
    let err = shopd::store::restore(&file, &busy).unwrap_err();
    assert!(err.to_string().contains("not empty"), "{err}");
    assert!(!busy.join(STORE_FILE).exists());

    let junk = dir.path().join("junk.redb");
    std::fs::write(&junk, b"not a store").unwrap();
    let target = dir.path().join("t");
    assert!(shopd::store::restore(&junk, &target).is_err());
    assert!(!target.join(STORE_FILE).exists(), "nothing is left behind");

    shopd::store::restore(&file, &dir.path().join("ok")).unwrap();
    assert_eq!(std::fs::read(&file).unwrap(), before, "the backup file is never modified");
}

/// A lazy write is read at once, keeps its all-or-nothing rule, rides on the next durable
/// commit, and is on disk after a clean close even when nothing durable followed it.
#[tokio::test]
async fn lazy_writes_are_visible_at_once_and_kept_by_a_clean_close() {
    let dir = TempDir::new().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.write_lazy(|w| w.put(&COUNTERS, "lazy", &1)).await.unwrap();
    assert_eq!(store.read().unwrap().get(&COUNTERS, "lazy").unwrap(), Some(1));
    let refused: Result<(), StoreError> = store
        .write_lazy(|w| {
            w.put(&COUNTERS, "half", &2)?;
            Err(StoreError::Aborted("no".into()))
        })
        .await;
    assert!(refused.is_err());
    assert_eq!(store.read().unwrap().get(&COUNTERS, "half").unwrap(), None, "nothing of a refused lazy write");
    store.write(|w| w.put(&COUNTERS, "durable", &3)).await.unwrap();
    store.write_lazy(|w| w.put(&COUNTERS, "last", &4)).await.unwrap();
    let s = store.clone();
    tokio::task::spawn_blocking(move || s.close()).await.unwrap();
    drop(store);
    let again = Store::open(dir.path()).unwrap();
    let r = again.read().unwrap();
    for (k, v) in [("lazy", 1), ("durable", 3), ("last", 4)] {
        assert_eq!(r.get(&COUNTERS, k).unwrap(), Some(v), "{k}");
    }
}

/// A counted index keeps the number of records per key through updates and deletes, and one
/// added after the records were written is built for them once.
#[tokio::test]
async fn counted_indexes_count_and_a_late_index_is_built_for_old_records() {
    fn by_city_counted(u: &User) -> Vec<Vec<u8>> {
        vec![key::encode(&(u.city.as_str(),))]
    }
    static PLAIN: Collection<u64, User> = Collection::new("people");
    static CITY_INDEX: [Index<User>; 1] = [Index::counted("people.by_city", by_city_counted)];
    static PEOPLE: Collection<u64, User> = Collection::with_indexes("people", &CITY_INDEX);
    let (_dir, store) = open();
    // Written before the index existed.
    store
        .write(|w| {
            for id in 1..=2_500u64 {
                let city = if id % 5 == 0 { "Oslo" } else { "Bergen" };
                w.put(&PLAIN, &id, &user(id, &format!("p{id}@x.test"), city))?;
            }
            Ok::<_, StoreError>(())
        })
        .await
        .unwrap();
    store.ensure_index(&PEOPLE, &CITY_INDEX[0]).await.unwrap();
    let r = store.read().unwrap();
    assert_eq!(r.count_key(&CITY_INDEX[0], &("Oslo",)).unwrap(), 500);
    assert_eq!(r.count_key(&CITY_INDEX[0], &("Bergen",)).unwrap(), 2_000);
    // Newest first, a page at a time, by cursor: every Oslo person once.
    let mut seen = Vec::new();
    let mut from: Option<u64> = None;
    loop {
        let page = r
            .page_index(&PEOPLE, &CITY_INDEX[0], &("Oslo",), true, At { from: from.as_ref(), skip: 0, limit: 100 })
            .unwrap();
        if page.is_empty() {
            break;
        }
        from = page.last().map(|u| u.id);
        seen.extend(page.into_iter().map(|u| u.id));
    }
    assert_eq!(seen.len(), 500);
    assert!(seen.windows(2).all(|w| w[0] > w[1]) && seen[0] == 2_500, "newest first");
    let skipped =
        r.page_index(&PEOPLE, &CITY_INDEX[0], &("Oslo",), true, At { from: None, skip: 10, limit: 2 }).unwrap();
    assert_eq!(skipped.iter().map(|u| u.id).collect::<Vec<_>>(), vec![2_450, 2_445]);
    drop(r);

    // Moving a record between keys and deleting one move the counts; building again is a no-op.
    store
        .write(|w| {
            w.put(&PEOPLE, &5, &user(5, "p5@x.test", "Bergen"))?;
            w.delete(&PEOPLE, &10)?;
            w.put(&PEOPLE, &9_999, &user(9_999, "new@x.test", "Oslo"))
        })
        .await
        .unwrap();
    store.ensure_index(&PEOPLE, &CITY_INDEX[0]).await.unwrap();
    let r = store.read().unwrap();
    assert_eq!(r.count_key(&CITY_INDEX[0], &("Oslo",)).unwrap(), 500 - 2 + 1);
    assert_eq!(r.count_key(&CITY_INDEX[0], &("Bergen",)).unwrap(), 2_001);
    assert_eq!(r.count_key(&CITY_INDEX[0], &("Paris",)).unwrap(), 0);
    let page = r.page(&PEOPLE, true, At { from: None, skip: 0, limit: 3 }).unwrap();
    assert_eq!(page.iter().map(|u| u.id).collect::<Vec<_>>(), vec![9_999, 2_500, 2_499]);
    let next = r.page(&PEOPLE, true, At { from: Some(&2_499), skip: 0, limit: 2 }).unwrap();
    assert_eq!(next.iter().map(|u| u.id).collect::<Vec<_>>(), vec![2_498, 2_497]);
}
