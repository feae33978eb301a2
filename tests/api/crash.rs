//! kill -9 at random moments during a stream of group-committed writes: after every restart each
//! acknowledged write is there and the invariants hold.
//!
//! The child is this very test binary, re-run with only `crash_child_write_loop` selected; it
//! prints `ack <id>` after each write returns, and the parent SIGKILLs it at random.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use shopd::store::{Collection, Index, Store, StoreError, key};

const ACCOUNTS: u64 = 10;
const INITIAL: i64 = 1_000;
const ROUNDS: usize = 24;

static BALANCES: Collection<u64, i64> = Collection::new("balances");

#[derive(Serialize, Deserialize)]
struct Entry {
    id: u64,
    token: String,
}

fn by_token(e: &Entry) -> Vec<Vec<u8>> {
    vec![key::encode(&e.token)]
}

static ENTRY_INDEXES: [Index<Entry>; 1] = [Index::unique("entries.by_token", by_token)];
static ENTRIES: Collection<u64, Entry> = Collection::with_indexes("entries", &ENTRY_INDEXES);

#[test]
#[ignore = "the child process of kill_9_never_loses_an_acknowledged_write"]
fn crash_child_write_loop() {
    let dir = std::env::var("SHOPD_CRASH_DIR").expect("run by the crash test");
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async move {
        let store = Store::open(Path::new(&dir)).unwrap();
        store
            .write(|w| {
                if w.get(&BALANCES, &0)?.is_none() {
                    for a in 0..ACCOUNTS {
                        w.put(&BALANCES, &a, &INITIAL)?;
                    }
                }
                Ok::<_, StoreError>(())
            })
            .await
            .unwrap();
        let writers: Vec<_> = (0..16u64)
            .map(|t| {
                let store = store.clone();
                tokio::spawn(async move {
                    for i in 0u64.. {
                        let (from, to) = ((t + i) % ACCOUNTS, (t * 7 + i * 3 + 1) % ACCOUNTS);
                        let id = store
                            .write(move |w| {
                                let a = w.get(&BALANCES, &from)?.unwrap();
                                w.put(&BALANCES, &from, &(a - 3))?;
                                let b = w.get(&BALANCES, &to)?.unwrap();
                                w.put(&BALANCES, &to, &(b + 3))?;
                                let id = w.next_id(&ENTRIES)?;
                                w.put(&ENTRIES, &id, &Entry { id, token: format!("t{id}") })?;
                                Ok::<_, StoreError>(id)
                            })
                            .await
                            .unwrap();
                        let mut out = std::io::stdout().lock();
                        writeln!(out, "ack {id}").unwrap();
                        out.flush().unwrap();
                    }
                })
            })
            .collect();
        for w in writers {
            w.await.unwrap();
        }
    });
}

fn verify(dir: &Path, acked: &BTreeSet<u64>) {
    let store = Store::open(dir).expect("the store reopens after kill -9");
    let r = store.read().unwrap();
    let total: i64 = (0..ACCOUNTS).map(|a| r.get(&BALANCES, &a).unwrap().unwrap_or(INITIAL)).sum();
    assert_eq!(total, ACCOUNTS as i64 * INITIAL, "no transfer is half applied");
    for id in acked {
        let e = r.get(&ENTRIES, id).unwrap().unwrap_or_else(|| panic!("acknowledged write {id} was lost"));
        let via_index = r.get_unique(&ENTRIES, &ENTRY_INDEXES[0], &e.token).unwrap().expect("its index entry");
        assert_eq!(via_index.id, *id);
    }
    let count = r.count(&ENTRIES).unwrap();
    assert_eq!(count, r.last_id(&ENTRIES).unwrap(), "ids and records are committed together");
    drop(r);
    store.close();
}

#[test]
fn kill_9_never_loses_an_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let mut acked = BTreeSet::new();
    for round in 0..ROUNDS {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--ignored", "--exact", "crash::crash_child_write_loop", "--nocapture", "--test-threads=1"])
            .env("SHOPD_CRASH_DIR", dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let (tx, rx) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(id) = line.strip_prefix("ack ").and_then(|n| n.parse::<u64>().ok()) {
                    let _ = tx.send(id);
                }
            }
        });
        // Let some writes through, then kill at a random moment of the stream.
        let first = rx.recv_timeout(Duration::from_secs(20)).expect("the child acknowledges writes");
        acked.insert(first);
        let pause = (uuid::Uuid::new_v4().as_u128() % 120) as u64;
        std::thread::sleep(Duration::from_millis(pause));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        reader.join().unwrap();
        acked.extend(rx.try_iter());
        verify(dir.path(), &acked);
        eprintln!("round {round}: killed after {pause} ms, {} writes acknowledged so far", acked.len());
    }
    assert!(acked.len() > ROUNDS * 10, "the rounds wrote something: {}", acked.len());
}

