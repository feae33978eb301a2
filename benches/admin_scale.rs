//! The owner's pages at scale: ORDERS sample orders (default 1,000,000, placed over two years by
//! `shopd::seed::orders`, through the same indexes and sales-figure hooks as the app's own
//! writes), then p50/p99 latency of admin order pages and of the sales overview, each request
//! through the whole app with every middleware. `BENCH_DIR=path` keeps the store for the next
//! run. Run: `cargo bench --bench admin_scale` (or scripts/bench_admin.sh).

use std::time::{Duration, Instant};

use chrono::Utc;
use poem::http::Method;
use poem::{Endpoint, Request};
use shopd::config::Settings;
use shopd::orders::ORDERS;
use shopd::startup::App;

const RUNS: usize = 300;

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn main() {
    let n: u64 = std::env::var("ORDERS").ok().and_then(|s| s.parse().ok()).unwrap_or(1_000_000);
    let kept = std::env::var("BENCH_DIR").ok().map(std::path::PathBuf::from);
    let temp = tempfile::tempdir().unwrap();
    let dir = kept.clone().unwrap_or_else(|| temp.path().to_path_buf());
    std::fs::create_dir_all(&dir).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let settings = Settings {
            data_dir: dir.clone(),
            seed_demo: true,
            rate_limit_enabled: false,
            log_level: "warn".into(),
            password_hash_memory_kib: 256,
            password_hash_iterations: 1,
            ..Settings::default()
        };
        let app = App::build(settings.clone()).await.unwrap();
        let store = app.state.store.clone();
        if store.read().unwrap().count(&ORDERS).unwrap() == 0 {
            let started = Instant::now();
            shopd::seed::orders(&store, &settings, n, 730, |_| {}).await.unwrap();
            let took = started.elapsed().as_secs_f64();
            println!(
                "wrote {n} orders in {took:.1} s ({:.0} orders/s, with indexes and sales figures)",
                n as f64 / took
            );
        }
        let n = store.read().unwrap().count(&ORDERS).unwrap();
        // A cursor deep in the list: the order half-way.
        let middle = store.read().unwrap().scan(&ORDERS, &(), false).unwrap().nth(n as usize / 2).unwrap().unwrap().id;
        let endpoint = app.endpoint(app.routes());
        let login = Request::builder()
            .method(Method::POST)
            .uri_str("/api/v1/auth/login")
            .content_type("application/json")
            .body(r#"{"email":"admin@shopd.local","password":"ShopdAdmin1"}"#);
        let resp = endpoint.call(login).await.unwrap();
        let body: serde_json::Value = serde_json::from_slice(&resp.into_body().into_vec().await.unwrap()).unwrap();
        let token = body["data"]["token"].as_str().expect("signed in").to_string();
        let get = |path: String| {
            Request::builder().uri_str(&path).header("authorization", format!("Bearer {token}")).finish()
        };
        println!("admin_scale: {n} orders, {RUNS} requests each, through the whole app");
        let cases = [
            ("orders/all, first page of 20", "/api/v1/orders/all?limit=20".to_string()),
            ("orders/all, 100 per page", "/api/v1/orders/all?limit=100".to_string()),
            ("orders/all?status=SHIPPED, first page", "/api/v1/orders/all?status=SHIPPED&limit=20".to_string()),
            ("orders/all, cursor half-way", format!("/api/v1/orders/all?limit=20&cursor={middle}")),
            ("orders/all, skip=500 (skip walks the index)", "/api/v1/orders/all?limit=20&skip=500".to_string()),
            ("admin/stats/overview", "/api/v1/admin/stats/overview".to_string()),
            ("admin/stats/sales, 30 days by day", "/api/v1/admin/stats/sales".to_string()),
            ("admin/stats/sales, 2 years by month", {
                let today = Utc::now().date_naive();
                format!(
                    "/api/v1/admin/stats/sales?interval=month&from={}&to={today}",
                    today - chrono::Duration::days(730)
                )
            }),
        ];
        for (name, path) in cases {
            let mut times = Vec::with_capacity(RUNS);
            for run in 0..RUNS + 20 {
                let began = Instant::now();
                let resp = endpoint.call(get(path.clone())).await.unwrap();
                let status = resp.status();
                let bytes = resp.into_body().into_vec().await.unwrap();
                assert!(status.is_success(), "{path}: {status} {}", String::from_utf8_lossy(&bytes));
                if run >= 20 {
                    times.push(began.elapsed());
                }
            }
            times.sort();
            println!("  {name:<46} p50 {:>7.2} ms   p99 {:>7.2} ms", percentile(&times, 0.5), percentile(&times, 0.99));
        }
        let file = std::fs::metadata(dir.join(shopd::store::STORE_FILE)).map(|m| m.len()).unwrap_or(0);
        println!("  store file: {:.0} MB", file as f64 / 1e6);
        app.state.store.close();
    });
}
