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
