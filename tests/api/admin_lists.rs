//! The admin lists page through indexes: totals per status and per action from counts kept in
//! the same transaction, and cursors that walk every record once, newest first.

use poem::http::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Session, TestApp, assert_error, send};

async fn walk(app: &TestApp, admin: &Session, path: &str, list: &str, limit: u32) -> Vec<Value> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..100 {
        let sep = if path.contains('?') { '&' } else { '?' };
        let url = match &cursor {
            Some(c) => format!("{path}{sep}limit={limit}&cursor={c}"),
            None => format!("{path}{sep}limit={limit}"),
        };
        let page = send(app.get_as(&url, admin)).await.json()["data"].clone();
        all.extend(page[list].as_array().unwrap().iter().cloned());
        match page["nextCursor"]
            .as_str()
            .map(str::to_string)
            .or_else(|| page["nextCursor"].as_u64().map(|n| n.to_string()))
        {
            Some(c) => cursor = Some(c),
            None => return all,
        }
    }
    panic!("the cursor never ended");
}

#[tokio::test]
async fn order_lists_count_by_status_and_cursors_walk_every_order_once() {
    let app = TestApp::demo().await;
    let admin = app.demo_admin().await;
    let buyers = [app.user("a@lists.test").await, app.user("b@lists.test").await];
    let mut ids = Vec::new();
    for i in 0..30 {
        ids.push(app.placed(&buyers[i % 2], &[(1 + (i as u64 % 5), 1)]).await["id"].as_str().unwrap().to_string());
    }
    for id in &ids[..7] {
        let r = send(
            app.client
                .patch(format!("/api/v1/orders/{id}/status"))
                .header("Authorization", admin.bearer())
                .body_json(&json!({"status": "CANCELLED"})),
        )
        .await;
        assert_eq!(r.json()["data"]["status"], "CANCELLED", "{}", r.text());
    }
    let total = |status: &str| {
        let path = format!("/api/v1/orders/all?status={status}&limit=1");
        let app = &app;
        let admin = &admin;
        async move { send(app.get_as(&path, admin)).await.json()["data"]["total"].clone() }
    };
    assert_eq!(total("CANCELLED").await, 7);
    assert_eq!(total("PENDING").await, 23);
    assert_eq!(total("SHIPPED").await, 0);
    let everything = send(app.get_as("/api/v1/orders/all?limit=1", &admin)).await.json();
    assert!(everything["data"]["total"].as_u64().unwrap() >= 30);

    let cancelled = walk(&app, &admin, "/api/v1/orders/all?status=CANCELLED", "orders", 3).await;
    let got: Vec<&str> = cancelled.iter().map(|o| o["id"].as_str().unwrap()).collect();
    let mut want: Vec<&str> = ids[..7].iter().map(String::as_str).collect();
    want.reverse();
    assert_eq!(got, want, "each cancelled order once, newest first");
    assert!(cancelled.iter().all(|o| o["status"] == "CANCELLED" && o["user"]["email"].is_string()));

    let all = walk(&app, &admin, "/api/v1/orders/all", "orders", 8).await;
    let mut unique: Vec<&str> = all.iter().map(|o| o["id"].as_str().unwrap()).collect();
    let n = unique.len();
    unique.dedup();
    assert_eq!(unique.len(), n, "no order twice");
    assert!(ids.iter().all(|id| unique.contains(&id.as_str())), "every order");
    let skipped = send(app.get_as("/api/v1/orders/all?status=PENDING&skip=20&limit=10", &admin)).await.json();
    assert_eq!(skipped["data"]["orders"].as_array().unwrap().len(), 3, "skip still works");
    assert_eq!(skipped["data"]["nextCursor"], Value::Null);

    let bad = send(app.get_as("/api/v1/orders/all?cursor=not-a-cursor", &admin)).await;
    let err = assert_error(&bad, 400, "VALIDATION_ERROR");
    assert!(err["details"]["cursor"].is_array(), "{err}");
    // A user's own list is unchanged (no cursor).
    let mine = send(app.get_as("/api/v1/orders", &buyers[0])).await.json();
    assert_eq!((mine["data"]["total"].as_u64(), &mine["data"]["nextCursor"]), (Some(15), &Value::Null));
}