/// The real server under order load, killed with SIGKILL at random moments: every order
/// answered 201 is in the store after each restart, and for every product, stock plus the units
/// ordered equals the initial stock.
#[test]
fn kill_9_during_checkout_never_loses_an_acknowledged_order() {
    use std::sync::{Arc, Mutex};

    use shopd::orders::ORDERS;
    use shopd::products::PRODUCTS;

    use crate::binary::{Running, post_json};

    const INITIAL: i64 = 1_000_000;
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("RATE_LIMIT_ENABLED", "false"),
        ("ADMIN_EMAIL", "root@shop.test"),
        ("ADMIN_PASSWORD", "Root1234x"),
        ("PASSWORD_HASH_MEMORY_KIB", "1024"),
    ];
    let mut server = Running::start_with(dir.path(), &env);
    let login = post_json(
        server.addr,
        "/api/v1/auth/login",
        &serde_json::json!({"email": "root@shop.test", "password": "Root1234x"}),
        &[],
    );
    let body: serde_json::Value = serde_json::from_str(login.1.split_once("\r\n\r\n").unwrap().1).unwrap();
    let bearer = format!("Bearer {}", body["data"]["token"].as_str().unwrap());
    let mut products = Vec::new();
    for i in 0..3 {
        let p = serde_json::json!({"title": format!("Crash item {i}"), "price": 1.5, "stock": INITIAL, "brand": "C", "category": "crash"});
        let (status, text) = post_json(server.addr, "/api/v1/products", &p, &[("Authorization", bearer.clone())]);
        assert_eq!(status, 201, "{text}");
        let created: serde_json::Value = serde_json::from_str(text.split_once("\r\n\r\n").unwrap().1).unwrap();
        products.push(created["data"]["id"].as_u64().unwrap());
    }

    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    for round in 0..ROUNDS {
        let addr = server.addr;
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let buyers: Vec<_> = (0..4)
            .map(|t| {
                let (acked, stop, bearer, products) = (acked.clone(), stop.clone(), bearer.clone(), products.clone());
                std::thread::spawn(move || {
                    let mut i = 0usize;
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        i += 1;
                        let line = serde_json::json!({"id": products[(t + i) % products.len()], "quantity": 1 + (i % 3)});
                        let order = serde_json::json!({"products": [line], "shippingAddress": {"firstName": "A", "lastName": "B",
                            "address": "1 St", "city": "C", "state": "S", "zipCode": "1", "country": "NO"}});
                        let (status, text) = post_json(addr, "/api/v1/orders", &order, &[("Authorization", bearer.clone())]);
                        if status == 201 {
                            let v: serde_json::Value = serde_json::from_str(text.split_once("\r\n\r\n").unwrap().1).unwrap();
                            acked.lock().unwrap().push(v["data"]["id"].as_str().unwrap().to_string());
                        } else if status == 0 {
                            break; // the server is gone
                        }
                    }
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(60 + (uuid::Uuid::new_v4().as_u128() % 200) as u64));
        server.child.kill().unwrap(); // SIGKILL
        server.child.wait().unwrap();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for b in buyers {
            let _ = b.join();
        }

        let store = Store::open(dir.path()).expect("the store reopens after kill -9");
        let r = store.read().unwrap();
        let mut ordered = std::collections::HashMap::<u64, i64>::new();
        let mut ids = std::collections::HashSet::new();
        for o in r.scan(&ORDERS, &(), false).unwrap() {
            let o = o.unwrap();
            ids.insert(o.id.to_string());
            for item in &o.items {
                *ordered.entry(item.product_id).or_default() += item.quantity as i64;
            }
        }
        for id in acked.lock().unwrap().iter() {
            assert!(ids.contains(id), "round {round}: order {id} was answered 201 and is gone");
        }
        for p in &products {
            let stock = r.get(&PRODUCTS, p).unwrap().unwrap().stock;
            assert_eq!(stock + ordered.get(p).copied().unwrap_or(0), INITIAL, "round {round}: product {p}");
        }
        drop(r);
        store.close();
        eprintln!(
            "round {round}: {} orders acknowledged so far, {} in the store",
            acked.lock().unwrap().len(),
            ids.len()
        );
        server = Running::start_with(dir.path(), &env);
    }
    assert!(acked.lock().unwrap().len() > ROUNDS * 5, "orders were placed: {}", acked.lock().unwrap().len());
    server.signal(libc::SIGTERM);
    server.wait(Duration::from_secs(35));
}
