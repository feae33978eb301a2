//! Sales figures (API.md §6): equal to the sums of the orders themselves after a mix of
//! payments, cancellations, refunds and returns, in the shop's days, and after a rebuild.

use poem::http::StatusCode;
use serde_json::{Value, json};

use crate::checkout::{product, set_status};
use crate::helpers::{Session, TestApp, assert_error, send};
use crate::payments::intent;

async fn pay(app: &TestApp, s: &Session, order: &Value) -> Value {
    let pi = intent(app, s, order["id"].as_str().unwrap()).await.json()["data"].clone();
    let r = send(app.post_as("/api/v1/payments/confirm", s).body_json(&json!({"paymentIntentId": pi["id"]}))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json()["data"].clone()
}

async fn order_of(app: &TestApp, admin: &Session, id: &str) -> Value {
    send(app.get_as(&format!("/api/v1/orders/{id}"), admin)).await.json()["data"].clone()
}

/// Waits for the outbox to finish what `done` looks for in the order.
async fn until(app: &TestApp, admin: &Session, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..200 {
        let o = order_of(app, admin, id).await;
        if done(&o) {
            return o;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("order {id} did not get there: {}", order_of(app, admin, id).await);
}

fn cents(v: &Value) -> i64 {
    (v.as_f64().unwrap_or_else(|| panic!("not money: {v}")) * 100.0).round() as i64
}

async fn overview(app: &TestApp, admin: &Session) -> Value {
    let r = send(app.get_as("/api/v1/admin/stats/overview", admin)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json()["data"].clone()
}

#[tokio::test]
async fn the_figures_are_the_sums_of_the_orders_and_survive_a_rebuild() {
    let app = crate::payments::offline_shop().await;
    let admin = app.demo_admin().await;
    let cheap = product(&app, &admin, 12.5, 0.0, 100).await;
    let dear = product(&app, &admin, 80.0, 10.0, 100).await;
    let scarce = product(&app, &admin, 3.0, 0.0, 3).await;
    let s = app.user("stats@shop.test").await;

    // Paid and kept.
    let kept = app.placed(&s, &[(cheap, 2), (dear, 1)]).await;
    pay(&app, &s, &kept).await;
    // Never paid, cancelled: counts for nothing.
    let dropped = app.placed(&s, &[(dear, 3)]).await;
    let r = send(
        app.post_as(&format!("/api/v1/orders/{}/cancel", dropped["id"].as_str().unwrap()), &s).body_json(&json!({})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    // Paid, then part refunded.
    let part = app.placed(&s, &[(cheap, 4)]).await;
    let p = pay(&app, &s, &part).await;
    let path = format!("/api/v1/payments/{}/refund", p["id"].as_str().unwrap());
    let r = send(app.post_as(&path, &admin).body_json(&json!({"amount": 10.05}))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    // Paid, then cancelled: the whole total comes back.
    let undone = app.placed(&s, &[(dear, 1)]).await;
    let undone_id = undone["id"].as_str().unwrap().to_string();
    pay(&app, &s, &undone).await;
    let r = send(app.post_as(&format!("/api/v1/orders/{undone_id}/cancel"), &s).body_json(&json!({}))).await;
    assert!(r.status.is_success(), "{}", r.text());
    until(&app, &admin, &undone_id, |o| o["status"] == "CANCELLED").await;
    // Paid, delivered, one unit returned.
    let returned = app.placed(&s, &[(cheap, 3)]).await;
    let rid = returned["id"].as_str().unwrap().to_string();
    pay(&app, &s, &returned).await;
    for next in ["SHIPPED", "DELIVERED"] {
        let r = set_status(&app, &admin, &rid, json!({"status": next})).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    }
    let item = returned["items"][0]["id"].as_u64().unwrap();
    let r = send(
        app.post_as(&format!("/api/v1/orders/{rid}/returns"), &s)
            .body_json(&json!({"reason": "Too many", "items": [{"orderItemId": item, "quantity": 1}]})),
    )
    .await;
    let ret = r.json()["data"]["id"].as_u64().unwrap();
    let r = send(
        app.client
            .patch(format!("/api/v1/orders/{rid}/returns/{ret}"))
            .header("Authorization", admin.bearer())
            .body_json(&json!({"status": "APPROVED"})),
    )
    .await;
    assert!(r.status.is_success(), "{}", r.text());
    until(&app, &admin, &rid, |o| o["payment"]["refunded"].as_f64().unwrap_or(0.0) > 0.0).await;
    // Placed, not paid yet: counted (it is not cancelled).
    app.placed(&s, &[(scarce, 1)]).await;

    // What the orders themselves add up to.
    let all = send(app.get_as("/api/v1/orders/all?limit=100", &admin)).await.json()["data"]["orders"].clone();
    let all = all.as_array().unwrap();
    assert_eq!(all.len(), 6);
    let counted: Vec<&Value> = all
        .iter()
        .filter(|o| {
            let paid =
                o["history"].as_array().unwrap().iter().any(|h| h["status"] != "PENDING" && h["status"] != "CANCELLED");
            o["status"] != "CANCELLED" || paid
        })
        .collect();
    assert_eq!(counted.len(), 5, "only the unpaid cancellation drops out");
    let revenue: i64 = counted.iter().map(|o| cents(&o["total"])).sum();
    let units: i64 =
        counted.iter().flat_map(|o| o["items"].as_array().unwrap()).map(|i| i["quantity"].as_i64().unwrap()).sum();
    let refunds: i64 = all.iter().filter(|o| !o["payment"].is_null()).map(|o| cents(&o["payment"]["refunded"])).sum();
    assert!(refunds > 1005 + 7200, "a part refund, a cancellation and a return: {refunds}");

    let check = |v: &Value| {
        for window in ["today", "last7Days", "last30Days"] {
            let f = &v[window];
            assert_eq!(cents(&f["revenue"]), revenue, "{window}: {f}");
            assert_eq!(cents(&f["refunds"]), refunds, "{window}: {f}");
            assert_eq!(cents(&f["net"]), revenue - refunds, "{window}: {f}");
            assert_eq!(f["orders"], 5, "{window}");
            assert_eq!(f["units"], units, "{window}");
            // Half-up to the cent, as the contract says.
            let average = (rust_decimal::Decimal::new(revenue, 2) / rust_decimal::Decimal::from(5))
                .round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
            assert_eq!(f["averageOrderValue"].to_string(), average.normalize().to_string(), "{window}");
        }
        let statuses: Vec<(String, u64)> = v["ordersByStatus"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| (s["status"].as_str().unwrap().to_string(), s["count"].as_u64().unwrap()))
            .collect();
        assert_eq!(
            statuses,
            [("PENDING", 1), ("PROCESSING", 2), ("SHIPPED", 0), ("DELIVERED", 1), ("CANCELLED", 2)]
                .map(|(s, n)| (s.to_string(), n))
        );
        // cheap: 2 + 4 + 3 = 9 units (returns are refunds, not unsold units); dear: 1 + 1.
        let best = &v["bestSellers"];
        assert_eq!((best[0]["productId"].as_u64(), best[0]["units"].as_i64()), (Some(cheap), Some(9)), "{best}");
        assert_eq!(cents(&best[0]["revenue"]), 9 * 1250);
        assert_eq!((best[1]["productId"].as_u64(), best[1]["units"].as_i64()), (Some(dear), Some(2)), "{best}");
        assert!(best.as_array().unwrap().iter().all(|b| b["productId"].as_u64() != Some(scarce) || b["units"] == 1));
        let low = v["lowStock"].as_array().unwrap();
        assert!(low.iter().any(|p| p["productId"].as_u64() == Some(scarce) && p["stock"] == 2), "{low:?}");
        assert!(low.iter().all(|p| p["stock"].as_i64().unwrap() < 5));
        assert_eq!(v["lowStockCount"].as_u64(), Some(low.len() as u64));
        // The demo customer and ours.
        assert_eq!(v["newCustomers"], 2);
        assert_eq!(v["timezone"], "UTC");
    };
    let before = overview(&app, &admin).await;
    check(&before);

    // The series of today alone is today's figures.
    let today = chrono::Utc::now().date_naive().to_string();
    let r = send(app.get_as(&format!("/api/v1/admin/stats/sales?from={today}&to={today}"), &admin)).await;
    let series = r.json()["data"].clone();
    assert_eq!(series["series"].as_array().unwrap().len(), 1, "{series}");
    assert_eq!(series["series"][0]["period"], today.as_str());
    assert_eq!(cents(&series["series"][0]["net"]), revenue - refunds);

    // Recomputed from the records: the same figures.
    let done = shopd::stats::rebuild::rebuild(&app.state.store).await.unwrap();
    assert_eq!((done.orders, done.accounts), (6, 3), "the admin is an account too");
    assert_eq!(overview(&app, &admin).await, before);
}

/// An app in `timezone` with one paid order placed at `at` (UTC, RFC 3339).
async fn shop_with_order_at(timezone: &str, at: &str) -> (TestApp, Session) {
    let app = TestApp::with(
        |s| {
            s.seed_demo = true;
            s.timezone = timezone.into();
        },
        |r| r,
    )
    .await;
    let admin = app.demo_admin().await;
    let s = app.user("tz@shop.test").await;
    let o = app.placed(&s, &[(1, 1)]).await;
    let id: uuid::Uuid = o["id"].as_str().unwrap().parse().unwrap();
    let at: chrono::DateTime<chrono::Utc> = at.parse().unwrap();
    // Moved back in time through the store: the figures follow the record.
    app.state
        .store
        .write(move |w| {
            let mut o = w.get(&shopd::orders::ORDERS, &id)?.unwrap();
            o.created_at = at;
            w.put(&shopd::orders::ORDERS, &id, &o)
        })
        .await
        .unwrap();
    (app, admin)
}

async fn orders_per_day(app: &TestApp, admin: &Session, query: &str) -> Vec<(String, i64)> {
    let r = send(app.get_as(&format!("/api/v1/admin/stats/sales?{query}"), admin)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json()["data"]["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["period"].as_str().unwrap().to_string(), p["orders"].as_i64().unwrap()))
        .collect()
}

#[tokio::test]
async fn days_are_the_shops_days_and_periods_are_whole() {
    // 20:00 UTC on 30 November is already 1 December in Tokyo, and 1:30 in Kolkata.
    let q = "from=2026-11-30&to=2026-12-01&interval=day";
    let (utc, utc_admin) = shop_with_order_at("UTC", "2026-11-30T20:00:00Z").await;
    assert_eq!(orders_per_day(&utc, &utc_admin, q).await, [("2026-11-30".into(), 1), ("2026-12-01".into(), 0)]);
    let (tokyo, tokyo_admin) = shop_with_order_at("Asia/Tokyo", "2026-11-30T20:00:00Z").await;
    assert_eq!(orders_per_day(&tokyo, &tokyo_admin, q).await, [("2026-11-30".into(), 0), ("2026-12-01".into(), 1)]);
    let (kolkata, admin) = shop_with_order_at("Asia/Kolkata", "2026-11-30T18:29:00Z").await;
    assert_eq!(orders_per_day(&kolkata, &admin, q).await, [("2026-11-30".into(), 1), ("2026-12-01".into(), 0)]);

    // Weeks from Monday, months whole; every period present.
    let weeks = orders_per_day(&tokyo, &tokyo_admin, "from=2026-11-25&to=2026-12-08&interval=week").await;
    assert_eq!(weeks, [("2026-11-23".into(), 0), ("2026-11-30".into(), 1), ("2026-12-07".into(), 0)]);
    let months = orders_per_day(&tokyo, &tokyo_admin, "from=2026-10-15&to=2026-12-01&interval=month").await;
    assert_eq!(months, [("2026-10".into(), 0), ("2026-11".into(), 0), ("2026-12".into(), 1)]);

    // Empty dates are no dates (a form's empty field): the last 30 days.
    assert_eq!(orders_per_day(&utc, &utc_admin, "from=&to=&interval=day").await.len(), 30);
    let bad = |q: &'static str| send(utc.get_as(&format!("/api/v1/admin/stats/sales?{q}"), &utc_admin));
    assert_error(&bad("from=2026-12-02&to=2026-12-01").await, 400, "VALIDATION_ERROR");
    assert_error(&bad("from=2020-01-01&to=2026-12-01&interval=day").await, 400, "VALIDATION_ERROR");
    assert_error(&bad("from=yesterday").await, 400, "VALIDATION_ERROR");
    assert_error(&bad("interval=year").await, 400, "VALIDATION_ERROR");
    let customer = utc.user("c@shop.test").await;
    assert_error(&send(utc.get_as("/api/v1/admin/stats/overview", &customer)).await, 403, "FORBIDDEN");
}