#[tokio::test]
async fn audit_and_user_lists_page_by_cursor_with_exact_totals() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    for i in 0..12 {
        app.user(&format!("u{i}@lists.test")).await;
    }
    let users = walk(&app, &admin, "/api/v1/users", "users", 5).await;
    assert_eq!(users.len(), 13, "12 and the admin");
    assert!(users.windows(2).all(|w| w[0]["id"].as_u64() > w[1]["id"].as_u64()), "newest first");
    let first = send(app.get_as("/api/v1/users?limit=5", &admin)).await.json();
    assert_eq!(first["data"]["total"], 13);

    let registers = send(app.get_as("/api/v1/admin/audit-logs?action=register&limit=4", &admin)).await.json();
    assert_eq!(registers["data"]["total"], 12, "counted, in any case");
    let logs = walk(&app, &admin, "/api/v1/admin/audit-logs?action=REGISTER", "logs", 4).await;
    assert_eq!(logs.len(), 12);
    assert!(logs.iter().all(|l| l["action"] == "REGISTER"));
    let everything = walk(&app, &admin, "/api/v1/admin/audit-logs", "logs", 7).await;
    let total = send(app.get_as("/api/v1/admin/audit-logs?limit=1", &admin)).await.json()["data"]["total"].clone();
    assert_eq!(everything.len() as u64, total.as_u64().unwrap());
    assert!(everything.windows(2).all(|w| w[0]["id"].as_u64() > w[1]["id"].as_u64()));
    let by_user = send(app.get_as(&format!("/api/v1/admin/audit-logs?userId={}", admin.id), &admin)).await;
    assert_eq!(by_user.status, StatusCode::OK);
}

#[tokio::test]
async fn at_100_000_orders_pages_counts_and_figures_stay_exact() {
    let app = TestApp::demo().await;
    let admin = app.demo_admin().await;
    let n = 100_000u64;
    shopd::seed::orders(&app.state.store, &app.state.settings, n, 730, |_| {}).await.unwrap();
    // The truth, from the records themselves.
    let r = app.state.store.read().unwrap();
    let all: Vec<shopd::orders::Order> =
        r.scan(&shopd::orders::ORDERS, &(), true).unwrap().map(Result::unwrap).collect();
    assert_eq!(all.len() as u64, n);
    let shipped: Vec<&shopd::orders::Order> =
        all.iter().filter(|o| o.status == shopd::orders::Status::Shipped).collect();

    let page = send(app.get_as("/api/v1/orders/all?limit=100", &admin)).await.json()["data"].clone();
    assert_eq!(page["total"], n);
    let ids: Vec<&str> = page["orders"].as_array().unwrap().iter().map(|o| o["id"].as_str().unwrap()).collect();
    let newest: Vec<String> = all[..100].iter().map(|o| o.id.to_string()).collect();
    assert_eq!(ids, newest, "newest first");
    // Deep in the list by cursor: the 100 after the 50,000th.
    let middle = &all[49_999].id;
    let page =
        send(app.get_as(&format!("/api/v1/orders/all?limit=100&cursor={middle}"), &admin)).await.json()["data"].clone();
    let ids: Vec<&str> = page["orders"].as_array().unwrap().iter().map(|o| o["id"].as_str().unwrap()).collect();
    let expected: Vec<String> = all[50_000..50_100].iter().map(|o| o.id.to_string()).collect();
    assert_eq!(ids, expected);
    // One status: its count, and its own newest first.
    let page = send(app.get_as("/api/v1/orders/all?status=SHIPPED&limit=5", &admin)).await.json()["data"].clone();
    assert_eq!(page["total"], shipped.len() as u64);
    let ids: Vec<&str> = page["orders"].as_array().unwrap().iter().map(|o| o["id"].as_str().unwrap()).collect();
    let expected: Vec<String> = shipped[..5].iter().map(|o| o.id.to_string()).collect();
    assert_eq!(ids, expected);

    // The overview's 30 days, summed from the orders.
    let since = shopd::stats::day_start(chrono_tz::UTC, chrono::Utc::now().date_naive() - chrono::Duration::days(29));
    let recent: Vec<&shopd::orders::Order> =
        all.iter().filter(|o| o.created_at >= since && o.sale().is_some()).collect();
    let revenue: i64 = recent.iter().map(|o| o.total.cents()).sum();
    let figures = send(app.get_as("/api/v1/admin/stats/overview", &admin)).await.json()["data"]["last30Days"].clone();
    assert_eq!(figures["orders"], recent.len() as u64);
    assert_eq!((figures["revenue"].as_f64().unwrap() * 100.0).round() as i64, revenue);
    // Two years by month: whole days and the quarter hours of today, every order counted once.
    let today = chrono::Utc::now().date_naive();
    let url =
        format!("/api/v1/admin/stats/sales?interval=month&from={}&to={today}", today - chrono::Duration::days(800));
    let series = send(app.get_as(&url, &admin)).await.json()["data"]["series"].clone();
    let orders: u64 = series.as_array().unwrap().iter().map(|p| p["orders"].as_u64().unwrap()).sum();
    assert_eq!(orders, all.iter().filter(|o| o.sale().is_some()).count() as u64);
}

