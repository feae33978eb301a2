//! The outbox: mails that a server refuses for a while arrive once, mails refused for ever end
//! as DEAD jobs an admin can retry, unpaid orders expire and a payment that comes too late is
//! refunded. The crash and dropped-client cases run the real binary (`outbox_binary.rs`).

use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::{Value, json};
use shopd::jobs::{JOBS, JOBS_BY_STATUS, JobStatus, Task};
use shopd::payments::webhook;

use crate::helpers::{Session, TestApp, assert_error, send, smtp_sink as sink};
use crate::payments::{WHSEC, deliver, event, intent, order};

async fn smtp_shop(port: u16, max_attempts: u32) -> TestApp {
    TestApp::with(
        move |s| {
            s.smtp_host = Some("127.0.0.1".into());
            s.smtp_port = port;
            s.smtp_tls = shopd::config::SmtpTls::None;
            s.from_email = "Shop <shop@shop.test>".into();
            s.job_max_attempts = max_attempts;
        },
        |r| r,
    )
    .await
}

async fn jobs(app: &TestApp, admin: &Session, query: &str) -> Value {
    let r = send(app.get_as(&format!("/api/v1/admin/jobs{query}"), admin)).await;
    assert_eq!(r.status.as_u16(), 200, "{}", r.text());
    r.json()["data"].clone()
}

