//! Durable write transactions per second through `Store::write`, with 1 and 32 concurrent
//! writers. Every write is acknowledged only after its group commit is fsynced, exactly as the
//! server does it. Run: `cargo bench --bench store_writes` (or scripts/bench.sh).

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use shopd::store::{Collection, Store, StoreError};

#[derive(Serialize, Deserialize)]
struct Order {
    id: u64,
    user_id: u64,
    status: String,
    lines: Vec<(u64, u32, String)>,
    total: String,
    created_at: String,
}

static ORDERS: Collection<u64, Order> = Collection::new("orders");
static STOCK: Collection<u64, i64> = Collection::new("stock");

fn main() {
    let seconds: u64 = std::env::var("BENCH_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(3);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    println!("store_writes: durable write transactions (an order record + 2 stock updates each), {seconds}s per run");
    for writers in [1usize, 32] {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        rt.block_on(async {
            store
                .write(|w| {
                    for p in 0..100u64 {
                        w.put(&STOCK, &p, &1_000_000)?;
                    }
                    Ok::<_, StoreError>(())
                })
                .await
                .unwrap();
            let deadline = Instant::now() + Duration::from_secs(seconds);
            let latencies = Arc::new(parking_lot::Mutex::new(Vec::new()));
            let (c0, w0) = store.stats();
            let started = Instant::now();
            let tasks: Vec<_> = (0..writers as u64)
                .map(|t| {
                    let (store, latencies) = (store.clone(), latencies.clone());
                    tokio::spawn(async move {
                        let mut mine = Vec::new();
                        let mut i = 0u64;
                        while Instant::now() < deadline {
                            i += 1;
                            let began = Instant::now();
                            store
                                .write(move |w| {
                                    let id = w.next_id(&ORDERS)?;
                                    let lines: Vec<(u64, u32, String)> =
                                        (0..2).map(|l| ((t * 7 + i + l) % 100, 1, "19.99".to_string())).collect();
                                    for (p, q, _) in &lines {
                                        let s = w.get(&STOCK, p)?.unwrap_or(0);
                                        w.put(&STOCK, p, &(s - *q as i64))?;
                                    }
                                    let order = Order {
                                        id,
                                        user_id: t,
                                        status: "PENDING".into(),
                                        lines,
                                        total: "43.17".into(),
                                        created_at: "2026-11-26T06:00:00.000Z".into(),
                                    };
                                    w.put(&ORDERS, &id, &order)
                                })
                                .await
                                .unwrap();
                            mine.push(began.elapsed());
                        }
                        latencies.lock().extend(mine);
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
            let elapsed = started.elapsed();
            let (c1, w1) = store.stats();
            let mut l = latencies.lock().clone();
            l.sort();
            let pct = |p: f64| l[((l.len() as f64 * p) as usize).min(l.len() - 1)];
            println!(
                "  {writers:>2} writer(s): {:>7.0} writes/s  p50 {:>7.1?}  p99 {:>7.1?}  ({} commits, {:.1} writes per commit)",
                l.len() as f64 / elapsed.as_secs_f64(),
                pct(0.50),
                pct(0.99),
                c1 - c0,
                (w1 - w0) as f64 / (c1 - c0) as f64
            );
        });
        store.close();
    }
}
