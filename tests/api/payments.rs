//! /api/v1/payments with the offline provider, the Stripe provider against a local mock of the
//! Stripe API, and webhooks signed exactly as Stripe signs them.

use std::sync::{Arc, Mutex};

use poem::http::StatusCode;
use poem::listener::{Acceptor, Listener, TcpListener};
use poem::web::Data;
use poem::{EndpointExt, Route, Server, handler, post};
use serde_json::{Value, json};
use shopd::payments::webhook;

use crate::helpers::{Session, TestApp, assert_error, send};

pub const WHSEC: &str = "whsec_test_secret";

/// An order of 2 × product 1 of the demo catalog (999.00 with 9.25% off → 906.59 each).
pub async fn order(app: &TestApp, s: &Session) -> Value {
    app.placed(s, &[(1, 2)]).await
}

pub async fn intent(app: &TestApp, s: &Session, order_id: &str) -> crate::helpers::Reply {
    send(app.post_as("/api/v1/payments/create-intent", s).body_json(&json!({"orderId": order_id, "amount": 0.01})))
        .await
}

pub async fn offline_shop() -> TestApp {
    TestApp::with(
        |s| {
            s.seed_demo = true;
            s.stripe_webhook_secret = Some(shopd::config::Secret::new(WHSEC));
        },
        |r| r,
    )
    .await
}