/// Polls `check` every 10 ms for up to 10 s.
async fn eventually<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    for _ in 0..1000 {
        if let Some(v) = check().await {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{what} did not happen within 10 s");
}

#[tokio::test]
async fn a_mail_refused_for_a_while_arrives_once_after_the_retries() {
    let smtp = sink(3).await;
    let app = smtp_shop(smtp.port, 15).await;
    let admin = app.admin().await; // its own account mails nothing
    assert_eq!(app.register("later@shop.test").await.status.as_u16(), 201);
    let mail = eventually("the mail's delivery", async || smtp.accepted.lock().first().cloned()).await;
    assert!(mail.contains("To: later@shop.test") && mail.contains("Subject: Confirm your email address"), "{mail}");
    app.state.jobs.idle(Duration::from_secs(1)).await;
    assert_eq!(smtp.accepted.lock().len(), 1, "delivered once");
    let page = jobs(&app, &admin, "?status=DONE").await;
    let job = page["jobs"].as_array().unwrap().iter().find(|j| j["kind"] == "MAIL").expect("the mail's job").clone();
    assert_eq!(job["attempts"], 4, "three refusals, then the delivery: {job}");
    assert!(job["lastError"].as_str().unwrap().contains("451"), "{job}");
    let id = job["id"].as_str().unwrap();
    assert!(mail.contains(&format!("Message-ID: <{id}@shop.test>")), "the Message-ID names the job: {mail}");
    // Once delivered, the mail's text (with its link) is no longer kept in the store.
    let stored = app.state.store.read().unwrap().get(&JOBS, &id.parse().unwrap()).unwrap().unwrap();
    let Task::Mail { mail } = stored.task else { panic!("a mail job") };
    assert!(mail.text.is_empty() && mail.html.is_empty() && mail.to == "later@shop.test");
}

#[tokio::test]
async fn a_mail_refused_for_ever_is_a_dead_job_until_an_admin_retries_it() {
    let smtp = sink(usize::MAX).await;
    let app = smtp_shop(smtp.port, 3).await;
    let admin = app.admin().await;
    app.register("never@shop.test").await;
    let dead = eventually("the job's death", async || {
        let page = jobs(&app, &admin, "?status=DEAD").await;
        (page["total"] == 1).then(|| page["jobs"][0].clone())
    })
    .await;
    assert_eq!((dead["kind"].as_str(), dead["attempts"].as_u64()), (Some("MAIL"), Some(3)), "{dead}");
    assert!(dead["lastError"].as_str().unwrap().contains("451"), "the last error is kept: {dead}");
    assert!(smtp.accepted.lock().is_empty());
    let metrics = send(app.get("/metrics")).await.text();
    assert!(metrics.contains("shopd_jobs{status=\"DEAD\"} 1"), "{metrics}");
    // Nothing happens to a DEAD job by itself ...
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(jobs(&app, &admin, "?status=DEAD").await["total"], 1);
    // ... until an admin retries it, once the mail server works again.
    smtp.refuse.store(0, Ordering::SeqCst);
    let id = dead["id"].as_str().unwrap();
    let r = send(app.post_as(&format!("/api/v1/admin/jobs/{id}/retry"), &admin)).await;
    assert_eq!(r.status.as_u16(), 200, "{}", r.text());
    assert_eq!(
        (r.json()["data"]["status"].as_str(), r.json()["data"]["attempts"].as_u64()),
        (Some("PENDING"), Some(0))
    );
    eventually("the retried delivery", async || (smtp.accepted.lock().len() == 1).then_some(())).await;
    app.state.jobs.idle(Duration::ZERO).await;
    let done = jobs(&app, &admin, "?status=DONE").await;
    assert!(done["jobs"].as_array().unwrap().iter().any(|j| j["id"] == id), "{done}");
    assert_error(&send(app.post_as(&format!("/api/v1/admin/jobs/{id}/retry"), &admin)).await, 409, "CONFLICT");
    let unknown = uuid::Uuid::now_v7();
    assert_error(&send(app.post_as(&format!("/api/v1/admin/jobs/{unknown}/retry"), &admin)).await, 404, "NOT_FOUND");
    let customer = app.session("never@shop.test", crate::helpers::PASSWORD).await;
    assert_error(&send(app.get_as("/api/v1/admin/jobs", &customer)).await, 403, "FORBIDDEN");
    assert_error(&send(app.get_as("/api/v1/admin/jobs?status=LOST", &admin)).await, 400, "VALIDATION_ERROR");
}

/// Makes the order's expiry job due now, as if its hour had passed.
async fn expire_now(app: &TestApp, order_id: uuid::Uuid) {
    app.state
        .store
        .write(move |w| {
            let pending = w.scan_index(&JOBS, JOBS_BY_STATUS, &(JobStatus::Pending.as_str(),), false, usize::MAX)?;
            let mut job = pending
                .into_iter()
                .find(|j| matches!(j.task, Task::ExpireOrder { order_id: o } if o == order_id))
                .expect("an expiry job for the order");
            job.run_at = chrono::Utc::now();
            w.put(&JOBS, &job.id, &job)
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn an_unpaid_order_expires_and_a_payment_after_that_is_refunded() {
    let app = TestApp::with(
        |s| {
            s.seed_demo = true;
            s.stripe_webhook_secret = Some(shopd::config::Secret::new(WHSEC));
            s.unpaid_order_expiry_minutes = Some(60);
        },
        |r| r,
    )
    .await;
    let admin = app.demo_admin().await;
    let s = app.user("slow@shop.test").await;
    let stock = send(app.get("/api/v1/products/1")).await.json()["data"]["stock"].as_i64().unwrap();
    let o = order(&app, &s).await;
    let oid = o["id"].as_str().unwrap().to_string();
    let pi = intent(&app, &s, &oid).await.json()["data"]["id"].as_str().unwrap().to_string();
    assert_eq!(send(app.get("/api/v1/products/1")).await.json()["data"]["stock"], stock - 2);
    app.state.jobs.idle(Duration::ZERO).await;
    assert_eq!(
        send(app.get_as(&format!("/api/v1/orders/{oid}"), &s)).await.json()["data"]["status"],
        "PENDING",
        "not before its time"
    );

    expire_now(&app, oid.parse().unwrap()).await;
    let cancelled = eventually("the expiry", async || {
        let o = send(app.get_as(&format!("/api/v1/orders/{oid}"), &s)).await.json()["data"].clone();
        (o["status"] == "CANCELLED").then_some(o)
    })
    .await;
    assert_eq!(cancelled["cancelReason"], "Not paid in time");
    // The catalog shows the restock a moment after the store has it (no request waits for it).
    eventually("the restock", async || {
        (send(app.get("/api/v1/products/1")).await.json()["data"]["stock"] == stock).then_some(())
    })
    .await;
    let p = send(app.get_as(&format!("/api/v1/payments/{pi}/status"), &s)).await.json()["data"].clone();
    assert_eq!(p["status"], "CANCELED", "its open intent is cancelled");
    app.state.jobs.idle(Duration::ZERO).await;
    let notes = send(app.get_as("/api/v1/notifications", &s)).await.json()["data"].clone();
    assert_eq!(notes["notifications"][0]["type"], "ORDER_CANCELLED", "{notes}");
    assert!(notes["notifications"][0]["body"].as_str().unwrap().contains("not paid in time"), "{notes}");
    let mails = app.mails().await;
    assert!(
        mails.iter().any(|m| m.contains("To: slow@shop.test") && m.contains("cancelled")),
        "a mail tells the customer"
    );
    let audit = send(app.get_as("/api/v1/admin/audit-logs?action=ORDER_EXPIRED", &admin)).await.json();
    assert_eq!(audit["data"]["total"], 1, "{audit}");
    let done = jobs(&app, &admin, "?status=DONE").await;
    assert!(done["jobs"].as_array().unwrap().iter().any(|j| j["kind"] == "CANCEL_INTENT"), "{done}");

    // The customer's bank pays anyway, after the expiry: the money goes back by itself.
    let late = event("evt_late_pay", "payment_intent.succeeded", json!({"id": pi, "object": "payment_intent"}));
    let r = deliver(&app, &late, Some(webhook::sign(WHSEC, late.as_bytes(), chrono::Utc::now().timestamp()))).await;
    assert_eq!(r.status.as_u16(), 200, "{}", r.text());
    let refunded = eventually("the automatic refund", async || {
        let p = send(app.get_as(&format!("/api/v1/payments/{pi}/status"), &s)).await.json()["data"].clone();
        (p["status"] == "REFUNDED").then_some(p)
    })
    .await;
    assert_eq!(refunded["refunded"], o["total"], "all of it: {refunded}");
    assert_eq!(
        send(app.get_as(&format!("/api/v1/orders/{oid}"), &s)).await.json()["data"]["status"],
        "CANCELLED",
        "the order stays cancelled"
    );
    let confirm = send(app.post_as("/api/v1/payments/confirm", &s).body_json(&json!({"paymentIntentId": pi}))).await;
    assert_error(&confirm, 422, "ORDER_NOT_PAYABLE");
}

#[tokio::test]
async fn without_stripe_or_a_setting_unpaid_orders_never_expire() {
    let app = TestApp::demo().await;
    let s = app.user("patient@shop.test").await;
    let o = order(&app, &s).await;
    let r = app.state.store.read().unwrap();
    let expiries = r
        .scan(&JOBS, &(), false)
        .unwrap()
        .filter(|j| matches!(j.as_ref().unwrap().task, Task::ExpireOrder { .. }))
        .count();
    assert_eq!(expiries, 0, "no expiry job for {}", o["id"]);
}

/// The shop's own mails (SHOP_EMAIL): one per new order, and one when an order takes a product's
/// stock below LOW_STOCK_THRESHOLD (not again while it stays below).
#[tokio::test]
async fn the_shop_is_told_of_each_order_and_of_stock_falling_low() {
    let app = TestApp::with(
        |s| {
            s.shop_email = Some("owner@shop.test".into());
            s.shop_name = Some("Lamp Co".into());
            s.low_stock_threshold = 5;
        },
        |r| r,
    )
    .await;
    let admin = app.admin().await;
    let product = json!({"title": "Last lamps", "description": "d", "price": 10.0, "stock": 6, "brand": "B",
        "category": "c", "sku": "LAMP-1"});
    let pid =
        send(app.post_as("/api/v1/products", &admin).body_json(&product)).await.json()["data"]["id"].as_u64().unwrap();
    let buyer = app.user("buyer@alerts.test").await;
    let before = app.mails().await.len();
    app.placed(&buyer, &[(pid, 2)]).await;
    let mails = app.wait_for_mails(before + 3).await;
    let to_owner: Vec<&String> = mails[before..].iter().filter(|m| m.contains("To: owner@shop.test")).collect();
    assert_eq!(to_owner.len(), 2, "the order and the low stock: {to_owner:?}");
    assert!(to_owner.iter().any(|m| m.contains("Subject: New order") && m.contains("2 x Last lamps")));
    assert!(to_owner.iter().all(|m| m.contains("From: \"Lamp Co\" <noreply@shopd.local>")), "{to_owner:?}");
    assert!(to_owner.iter().any(|m| m.contains("Subject: Low stock: 1 product") && m.contains("4 left")));

    // Already below: the next order tells of the order only.
    let before = app.mails().await.len();
    app.placed(&buyer, &[(pid, 1)]).await;
    let mails = app.wait_for_mails(before + 2).await;
    let to_owner: Vec<&String> = mails[before..].iter().filter(|m| m.contains("To: owner@shop.test")).collect();
    assert_eq!(to_owner.len(), 1, "{to_owner:?}");
    assert!(to_owner[0].contains("Subject: New order"));
}
