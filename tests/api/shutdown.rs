//! Graceful shutdown on a real socket: in-flight requests finish, new ones are refused, the
//! store is closed last.

use std::time::Duration;

use poem::{Route, get, handler};
use shopd::startup::App;

use crate::helpers::{http_get, test_settings};

/// Set once the slow request is inside its handler.
static ENTERED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

#[handler]
async fn slow() -> &'static str {
    ENTERED.store(true, std::sync::atomic::Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(600)).await;
    "finished"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_in_flight_requests_then_closes_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let app = App::build(test_settings(&dir)).await.unwrap();
    let store = app.state.store.clone();
    let bound = app.bind().await.unwrap();
    let addr = bound.addr;
    let routes: Route = app.routes().at("/slow", get(slow));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_routes(bound, routes, async {
        let _ = stopped.await;
    }));

    let in_flight = tokio::task::spawn_blocking(move || http_get(addr, "/slow"));
    while !ENTERED.load(std::sync::atomic::Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    stop.send(()).unwrap();
    let (status, text) = in_flight.await.unwrap();
    assert_eq!(status, 200, "{text}");
    assert!(text.ends_with("finished"), "{text}");

    tokio::time::timeout(Duration::from_secs(5), server).await.expect("the server stops").unwrap().unwrap();
    assert!(std::net::TcpStream::connect(addr).is_err(), "no longer accepting");
    assert!(!store.is_healthy(), "the store was closed");
    assert!(!dir.path().join("shopd.sock").exists(), "the backup socket is removed");
}