#[tokio::test]
async fn offline_intents_take_the_order_total_and_succeed_on_confirm() {
    let app = offline_shop().await;
    let s = app.user("pay@shop.test").await;
    let o = order(&app, &s).await;
    let oid = o["id"].as_str().unwrap();
    let total = o["total"].as_f64().unwrap();
    let r = intent(&app, &s, oid).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let pi = r.json()["data"].clone();
    assert_eq!(pi["amount"].as_f64(), Some(total), "the order's total, not the client's 0.01");
    assert_eq!((pi["currency"].as_str(), pi["status"].as_str()), (Some("USD"), Some("REQUIRES_CONFIRMATION")));
    let id = pi["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("pi_offline_") && pi["clientSecret"].as_str().unwrap().starts_with(&id));

    let other = app.user("other@shop.test").await;
    assert_error(&intent(&app, &other, oid).await, 404, "ORDER_NOT_FOUND");
    assert_error(&send(app.get_as(&format!("/api/v1/payments/{id}/status"), &other)).await, 404, "PAYMENT_NOT_FOUND");

    let r = send(app.post_as("/api/v1/payments/confirm", &s).body_json(&json!({"paymentIntentId": id}))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let p = r.json()["data"].clone();
    assert_eq!(
        (p["status"].as_str(), p["provider"].as_str(), p["amount"].as_f64()),
        (Some("SUCCEEDED"), Some("offline"), Some(total))
    );
    assert_eq!(send(app.get_as(&format!("/api/v1/orders/{oid}"), &s)).await.json()["data"]["status"], "PROCESSING");
    let admin = app.demo_admin().await;
    assert_eq!(
        send(app.get_as(&format!("/api/v1/payments/{id}/status"), &admin)).await.json()["data"]["status"],
        "SUCCEEDED"
    );
    assert_error(&intent(&app, &s, oid).await, 422, "ORDER_NOT_PAYABLE");
}

#[tokio::test]
async fn refunds_are_partial_or_full_and_never_more_than_paid() {
    let app = offline_shop().await;
    let s = app.user("refund@shop.test").await;
    let admin = app.demo_admin().await;
    let o = order(&app, &s).await;
    let pi = intent(&app, &s, o["id"].as_str().unwrap()).await.json()["data"].clone();
    let p = send(app.post_as("/api/v1/payments/confirm", &s).body_json(&json!({"paymentIntentId": pi["id"]})))
        .await
        .json()["data"]
        .clone();
    let path = format!("/api/v1/payments/{}/refund", p["id"].as_str().unwrap());
    assert_error(&send(app.post_as(&path, &s).body_json(&json!({"amount": 1}))).await, 403, "FORBIDDEN");
    let r = send(app.post_as(&path, &admin).header("Idempotency-Key", "r1").body_json(&json!({"amount": 100}))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(
        (r.json()["data"]["status"].as_str(), r.json()["data"]["refunded"].as_f64()),
        (Some("PARTIALLY_REFUNDED"), Some(100.0))
    );
    let again =
        send(app.post_as(&path, &admin).header("Idempotency-Key", "r1").body_json(&json!({"amount": 100}))).await;
    assert_eq!(again.json()["data"]["refunded"], 100.0, "the same key refunds once");
    assert_error(
        &send(app.post_as(&path, &admin).header("Idempotency-Key", "r1").body_json(&json!({"amount": 5}))).await,
        422,
        "IDEMPOTENCY_KEY_REUSED",
    );
    let err = assert_error(
        &send(app.post_as(&path, &admin).body_json(&json!({"amount": 100000}))).await,
        422,
        "REFUND_EXCEEDS_PAYMENT",
    );
    assert!(err["message"].as_str().unwrap().contains("Refundable"), "{err}");
    let r = send(app.post_as(&path, &admin).body_json(&json!({}))).await;
    assert_eq!(r.json()["data"]["status"], "REFUNDED");
    assert_eq!(r.json()["data"]["refunded"], pi["amount"]);
    assert_error(
        &send(app.post_as(&path, &admin).body_json(&json!({"amount": 1}))).await,
        422,
        "REFUND_EXCEEDS_PAYMENT",
    );
    let audit = send(app.get_as("/api/v1/admin/audit-logs?action=REFUND", &admin)).await.json();
    assert_eq!(audit["data"]["total"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_refunds_at_once_cannot_refund_more_than_was_paid() {
    let app = offline_shop().await;
    let s = app.user("race@shop.test").await;
    let admin = app.demo_admin().await;
    let o = order(&app, &s).await;
    let pi = intent(&app, &s, o["id"].as_str().unwrap()).await.json()["data"]["id"].as_str().unwrap().to_string();
    let p = send(app.post_as("/api/v1/payments/confirm", &s).body_json(&json!({"paymentIntentId": pi}))).await.json()["data"].clone();
    let path = format!("/api/v1/payments/{}/refund", p["id"].as_str().unwrap());
    let both =
        futures_util::future::join_all((0..4).map(|_| send(app.post_as(&path, &admin).body_json(&json!({}))))).await;
    let ok = both.iter().filter(|r| r.status == StatusCode::OK).count();
    assert_eq!(ok, 1, "{:?}", both.iter().map(|r| r.text()).collect::<Vec<_>>());
    let after = send(app.get_as(&format!("/api/v1/payments/{pi}/status"), &s)).await.json()["data"].clone();
    assert_eq!((after["refunded"].clone(), after["status"].as_str()), (p["amount"].clone(), Some("REFUNDED")));
}

#[tokio::test]
async fn a_late_failure_report_does_not_undo_a_success_and_intents_are_reused() {
    let app = offline_shop().await;
    let s = app.user("late@shop.test").await;
    let o = order(&app, &s).await;
    let oid = o["id"].as_str().unwrap();
    let first = intent(&app, &s, oid).await.json()["data"]["id"].as_str().unwrap().to_string();
    let second = intent(&app, &s, oid).await.json()["data"]["id"].as_str().unwrap().to_string();
    assert_eq!(first, second, "one open intent per order");
    send(app.post_as("/api/v1/payments/confirm", &s).body_json(&json!({"paymentIntentId": first}))).await;
    let failed = event("evt_late", "payment_intent.payment_failed", json!({"id": first, "object": "payment_intent"}));
    let r = deliver(&app, &failed, Some(webhook::sign(WHSEC, failed.as_bytes(), chrono::Utc::now().timestamp()))).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        send(app.get_as(&format!("/api/v1/payments/{first}/status"), &s)).await.json()["data"]["status"],
        "SUCCEEDED"
    );
}

#[tokio::test]
async fn cancelling_a_paid_order_refunds_it() {
    let app = offline_shop().await;
    let s = app.user("cancelpay@shop.test").await;
    let o = order(&app, &s).await;
    let oid = o["id"].as_str().unwrap();
    let pi = intent(&app, &s, oid).await.json()["data"]["id"].as_str().unwrap().to_string();
    send(app.post_as("/api/v1/payments/confirm", &s).body_json(&json!({"paymentIntentId": pi}))).await;
    let r = send(app.post_as(&format!("/api/v1/orders/{oid}/cancel"), &s).body_json(&json!({}))).await;
    assert_eq!(r.json()["data"]["status"], "CANCELLED", "{}", r.text());
    let p = send(app.get_as(&format!("/api/v1/payments/{pi}/status"), &s)).await.json()["data"].clone();
    assert_eq!((p["status"].as_str(), p["refunded"].as_f64()), (Some("REFUNDED"), o["total"].as_f64()));
}

#[tokio::test]
async fn an_intent_idempotency_key_returns_the_first_intent() {
    let app = offline_shop().await;
    let s = app.user("idemp@shop.test").await;
    let o = order(&app, &s).await;
    let oid = o["id"].as_str().unwrap();
    let first = send(
        app.post_as("/api/v1/payments/create-intent", &s)
            .header("Idempotency-Key", "pay-1")
            .body_json(&json!({"orderId": oid})),
    )
    .await;
    let again = send(
        app.post_as("/api/v1/payments/create-intent", &s)
            .header("Idempotency-Key", "pay-1")
            .body_json(&json!({"orderId": oid})),
    )
    .await;
    assert_eq!(first.json()["data"], again.json()["data"]);
    let other = order(&app, &s).await;
    let r = send(
        app.post_as("/api/v1/payments/create-intent", &s)
            .header("Idempotency-Key", "pay-1")
            .body_json(&json!({"orderId": other["id"]})),
    )
    .await;
    assert_error(&r, 422, "IDEMPOTENCY_KEY_REUSED");
}

pub fn event(id: &str, kind: &str, object: Value) -> String {
    json!({"id": id, "object": "event", "type": kind, "created": 1, "livemode": false, "pending_webhooks": 1, "data": {"object": object}}).to_string()
}

pub async fn deliver(app: &TestApp, body: &str, header: Option<String>) -> crate::helpers::Reply {
    let mut req = app.post("/api/v1/payments/webhook").content_type("application/json").body(body.to_string());
    if let Some(h) = header {
        req = req.header("Stripe-Signature", h);
    }
    send(req).await
}

#[tokio::test]
async fn webhooks_are_verified_applied_once_and_unknown_types_acknowledged() {
    let app = offline_shop().await;
    let s = app.user("hook@shop.test").await;
    let o = order(&app, &s).await;
    let oid = o["id"].as_str().unwrap();
    let pi = intent(&app, &s, oid).await.json()["data"]["id"].as_str().unwrap().to_string();
    let now = chrono::Utc::now().timestamp();
    let body = event("evt_1", "payment_intent.succeeded", json!({"id": pi, "object": "payment_intent", "amount": 1}));

    assert_error(&deliver(&app, &body, None).await, 400, "INVALID_WEBHOOK");
    assert_error(
        &deliver(&app, &body, Some(webhook::sign("whsec_wrong", body.as_bytes(), now))).await,
        400,
        "INVALID_WEBHOOK",
    );
    assert_error(
        &deliver(&app, &body, Some(webhook::sign(WHSEC, body.as_bytes(), now - 301))).await,
        400,
        "INVALID_WEBHOOK",
    );
    let tampered = body.replace("evt_1", "evt_9");
    assert_error(
        &deliver(&app, &tampered, Some(webhook::sign(WHSEC, body.as_bytes(), now))).await,
        400,
        "INVALID_WEBHOOK",
    );
    assert_eq!(
        send(app.get_as(&format!("/api/v1/orders/{oid}"), &s)).await.json()["data"]["status"],
        "PENDING",
        "nothing unverified changed anything"
    );

    let r = deliver(&app, &body, Some(webhook::sign(WHSEC, body.as_bytes(), now))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["data"], json!({"received": true}));
    assert_eq!(send(app.get_as(&format!("/api/v1/orders/{oid}"), &s)).await.json()["data"]["status"], "PROCESSING");
    assert_eq!(
        send(app.get_as(&format!("/api/v1/payments/{pi}/status"), &s)).await.json()["data"]["status"],
        "SUCCEEDED"
    );

    // A refund reported by Stripe, then the same event again: applied once.
    let refunded = event(
        "evt_2",
        "charge.refunded",
        json!({"id": "ch_1", "object": "charge", "payment_intent": pi, "amount_refunded": 5000}),
    );
    for _ in 0..2 {
        let r = deliver(&app, &refunded, Some(webhook::sign(WHSEC, refunded.as_bytes(), now))).await;
        assert_eq!(r.status, StatusCode::OK);
    }
    let p = send(app.get_as(&format!("/api/v1/payments/{pi}/status"), &s)).await.json()["data"].clone();
    assert_eq!((p["status"].as_str(), p["refunded"].as_f64()), (Some("PARTIALLY_REFUNDED"), Some(50.0)));
    let unknown = event("evt_3", "customer.created", json!({"id": "cus_1"}));
    let r =
        deliver(&app, &unknown, Some(format!("{},v1=deadbeef", webhook::sign(WHSEC, unknown.as_bytes(), now)))).await;
    assert_eq!(r.status, StatusCode::OK, "several v1 signatures, one valid");
}

/// What the mock Stripe saw.
#[derive(Default)]
struct Seen {
    requests: Vec<(String, String, Option<String>)>,
    mode: String,
}

#[handler]
async fn stripe_create(req: &poem::Request, body: String, seen: Data<&Arc<Mutex<Seen>>>) -> poem::Response {
    let key = req.header("idempotency-key").map(str::to_string);
    let mode = {
        let mut s = seen.lock().unwrap();
        s.requests.push((req.uri().path().to_string(), body.clone(), key));
        s.mode.clone()
    };
    match mode.as_str() {
        "declined" => json_response(
            402,
            json!({"error": {"type": "card_error", "code": "card_declined", "message": "Your card was declined."}}),
        ),
        "broken" => json_response(500, json!({"error": {"type": "api_error", "message": "boom"}})),
        "slow" => {
            tokio::time::sleep(std::time::Duration::from_millis(800)).await;
            json_response(200, intent_json("pi_slow", "requires_payment_method"))
        }
        _ if req.uri().path() == "/v1/refunds" => json_response(
            200,
            json!({"id": "re_1", "object": "refund", "amount": 100, "created": 1, "currency": "usd", "status": "succeeded"}),
        ),
        _ => json_response(200, intent_json("pi_mock_1", "requires_payment_method")),
    }
}

#[handler]
async fn stripe_retrieve() -> poem::Response {
    json_response(200, intent_json("pi_mock_1", "succeeded"))
}

fn intent_json(id: &str, status: &str) -> Value {
    json!({"id": id, "object": "payment_intent", "amount": 181318, "amount_capturable": 0, "amount_received": 0,
           "capture_method": "automatic", "confirmation_method": "automatic", "created": 1, "currency": "usd",
           "livemode": false, "metadata": {}, "payment_method_types": ["card"], "status": status,
           "client_secret": format!("{id}_secret_x")})
}

fn json_response(status: u16, body: Value) -> poem::Response {
    poem::Response::builder()
        .status(StatusCode::from_u16(status).unwrap())
        .content_type("application/json")
        .body(body.to_string())
}

async fn mock_stripe() -> (String, Arc<Mutex<Seen>>) {
    let seen: Arc<Mutex<Seen>> = Arc::default();
    let routes = Route::new()
        .at("/v1/payment_intents", post(stripe_create))
        .at("/v1/payment_intents/:id", poem::get(stripe_retrieve))
        .at("/v1/refunds", post(stripe_create))
        .data(seen.clone());
    let acceptor = TcpListener::bind("127.0.0.1:0").into_acceptor().await.unwrap();
    let addr = acceptor.local_addr()[0].as_socket_addr().copied().unwrap();
    tokio::spawn(Server::new_with_acceptor(acceptor).run(routes));
    (format!("http://{addr}"), seen)
}

/// A shop whose Stripe is the mock at `base`, with a short timeout.
async fn stripe_shop(base: &str) -> TestApp {
    let base = base.to_string();
    TestApp::with(
        move |s| {
            s.seed_demo = true;
            s.stripe_secret_key = Some(shopd::config::Secret::new("sk_test_mock"));
            s.stripe_api_base = base;
            s.stripe_timeout_ms = 300;
        },
        |r| r,
    )
    .await
}

#[tokio::test]
async fn the_stripe_provider_sends_the_order_total_in_cents_and_forwards_the_idempotency_key() {
    let (base, seen) = mock_stripe().await;
    let app = stripe_shop(&base).await;
    let s = app.user("stripe@shop.test").await;
    let o = order(&app, &s).await;
    let oid = o["id"].as_str().unwrap();
    let r = send(
        app.post_as("/api/v1/payments/create-intent", &s)
            .header("Idempotency-Key", "order-key-1")
            .body_json(&json!({"orderId": oid, "amount": 1})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_eq!(r.json()["data"]["id"], "pi_mock_1");
    assert_eq!(r.json()["data"]["clientSecret"], "pi_mock_1_secret_x");
    {
        let seen = seen.lock().unwrap();
        let (path, body, key) = &seen.requests[0];
        assert_eq!(path, "/v1/payment_intents");
        let cents = (o["total"].as_f64().unwrap() * 100.0).round() as i64;
        assert!(body.contains(&format!("amount={cents}")), "{body}");
        assert!(body.contains("currency=usd"), "{body}");
        assert!(body.contains(oid), "the order id goes in the metadata: {body}");
        let key = key.as_deref().expect("an Idempotency-Key is forwarded");
        assert!(key.starts_with("shopd-") && key.len() == 54, "scoped to the user and the order: {key}");
    }
    let r = send(app.post_as("/api/v1/payments/confirm", &s).body_json(&json!({"paymentIntentId": "pi_mock_1"}))).await;
    assert_eq!(
        (r.json()["data"]["status"].as_str(), r.json()["data"]["provider"].as_str()),
        (Some("SUCCEEDED"), Some("stripe"))
    );
    let admin = app.demo_admin().await;
    let pid = r.json()["data"]["id"].as_str().unwrap().to_string();
    let r = send(
        app.post_as(&format!("/api/v1/payments/{pid}/refund"), &admin)
            .header("Idempotency-Key", "rf-9")
            .body_json(&json!({"amount": 1})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let seen = seen.lock().unwrap();
    let (path, body, key) = seen.requests.last().unwrap();
    assert_eq!(path, "/v1/refunds");
    assert!(body.contains("amount=100") && body.contains("payment_intent=pi_mock_1"), "{body}");
    assert!(key.as_deref().is_some_and(|k| k.starts_with("shopd-")), "{key:?}");
}

#[tokio::test]
async fn stripe_failures_are_502_and_leave_nothing_half_done() {
    let (base, seen) = mock_stripe().await;
    let app = stripe_shop(&base).await;
    let s = app.user("fail@shop.test").await;
    let o = order(&app, &s).await;
    let oid = o["id"].as_str().unwrap();
    for mode in ["declined", "broken", "slow"] {
        seen.lock().unwrap().mode = mode.to_string();
        let before = seen.lock().unwrap().requests.len();
        let r = intent(&app, &s, oid).await;
        let err = assert_error(&r, 502, "PAYMENT_PROVIDER_ERROR");
        assert!(!r.text().contains("sk_test"), "no secret in {}", r.text());
        if mode == "declined" {
            assert!(err["message"].as_str().unwrap().contains("declined"), "{err}");
        }
        assert_eq!(seen.lock().unwrap().requests.len(), before + 1, "{mode}: one attempt, no retries");
    }
    let admin = app.demo_admin().await;
    let payments = send(app.get_as(&format!("/api/v1/orders/{oid}"), &admin)).await.json();
    assert_eq!(payments["data"]["status"], "PENDING", "no payment was recorded for the failed attempts");
    seen.lock().unwrap().mode = String::new();
    assert_eq!(intent(&app, &s, oid).await.status, StatusCode::CREATED, "it works once Stripe does");
    let r = send(app.post_as("/api/v1/payments/confirm", &s).body_json(&json!({"paymentIntentId": "pi_mock_1"}))).await;
    assert_eq!(r.json()["data"]["status"], "SUCCEEDED");
    let stock = send(app.get("/api/v1/products/1")).await.json()["data"]["stock"].clone();
    // The refund of a cancellation fails: the order stays as it was, and so does the stock.
    seen.lock().unwrap().mode = "broken".to_string();
    let r = send(app.post_as(&format!("/api/v1/orders/{oid}/cancel"), &s).body_json(&json!({}))).await;
    assert_error(&r, 502, "PAYMENT_PROVIDER_ERROR");
    assert_eq!(send(app.get_as(&format!("/api/v1/orders/{oid}"), &s)).await.json()["data"]["status"], "PROCESSING");
    assert_eq!(send(app.get("/api/v1/products/1")).await.json()["data"]["stock"], stock);
    seen.lock().unwrap().mode = String::new();
    let r = send(app.post_as(&format!("/api/v1/orders/{oid}/cancel"), &s).body_json(&json!({}))).await;
    assert_eq!(r.json()["data"]["status"], "CANCELLED", "{}", r.text());
}

#[test]
fn our_signatures_are_the_ones_stripe_libraries_make_and_check() {
    let payload = r#"{"id":"evt_x","type":"payment_intent.succeeded"}"#;
    let t = chrono::Utc::now().timestamp();
    // async-stripe's own test header verifies with our checker ...
    let theirs = stripe_webhook::Webhook::generate_test_header(payload, WHSEC, Some(t));
    assert!(webhook::verify(WHSEC, &theirs, payload.as_bytes(), t));
    // ... and ours is byte for byte the same header.
    assert_eq!(webhook::sign(WHSEC, payload.as_bytes(), t), theirs);
}

/// Production without a payment provider of its own choosing.
fn production(s: &mut shopd::config::Settings) {
    crate::helpers::production(s);
    s.payment_provider = None;
}

#[tokio::test]
async fn production_refuses_the_offline_provider_and_says_why() {
    use shopd::config::PaymentProvider;
    let dir = tempfile::tempdir().unwrap();
    for chosen in [None, Some(PaymentProvider::Offline)] {
        let mut s = crate::helpers::test_settings(&dir);
        production(&mut s);
        s.payment_provider = chosen;
        let err = shopd::startup::App::build(s).await.err().expect("no offline payments in production").to_string();
        assert!(err.contains("STRIPE_SECRET_KEY") && err.contains("PAYMENT_PROVIDER=manual"), "{err}");
    }
    // The same from the environment, before anything starts.
    let sources = shopd::config::Sources::default();
    let env = |v: &[(&str, &str)]| v.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>();
    let base = [("APP_ENV", "production"), ("JWT_SECRET", "k3J9vQ2xLp7Zr4Tn8Wc1Ys6Hb5Gd0FmA")];
    let err = shopd::config::Settings::load_from(&sources, env(&base)).unwrap_err().to_string();
    assert!(err.contains("offline"), "{err}");
    let manual = shopd::config::Settings::load_from(&sources, env(&[base[0], base[1], ("PAYMENT_PROVIDER", "manual")]));
    assert_eq!(manual.unwrap().payments(), Ok(PaymentProvider::Manual));
    let err = shopd::config::Settings::load_from(&sources, env(&[("PAYMENT_PROVIDER", "stripe")])).unwrap_err();
    assert!(err.to_string().contains("stripe_secret_key"), "{err}");
}

#[tokio::test]
async fn a_manual_payment_is_marked_paid_by_an_admin_never_confirmed_by_the_customer() {
    let app = TestApp::with(
        |s| {
            crate::helpers::production(s);
            s.seed_demo = false;
        },
        |r| r,
    )
    .await;
    let admin = app.admin().await;
    let product = json!({"title": "Cash item", "description": "Paid on delivery", "price": 20.0, "stock": 5,
        "brand": "B", "category": "c", "sku": "CASH-1"});
    let r = send(app.post_as("/api/v1/products", &admin).body_json(&product)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let pid = r.json()["data"]["id"].as_u64().unwrap();
    let s = app.user("cash@shop.test").await;
    let o = app.placed(&s, &[(pid, 2)]).await;
    let oid = o["id"].as_str().unwrap().to_string();

    let r = intent(&app, &s, &oid).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let pi = r.json()["data"]["id"].as_str().unwrap().to_string();
    assert!(pi.starts_with("pi_manual_"), "{pi}");
    let r = send(app.post_as("/api/v1/payments/confirm", &s).body_json(&json!({"paymentIntentId": pi}))).await;
    assert_error(&r, 422, "MANUAL_PAYMENT");
    assert_eq!(send(app.get_as(&format!("/api/v1/orders/{oid}"), &s)).await.json()["data"]["status"], "PENDING");

    let path = format!("/api/v1/admin/orders/{oid}/mark-paid");
    assert_error(&send(app.post_as(&path, &s)).await, 403, "FORBIDDEN");
    let r = send(app.post_as(&path, &admin)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let order = r.json()["data"].clone();
    assert_eq!(order["status"], "PROCESSING");
    let p = &order["payment"];
    assert_eq!(
        (p["status"].as_str(), p["provider"].as_str(), p["amount"].as_f64()),
        (Some("SUCCEEDED"), Some("manual"), o["total"].as_f64())
    );
    // The intent the customer had opened cannot be paid any more.
    let opened = send(app.get_as(&format!("/api/v1/payments/{pi}/status"), &s)).await.json();
    assert_eq!(opened["data"]["status"], "CANCELED", "{opened}");
    assert_error(&send(app.post_as(&path, &admin)).await, 422, "ORDER_NOT_PAYABLE");
    let unknown = format!("/api/v1/admin/orders/{}/mark-paid", uuid::Uuid::now_v7());
    assert_error(&send(app.post_as(&unknown, &admin)).await, 404, "ORDER_NOT_FOUND");
    let audit = send(app.get_as("/api/v1/admin/audit-logs?action=ORDER_MARKED_PAID", &admin)).await.json();
    assert_eq!(audit["data"]["total"], 1, "{audit}");
    assert_eq!(audit["data"]["logs"][0]["entityId"], oid.as_str(), "{audit}");

    // Cancelling it hands the money back by hand: the refund is recorded at once.
    let cancel = app.client.patch(format!("/api/v1/orders/{oid}/status")).header("Authorization", admin.bearer());
    let r = send(cancel.body_json(&json!({"status": "CANCELLED"}))).await;
    assert_eq!(r.json()["data"]["status"], "CANCELLED", "{}", r.text());
    let paid = order["payment"]["paymentIntentId"].as_str().unwrap();
    let p = send(app.get_as(&format!("/api/v1/payments/{paid}/status"), &admin)).await.json()["data"].clone();
    assert_eq!((p["status"].as_str(), p["refunded"].as_f64()), (Some("REFUNDED"), o["total"].as_f64()), "{p}");
}

/// An order marked paid by hand while its card payment was in flight: the card's late success
/// is refunded, never kept.
#[tokio::test]
async fn a_card_success_after_the_order_was_marked_paid_is_refunded() {
    let app = offline_shop().await;
    let s = app.user("twice@shop.test").await;
    let o = order(&app, &s).await;
    let oid = o["id"].as_str().unwrap();
    let pi = intent(&app, &s, oid).await.json()["data"]["id"].as_str().unwrap().to_string();
    let admin = app.demo_admin().await;
    let r = send(app.post_as(&format!("/api/v1/admin/orders/{oid}/mark-paid"), &admin)).await;
    assert_eq!(r.json()["data"]["status"], "PROCESSING", "{}", r.text());
    let path = format!("/api/v1/payments/{pi}/status");
    assert_eq!(send(app.get_as(&path, &admin)).await.json()["data"]["status"], "CANCELED");
    let body = event("evt_late", "payment_intent.succeeded", json!({"id": pi, "object": "payment_intent"}));
    let now = chrono::Utc::now().timestamp();
    let r = deliver(&app, &body, Some(webhook::sign(WHSEC, body.as_bytes(), now))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let mut refunded = false;
    for _ in 0..100 {
        let p = send(app.get_as(&path, &admin)).await.json();
        if p["data"]["status"] == "REFUNDED" {
            assert_eq!(p["data"]["refunded"], o["total"]);
            refunded = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(refunded, "the second payment is handed back");
    assert_eq!(send(app.get_as(&format!("/api/v1/orders/{oid}"), &s)).await.json()["data"]["status"], "PROCESSING");
    // The money handed back was never the shop's: the figures keep the order and no refund.
    let today = send(app.get_as("/api/v1/admin/stats/overview", &admin)).await.json()["data"]["today"].clone();
    assert_eq!((&today["revenue"], today["refunds"].as_f64()), (&o["total"], Some(0.0)), "{today}");
}
