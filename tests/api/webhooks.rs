//! Outbound webhooks against a local receiver: every delivery verified with the Standard
//! Webhooks reference library (PyPI `standardwebhooks`, in target/webhook-venv), retries under
//! one `webhook-id`, the log of tries, the test button, replays, and the addresses refused.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::Mutex;
use poem::http::StatusCode;
use poem::listener::{Acceptor, Listener, TcpListener};
use poem::{EndpointExt, Request, Route, Server, handler, post, web::Data};
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, send};

#[derive(Clone, Default)]
struct Receiver {
    /// Answer 500 to this many requests first.
    fail_first: Arc<AtomicUsize>,
    got: Arc<Mutex<Vec<(Value, String)>>>,
}

#[handler]
async fn receive(req: &Request, body: String, rx: Data<&Receiver>) -> StatusCode {
    let headers: serde_json::Map<String, Value> =
        ["webhook-id", "webhook-timestamp", "webhook-signature", "content-type"]
            .iter()
            .filter_map(|h| Some((h.to_string(), json!(req.header(h)?))))
            .collect();
    rx.got.lock().push((Value::Object(headers), body));
    let left = rx.fail_first.load(Ordering::SeqCst);
    if left > 0 {
        rx.fail_first.store(left - 1, Ordering::SeqCst);
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    StatusCode::OK
}

#[handler]
async fn bounce() -> poem::Response {
    poem::Response::builder().status(StatusCode::FOUND).header("location", "http://169.254.169.254/").finish()
}

async fn receiver(fail_first: usize) -> (Receiver, u16) {
    let rx = Receiver { fail_first: Arc::new(AtomicUsize::new(fail_first)), ..Default::default() };
    let acceptor = TcpListener::bind("127.0.0.1:0").into_acceptor().await.unwrap();
    let port = acceptor.local_addr()[0].as_socket_addr().unwrap().port();
    let app = Route::new().at("/hook", post(receive)).at("/bounce", post(bounce)).data(rx.clone());
    tokio::spawn(Server::new_with_acceptor(acceptor).run(app));
    (rx, port)
}

async fn wait_for(rx: &Receiver, n: usize) -> Vec<(Value, String)> {
    for _ in 0..500 {
        if rx.got.lock().len() >= n {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    rx.got.lock().clone()
}

/// Verifies deliveries with the reference library (skipped without its venv, unless
/// REQUIRE_WEBHOOK_LIB).
fn verify_with_reference(secret: &str, got: &[(Value, String)]) {
    let list: Vec<Value> = got.iter().map(|(h, b)| json!({"headers": h, "body": b})).collect();
    let input = Value::Array(list).to_string();
    crate::helpers::reference_python("webhook-venv", "REQUIRE_WEBHOOK_LIB", "verify-webhooks.py", &[secret], &input);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_are_signed_retried_under_one_id_logged_and_replayable() {
    let app = TestApp::with(
        |s| {
            s.seed_demo = true;
            s.webhooks_allow_private = true;
        },
        |r| r,
    )
    .await;
    let admin = app.demo_admin().await;
    let (rx, port) = receiver(3).await;
    let url = format!("http://127.0.0.1:{port}/hook");
    let events = json!(["order.created", "order.status_changed", "order.cancelled", "product.updated"]);
    let r = send(app.post_as("/api/v1/admin/webhooks", &admin).body_json(&json!({"url": url, "events": events}))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let hook = r.json()["data"].clone();
    let secret = hook["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_"), "{secret}");
    let list = send(app.get_as("/api/v1/admin/webhooks", &admin)).await.json();
    assert_eq!(
        (&list["data"]["webhooks"][0]["url"], &list["data"]["webhooks"][0]["secret"]),
        (&json!(url), &Value::Null),
        "the secret is shown once"
    );
    let bad = send(
        app.post_as("/api/v1/admin/webhooks", &admin).body_json(&json!({"url": url, "events": ["order.shipped"]})),
    )
    .await;
    assert!(assert_error(&bad, 400, "VALIDATION_ERROR")["details"]["events.0"].is_array());

    // The receiver fails three times, then takes it: four tries, one webhook-id, one body.
    let s = app.user("hooks@shop.test").await;
    let order = app.placed(&s, &[(1, 1)]).await;
    let got = wait_for(&rx, 4).await;
    assert_eq!(got.len(), 4, "{got:?}");
    let ids: Vec<&Value> = got.iter().map(|(h, _)| &h["webhook-id"]).collect();
    assert!(ids.iter().all(|id| *id == ids[0]) && ids[0].as_str().unwrap().starts_with("msg_"), "{ids:?}");
    assert!(got.iter().all(|(_, b)| b == &got[0].1), "the same body on every try");
    let body: Value = serde_json::from_str(&got[0].1).unwrap();
    assert_eq!(
        (&body["type"], &body["data"]["id"], &body["data"]["number"]),
        (&json!("order.created"), &order["id"], &order["number"])
    );
    assert!(body["timestamp"].is_string());
    verify_with_reference(&secret, &got);

    let hook_id = hook["id"].as_u64().unwrap();
    let deliveries = || send(app.get_as(&format!("/api/v1/admin/webhooks/{hook_id}/deliveries"), &admin));
    for _ in 0..200 {
        if deliveries().await.json()["data"]["deliveries"][0]["state"] == "DELIVERED" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let d = deliveries().await.json()["data"]["deliveries"][0].clone();
    assert_eq!((&d["event"], &d["state"], &d["webhookId"]), (&json!("order.created"), &json!("DELIVERED"), ids[0]));
    let statuses: Vec<u64> = d["attempts"].as_array().unwrap().iter().map(|a| a["status"].as_u64().unwrap()).collect();
    assert_eq!(statuses, vec![500, 500, 500, 200]);

    // A cancellation: its status change and the cancellation, each once.
    let oid = order["id"].as_str().unwrap();
    let r = send(app.post_as(&format!("/api/v1/orders/{oid}/cancel"), &s).body_json(&json!({}))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let got = wait_for(&rx, 6).await;
    let bodies: Vec<Value> = got[4..].iter().map(|(_, b)| serde_json::from_str(b).unwrap()).collect();
    let mut types: Vec<&str> = bodies.iter().map(|b| b["type"].as_str().unwrap()).collect();
    types.sort();
    assert_eq!(types, vec!["order.cancelled", "order.status_changed"]);
    assert!(bodies.iter().all(|b| b["data"]["status"] == "CANCELLED" && b["data"]["id"] == order["id"]));

    // The test button, and a replay: the replay carries the first delivery's id again.
    let r = send(app.post_as(&format!("/api/v1/admin/webhooks/{hook_id}/test"), &admin)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let got = wait_for(&rx, 7).await;
    assert_eq!(serde_json::from_str::<Value>(&got[6].1).unwrap()["type"], "webhook.test");
    let r =
        send(app.post_as(&format!("/api/v1/admin/webhooks/deliveries/{}/replay", d["id"].as_str().unwrap()), &admin))
            .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let got = wait_for(&rx, 8).await;
    assert_eq!(got[7].0["webhook-id"], *ids[0]);
    verify_with_reference(&secret, &got);

    // An inactive endpoint gets nothing.
    let path = format!("/api/v1/admin/webhooks/{hook_id}");
    let r = send(app.client.patch(&path).header("Authorization", admin.bearer()).body_json(&json!({"active": false})))
        .await;
    assert_eq!(r.json()["data"]["active"], false);
    app.placed(&s, &[(2, 1)]).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(rx.got.lock().len(), 8);
    let r = send(app.client.delete(&path).header("Authorization", admin.bearer())).await;
    assert_eq!(r.json()["data"]["deleted"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_addresses_are_refused_at_registration_and_at_delivery_and_redirects_are_not_followed() {
    let app = TestApp::demo().await;
    let admin = app.demo_admin().await;
    for url in [
        "http://127.0.0.1:9/hook",
        "http://localhost/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::ffff:127.0.0.1]/hook",
        "http://10.0.0.7/hook",
        "http://[fd00:ec2::254]/",
        "ftp://example.com/hook",
    ] {
        let r = send(
            app.post_as("/api/v1/admin/webhooks", &admin).body_json(&json!({"url": url, "events": ["order.created"]})),
        )
        .await;
        assert_error(&r, 422, "WEBHOOK_URL_NOT_ALLOWED");
    }
    assert_eq!(send(app.get_as("/api/v1/admin/webhooks", &admin)).await.json()["data"]["webhooks"], json!([]));

    // An endpoint whose name came to resolve to a private address (written here as if it had
    // been registered while it resolved elsewhere) is refused at delivery, and not retried.
    let (rx, port) = receiver(0).await;
    let now = chrono::Utc::now();
    let endpoint = shopd::webhooks::Endpoint {
        id: 77,
        url: format!("http://localhost:{port}/hook"),
        events: vec!["order.created".into()],
        secret: shopd::webhooks::new_secret(),
        active: true,
        created_at: now,
        updated_at: now,
    };
    app.state.store.write(move |w| w.put(&shopd::webhooks::ENDPOINTS, &77, &endpoint)).await.unwrap();
    let s = app.user("rebind@shop.test").await;
    app.placed(&s, &[(1, 1)]).await;
    app.mails().await;
    let d =
        send(app.get_as("/api/v1/admin/webhooks/77/deliveries", &admin)).await.json()["data"]["deliveries"][0].clone();
    assert_eq!(d["state"], "PENDING");
    let attempts = d["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 1, "refused once, not retried: {d}");
    assert!(attempts[0]["error"].as_str().unwrap().contains("loopback"), "{d}");
    assert!(rx.got.lock().is_empty(), "nothing reached the private address");
    let mut dead = Value::Null;
    for _ in 0..200 {
        dead = send(app.get_as("/api/v1/admin/jobs?status=DEAD", &admin)).await.json();
        if dead["data"]["jobs"].as_array().unwrap().iter().any(|j| j["kind"] == "WEBHOOK") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let job = dead["data"]["jobs"].as_array().unwrap().iter().find(|j| j["kind"] == "WEBHOOK").cloned();
    assert_eq!(job.map(|j| j["attempts"].clone()), Some(json!(1)), "kept as DEAD after one try: {dead}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_is_not_followed() {
    let app = TestApp::with(
        |s| {
            s.seed_demo = true;
            s.webhooks_allow_private = true;
        },
        |r| r,
    )
    .await;
    let admin = app.demo_admin().await;
    let (_rx, port) = receiver(0).await;
    let url = format!("http://127.0.0.1:{port}/bounce");
    let r = send(
        app.post_as("/api/v1/admin/webhooks", &admin).body_json(&json!({"url": url, "events": ["order.created"]})),
    )
    .await;
    let id = r.json()["data"]["id"].as_u64().unwrap();
    send(app.post_as(&format!("/api/v1/admin/webhooks/{id}/test"), &admin)).await;
    let path = format!("/api/v1/admin/webhooks/{id}/deliveries");
    for _ in 0..200 {
        if !send(app.get_as(&path, &admin)).await.json()["data"]["deliveries"][0]["attempts"]
            .as_array()
            .unwrap()
            .is_empty()
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let d = send(app.get_as(&path, &admin)).await.json()["data"]["deliveries"][0].clone();
    assert_eq!(
        (&d["attempts"][0]["status"], &d["state"]),
        (&json!(302), &json!("PENDING")),
        "a 3xx is an answer, not a hop: {d}"
    );
}

#[tokio::test]
async fn old_deliveries_are_swept_and_recent_ones_kept() {
    let app = TestApp::new().await;
    let old = chrono::Utc::now() - chrono::Duration::days(40);
    app.state
        .store
        .write(move |w| {
            for (i, at) in [old, chrono::Utc::now()].into_iter().enumerate() {
                let d = shopd::webhooks::Delivery {
                    id: shopd::orders::first_id_at(at),
                    endpoint_id: 1,
                    event: "order.created".into(),
                    body: format!("{{\"n\":{i}}}"),
                    attempts: Vec::new(),
                    delivered_at: Some(at),
                    created_at: at,
                };
                w.put(&shopd::webhooks::DELIVERIES, &d.id, &d)?;
            }
            Ok::<_, shopd::store::StoreError>(())
        })
        .await
        .unwrap();
    assert_eq!(shopd::webhooks::sweep(&app.state.store, chrono::Duration::days(30)).await.unwrap(), 1);
    let left = app.state.store.read().unwrap().count(&shopd::webhooks::DELIVERIES).unwrap();
    assert_eq!(left, 1, "the recent one stays");
}