#[tokio::test]
async fn order_lists_narrow_by_days_customer_and_search() {
    let app = TestApp::demo().await;
    let admin = app.demo_admin().await;
    shopd::seed::orders(&app.state.store, &app.state.settings, 600, 730, |_| {}).await.unwrap();
    let other = app.user("other@lists.test").await;
    let mine = app.placed(&other, &[(3, 1)]).await;
    let r = app.state.store.read().unwrap();
    let truth: Vec<shopd::orders::Order> =
        r.scan(&shopd::orders::ORDERS, &(), true).unwrap().map(Result::unwrap).collect();
    let ids = |v: &[Value]| v.iter().map(|o| o["id"].as_str().unwrap().to_string()).collect::<Vec<_>>();

    // Sixty days in the middle, and one status within them.
    let today = chrono::Utc::now().date_naive();
    let (from, to) = (today - chrono::Duration::days(400), today - chrono::Duration::days(341));
    let day = |d: chrono::NaiveDate| shopd::stats::day_start(chrono_tz::UTC, d);
    let within = |o: &&shopd::orders::Order| o.created_at >= day(from) && o.created_at < day(to.succ_opt().unwrap());
    let want: Vec<String> = truth.iter().filter(within).map(|o| o.id.to_string()).collect();
    assert!(want.len() > 30, "{}", want.len());
    let page =
        send(app.get_as(&format!("/api/v1/orders/all?from={from}&to={to}&limit=5"), &admin)).await.json()["data"]
            .clone();
    assert_eq!(page["total"], want.len() as u64);
    let walked = walk(&app, &admin, &format!("/api/v1/orders/all?from={from}&to={to}"), "orders", 7).await;
    assert_eq!(ids(&walked), want, "every order of those days once, newest first");
    let shipped: Vec<String> = truth
        .iter()
        .filter(within)
        .filter(|o| o.status == shopd::orders::Status::Shipped)
        .map(|o| o.id.to_string())
        .collect();
    let walked =
        walk(&app, &admin, &format!("/api/v1/orders/all?status=SHIPPED&from={from}&to={to}"), "orders", 4).await;
    assert_eq!(ids(&walked), shipped);
    let page = send(app.get_as(&format!("/api/v1/orders/all?status=SHIPPED&from={from}&to={to}"), &admin)).await.json();
    assert_eq!(page["data"]["total"], shipped.len() as u64);

    // One customer, by id or by email in any case; one order by its id.
    let by_id =
        send(app.get_as(&format!("/api/v1/orders/all?userId={}", other.id), &admin)).await.json()["data"].clone();
    assert_eq!(
        (by_id["total"].as_u64(), ids(by_id["orders"].as_array().unwrap())),
        (Some(1), vec![mine["id"].as_str().unwrap().to_string()])
    );
    let by_mail = send(app.get_as("/api/v1/orders/all?q=OTHER@lists.test", &admin)).await.json()["data"].clone();
    assert_eq!(by_mail["orders"], by_id["orders"]);
    let one = send(app.get_as(&format!("/api/v1/orders/all?q={}", truth[10].id), &admin)).await.json()["data"].clone();
    assert_eq!(
        (one["total"].as_u64(), ids(one["orders"].as_array().unwrap())),
        (Some(1), vec![truth[10].id.to_string()])
    );
    let demo = send(app.get_as("/api/v1/orders/all?q=customer@shopd.local&status=CANCELLED&limit=100", &admin))
        .await
        .json()["data"]
        .clone();
    let cancelled =
        truth.iter().filter(|o| o.user_id != other.id && o.status == shopd::orders::Status::Cancelled).count();
    assert_eq!(demo["total"], cancelled as u64);
    let nobody = send(app.get_as("/api/v1/orders/all?q=nobody@lists.test", &admin)).await.json()["data"].clone();
    assert_eq!((nobody["total"].as_u64(), nobody["orders"].as_array().map(Vec::len)), (Some(0), Some(0)));
    assert_error(&send(app.get_as("/api/v1/orders/all?q=lamp", &admin)).await, 400, "VALIDATION_ERROR");
    assert_error(
        &send(app.get_as(&format!("/api/v1/orders/all?from={to}&to={from}"), &admin)).await,
        400,
        "VALIDATION_ERROR",
    );
}
