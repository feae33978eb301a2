//! The yardstick of scripts/bench_catalog.sh: a bare poem server, no middleware, that serves a
//! catalog the naive way, building `serde_json::Value`s and serializing them on every request.
//! What shopd costs above it is what its middleware, envelope and rules cost.
//!
//! `cargo run --release --example naive_catalog -- PORT PRODUCTS.json` (a JSON array of the
//! products as `GET /api/v1/products` shows them).

use std::sync::Arc;

use poem::listener::TcpListener;
use poem::web::{Data, Json, Path, Query};
use poem::{EndpointExt, Route, Server, get, handler};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
struct Paging {
    skip: Option<usize>,
    limit: Option<usize>,
}

fn envelope(data: Value) -> Json<Value> {
    let meta = json!({"requestId": uuid::Uuid::new_v4().to_string(), "timestamp": chrono::Utc::now().to_rfc3339()});
    Json(json!({"data": data, "status": 200, "message": "Success", "meta": meta}))
}

#[handler]
fn list(products: Data<&Arc<Vec<Value>>>, Query(p): Query<Paging>) -> Json<Value> {
    let (skip, limit) = (p.skip.unwrap_or(0), p.limit.unwrap_or(10).min(100));
    let page: Vec<Value> = products.iter().skip(skip).take(limit).cloned().collect();
    envelope(json!({"products": page, "total": products.len(), "skip": skip, "limit": limit}))
}

#[handler]
fn product(products: Data<&Arc<Vec<Value>>>, Path(id): Path<u64>) -> Json<Value> {
    let p = products.iter().find(|p| p["id"] == id).cloned().unwrap_or(Value::Null);
    envelope(p)
}

#[handler]
fn categories(products: Data<&Arc<Vec<Value>>>) -> Json<Value> {
    let mut c: Vec<&str> = products.iter().filter_map(|p| p["category"].as_str()).collect();
    c.sort_unstable();
    c.dedup();
    envelope(json!(c))
}

#[handler]
fn hello() -> &'static str {
    "hello"
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let port = args.next().expect("a port");
    let file = args.next().expect("a products file");
    let products: Vec<Value> = serde_json::from_slice(&std::fs::read(file)?)?;
    let app = Route::new()
        .at("/hello", get(hello))
        .at("/api/v1/products", get(list))
        .at("/api/v1/products/categories", get(categories))
        .at("/api/v1/products/:id", get(product))
        .data(Arc::new(products));
    Server::new(TcpListener::bind(format!("127.0.0.1:{port}"))).run(app).await
}
